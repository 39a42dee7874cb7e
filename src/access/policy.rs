//! The read policy: which staff role reads which kind of health data, and
//! what a visit's patient reaches through its link. Testable without HTTP;
//! `Staff<R>` role sets for reads are built from [`readers`].

use crate::model::auth::{Principal, Role};
use crate::model::ids::{EncounterId, PatientId, VisitId};
use crate::model::smart::{Interaction, Level};

/// The kinds of data the policy tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Who the patient is: name, birth date, contact, insurance.
    Demographics,
    /// Visits and queues: who is booked, waiting, seen.
    Visits,
    /// Encounters: a visit's period, participants and diagnoses (billing
    /// codes from them).
    Encounters,
    /// The chart: vital signs and other observations, conditions,
    /// allergies, medications, notes.
    Clinical,
    /// The chat kept in a visit's record.
    Messages,
    /// Claims and patient accounts.
    Claims,
    /// The clinicians' directory; no health data.
    Practitioners,
}

/// The staff roles that read `data` of any patient. The one list: REST
/// role sets and FHIR both come from it.
pub const fn readers(data: Data) -> &'static [Role] {
    match data {
        Data::Demographics | Data::Visits | Data::Practitioners => {
            &[Role::Admin, Role::Scheduler, Role::Clinician, Role::Billing]
        }
        // Billing codes and claims are made from encounters and their diagnoses.
        Data::Encounters => &[Role::Admin, Role::Clinician, Role::Billing],
        Data::Clinical | Data::Messages => &[Role::Admin, Role::Clinician],
        Data::Claims => &[Role::Admin, Role::Billing],
    }
}

/// The staff roles that write `data` of any patient over FHIR: clinicians
/// and admins the chart, schedulers (too) who the patient is. Nobody
/// writes encounters, messages or claims that way.
pub const fn writers(data: Data) -> &'static [Role] {
    match data {
        Data::Demographics => &[Role::Admin, Role::Scheduler, Role::Clinician],
        Data::Clinical => &[Role::Admin, Role::Clinician],
        Data::Visits | Data::Encounters | Data::Messages | Data::Claims | Data::Practitioners => {
            &[]
        }
    }
}

/// Whether `principal` creates or updates `data` (FHIR writes): staff by
/// role; a patient's or guest's link never writes, and neither does an
/// app's token yet: its writes would need the patient checked in the body.
pub fn may_write(principal: &Principal, data: Data) -> bool {
    match principal {
        Principal::Staff(user) => writers(data).contains(&user.role),
        Principal::Patient { .. } | Principal::Guest { .. } | Principal::App(_) => false,
    }
}

/// Which record a piece of data belongs to, as far as it is known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub patient: Option<&'a PatientId>,
    pub encounter: Option<&'a EncounterId>,
    pub visit: Option<&'a VisitId>,
}

/// Whether `principal` reads `data` of `subject`. Staff by role; a visit's
/// patient only what that visit needs: its own demographics, the visit,
/// its encounter and what was recorded in it (vital signs, diagnoses,
/// messages), never other visits' data, allergies or claims. Guests read
/// no health data here.
pub fn may_read(principal: &Principal, data: Data, subject: &Subject<'_>) -> bool {
    match principal {
        Principal::Staff(user) => readers(data).contains(&user.role),
        Principal::Patient {
            visit_id,
            patient_id,
            encounter_id,
        } => match data {
            Data::Practitioners => true,
            Data::Demographics => subject.patient == Some(patient_id),
            Data::Visits => subject.visit == Some(visit_id),
            Data::Encounters | Data::Clinical | Data::Messages => {
                subject.encounter == Some(encounter_id)
                    && subject.patient.is_none_or(|p| p == patient_id)
            }
            Data::Claims => false,
        },
        Principal::Guest { .. } => false,
        // Scopes only delegate: the user's own permissions still apply.
        Principal::App(app) => app
            .on_behalf
            .as_deref()
            .is_none_or(|user| may_read(user, data, subject)),
    }
}

/// Whether `principal` reads `data` of one visit: staff by role, its
/// patient only its own visit's (never claims).
pub fn may_read_visit(principal: &Principal, data: Data, visit: &VisitId) -> bool {
    match principal {
        Principal::Staff(user) => readers(data).contains(&user.role),
        Principal::Patient { visit_id, .. } => visit_id == visit && data != Data::Claims,
        // Apps reach the record through FHIR resources, not visits.
        Principal::Guest { .. } | Principal::App(_) => false,
    }
}

/// Whether `principal` reads any `data` at all: a search of that kind is
/// refused outright otherwise.
pub fn reads_any(principal: &Principal, data: Data) -> bool {
    match principal {
        Principal::Staff(user) => readers(data).contains(&user.role),
        Principal::Patient { .. } => data != Data::Claims,
        Principal::Guest { .. } => false,
        Principal::App(app) => app
            .on_behalf
            .as_deref()
            .is_none_or(|user| reads_any(user, data)),
    }
}

/// What a SMART app's scopes let it reach of one resource type for one
/// interaction. Callers other than apps hold no scopes and are limited by
/// the read policy alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeReach<'a> {
    /// No scope covers it.
    None,
    /// Only the record of the patient in context.
    Patient(&'a PatientId),
    /// Whatever the read policy allows.
    Any,
}

/// The reach of `principal`'s scopes on `resource` for `interaction`
/// (`r` for read, `s` for search, `c`/`u`/`d` for writes). A `patient/`
/// scope without a patient in context reaches nothing.
pub fn scope_reach<'a>(
    principal: &'a Principal,
    resource: &str,
    interaction: Interaction,
) -> ScopeReach<'a> {
    let Principal::App(app) = principal else {
        return ScopeReach::Any;
    };
    match app.level_for(resource, interaction) {
        None => ScopeReach::None,
        Some(Level::Patient) => app
            .patient
            .as_ref()
            .map_or(ScopeReach::None, ScopeReach::Patient),
        Some(Level::User | Level::System) => ScopeReach::Any,
    }
}

/// Whether `principal`'s scopes allow `interaction` on a `resource` of
/// `patient`'s record (`None`: a resource of no patient's record).
pub fn scopes_allow(
    principal: &Principal,
    resource: &str,
    interaction: Interaction,
    patient: Option<&PatientId>,
) -> bool {
    match scope_reach(principal, resource, interaction) {
        ScopeReach::None => false,
        ScopeReach::Patient(own) => patient.is_none_or(|p| p == own),
        ScopeReach::Any => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::auth::User;
    use crate::model::ids::UserId;

    fn staff(role: Role) -> Principal {
        Principal::Staff(User {
            id: UserId::new(),
            username: "u".into(),
            role,
            display_name: "U".into(),
            npi: None,
        })
    }

    #[test]
    fn schedulers_read_demographics_and_visits_but_not_the_chart() {
        let scheduler = staff(Role::Scheduler);
        let any = Subject::default();
        assert!(may_read(&scheduler, Data::Demographics, &any));
        assert!(may_read(&scheduler, Data::Visits, &any));
        for data in [
            Data::Encounters,
            Data::Clinical,
            Data::Messages,
            Data::Claims,
        ] {
            assert!(!may_read(&scheduler, data, &any), "{data:?}");
        }
    }

    #[test]
    fn clinicians_write_the_chart_and_schedulers_only_demographics() {
        assert!(may_write(&staff(Role::Clinician), Data::Clinical));
        assert!(may_write(&staff(Role::Admin), Data::Clinical));
        assert!(may_write(&staff(Role::Scheduler), Data::Demographics));
        assert!(!may_write(&staff(Role::Scheduler), Data::Clinical));
        assert!(!may_write(&staff(Role::Billing), Data::Demographics));
        assert!(!may_write(&staff(Role::Clinician), Data::Claims));
    }

    #[test]
    fn billers_read_what_billing_needs_and_nothing_clinical() {
        let biller = staff(Role::Billing);
        let any = Subject::default();
        for data in [Data::Demographics, Data::Encounters, Data::Claims] {
            assert!(may_read(&biller, data, &any), "{data:?}");
        }
        assert!(!may_read(&biller, Data::Clinical, &any));
        assert!(!may_read(&biller, Data::Messages, &any));
    }

    #[test]
    fn clinicians_read_the_chart_and_not_claims() {
        let clinician = staff(Role::Clinician);
        let any = Subject::default();
        assert!(may_read(&clinician, Data::Clinical, &any));
        assert!(!may_read(&clinician, Data::Claims, &any));
    }

    fn app(scopes: &str, patient: Option<&PatientId>, on_behalf: Option<Principal>) -> Principal {
        Principal::App(Box::new(crate::model::smart::AppCaller {
            client_id: "app".into(),
            grant_id: "g".into(),
            scopes: crate::model::smart::Scopes::parse_known(scopes),
            patient: patient.cloned(),
            encounter: None,
            on_behalf: on_behalf.map(Box::new),
        }))
    }

    #[test]
    fn an_app_reaches_what_its_scopes_and_its_user_both_allow() {
        let (ada, bob) = (PatientId::new(), PatientId::new());
        let launched = app(
            "patient/Observation.rs user/Patient.r",
            Some(&ada),
            Some(staff(Role::Clinician)),
        );
        assert!(scopes_allow(
            &launched,
            "Observation",
            Interaction::Read,
            Some(&ada)
        ));
        assert!(!scopes_allow(
            &launched,
            "Observation",
            Interaction::Read,
            Some(&bob)
        ));
        assert!(!scopes_allow(
            &launched,
            "Observation",
            Interaction::Create,
            Some(&ada)
        ));
        assert!(scopes_allow(
            &launched,
            "Patient",
            Interaction::Read,
            Some(&bob)
        ));
        assert!(!scopes_allow(
            &launched,
            "Patient",
            Interaction::Search,
            None
        ));
        assert_eq!(
            scope_reach(&launched, "Observation", Interaction::Search),
            ScopeReach::Patient(&ada)
        );
        // Scopes only delegate: a scheduler's app does not read the chart.
        let scheduler_app = app("user/*.rs", None, Some(staff(Role::Scheduler)));
        assert!(!may_read(
            &scheduler_app,
            Data::Clinical,
            &Subject::default()
        ));
        assert!(may_read(
            &scheduler_app,
            Data::Demographics,
            &Subject::default()
        ));
        // A patient/ scope with no patient in context reaches nothing.
        let lost = app("patient/*.rs", None, None);
        assert_eq!(
            scope_reach(&lost, "Patient", Interaction::Read),
            ScopeReach::None
        );
        // A backend service reads by its system scopes alone.
        let service = app("system/Patient.rs", None, None);
        assert!(may_read(&service, Data::Demographics, &Subject::default()));
        assert!(scopes_allow(
            &service,
            "Patient",
            Interaction::Search,
            Some(&bob)
        ));
        assert!(!scopes_allow(
            &service,
            "Observation",
            Interaction::Search,
            None
        ));
        assert!(!may_read_visit(&service, Data::Visits, &VisitId::new()));
    }

    #[test]
    fn a_patient_link_reaches_its_own_visit_only() {
        let (visit, patient, encounter) = (VisitId::new(), PatientId::new(), EncounterId::new());
        let me = Principal::Patient {
            visit_id: visit.clone(),
            patient_id: patient.clone(),
            encounter_id: encounter.clone(),
        };
        let other_encounter = EncounterId::new();
        let own = Subject {
            patient: Some(&patient),
            encounter: Some(&encounter),
            visit: Some(&visit),
        };
        let other_visit = Subject {
            patient: Some(&patient),
            encounter: Some(&other_encounter),
            visit: None,
        };
        for data in [
            Data::Demographics,
            Data::Visits,
            Data::Encounters,
            Data::Clinical,
            Data::Messages,
        ] {
            assert!(may_read(&me, data, &own), "{data:?}");
        }
        for data in [
            Data::Encounters,
            Data::Clinical,
            Data::Messages,
            Data::Visits,
        ] {
            assert!(!may_read(&me, data, &other_visit), "{data:?}");
        }
        assert!(!may_read(&me, Data::Claims, &own));
        let allergy = Subject {
            patient: Some(&patient),
            ..Subject::default()
        };
        assert!(
            !may_read(&me, Data::Clinical, &allergy),
            "not of this visit"
        );
    }
}
