//! Triage at check-in: NEWS2 from the reported vitals and red-flag
//! symptoms decide whether the visit's priority must rise, and what the
//! waiting patient is told.

use serde::Serialize;
use utoipa::ToSchema;

use super::knowledge::{Knowledge, RedFlag, normalise};
use super::news2::{self, News2, Risk};
use crate::ehr::Vitals;
use crate::model::region::Region;
use crate::model::visit::{Emergency, Priority};

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
    /// What the waiting page tells the patient when it is an emergency,
    /// as one text (the lines of `emergency.advice`).
    pub patient_advice: Option<String>,
    /// The emergency advice, line by line, with the number to call.
    pub emergency: Option<Emergency>,
}

/// The general lines of emergency advice, after any red flag's own.
fn general_advice(region: Region) -> [String; 2] {
    let number = region.emergency_number();
    [
        format!(
            "If you feel very unwell, or have chest pain or trouble breathing, call {number} now. \
             Do not wait for this video visit."
        ),
        "A clinician has been alerted and will see you first. You can keep waiting on this page."
            .to_owned(),
    ]
}

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
    let high_risk = risk == Some(Risk::High);
    let is_emergency = !red_flags.is_empty() || high_risk;
    let priority = if is_emergency {
        Some(Priority::Emergent)
    } else if matches!(risk, Some(Risk::Medium | Risk::LowMedium)) {
        Some(Priority::Urgent)
    } else {
        None
    };
    let emergency = is_emergency.then(|| {
        let mut findings: Vec<String> = red_flags.iter().map(|f| f.name.clone()).collect();
        if let Some(news2) = news2.as_ref().filter(|_| high_risk) {
            findings.push(format!("NEWS2 {}: high clinical risk", news2.score));
        }
        let advice = red_flags
            .iter()
            .map(|f| f.advice.clone())
            .chain(general_advice(knowledge.region))
            .collect();
        Emergency {
            number: knowledge.region.emergency_number().to_owned(),
            headline: "Your answers suggest you may need emergency care.".to_owned(),
            findings,
            advice,
            acknowledged_at: None,
        }
    });
    Triage {
        news2,
        red_flags,
        priority,
        patient_advice: emergency
            .as_ref()
            .map(|e| format!("{} {}", e.headline, e.advice.join(" "))),
        emergency,
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
    fn the_advice_names_the_regions_number_spelling_and_sources() {
        let symptoms = ["worst headache ever".to_owned()];
        let us = triage(&kb(), None, &symptoms);
        let us_advice = us.emergency.expect("an emergency");
        assert_eq!(us_advice.number, "911");
        assert!(us_advice.advice.iter().any(|a| a.contains("call 911")));
        assert!(us_advice.advice[0].contains("hemorrhage"));
        assert!(!us.red_flags[0].source.contains("NHS"));

        let gb_kb = Knowledge::bundled_for(Region::Gb).unwrap();
        let gb = triage(&gb_kb, None, &symptoms);
        let gb_advice = gb.emergency.expect("an emergency");
        assert_eq!(gb_advice.number, "999");
        assert!(gb_advice.advice.iter().any(|a| a.contains("call 999")));
        assert!(gb_advice.advice.iter().all(|a| !a.contains("911")));
        assert!(gb_advice.advice[0].contains("haemorrhage"));
        assert!(gb.red_flags[0].source.starts_with("NHS"));
        assert_eq!(gb_advice.findings, ["Sudden severe headache"]);

        for flag in &gb_kb.red_flags {
            assert!(
                !flag.advice.contains("911") && !flag.advice.contains("988"),
                "{}",
                flag.id
            );
        }
    }

    #[test]
    fn high_news2_alone_is_an_emergency_named_in_plain_words() {
        let vitals = Vitals {
            respiratory_rate: Some(26.0),
            spo2: Some(90.0),
            heart_rate: Some(135.0),
            ..Vitals::default()
        };
        let found = triage(&kb(), Some(&vitals), &[]);
        let emergency = found.emergency.expect("an emergency");
        assert_eq!(emergency.findings, ["NEWS2 9: high clinical risk"]);
        assert!(
            found
                .patient_advice
                .unwrap()
                .ends_with(&emergency.advice.join(" "))
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
