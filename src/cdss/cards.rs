//! CDS Hooks 2.0 cards: the shape of the advice every hook and Bedside's
//! own console receive. Optional fields are omitted, never empty.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Indicator {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Source {
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Action {
    /// `create`, `update` or `delete`.
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    #[serde(rename = "resourceId", skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    pub label: String,
    pub uuid: String,
    #[serde(rename = "isRecommended")]
    pub is_recommended: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Coding {
    pub system: String,
    pub code: String,
    pub display: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Card {
    pub uuid: String,
    /// One sentence, under 140 characters.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub indicator: Indicator,
    pub source: Source,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// Required whenever suggestions are present.
    #[serde(rename = "selectionBehavior", skip_serializing_if = "Option::is_none")]
    pub selection_behavior: Option<String>,
    #[serde(rename = "overrideReasons", skip_serializing_if = "Vec::is_empty")]
    pub override_reasons: Vec<Coding>,
}

/// Longest summary the spec allows, in characters.
pub const MAX_SUMMARY: usize = 139;

impl Card {
    pub fn new(
        summary: impl Into<String>,
        indicator: Indicator,
        source: impl Into<String>,
    ) -> Self {
        let mut summary: String = summary.into();
        if summary.chars().count() > MAX_SUMMARY {
            summary = summary.chars().take(MAX_SUMMARY - 1).collect::<String>() + "…";
        }
        Self {
            uuid: uuid::Uuid::new_v4().to_string(),
            summary,
            detail: None,
            indicator,
            source: Source {
                label: source.into(),
                url: None,
            },
            suggestions: Vec::new(),
            selection_behavior: None,
            override_reasons: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.source.url = Some(url.into());
        self
    }

    /// Offers to remove a draft order; the clinician picks at most one.
    pub fn suggest_removing(
        mut self,
        label: impl Into<String>,
        resource_id: impl Into<String>,
    ) -> Self {
        self.suggestions.push(Suggestion {
            label: label.into(),
            uuid: uuid::Uuid::new_v4().to_string(),
            is_recommended: true,
            actions: vec![Action {
                kind: "delete".to_owned(),
                description: "Remove the draft order".to_owned(),
                resource_id: Some(resource_id.into()),
            }],
        });
        self.selection_behavior = Some("at-most-one".to_owned());
        self
    }

    /// Reasons a clinician may give for going ahead anyway.
    pub fn overridable(mut self) -> Self {
        let reason = |code: &str, display: &str| Coding {
            system: "urn:bedside:cds:override-reason".to_owned(),
            code: code.to_owned(),
            display: display.to_owned(),
        };
        self.override_reasons = vec![
            reason("benefit-outweighs-risk", "Benefit outweighs risk"),
            reason("tolerated-before", "Patient has tolerated it before"),
            reason("will-monitor", "Will monitor closely"),
        ];
        self
    }
}
