//! Vital signs as a patient reports them at check-in, checked against
//! physiological bounds and turned into LOINC-coded observations.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::validation::FieldError;

/// Level of consciousness on the ACVPU scale, as NEWS2 reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consciousness {
    /// Alert.
    Alert,
    /// New confusion, or responds only to voice or pain, or unresponsive.
    Cvpu,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    /// Beats per minute.
    pub heart_rate: Option<f64>,
    /// Breaths per minute.
    pub respiratory_rate: Option<f64>,
    /// Oxygen saturation, percent.
    pub spo2: Option<f64>,
    /// Systolic blood pressure, mmHg.
    pub systolic_bp: Option<f64>,
    /// Body temperature, degrees Celsius.
    pub temperature_c: Option<f64>,
    pub consciousness: Option<Consciousness>,
}

/// One measurement to store as an Observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// FHIR observation category: `vital-signs`, or `survey` for scores.
    pub category: &'static str,
    pub loinc: &'static str,
    pub display: &'static str,
    pub value: Option<f64>,
    /// For coded answers (consciousness): a SNOMED CT code.
    pub value_code: Option<&'static str>,
    pub unit: Option<&'static str>,
    pub ucum: Option<&'static str>,
}

/// LOINC and UCUM for each vital sign (STANDARDS.md §1.4).
pub mod loinc {
    pub const HEART_RATE: &str = "8867-4";
    pub const RESPIRATORY_RATE: &str = "9279-1";
    pub const SPO2: &str = "2708-6";
    pub const SYSTOLIC_BP: &str = "8480-6";
    pub const TEMPERATURE: &str = "8310-5";
    pub const CONSCIOUSNESS: &str = "67775-7";
}

/// SNOMED CT answers for consciousness: alert, and acute confusion (the C of ACVPU).
pub const SNOMED_ALERT: &str = "248234008";
pub const SNOMED_CONFUSION: &str = "130987000";

impl Vitals {
    /// Refuses values no living patient reports (a typo, or a unit mix-up).
    pub fn validate(&self) -> Result<(), FieldError> {
        let bounds = [
            ("vitals.heart_rate", self.heart_rate, 20.0, 300.0),
            ("vitals.respiratory_rate", self.respiratory_rate, 2.0, 80.0),
            ("vitals.spo2", self.spo2, 50.0, 100.0),
            ("vitals.systolic_bp", self.systolic_bp, 40.0, 300.0),
            ("vitals.temperature_c", self.temperature_c, 25.0, 45.0),
        ];
        for (field, value, min, max) in bounds {
            if let Some(v) = value
                && (!v.is_finite() || !(min..=max).contains(&v))
            {
                return Err(FieldError::new(
                    field,
                    format!("must be between {min} and {max}"),
                ));
            }
        }
        Ok(())
    }

    /// Fills the slot a LOINC code names, unless it is already filled, so
    /// readers that go newest first keep the latest value. A consciousness
    /// answer is its SNOMED CT code. Returns whether anything was filled.
    pub fn record(&mut self, loinc: &str, value: Option<f64>, answer: Option<&str>) -> bool {
        let slot = match loinc {
            loinc::HEART_RATE => &mut self.heart_rate,
            loinc::RESPIRATORY_RATE => &mut self.respiratory_rate,
            // Pulse oximetry is what a patient at home reports.
            loinc::SPO2 | "59408-5" => &mut self.spo2,
            loinc::SYSTOLIC_BP => &mut self.systolic_bp,
            loinc::TEMPERATURE => &mut self.temperature_c,
            loinc::CONSCIOUSNESS => {
                let Some(answer) = answer.filter(|_| self.consciousness.is_none()) else {
                    return false;
                };
                let alert = answer == SNOMED_ALERT;
                self.consciousness = Some(if alert {
                    Consciousness::Alert
                } else {
                    Consciousness::Cvpu
                });
                return true;
            }
            _ => return false,
        };
        if slot.is_none() && value.is_some() {
            *slot = value;
            return true;
        }
        false
    }

    pub fn measurements(&self) -> Vec<Measurement> {
        let quantity = |loinc, display, value: Option<f64>, unit, ucum| {
            value.map(|v| Measurement {
                category: "vital-signs",
                loinc,
                display,
                value: Some(v),
                value_code: None,
                unit: Some(unit),
                ucum: Some(ucum),
            })
        };
        let mut out: Vec<Measurement> = [
            quantity(
                loinc::HEART_RATE,
                "Heart rate",
                self.heart_rate,
                "beats/minute",
                "/min",
            ),
            quantity(
                loinc::RESPIRATORY_RATE,
                "Respiratory rate",
                self.respiratory_rate,
                "breaths/minute",
                "/min",
            ),
            quantity(
                loinc::SPO2,
                "Oxygen saturation in Arterial blood",
                self.spo2,
                "%",
                "%",
            ),
            quantity(
                loinc::SYSTOLIC_BP,
                "Systolic blood pressure",
                self.systolic_bp,
                "mmHg",
                "mm[Hg]",
            ),
            quantity(
                loinc::TEMPERATURE,
                "Body temperature",
                self.temperature_c,
                "C",
                "Cel",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(level) = self.consciousness {
            out.push(Measurement {
                category: "vital-signs",
                loinc: loinc::CONSCIOUSNESS,
                display: "Level of responsiveness",
                value: None,
                value_code: Some(match level {
                    Consciousness::Alert => SNOMED_ALERT,
                    Consciousness::Cvpu => SNOMED_CONFUSION,
                }),
                unit: None,
                ucum: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_values_name_their_field() {
        let vitals = Vitals {
            heart_rate: Some(900.0),
            ..Default::default()
        };
        assert_eq!(vitals.validate().unwrap_err().field, "vitals.heart_rate");
        let vitals = Vitals {
            spo2: Some(f64::NAN),
            ..Default::default()
        };
        assert_eq!(vitals.validate().unwrap_err().field, "vitals.spo2");
    }

    #[test]
    fn each_reported_vital_becomes_one_coded_measurement() {
        let vitals = Vitals {
            heart_rate: Some(88.0),
            spo2: Some(97.0),
            consciousness: Some(Consciousness::Alert),
            ..Default::default()
        };
        let codes: Vec<_> = vitals.measurements().iter().map(|m| m.loinc).collect();
        assert_eq!(
            codes,
            [loinc::HEART_RATE, loinc::SPO2, loinc::CONSCIOUSNESS]
        );
    }
}
