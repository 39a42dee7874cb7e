//! Billing's settings over the code sets: the per-payer rules and the fee
//! schedule that choose among the codes ([`crate::model::billing_codes`]).
//! Each is built only through `parse`.

use std::collections::BTreeMap;

pub use crate::model::billing_codes::{BillingCodeError, Cpt, Modifier, PlaceOfService};

/// Which E/M codes a payer takes for a telehealth visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFamily {
    /// Office/outpatient E/M 99202–99215 with a telehealth place of service.
    Office,
    /// The CPT 2025 synchronous telemedicine codes 98000–98015.
    Telemedicine,
}

impl CodeFamily {
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        match value.trim() {
            "office" => Ok(Self::Office),
            "telemedicine" => Ok(Self::Telemedicine),
            other => Err(BillingCodeError::Family(other.to_owned())),
        }
    }
}

/// What one payer wants: a code family and the modifier for video and for
/// audio-only visits (none where the payer wants none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerRule {
    pub family: CodeFamily,
    pub video_modifier: Option<Modifier>,
    pub audio_modifier: Option<Modifier>,
}

impl Default for PayerRule {
    /// Office E/M with 95 for video and 93 for audio-only.
    fn default() -> Self {
        Self {
            family: CodeFamily::Office,
            video_modifier: Some(Modifier::video()),
            audio_modifier: Some(Modifier::audio_only()),
        }
    }
}

impl PayerRule {
    /// `family[/video[/audio]]`, a modifier `-` for none: `telemedicine/-/-`,
    /// `office/GT/93`. Omitted modifiers keep the defaults 95 and 93.
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        let mut parts = value.split('/');
        let family = CodeFamily::parse(parts.next().unwrap_or_default())?;
        let default = Self::default();
        let modifier = |part: Option<&str>, fallback: Option<Modifier>| match part.map(str::trim) {
            None => Ok(fallback),
            Some("-") | Some("") => Ok(None),
            Some(code) => Modifier::parse(code).map(Some),
        };
        let video_modifier = modifier(parts.next(), default.video_modifier)?;
        let audio_modifier = modifier(parts.next(), default.audio_modifier)?;
        if parts.next().is_some() {
            return Err(BillingCodeError::Rule(format!(
                "{value:?} has more than family/video/audio"
            )));
        }
        Ok(Self {
            family,
            video_modifier,
            audio_modifier,
        })
    }
}

/// Payer rules by payer id, with the rule for every other payer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayerRules {
    pub default: PayerRule,
    pub by_payer: BTreeMap<String, PayerRule>,
}

impl PayerRules {
    /// `PAYER=rule,PAYER=rule`; the payer `*` sets the default.
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        let mut rules = Self::default();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (payer, rule) = entry.split_once('=').ok_or_else(|| {
                BillingCodeError::Rule(format!("{entry:?} is not PAYER=family/video/audio"))
            })?;
            let payer = payer.trim();
            if payer.is_empty() {
                return Err(BillingCodeError::Rule(format!("{entry:?} names no payer")));
            }
            let rule = PayerRule::parse(rule)?;
            if payer == "*" {
                rules.default = rule;
            } else {
                rules.by_payer.insert(payer.to_owned(), rule);
            }
        }
        Ok(rules)
    }

    pub fn for_payer(&self, payer_id: Option<&str>) -> &PayerRule {
        payer_id
            .and_then(|p| self.by_payer.get(p))
            .unwrap_or(&self.default)
    }
}

/// What the practice charges for each code, in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeeSchedule(BTreeMap<Cpt, i64>);

impl FeeSchedule {
    /// `CODE=CENTS,CODE=CENTS`: `99213=12000,99214=17500`.
    pub fn parse(value: &str) -> Result<Self, BillingCodeError> {
        let mut fees = BTreeMap::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (code, cents) = entry
                .split_once('=')
                .ok_or_else(|| BillingCodeError::Rule(format!("{entry:?} is not CODE=CENTS")))?;
            let code = Cpt::parse(code)?;
            let cents: i64 = cents
                .trim()
                .parse()
                .ok()
                .filter(|c| (1..=100_000_000).contains(c))
                .ok_or_else(|| {
                    BillingCodeError::Rule(format!(
                        "the fee of {code} must be whole cents from 1 to 100000000"
                    ))
                })?;
            fees.insert(code, cents);
        }
        Ok(Self(fees))
    }

    pub fn fee(&self, code: &Cpt) -> Option<i64> {
        self.0.get(code).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_in_form() {
        for good in ["99213", "98000", "G2212", "0001F", "0042T"] {
            assert!(Cpt::parse(good).is_ok(), "{good}");
        }
        for bad in ["9921", "992133", "ABCDE", "99-13", ""] {
            assert!(Cpt::parse(bad).is_err(), "{bad}");
        }
        assert!(Modifier::parse("95").unwrap().is_cpt());
        assert!(!Modifier::parse("gt").unwrap().is_cpt());
        assert!(Modifier::parse("951").is_err());
        assert_eq!(PlaceOfService::parse("10").unwrap().code(), "10");
        assert!(PlaceOfService::parse("11").is_err());
    }

    #[test]
    fn payer_rules_choose_a_family_and_modifiers_per_payer() {
        let rules = PayerRules::parse("ACME=telemedicine/-/-, MEDICARE=office/-/93, OLD=office/GT")
            .unwrap();
        let acme = rules.for_payer(Some("ACME"));
        assert_eq!(acme.family, CodeFamily::Telemedicine);
        assert_eq!(
            (acme.video_modifier.clone(), acme.audio_modifier.clone()),
            (None, None)
        );
        let medicare = rules.for_payer(Some("MEDICARE"));
        assert_eq!(medicare.video_modifier, None);
        assert_eq!(medicare.audio_modifier.as_ref().unwrap().as_str(), "93");
        let old = rules.for_payer(Some("OLD"));
        assert_eq!(old.video_modifier.as_ref().unwrap().as_str(), "GT");
        assert_eq!(old.audio_modifier.as_ref().unwrap().as_str(), "93");
        assert_eq!(rules.for_payer(Some("OTHER")), &PayerRule::default());
        assert_eq!(rules.for_payer(None), &PayerRule::default());
        let star = PayerRules::parse("*=telemedicine").unwrap();
        assert_eq!(star.for_payer(None).family, CodeFamily::Telemedicine);
        for bad in [
            "ACME",
            "=office",
            "ACME=dental",
            "ACME=office/951",
            "A=office/95/93/1",
        ] {
            assert!(PayerRules::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fee_schedules_are_whole_cents_by_code() {
        let fees = FeeSchedule::parse("99213=12000, 99214=17500").unwrap();
        assert_eq!(fees.fee(&Cpt::parse("99213").unwrap()), Some(12_000));
        assert_eq!(fees.fee(&Cpt::parse("99215").unwrap()), None);
        for bad in ["99213", "99213=12.50", "99213=0", "9921=100"] {
            assert!(FeeSchedule::parse(bad).is_err(), "{bad}");
        }
    }
}
