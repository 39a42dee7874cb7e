//! SMART on FHIR values (SMART App Launch 2.x, `scopes-and-launch-context`):
//! the scopes an app asks for and holds, the interactions they allow, and
//! the app caller a SMART access token stands for.

use std::fmt;

use super::auth::Principal;
use super::ids::{EncounterId, PatientId};

/// A FHIR REST interaction, as a v2 scope letter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// `c`: create.
    Create,
    /// `r`: read, vread, instance history.
    Read,
    /// `u`: update and patch.
    Update,
    /// `d`: delete.
    Delete,
    /// `s`: search and type history.
    Search,
}

impl Interaction {
    const ORDER: [(Self, char); 5] = [
        (Self::Create, 'c'),
        (Self::Read, 'r'),
        (Self::Update, 'u'),
        (Self::Delete, 'd'),
        (Self::Search, 's'),
    ];

    fn bit(self) -> u8 {
        match self {
            Self::Create => 1,
            Self::Read => 2,
            Self::Update => 4,
            Self::Delete => 8,
            Self::Search => 16,
        }
    }
}

/// Whose data a resource scope reaches: the patient in context, what the
/// user may see, or (backend services) the whole system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Patient,
    User,
    System,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::User => "user",
            Self::System => "system",
        }
    }
}

/// One scope. Resource scopes are kept in their v2 form (`.rs`), also when
/// asked for with a v1 suffix (`.read` = `.rs`, `.write` = `.cud`, `.*` =
/// `.cruds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Resource {
        level: Level,
        /// A resource type, or `*` for every type.
        resource: String,
        /// The allowed interactions, one bit each.
        interactions: u8,
    },
    /// `launch`: the EHR launch context.
    Launch,
    /// `launch/patient`, `launch/encounter`: context asked in a standalone launch.
    LaunchPatient,
    LaunchEncounter,
    OpenId,
    FhirUser,
    OfflineAccess,
    OnlineAccess,
}

impl Scope {
    /// Parses one scope; `None` for what the server does not know (granular
    /// `?param=` scopes, unknown context types, out-of-order letters).
    pub fn parse(value: &str) -> Option<Self> {
        let simple = match value {
            "launch" => Some(Self::Launch),
            "launch/patient" => Some(Self::LaunchPatient),
            "launch/encounter" => Some(Self::LaunchEncounter),
            "openid" => Some(Self::OpenId),
            "fhirUser" => Some(Self::FhirUser),
            "offline_access" => Some(Self::OfflineAccess),
            "online_access" => Some(Self::OnlineAccess),
            _ => None,
        };
        if simple.is_some() {
            return simple;
        }
        let (level, rest) = value.split_once('/')?;
        let level = match level {
            "patient" => Level::Patient,
            "user" => Level::User,
            "system" => Level::System,
            _ => return None,
        };
        let (resource, suffix) = rest.split_once('.')?;
        let valid_type = resource == "*"
            || (resource.starts_with(|c: char| c.is_ascii_uppercase())
                && resource.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid_type {
            return None;
        }
        let interactions = match suffix {
            "read" => Interaction::Read.bit() | Interaction::Search.bit(),
            "write" => {
                Interaction::Create.bit() | Interaction::Update.bit() | Interaction::Delete.bit()
            }
            "*" => 0b1_1111,
            letters => parse_letters(letters)?,
        };
        Some(Self::Resource {
            level,
            resource: resource.to_owned(),
            interactions,
        })
    }

    /// Whether this scope is a resource scope of `level`.
    pub fn is_level(&self, wanted: Level) -> bool {
        matches!(self, Self::Resource { level, .. } if *level == wanted)
    }

    /// Whether this scope lets the app do `interaction` on `resource`.
    pub fn covers(&self, resource: &str, interaction: Interaction) -> Option<Level> {
        match self {
            Self::Resource {
                level,
                resource: r,
                interactions,
            } if (r == "*" || r == resource) && interactions & interaction.bit() != 0 => {
                Some(*level)
            }
            _ => None,
        }
    }

    /// The part of `self` that `allowed` also holds, if any: a registered
    /// `patient/*.rs` narrows an asked `patient/Observation.cruds` to
    /// `patient/Observation.rs`.
    pub fn within(&self, allowed: &Self) -> Option<Self> {
        match (self, allowed) {
            (
                Self::Resource {
                    level,
                    resource,
                    interactions,
                },
                Self::Resource {
                    level: allowed_level,
                    resource: allowed_resource,
                    interactions: allowed_interactions,
                },
            ) if level == allowed_level
                && (allowed_resource == "*" || allowed_resource == resource) =>
            {
                let both = interactions & allowed_interactions;
                (both != 0).then(|| Self::Resource {
                    level: *level,
                    resource: resource.clone(),
                    interactions: both,
                })
            }
            (asked, allowed) if asked == allowed => Some(asked.clone()),
            _ => None,
        }
    }
}

fn parse_letters(letters: &str) -> Option<u8> {
    let mut bits = 0;
    let mut next = 0;
    for letter in letters.chars() {
        let at = Interaction::ORDER[next..]
            .iter()
            .position(|(_, c)| *c == letter)?;
        bits |= Interaction::ORDER[next + at].0.bit();
        next += at + 1;
    }
    (bits != 0).then_some(bits)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resource {
                level,
                resource,
                interactions,
            } => {
                write!(f, "{}/{resource}.", level.as_str())?;
                for (interaction, letter) in Interaction::ORDER {
                    if interactions & interaction.bit() != 0 {
                        write!(f, "{letter}")?;
                    }
                }
                Ok(())
            }
            Self::Launch => f.write_str("launch"),
            Self::LaunchPatient => f.write_str("launch/patient"),
            Self::LaunchEncounter => f.write_str("launch/encounter"),
            Self::OpenId => f.write_str("openid"),
            Self::FhirUser => f.write_str("fhirUser"),
            Self::OfflineAccess => f.write_str("offline_access"),
            Self::OnlineAccess => f.write_str("online_access"),
        }
    }
}

/// A set of scopes, written space-separated as OAuth does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// The scopes of a space-separated list that the server knows; the
    /// rest are dropped (the spec lets a server ignore what it does not
    /// support, and the granted list tells the app).
    pub fn parse_known(value: &str) -> Self {
        let mut scopes = Vec::new();
        for scope in value.split_whitespace().filter_map(Scope::parse) {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Self(scopes)
    }

    /// Every scope of a list, or the first one the server does not know.
    pub fn parse_all(value: &str) -> Result<Self, String> {
        let mut scopes = Vec::new();
        for word in value.split_whitespace() {
            let scope = Scope::parse(word).ok_or_else(|| word.to_owned())?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Self(scopes))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What of `self` the `allowed` scopes grant.
    pub fn narrowed_to(&self, allowed: &Self) -> Self {
        let mut granted: Vec<Scope> = Vec::new();
        for asked in &self.0 {
            for allow in &allowed.0 {
                if let Some(scope) = asked.within(allow)
                    && !granted.contains(&scope)
                {
                    granted.push(scope);
                }
            }
        }
        Self(granted)
    }

    /// Keeps only the scopes `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(&Scope) -> bool) -> Self {
        Self(self.0.iter().filter(|s| keep(s)).cloned().collect())
    }

    /// The widest level at which these scopes allow `interaction` on
    /// `resource`, if any.
    pub fn level_for(&self, resource: &str, interaction: Interaction) -> Option<Level> {
        self.0
            .iter()
            .filter_map(|s| s.covers(resource, interaction))
            .max()
    }

    pub fn has_level(&self, level: Level) -> bool {
        self.0.iter().any(|s| s.is_level(level))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{scope}")?;
        }
        Ok(())
    }
}

/// The caller behind a SMART access token: a registered app acting with
/// the scopes it was granted, for the user who granted them (a staff
/// member or a patient), or on its own (backend services).
#[derive(Debug, Clone)]
pub struct AppCaller {
    /// The app's `client_id`.
    pub client_id: String,
    /// The grant the token belongs to.
    pub grant_id: String,
    pub scopes: Scopes,
    /// The patient in context, when one was established.
    pub patient: Option<PatientId>,
    pub encounter: Option<EncounterId>,
    /// Whose permissions the app borrows; `None` for a backend service.
    pub on_behalf: Option<Box<Principal>>,
}

impl AppCaller {
    /// The widest level the token reaches `resource` with for `interaction`.
    pub fn level_for(&self, resource: &str, interaction: Interaction) -> Option<Level> {
        self.scopes.level_for(resource, interaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_scopes_round_trip_and_v1_suffixes_read_as_v2() {
        for scope in [
            "patient/Observation.rs",
            "user/Patient.r",
            "system/*.cruds",
            "launch",
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
        ] {
            assert_eq!(Scope::parse(scope).unwrap().to_string(), scope);
        }
        assert_eq!(
            Scope::parse("patient/Observation.read")
                .unwrap()
                .to_string(),
            "patient/Observation.rs"
        );
        assert_eq!(
            Scope::parse("user/*.write").unwrap().to_string(),
            "user/*.cud"
        );
        assert_eq!(
            Scope::parse("user/*.*").unwrap().to_string(),
            "user/*.cruds"
        );
    }

    #[test]
    fn letters_out_of_order_or_unknown_are_not_scopes() {
        for bad in [
            "patient/Observation.dus",
            "patient/Observation.x",
            "patient/Observation.",
            "patient/observation.rs",
            "group/Patient.r",
            "patient/Observation.rs?category=vital-signs",
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn asked_scopes_are_narrowed_to_what_the_app_may_hold() {
        let allowed = Scopes::parse_known("patient/*.rs launch openid fhirUser");
        let asked = Scopes::parse_known(
            "patient/Observation.cruds user/Patient.r launch openid offline_access",
        );
        assert_eq!(
            asked.narrowed_to(&allowed).to_string(),
            "patient/Observation.rs launch openid"
        );
    }

    #[test]
    fn the_widest_level_covering_an_interaction_wins() {
        let scopes = Scopes::parse_known("patient/Observation.rs user/Observation.r");
        assert_eq!(
            scopes.level_for("Observation", Interaction::Read),
            Some(Level::User)
        );
        assert_eq!(
            scopes.level_for("Observation", Interaction::Search),
            Some(Level::Patient)
        );
        assert_eq!(scopes.level_for("Observation", Interaction::Create), None);
        assert_eq!(scopes.level_for("Patient", Interaction::Read), None);
    }
}
