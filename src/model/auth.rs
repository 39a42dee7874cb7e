//! Who acts: staff roles and accounts, and the caller of a request once
//! its token has been checked.

use serde::{Deserialize, Serialize};

use super::ids::{EncounterId, GuestId, PatientId, UserId, VisitId};

/// A staff member's role; each route names the roles it admits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    Admin,
    Scheduler,
    Clinician,
    Billing,
}

impl Role {}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A staff account as the rest of the server sees it (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub npi: Option<String>,
}

/// The caller of a request, once its token has been checked.
#[derive(Debug, Clone)]
pub enum Principal {
    Staff(User),
    /// A visit's patient, through the visit's link: this visit only.
    Patient {
        visit_id: VisitId,
        patient_id: PatientId,
        encounter_id: EncounterId,
    },
    /// A guest invited to one visit, while the invitation stands.
    Guest {
        visit_id: VisitId,
        guest_id: GuestId,
        display_name: String,
    },
    /// A registered SMART app holding an access token: its scopes, the
    /// patient in context, and whose permissions it borrows.
    App(Box<super::smart::AppCaller>),
}

impl Principal {
    pub fn actor_id(&self) -> &str {
        match self {
            Principal::Staff(user) => user.id.as_str(),
            Principal::Patient { patient_id, .. } => patient_id.as_str(),
            Principal::Guest { guest_id, .. } => guest_id.as_str(),
            Principal::App(app) => &app.client_id,
        }
    }

    pub fn actor_role(&self) -> &'static str {
        match self {
            Principal::Staff(user) => user.role.as_str(),
            Principal::Patient { .. } => "patient",
            Principal::Guest { .. } => "guest",
            Principal::App(_) => "app",
        }
    }
}
