//! Triage at check-in: NEWS2 from the reported vitals and red-flag
//! symptoms decide whether the visit's priority must rise, and what the
//! waiting patient is told.

use serde::Serialize;
use utoipa::ToSchema;

use super::knowledge::{Knowledge, RedFlag, normalise};
use super::news2::{self, News2, Risk};
use crate::ehr::Vitals;
use crate::visits::Priority;

/// A red flag found in the patient's symptoms.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlagHit {
    pub id: String,
    pub name: String,
    pub advice: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Triage {
    pub news2: Option<News2>,
    pub red_flags: Vec<FlagHit>,
    /// The priority the findings call for, if above routine.
    pub priority: Option<Priority>,
    /// What the waiting page tells the patient when it is an emergency.
    pub patient_advice: Option<String>,
}

/// The advice shown to a patient whose answers suggest an emergency.
pub const EMERGENCY_ADVICE: &str = "Your answers suggest you may need emergency care. If you feel very unwell, \
have chest pain or trouble breathing, call 911 (or your local emergency number) now. \
A clinician has been alerted and will see you first.";

fn hits(flag: &RedFlag, symptoms: &[String]) -> bool {
    symptoms.iter().any(|symptom| {
        let text = normalise(symptom);
        flag.phrases
            .iter()
            .any(|phrase| text.contains(&normalise(phrase)))
    })
}

pub fn triage(knowledge: &Knowledge, vitals: Option<&Vitals>, symptoms: &[String]) -> Triage {
    let news2 = vitals.and_then(|v| news2::score(&knowledge.news2, v));
    let red_flags: Vec<FlagHit> = knowledge
        .red_flags
        .iter()
        .filter(|flag| hits(flag, symptoms))
        .map(|flag| FlagHit {
            id: flag.id.clone(),
            name: flag.name.clone(),
            advice: flag.advice.clone(),
            source: flag.source.clone(),
        })
        .collect();
    let risk = news2.as_ref().map(|n| n.risk);
    let emergency = !red_flags.is_empty() || risk == Some(Risk::High);
    let priority = if emergency {
        Some(Priority::Emergent)
    } else if matches!(risk, Some(Risk::Medium | Risk::LowMedium)) {
        Some(Priority::Urgent)
    } else {
        None
    };
    let patient_advice = emergency.then(|| {
        let specific: Vec<&str> = red_flags.iter().map(|f| f.advice.as_str()).collect();
        if specific.is_empty() {
            EMERGENCY_ADVICE.to_owned()
        } else {
            format!("{} {EMERGENCY_ADVICE}", specific.join(" "))
        }
    });
    Triage {
        news2,
        red_flags,
        priority,
        patient_advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ehr::Consciousness;

    fn kb() -> Knowledge {
        Knowledge::bundled().unwrap()
    }

    #[test]
    fn each_red_flag_is_found_in_free_text_and_only_there() {
        let kb = kb();
        let examples = [
            ("chest-pain", "Crushing CHEST pain since this morning"),
            ("breathing", "I can't breathe properly"),
            ("stroke", "my face drooping on one side"),
            ("anaphylaxis", "throat swelling after peanuts"),
            ("bleeding", "vomiting blood"),
            ("consciousness", "had a seizure an hour ago"),
            ("suicidal", "feeling suicidal"),
            ("thunderclap-headache", "worst headache of my life"),
        ];
        for (id, text) in examples {
            let found = triage(&kb, None, &[text.to_owned()]);
            assert_eq!(
                found
                    .red_flags
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect::<Vec<_>>(),
                [id],
                "{text}"
            );
            assert_eq!(found.priority, Some(Priority::Emergent));
            assert!(found.patient_advice.unwrap().contains("911"));
        }
        for flag in &kb.red_flags {
            assert!(
                examples.iter().any(|(id, _)| *id == flag.id),
                "{} has a test",
                flag.id
            );
        }
        let calm = triage(
            &kb,
            None,
            &["sore throat".to_owned(), "mild cough".to_owned()],
        );
        assert!(
            calm.red_flags.is_empty() && calm.priority.is_none() && calm.patient_advice.is_none()
        );
    }

    #[test]
    fn news2_risk_sets_the_priority() {
        let kb = kb();
        let high = Vitals {
            respiratory_rate: Some(26.0),
            spo2: Some(90.0),
            heart_rate: Some(135.0),
            ..Vitals::default()
        };
        assert_eq!(
            triage(&kb, Some(&high), &[]).priority,
            Some(Priority::Emergent)
        );
        let medium = Vitals {
            respiratory_rate: Some(22.0),
            spo2: Some(94.0),
            heart_rate: Some(115.0),
            ..Vitals::default()
        };
        let medium = triage(&kb, Some(&medium), &[]);
        assert_eq!(medium.priority, Some(Priority::Urgent));
        assert!(medium.patient_advice.is_none());
        let single = Vitals {
            consciousness: Some(Consciousness::Cvpu),
            ..Vitals::default()
        };
        assert_eq!(
            triage(&kb, Some(&single), &[]).priority,
            Some(Priority::Urgent)
        );
        let normal = Vitals {
            heart_rate: Some(72.0),
            spo2: Some(98.0),
            ..Vitals::default()
        };
        assert_eq!(triage(&kb, Some(&normal), &[]).priority, None);
    }
}
