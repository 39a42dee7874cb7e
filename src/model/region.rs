//! Where the clinic practises: the emergency number patients are told to
//! call, the temperature unit people read, the spelling of what they are
//! shown and which sources decision support cites. One setting
//! (`BEDSIDE_REGION`) for the whole clinic.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, ToSchema)]
pub enum Region {
    /// United States: 911, °F beside °C, US spelling, US sources.
    #[default]
    #[serde(rename = "US")]
    Us,
    /// United Kingdom: 999, °C, British spelling, NHS sources.
    #[serde(rename = "GB")]
    Gb,
}

/// How people in a region read body temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum TemperatureUnit {
    /// Fahrenheit first, Celsius beside it.
    #[serde(rename = "F")]
    Fahrenheit,
    #[serde(rename = "C")]
    Celsius,
}

impl Region {
    pub const ALL: [Region; 2] = [Region::Us, Region::Gb];

    /// The ISO 3166-1 code, as config and the knowledge base write it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Us => "US",
            Self::Gb => "GB",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.code().eq_ignore_ascii_case(code.trim()))
    }

    pub fn emergency_number(self) -> &'static str {
        match self {
            Self::Us => "911",
            Self::Gb => "999",
        }
    }

    pub fn temperature_unit(self) -> TemperatureUnit {
        match self {
            Self::Us => TemperatureUnit::Fahrenheit,
            Self::Gb => TemperatureUnit::Celsius,
        }
    }

    /// A body temperature as people here read it: `38.5 °C (101.3 °F)` in
    /// the US, `38.5 °C` in the UK.
    pub fn temperature(self, celsius: f64) -> String {
        match self.temperature_unit() {
            TemperatureUnit::Celsius => format!("{celsius:.1} °C"),
            TemperatureUnit::Fahrenheit => {
                format!("{celsius:.1} °C ({:.1} °F)", celsius * 9.0 / 5.0 + 32.0)
            }
        }
    }
}

/// What the browser pages need to know of the clinic before anyone signs in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClinicSettings {
    pub region: Region,
    pub emergency_number: &'static str,
    pub temperature_unit: TemperatureUnit,
}

impl From<Region> for ClinicSettings {
    fn from(region: Region) -> Self {
        Self {
            region,
            emergency_number: region.emergency_number(),
            temperature_unit: region.temperature_unit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_parse_from_their_codes_only() {
        assert_eq!(Region::parse("us"), Some(Region::Us));
        assert_eq!(Region::parse("GB"), Some(Region::Gb));
        assert_eq!(Region::parse("UK"), None);
        assert_eq!(Region::default(), Region::Us);
    }

    #[test]
    fn temperatures_read_as_the_region_reads_them() {
        assert_eq!(Region::Us.temperature(38.5), "38.5 °C (101.3 °F)");
        assert_eq!(Region::Gb.temperature(38.5), "38.5 °C");
        assert_eq!(Region::Us.emergency_number(), "911");
        assert_eq!(Region::Gb.emergency_number(), "999");
    }
}
