//! NEWS2 (National Early Warning Score 2) from a set of vital signs, on
//! SpO2 Scale 1 and on room air: check-in vitals carry no oxygen flag, and
//! Scale 2 is only for documented hypercapnic respiratory failure.

use serde::Serialize;
use utoipa::ToSchema;

use super::knowledge::{Band, News2Table};
use crate::ehr::{Consciousness, Vitals};
use crate::model::region::Region;

/// The clinical risk NEWS2 assigns.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Risk {
    Low,
    /// A score of 3 in any single parameter.
    LowMedium,
    Medium,
    High,
}

/// One of the seven NEWS2 parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    RespiratoryRate,
    Spo2,
    SystolicBp,
    HeartRate,
    TemperatureC,
    Consciousness,
    AirOrOxygen,
}

/// The points one measured parameter scored, with the reading behind them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Part {
    pub parameter: Parameter,
    /// The reading, in the API's unit; absent for consciousness and air.
    pub value: Option<f64>,
    pub points: u8,
}

/// A number as people write it: no trailing `.0`.
fn plain(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

impl Part {
    /// The part in plain words, e.g. "Respiratory rate 22/min: 2 points".
    pub fn describe(&self, region: Region) -> String {
        let reading = match (self.parameter, self.value) {
            (Parameter::RespiratoryRate, Some(v)) => format!("Respiratory rate {}/min", plain(v)),
            (Parameter::Spo2, Some(v)) => format!("Oxygen saturation {}%", plain(v)),
            (Parameter::SystolicBp, Some(v)) => {
                format!("Systolic blood pressure {} mmHg", plain(v))
            }
            (Parameter::HeartRate, Some(v)) => format!("Heart rate {}/min", plain(v)),
            (Parameter::TemperatureC, Some(v)) => format!("Temperature {}", region.temperature(v)),
            (Parameter::Consciousness, _) if self.points == 0 => "Alert".to_owned(),
            (Parameter::Consciousness, _) => "New confusion or drowsiness".to_owned(),
            (Parameter::AirOrOxygen, _) => "Breathing room air".to_owned(),
            (_, None) => "Not measured".to_owned(),
        };
        let unit = if self.points == 1 { "point" } else { "points" };
        format!("{reading}: {} {unit}", self.points)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct News2 {
    /// Aggregate score, 0 to 20.
    pub score: u8,
    pub risk: Risk,
    /// Whether all seven parameters were measured; a partial score understates risk.
    pub complete: bool,
    /// Points per parameter that was measured.
    pub parts: Vec<Part>,
}

fn points(bands: &[Band], value: f64) -> u8 {
    // Values between two bands (e.g. 36.05) fall to the nearer lower band's edge.
    let value = (value * 10.0).round() / 10.0;
    bands
        .iter()
        .find(|b| b.min.is_none_or(|min| value >= min) && b.max.is_none_or(|max| value <= max))
        .or_else(|| {
            bands
                .iter()
                .rev()
                .find(|b| b.min.is_none_or(|min| value >= min))
        })
        .map_or(0, |b| b.points)
}

/// Scores the vitals that were measured; `None` when none were.
pub fn score(table: &News2Table, vitals: &Vitals) -> Option<News2> {
    let mut parts: Vec<Part> = Vec::new();
    let measured = [
        (
            Parameter::RespiratoryRate,
            &table.respiratory_rate,
            vitals.respiratory_rate,
        ),
        (Parameter::Spo2, &table.spo2, vitals.spo2),
        (
            Parameter::SystolicBp,
            &table.systolic_bp,
            vitals.systolic_bp,
        ),
        (Parameter::HeartRate, &table.heart_rate, vitals.heart_rate),
        (
            Parameter::TemperatureC,
            &table.temperature_c,
            vitals.temperature_c,
        ),
    ];
    for (parameter, bands, value) in measured {
        if let Some(value) = value {
            parts.push(Part {
                parameter,
                value: Some(value),
                points: points(bands, value),
            });
        }
    }
    if let Some(level) = vitals.consciousness {
        parts.push(Part {
            parameter: Parameter::Consciousness,
            value: None,
            points: if level == Consciousness::Alert { 0 } else { 3 },
        });
    }
    if parts.is_empty() {
        return None;
    }
    // On air: the oxygen parameter scores 0.
    parts.push(Part {
        parameter: Parameter::AirOrOxygen,
        value: None,
        points: 0,
    });
    let score: u8 = parts.iter().map(|p| p.points).sum();
    let any_three = parts.iter().any(|p| p.points == 3);
    let risk = match score {
        7.. => Risk::High,
        5..=6 => Risk::Medium,
        _ if any_three => Risk::LowMedium,
        _ => Risk::Low,
    };
    Some(News2 {
        score,
        risk,
        complete: parts.len() == 7,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdss::Knowledge;

    fn table() -> News2Table {
        Knowledge::bundled().unwrap().news2
    }

    fn one(set: impl FnOnce(&mut Vitals)) -> u8 {
        let mut vitals = Vitals::default();
        set(&mut vitals);
        score(&table(), &vitals).unwrap().score
    }

    #[test]
    fn every_band_edge_scores_as_the_chart_says() {
        let rr = [
            (8.0, 3),
            (9.0, 1),
            (11.0, 1),
            (12.0, 0),
            (20.0, 0),
            (21.0, 2),
            (24.0, 2),
            (25.0, 3),
        ];
        for (v, p) in rr {
            assert_eq!(
                one(|x| x.respiratory_rate = Some(v)),
                p,
                "respiratory rate {v}"
            );
        }
        let spo2 = [
            (91.0, 3),
            (92.0, 2),
            (93.0, 2),
            (94.0, 1),
            (95.0, 1),
            (96.0, 0),
            (100.0, 0),
        ];
        for (v, p) in spo2 {
            assert_eq!(one(|x| x.spo2 = Some(v)), p, "SpO2 {v}");
        }
        let sbp = [
            (90.0, 3),
            (91.0, 2),
            (100.0, 2),
            (101.0, 1),
            (110.0, 1),
            (111.0, 0),
            (219.0, 0),
            (220.0, 3),
        ];
        for (v, p) in sbp {
            assert_eq!(one(|x| x.systolic_bp = Some(v)), p, "systolic {v}");
        }
        let hr = [
            (40.0, 3),
            (41.0, 1),
            (50.0, 1),
            (51.0, 0),
            (90.0, 0),
            (91.0, 1),
            (110.0, 1),
            (111.0, 2),
            (130.0, 2),
            (131.0, 3),
        ];
        for (v, p) in hr {
            assert_eq!(one(|x| x.heart_rate = Some(v)), p, "pulse {v}");
        }
        let temp = [
            (35.0, 3),
            (35.1, 1),
            (36.0, 1),
            (36.1, 0),
            (38.0, 0),
            (38.1, 1),
            (39.0, 1),
            (39.1, 2),
        ];
        for (v, p) in temp {
            assert_eq!(one(|x| x.temperature_c = Some(v)), p, "temperature {v}");
        }
        assert_eq!(one(|x| x.consciousness = Some(Consciousness::Alert)), 0);
        assert_eq!(one(|x| x.consciousness = Some(Consciousness::Cvpu)), 3);
    }

    fn full(rr: f64, spo2: f64, sbp: f64, hr: f64, temp: f64, alert: bool) -> News2 {
        let vitals = Vitals {
            respiratory_rate: Some(rr),
            spo2: Some(spo2),
            systolic_bp: Some(sbp),
            heart_rate: Some(hr),
            temperature_c: Some(temp),
            consciousness: Some(if alert {
                Consciousness::Alert
            } else {
                Consciousness::Cvpu
            }),
        };
        score(&table(), &vitals).unwrap()
    }

    #[test]
    fn combinations_add_up_and_set_the_risk_band() {
        let normal = full(16.0, 98.0, 120.0, 70.0, 37.0, true);
        assert_eq!(
            (normal.score, normal.risk, normal.complete),
            (0, Risk::Low, true)
        );
        let low = full(22.0, 95.0, 120.0, 95.0, 37.0, true);
        assert_eq!((low.score, low.risk), (4, Risk::Low));
        let single_three = full(16.0, 98.0, 120.0, 70.0, 37.0, false);
        assert_eq!(
            (single_three.score, single_three.risk),
            (3, Risk::LowMedium)
        );
        let medium = full(22.0, 94.0, 105.0, 95.0, 37.0, true);
        assert_eq!((medium.score, medium.risk), (5, Risk::Medium));
        let six = full(22.0, 93.0, 120.0, 95.0, 38.5, true);
        assert_eq!((six.score, six.risk), (6, Risk::Medium));
        let high = full(26.0, 91.0, 95.0, 125.0, 39.5, false);
        assert_eq!((high.score, high.risk), (3 + 3 + 2 + 2 + 2 + 3, Risk::High));
        let seven = full(25.0, 92.0, 120.0, 95.0, 38.5, true);
        assert_eq!((seven.score, seven.risk), (7, Risk::High));
    }

    #[test]
    fn each_part_reads_in_plain_words_with_its_reading() {
        let news2 = full(22.0, 90.0, 120.0, 70.0, 38.5, false);
        let words: Vec<String> = news2.parts.iter().map(|p| p.describe(Region::Us)).collect();
        assert_eq!(
            words,
            [
                "Respiratory rate 22/min: 2 points",
                "Oxygen saturation 90%: 3 points",
                "Systolic blood pressure 120 mmHg: 0 points",
                "Heart rate 70/min: 0 points",
                "Temperature 38.5 °C (101.3 °F): 1 point",
                "New confusion or drowsiness: 3 points",
                "Breathing room air: 0 points",
            ]
        );
        let temperature = &news2.parts[4];
        assert_eq!(
            temperature.describe(Region::Gb),
            "Temperature 38.5 °C: 1 point"
        );
    }

    #[test]
    fn no_vitals_no_score_and_partial_sets_say_so() {
        assert!(score(&table(), &Vitals::default()).is_none());
        let partial = score(
            &table(),
            &Vitals {
                heart_rate: Some(80.0),
                ..Vitals::default()
            },
        )
        .unwrap();
        assert!(!partial.complete);
    }
}
