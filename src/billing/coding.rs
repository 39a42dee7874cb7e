//! Coding a closed consult with no human input: the time-based E/M level
//! (2024+ minimum times), the code family and modifiers the payer wants,
//! the place of service and the diagnosis pointers. Anything it cannot
//! decide becomes a review reason, never a guessed code.

use super::codes::{CodeFamily, Cpt, FeeSchedule, Modifier, PayerRule, PlaceOfService};
use crate::model::claim::ClaimLine;
use crate::model::codes::Icd10;
use crate::model::visit::PatientLocation;

/// Most diagnosis pointers one service line carries (SV107).
pub const MAX_POINTERS: usize = 4;

/// What coding needs to know about a consult.
#[derive(Debug, Clone)]
pub struct CodingInput {
    pub total_minutes: i64,
    pub new_patient: bool,
    pub audio_only: bool,
    pub location: PatientLocation,
    pub diagnoses: Vec<Icd10>,
}

/// The codes of one claim, or why a biller must look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coded {
    Lines(Vec<ClaimLine>),
    Review(String),
}

/// Levels 2–5 (new) or 2–5 (established) of a family and modality, with
/// each code's minimum total minutes ("met or exceeded").
fn levels(family: CodeFamily, new_patient: bool, audio_only: bool) -> [(&'static str, i64); 4] {
    match (family, new_patient, audio_only) {
        (CodeFamily::Office, true, _) => {
            [("99202", 15), ("99203", 30), ("99204", 45), ("99205", 60)]
        }
        (CodeFamily::Office, false, _) => {
            [("99212", 10), ("99213", 20), ("99214", 30), ("99215", 40)]
        }
        (CodeFamily::Telemedicine, true, false) => {
            [("98000", 15), ("98001", 30), ("98002", 45), ("98003", 60)]
        }
        (CodeFamily::Telemedicine, false, false) => {
            [("98004", 10), ("98005", 20), ("98006", 30), ("98007", 40)]
        }
        (CodeFamily::Telemedicine, true, true) => {
            [("98008", 15), ("98009", 30), ("98010", 45), ("98011", 60)]
        }
        // Audio-only established codes need more than ten minutes of discussion.
        (CodeFamily::Telemedicine, false, true) => {
            [("98012", 11), ("98013", 20), ("98014", 30), ("98015", 40)]
        }
    }
}

/// The E/M code for `minutes`, or the lowest code's minimum when short.
/// The fewest minutes the lowest code of a family and modality needs.
pub fn shortest_billable_minutes(family: CodeFamily, new_patient: bool, audio_only: bool) -> i64 {
    levels(family, new_patient, audio_only)[0].1
}

pub fn em_code(
    family: CodeFamily,
    new_patient: bool,
    audio_only: bool,
    minutes: i64,
) -> Result<Cpt, i64> {
    let table = levels(family, new_patient, audio_only);
    table
        .iter()
        .rev()
        .find(|(_, minimum)| minutes >= *minimum)
        .map(|(code, _)| Cpt::parse(code).expect("E/M table codes are valid"))
        .ok_or(table[0].1)
}

pub fn place_of_service(location: PatientLocation) -> PlaceOfService {
    match location {
        PatientLocation::Home => PlaceOfService::TelehealthHome,
        PatientLocation::Other => PlaceOfService::TelehealthOther,
    }
}

/// Pointers 1..=n to the first diagnoses, at most four.
pub fn pointers(diagnoses: usize) -> Vec<u8> {
    (1..=diagnoses.min(MAX_POINTERS) as u8).collect()
}

/// Codes a consult for a payer's rule, priced from the fee schedule.
pub fn code_consult(input: &CodingInput, rule: &PayerRule, fees: &FeeSchedule) -> Coded {
    if input.diagnoses.is_empty() {
        return Coded::Review("the consult has no diagnosis".to_owned());
    }
    let cpt = match em_code(
        rule.family,
        input.new_patient,
        input.audio_only,
        input.total_minutes,
    ) {
        Ok(cpt) => cpt,
        Err(minimum) => {
            return Coded::Review(format!(
                "a consult of {} minutes is below the {minimum}-minute minimum of the lowest code",
                input.total_minutes
            ));
        }
    };
    let modifier: Option<Modifier> = if input.audio_only {
        rule.audio_modifier.clone()
    } else {
        rule.video_modifier.clone()
    };
    let Some(charge_cents) = fees.fee(&cpt) else {
        return Coded::Review(format!("the fee schedule has no fee for {cpt}"));
    };
    Coded::Lines(vec![ClaimLine {
        cpt,
        modifiers: modifier.into_iter().collect(),
        units: 1,
        charge_cents,
        diagnosis_pointers: pointers(input.diagnoses.len()),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::codes::PayerRules;

    fn all_fees() -> FeeSchedule {
        let codes: Vec<String> = (99202..=99205)
            .chain(99212..=99215)
            .chain(98000..=98015)
            .map(|c| format!("{c}=10000"))
            .collect();
        FeeSchedule::parse(&codes.join(",")).unwrap()
    }

    fn input(minutes: i64, new_patient: bool, audio_only: bool) -> CodingInput {
        CodingInput {
            total_minutes: minutes,
            new_patient,
            audio_only,
            location: PatientLocation::Home,
            diagnoses: vec![Icd10::parse("J06.9").unwrap()],
        }
    }

    #[test]
    fn every_level_of_every_family_at_and_just_below_its_minimum() {
        use CodeFamily::{Office, Telemedicine};
        // (family, new, audio, minutes, code or "" for review)
        let cases: &[(CodeFamily, bool, bool, i64, &str)] = &[
            (Office, true, false, 14, ""),
            (Office, true, false, 15, "99202"),
            (Office, true, false, 29, "99202"),
            (Office, true, false, 30, "99203"),
            (Office, true, false, 45, "99204"),
            (Office, true, false, 59, "99204"),
            (Office, true, false, 60, "99205"),
            (Office, true, false, 120, "99205"),
            (Office, false, false, 9, ""),
            (Office, false, false, 10, "99212"),
            (Office, false, false, 20, "99213"),
            (Office, false, false, 30, "99214"),
            (Office, false, false, 39, "99214"),
            (Office, false, false, 40, "99215"),
            (Office, false, true, 18, "99212"),
            (Office, true, true, 30, "99203"),
            (Telemedicine, true, false, 14, ""),
            (Telemedicine, true, false, 15, "98000"),
            (Telemedicine, true, false, 30, "98001"),
            (Telemedicine, true, false, 45, "98002"),
            (Telemedicine, true, false, 60, "98003"),
            (Telemedicine, false, false, 9, ""),
            (Telemedicine, false, false, 10, "98004"),
            (Telemedicine, false, false, 20, "98005"),
            (Telemedicine, false, false, 30, "98006"),
            (Telemedicine, false, false, 40, "98007"),
            (Telemedicine, true, true, 15, "98008"),
            (Telemedicine, true, true, 30, "98009"),
            (Telemedicine, true, true, 45, "98010"),
            (Telemedicine, true, true, 60, "98011"),
            (Telemedicine, false, true, 10, ""),
            (Telemedicine, false, true, 11, "98012"),
            (Telemedicine, false, true, 20, "98013"),
            (Telemedicine, false, true, 30, "98014"),
            (Telemedicine, false, true, 40, "98015"),
        ];
        for &(family, new, audio, minutes, expected) in cases {
            let got = em_code(family, new, audio, minutes);
            match expected {
                "" => assert!(got.is_err(), "{family:?} new={new} audio={audio} {minutes}"),
                code => assert_eq!(
                    got.map(|c| c.to_string()),
                    Ok(code.to_owned()),
                    "{family:?} new={new} audio={audio} {minutes}"
                ),
            }
        }
    }

    #[test]
    fn modifiers_follow_modality_and_payer() {
        let rules = PayerRules::parse("TELE=telemedicine/-/-,OLD=office/GT/FQ").unwrap();
        let fees = all_fees();
        let cases = [
            (None, false, "99213", vec!["95"]),
            (None, true, "99213", vec!["93"]),
            (Some("TELE"), false, "98005", vec![]),
            (Some("TELE"), true, "98013", vec![]),
            (Some("OLD"), false, "99213", vec!["GT"]),
            (Some("OLD"), true, "99213", vec!["FQ"]),
        ];
        for (payer, audio, code, modifiers) in cases {
            let Coded::Lines(lines) =
                code_consult(&input(25, false, audio), rules.for_payer(payer), &fees)
            else {
                panic!("{payer:?} should code");
            };
            assert_eq!(lines[0].cpt.as_str(), code, "{payer:?} {audio}");
            let got: Vec<&str> = lines[0].modifiers.iter().map(Modifier::as_str).collect();
            assert_eq!(got, modifiers, "{payer:?} {audio}");
        }
    }

    #[test]
    fn place_of_service_is_10_at_home_and_02_elsewhere() {
        assert_eq!(place_of_service(PatientLocation::Home).code(), "10");
        assert_eq!(place_of_service(PatientLocation::Other).code(), "02");
    }

    #[test]
    fn a_line_points_at_the_first_four_diagnoses() {
        assert_eq!(pointers(1), vec![1]);
        assert_eq!(pointers(3), vec![1, 2, 3]);
        assert_eq!(pointers(12), vec![1, 2, 3, 4]);
    }

    #[test]
    fn short_consults_and_missing_fees_go_to_review() {
        let rule = PayerRule::default();
        assert!(matches!(
            code_consult(&input(5, false, false), &rule, &all_fees()),
            Coded::Review(reason) if reason.contains("10-minute minimum")
        ));
        let fees = FeeSchedule::parse("99212=5000").unwrap();
        assert!(matches!(
            code_consult(&input(25, false, false), &rule, &fees),
            Coded::Review(reason) if reason.contains("99213")
        ));
        let Coded::Lines(lines) = code_consult(&input(12, false, false), &rule, &fees) else {
            panic!("codes");
        };
        assert_eq!(lines[0].charge_cents, 5000);
    }
}
