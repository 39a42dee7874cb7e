//! The knowledge base: data files under `knowledge/`, embedded in the
//! binary and parsed once at start. Every entry names its source.

use std::collections::HashMap;

use serde::Deserialize;

use crate::model::region::Region;

#[derive(Debug, thiserror::Error)]
#[error("knowledge/{file}: {message}")]
pub struct KnowledgeError {
    file: &'static str,
    message: String,
}

/// One scoring band of a NEWS2 parameter: inclusive bounds.
#[derive(Debug, Clone, Deserialize)]
pub struct Band {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub points: u8,
}

#[derive(Debug, Clone, Deserialize)]
pub struct News2Table {
    pub source: String,
    pub url: String,
    pub respiratory_rate: Vec<Band>,
    pub spo2: Vec<Band>,
    pub systolic_bp: Vec<Band>,
    pub heart_rate: Vec<Band>,
    pub temperature_c: Vec<Band>,
}

/// A red flag as the clinic's region words it.
#[derive(Debug, Clone)]
pub struct RedFlag {
    pub id: String,
    pub name: String,
    pub phrases: Vec<String>,
    /// What the patient is told, naming the region's numbers.
    pub advice: String,
    pub source: String,
}

/// A red flag as the file writes it: advice and source for every region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedFlagEntry {
    id: String,
    name: String,
    phrases: Vec<String>,
    advice: HashMap<String, String>,
    source: HashMap<String, String>,
}

impl RedFlagEntry {
    fn for_region(self, region: Region) -> Result<RedFlag, KnowledgeError> {
        let pick = |texts: &HashMap<String, String>, what: &str| {
            texts
                .get(region.code())
                .cloned()
                .ok_or_else(|| KnowledgeError {
                    file: "red_flags.toml",
                    message: format!("{}: no {what} for region {}", self.id, region.code()),
                })
        };
        Ok(RedFlag {
            advice: pick(&self.advice, "advice")?,
            source: pick(&self.source, "source")?,
            id: self.id,
            name: self.name,
            phrases: self.phrases,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub name: String,
    pub rxnorm: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DrugClass {
    pub id: String,
    pub name: String,
    pub members: Vec<Member>,
    pub cross_reacts: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionSeverity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    pub id: String,
    pub a: Vec<String>,
    pub b: Vec<String>,
    pub severity: InteractionSeverity,
    pub summary: String,
    pub advice: String,
    pub source: String,
}

#[derive(Debug, Deserialize)]
struct RedFlagFile {
    flag: Vec<RedFlagEntry>,
}

#[derive(Debug, Deserialize)]
struct ClassFile {
    class: Vec<DrugClass>,
}

#[derive(Debug, Deserialize)]
struct InteractionFile {
    interaction: Vec<Interaction>,
    rxnorm: HashMap<String, String>,
}

/// A drug as the rules see it: a normalised name and its RxNorm code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drug {
    pub name: String,
    pub rxnorm: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Knowledge {
    /// The region whose words and sources the entries below carry.
    pub region: Region,
    pub news2: News2Table,
    pub red_flags: Vec<RedFlag>,
    pub classes: Vec<DrugClass>,
    pub interactions: Vec<Interaction>,
    /// RxNorm code → ingredient name, from every file.
    names_by_code: HashMap<String, String>,
}

fn parse<T: for<'de> Deserialize<'de>>(
    file: &'static str,
    text: &str,
) -> Result<T, KnowledgeError> {
    toml::from_str(text).map_err(|e| KnowledgeError {
        file,
        message: e.message().to_owned(),
    })
}

/// Lowercase words separated by single spaces, for matching.
pub fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' || c == '-' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Knowledge {
    /// The knowledge base shipped with Bedside, for the default region.
    pub fn bundled() -> Result<Self, KnowledgeError> {
        Self::bundled_for(Region::default())
    }

    /// The knowledge base shipped with Bedside, worded for `region`.
    pub fn bundled_for(region: Region) -> Result<Self, KnowledgeError> {
        Self::from_texts(
            region,
            include_str!("../../knowledge/news2.toml"),
            include_str!("../../knowledge/red_flags.toml"),
            include_str!("../../knowledge/drug_allergy.toml"),
            include_str!("../../knowledge/interactions.toml"),
        )
    }

    pub fn from_texts(
        region: Region,
        news2: &str,
        red_flags: &str,
        classes: &str,
        interactions: &str,
    ) -> Result<Self, KnowledgeError> {
        let news2: News2Table = parse("news2.toml", news2)?;
        // Every region is checked, so a gap fails at start whichever is set.
        let entries = parse::<RedFlagFile>("red_flags.toml", red_flags)?.flag;
        let mut red_flags = Vec::new();
        for entry in entries {
            for other in Region::ALL.into_iter().filter(|r| *r != region) {
                for texts in [&entry.advice, &entry.source] {
                    if !texts.contains_key(other.code()) {
                        return Err(KnowledgeError {
                            file: "red_flags.toml",
                            message: format!("{}: nothing for region {}", entry.id, other.code()),
                        });
                    }
                }
            }
            red_flags.push(entry.for_region(region)?);
        }
        let classes = parse::<ClassFile>("drug_allergy.toml", classes)?.class;
        let file: InteractionFile = parse("interactions.toml", interactions)?;
        let mut names_by_code: HashMap<String, String> = file
            .rxnorm
            .into_iter()
            .map(|(name, code)| (code, normalise(&name)))
            .collect();
        for member in classes.iter().flat_map(|c| &c.members) {
            if let Some(code) = &member.rxnorm {
                names_by_code.insert(code.clone(), normalise(&member.name));
            }
        }
        for interaction in &file.interaction {
            for side in interaction.a.iter().chain(&interaction.b) {
                if let Some(class) = side.strip_prefix("class:")
                    && !classes.iter().any(|c| c.id == class)
                {
                    return Err(KnowledgeError {
                        file: "interactions.toml",
                        message: format!("{}: unknown class {class}", interaction.id),
                    });
                }
            }
        }
        Ok(Self {
            region,
            news2,
            red_flags,
            classes,
            interactions: file.interaction,
            names_by_code,
        })
    }

    /// A drug from a name and an optional RxNorm code; the code wins when known.
    pub fn drug(&self, name: &str, rxnorm: Option<&str>) -> Drug {
        let by_code = rxnorm
            .and_then(|code| self.names_by_code.get(code))
            .cloned();
        Drug {
            name: by_code.unwrap_or_else(|| normalise(name)),
            rxnorm: rxnorm.map(str::to_owned),
        }
    }

    /// Whether `drug` is `ingredient` (or a product naming it, such as
    /// "amoxicillin 500 mg capsule").
    fn is(drug: &Drug, ingredient: &str) -> bool {
        let ingredient = normalise(ingredient);
        drug.name == ingredient
            || drug.name.starts_with(&format!("{ingredient} "))
            || drug.name.contains(&format!(" {ingredient}"))
    }

    /// The classes a drug belongs to.
    pub fn classes_of(&self, drug: &Drug) -> Vec<&DrugClass> {
        self.classes
            .iter()
            .filter(|class| {
                class.members.iter().any(|m| {
                    drug.rxnorm.is_some() && m.rxnorm == drug.rxnorm || Self::is(drug, &m.name)
                })
            })
            .collect()
    }

    /// The classes an allergy names: through a member drug, or the class itself.
    pub fn allergy_classes(&self, substance: &str, code: Option<&str>) -> Vec<&DrugClass> {
        let text = normalise(substance);
        let mut found = self.classes_of(&self.drug(substance, code));
        for class in &self.classes {
            let named =
                text.contains(&normalise(&class.name)) || text.contains(&normalise(&class.id));
            if named && !found.iter().any(|c| c.id == class.id) {
                found.push(class);
            }
        }
        found
    }

    fn side_matches(&self, side: &[String], drug: &Drug) -> bool {
        side.iter().any(|entry| match entry.strip_prefix("class:") {
            Some(class) => self.classes_of(drug).iter().any(|c| c.id == class),
            None => Self::is(drug, entry),
        })
    }

    /// The interactions between two drugs, either way round.
    pub fn interactions_between(&self, x: &Drug, y: &Drug) -> Vec<&Interaction> {
        self.interactions
            .iter()
            .filter(|i| {
                (self.side_matches(&i.a, x) && self.side_matches(&i.b, y))
                    || (self.side_matches(&i.a, y) && self.side_matches(&i.b, x))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_knowledge_base_parses_and_every_entry_has_a_source() {
        let kb = Knowledge::bundled().unwrap();
        assert!(!kb.news2.source.is_empty());
        assert!(
            kb.red_flags
                .iter()
                .all(|f| !f.source.is_empty() && !f.phrases.is_empty())
        );
        assert!(kb.classes.iter().all(|c| !c.source.is_empty()));
        assert!(
            kb.interactions
                .iter()
                .all(|i| !i.source.is_empty() && i.summary.len() < 140)
        );
    }

    #[test]
    fn drugs_are_recognised_by_code_or_by_name() {
        let kb = Knowledge::bundled().unwrap();
        let by_code = kb.drug("Amoxil 500 mg", Some("723"));
        assert_eq!(kb.classes_of(&by_code)[0].id, "penicillins");
        let by_name = kb.drug("Amoxicillin 500 MG Oral Capsule", None);
        assert_eq!(kb.classes_of(&by_name)[0].id, "penicillins");
        assert!(kb.classes_of(&kb.drug("paracetamol", None)).is_empty());
    }
}
