//! The rules: from a patient's data to cards. Pure functions over the
//! knowledge base, so every rule is tested without a store or HTTP.

use super::cards::{Card, Indicator};
use super::knowledge::{Drug, InteractionSeverity, Knowledge};
use super::news2::{self, Risk};
use super::triage::triage;
use crate::ehr::Vitals;
use crate::model::timestamp::Timestamp;

/// An allergy as the rules read it.
#[derive(Debug, Clone, PartialEq)]
pub struct AllergyFact {
    pub substance: String,
    pub code: Option<String>,
}

/// A medication (current, or a draft order) as the rules read it.
#[derive(Debug, Clone, PartialEq)]
pub struct MedicationFact {
    pub name: String,
    pub code: Option<String>,
    /// For draft orders: the FHIR id to suggest removing.
    pub order_id: Option<String>,
}

/// When the vital signs the rules read were taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Taken {
    /// Every reading was reported for this visit.
    ThisVisit,
    /// Some or all readings are from before this visit; the oldest used.
    Earlier(Timestamp),
    /// The readings carried no time.
    Unknown,
}

impl Taken {
    /// A sentence saying when, for a card's detail.
    fn sentence(self) -> String {
        match self {
            Self::ThisVisit => "Vital signs reported at this visit.".to_owned(),
            Self::Earlier(at) => format!(
                "Not from this visit: the oldest reading used is from {}.",
                at.to_datetime().format("%-d %B %Y")
            ),
            Self::Unknown => "When these vital signs were taken is not recorded.".to_owned(),
        }
    }
}

/// What the rules know of a patient.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientData {
    pub vitals: Option<Vitals>,
    /// When `vitals` were taken.
    pub vitals_taken: Option<Taken>,
    pub symptoms: Vec<String>,
    pub allergies: Vec<AllergyFact>,
    pub medications: Vec<MedicationFact>,
}

const NEWS2_URL: &str =
    "https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/";

/// Cards for opening the chart or starting the encounter: vital-sign risk,
/// triage red flags, allergies against current medications, interactions.
pub fn assess(kb: &Knowledge, data: &PatientData) -> Vec<Card> {
    let mut cards = Vec::new();
    if let Some(score) = data
        .vitals
        .as_ref()
        .and_then(|v| news2::score(&kb.news2, v))
    {
        let (indicator, what) = match score.risk {
            Risk::High => (
                Indicator::Critical,
                "high clinical risk: emergency assessment",
            ),
            Risk::Medium => (Indicator::Warning, "medium clinical risk: urgent review"),
            Risk::LowMedium => (
                Indicator::Warning,
                "a single parameter scores 3: urgent review",
            ),
            Risk::Low => (Indicator::Info, "low clinical risk"),
        };
        let parts: Vec<String> = score
            .parts
            .iter()
            .map(|part| part.describe(kb.region))
            .collect();
        let partial = if score.complete {
            ""
        } else {
            " Not every parameter was measured, so the score may understate risk."
        };
        let when = match data.vitals_taken {
            Some(Taken::ThisVisit) => " (this visit)",
            Some(Taken::Earlier(_)) => " (earlier readings)",
            Some(Taken::Unknown) | None => "",
        };
        let taken = data
            .vitals_taken
            .map(|t| format!("{} ", t.sentence()))
            .unwrap_or_default();
        cards.push(
            Card::new(
                format!("NEWS2 {} — {what}{when}", score.score),
                indicator,
                kb.news2.source.clone(),
            )
            .detail(format!("{taken}{}.{partial}", parts.join("; ")))
            .url(NEWS2_URL),
        );
    }
    for flag in triage(kb, None, &data.symptoms).red_flags {
        cards.push(
            Card::new(
                format!(
                    "Red flag: {} — consider emergency care",
                    flag.name.to_lowercase()
                ),
                Indicator::Critical,
                flag.source,
            )
            .detail(format!(
                "Reported at this visit's check-in. {}",
                flag.advice
            )),
        );
    }
    for medication in &data.medications {
        cards.extend(allergy_cards(kb, &data.allergies, medication));
    }
    for (i, first) in data.medications.iter().enumerate() {
        for second in &data.medications[i + 1..] {
            cards.extend(interaction_cards(kb, first, second));
        }
    }
    cards
}

/// Cards for signing medication orders: each draft against the allergies
/// and against current medications (and the other drafts).
pub fn check_orders(kb: &Knowledge, data: &PatientData, drafts: &[MedicationFact]) -> Vec<Card> {
    let mut cards = Vec::new();
    for (i, draft) in drafts.iter().enumerate() {
        cards.extend(allergy_cards(kb, &data.allergies, draft));
        for other in data.medications.iter().chain(&drafts[i + 1..]) {
            cards.extend(interaction_cards(kb, draft, other));
        }
    }
    cards
}

fn drug(kb: &Knowledge, medication: &MedicationFact) -> Drug {
    kb.drug(&medication.name, medication.code.as_deref())
}

fn with_removal(card: Card, medication: &MedicationFact) -> Card {
    match &medication.order_id {
        Some(id) => card
            .suggest_removing(
                format!("Remove the order for {}", medication.name),
                id.clone(),
            )
            .overridable(),
        None => card.overridable(),
    }
}

fn allergy_cards(
    kb: &Knowledge,
    allergies: &[AllergyFact],
    medication: &MedicationFact,
) -> Vec<Card> {
    let drug = drug(kb, medication);
    let drug_classes = kb.classes_of(&drug);
    let mut cards = Vec::new();
    for allergy in allergies {
        let allergy_classes = kb.allergy_classes(&allergy.substance, allergy.code.as_deref());
        let same = drug_classes
            .iter()
            .find(|c| allergy_classes.iter().any(|a| a.id == c.id));
        let cross = drug_classes.iter().find(|c| {
            allergy_classes
                .iter()
                .any(|a| a.cross_reacts.contains(&c.id))
        });
        let card = if let Some(class) = same {
            Card::new(
                format!(
                    "Allergy: {} is a {} and the patient is allergic to {}",
                    medication.name,
                    singular(&class.name),
                    allergy.substance
                ),
                Indicator::Critical,
                class.source.clone(),
            )
        } else if let Some(class) = cross {
            Card::new(
                format!("Possible cross-reactivity: {} ({}) with the allergy to {}", medication.name, singular(&class.name), allergy.substance),
                Indicator::Warning,
                class.source.clone(),
            )
            .detail("Cross-reactivity between penicillins and cephalosporins is low but real; weigh the history of the reaction.")
        } else {
            continue;
        };
        cards.push(with_removal(card, medication));
    }
    cards
}

fn singular(class: &str) -> String {
    class.trim_end_matches('s').to_lowercase()
}

fn interaction_cards(kb: &Knowledge, first: &MedicationFact, second: &MedicationFact) -> Vec<Card> {
    kb.interactions_between(&drug(kb, first), &drug(kb, second))
        .into_iter()
        .map(|interaction| {
            let indicator = match interaction.severity {
                InteractionSeverity::Critical => Indicator::Critical,
                InteractionSeverity::Warning => Indicator::Warning,
            };
            let card = Card::new(
                interaction.summary.clone(),
                indicator,
                interaction.source.clone(),
            )
            .detail(format!(
                "{} and {}: {}",
                first.name, second.name, interaction.advice
            ));
            let draft = if first.order_id.is_some() {
                first
            } else {
                second
            };
            with_removal(card, draft)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> Knowledge {
        Knowledge::bundled().unwrap()
    }

    fn med(name: &str) -> MedicationFact {
        MedicationFact {
            name: name.to_owned(),
            code: None,
            order_id: None,
        }
    }

    fn order(name: &str, code: Option<&str>) -> MedicationFact {
        MedicationFact {
            name: name.to_owned(),
            code: code.map(str::to_owned),
            order_id: Some(format!("MedicationRequest/{name}")),
        }
    }

    fn allergic_to(substance: &str) -> PatientData {
        PatientData {
            allergies: vec![AllergyFact {
                substance: substance.to_owned(),
                code: None,
            }],
            ..PatientData::default()
        }
    }

    #[test]
    fn each_allergy_class_flags_its_members_and_nothing_else() {
        let kb = kb();
        for class in &kb.classes {
            let data = allergic_to(&class.members[0].name);
            for member in &class.members {
                let cards = check_orders(&kb, &data, &[order(&member.name, None)]);
                assert!(
                    cards.iter().any(|c| c.indicator == Indicator::Critical),
                    "{} flags {}",
                    class.id,
                    member.name
                );
            }
            let cards = check_orders(&kb, &data, &[order("paracetamol", None)]);
            assert!(cards.is_empty(), "{} does not flag paracetamol", class.id);
        }
    }

    #[test]
    fn a_penicillin_allergy_warns_of_cephalosporin_cross_reactivity() {
        let kb = kb();
        let cards = check_orders(
            &kb,
            &allergic_to("Penicillin"),
            &[order("Cephalexin 500 MG", Some("2231"))],
        );
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].indicator, Indicator::Warning);
        assert!(cards[0].summary.contains("cross-reactivity"));
        assert_eq!(cards[0].selection_behavior.as_deref(), Some("at-most-one"));
        assert_eq!(
            cards[0].suggestions[0].actions[0].resource_id.as_deref(),
            Some("MedicationRequest/Cephalexin 500 MG")
        );
    }

    #[test]
    fn an_allergy_named_by_class_flags_members() {
        let cards = check_orders(
            &kb(),
            &allergic_to("NSAIDs"),
            &[order("Ibuprofen 400 mg", None)],
        );
        assert_eq!(cards.len(), 1);
    }

    #[test]
    fn each_interaction_fires_both_ways_and_not_for_unrelated_drugs() {
        let kb = kb();
        for interaction in &kb.interactions {
            let pick = |side: &[String]| -> String {
                match side[0].strip_prefix("class:") {
                    Some(class) => kb.classes.iter().find(|c| c.id == class).unwrap().members[0]
                        .name
                        .clone(),
                    None => side[0].clone(),
                }
            };
            let (a, b) = (pick(&interaction.a), pick(&interaction.b));
            let current = PatientData {
                medications: vec![med(&a)],
                ..PatientData::default()
            };
            let cards = check_orders(&kb, &current, &[order(&b, None)]);
            assert!(
                cards.iter().any(|c| c.summary == interaction.summary),
                "{} ({a} + {b})",
                interaction.id
            );
            let reverse = PatientData {
                medications: vec![med(&b)],
                ..PatientData::default()
            };
            assert!(
                !check_orders(&kb, &reverse, &[order(&a, None)]).is_empty(),
                "{} reversed",
                interaction.id
            );
            let unrelated = PatientData {
                medications: vec![med("paracetamol")],
                ..PatientData::default()
            };
            assert!(
                check_orders(&kb, &unrelated, &[order(&b, None)])
                    .iter()
                    .all(|c| c.summary != interaction.summary)
            );
        }
    }

    #[test]
    fn the_chart_shows_news2_red_flags_and_existing_conflicts() {
        let kb = kb();
        let data = PatientData {
            vitals: Some(Vitals {
                respiratory_rate: Some(26.0),
                spo2: Some(90.0),
                heart_rate: Some(135.0),
                ..Vitals::default()
            }),
            vitals_taken: Some(Taken::ThisVisit),
            symptoms: vec!["chest pain".to_owned()],
            allergies: vec![AllergyFact {
                substance: "aspirin".to_owned(),
                code: Some("1191".to_owned()),
            }],
            medications: vec![med("warfarin"), med("ibuprofen")],
        };
        let cards = assess(&kb, &data);
        assert!(
            cards[0].summary.starts_with("NEWS2 9"),
            "{}",
            cards[0].summary
        );
        assert_eq!(cards[0].indicator, Indicator::Critical);
        assert!(cards[0].summary.ends_with("(this visit)"));
        let detail = cards[0].detail.as_deref().unwrap();
        assert!(
            detail.starts_with("Vital signs reported at this visit. Respiratory rate 26/min: 3 points; Oxygen saturation 90%: 3 points"),
            "{detail}"
        );
        assert!(!detail.contains("respiratory_rate") && !detail.contains("spo2"));
        assert!(
            cards
                .iter()
                .any(|c| c.summary.starts_with("Red flag: chest pain"))
        );
        let earlier = PatientData {
            vitals_taken: Some(Taken::Earlier(Timestamp(1_762_171_200_000))),
            ..data
        };
        let card = &assess(&kb, &earlier)[0];
        assert!(
            card.summary.ends_with("(earlier readings)"),
            "{}",
            card.summary
        );
        assert!(
            card.detail.as_deref().unwrap().starts_with(
                "Not from this visit: the oldest reading used is from 3 November 2025."
            ),
            "{:?}",
            card.detail
        );
        assert!(
            cards
                .iter()
                .any(|c| c.summary.contains("Warfarin with an NSAID"))
        );
        assert!(
            cards
                .iter()
                .any(|c| c.summary.starts_with("Allergy: ibuprofen"))
        );
        assert!(cards.iter().all(|c| c.summary.chars().count() < 140));
        assert!(assess(&kb, &PatientData::default()).is_empty());
    }
}
