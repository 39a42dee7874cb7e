//! Eligibility (005010X279A1): the X12 270 Bedside asks a payer before a
//! visit, and the 271 answer read into what a scheduler needs — active or
//! not, the plan, the in-network individual copay per visit, the
//! deductible and what is left of it, coinsurance — with every EB line
//! kept and AAA rejections told in plain words.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::BillingProvider;
use super::interchange::{self, Envelope, Group, ReadError, Segment, basic_text};

/// GS08 and ST03 of a 270.
pub const VERSION: &str = "005010X279A1";

/// Who and what a 270 asks about.
#[derive(Debug, Clone)]
pub struct Inquiry<'a> {
    pub provider: &'a BillingProvider,
    pub payer_id: &'a str,
    pub payer_name: &'a str,
    pub member_id: &'a str,
    pub family_name: &'a str,
    pub given_name: &'a str,
    pub birth_date: NaiveDate,
    pub service_date: NaiveDate,
    /// TRN02: the trace the 271 echoes, unique per inquiry.
    pub trace: &'a str,
}

/// One 270 interchange asking for health benefit plan coverage (EQ*30).
pub fn write_270(envelope: &Envelope<'_>, inquiry: &Inquiry<'_>) -> String {
    let st = "0001";
    let provider = inquiry.provider;
    // TRN03: "1" and the provider's EIN names who assigned the trace.
    let assigner: String = std::iter::once('1')
        .chain(provider.tax_id.chars().filter(char::is_ascii_digit))
        .take(10)
        .collect();
    let set = vec![
        format!("ST*270*{st}*{VERSION}"),
        format!(
            "BHT*0022*13*{}*{}*{}",
            basic_text(inquiry.trace, 50),
            envelope.at.format("%Y%m%d"),
            envelope.at.format("%H%M")
        ),
        "HL*1**20*1".to_owned(),
        interchange::payer_name(inquiry.payer_name, inquiry.payer_id),
        "HL*2*1*21*1".to_owned(),
        interchange::provider_name(provider),
        "HL*3*2*22*0".to_owned(),
        format!("TRN*1*{}*{assigner}", basic_text(inquiry.trace, 50)),
        interchange::subscriber_name(inquiry.family_name, inquiry.given_name, inquiry.member_id),
        format!("DMG*D8*{}", inquiry.birth_date.format("%Y%m%d")),
        format!("DTP*291*D8*{}", inquiry.service_date.format("%Y%m%d")),
        "EQ*30".to_owned(),
    ];
    interchange::wrap(envelope, "HS", VERSION, &interchange::close_set(set, st))
}

/// What the payer says of the member's coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// EB01 `1`–`5`.
    Active,
    /// EB01 `6`–`8` and no active line.
    Inactive,
    /// The payer or clearinghouse refused the inquiry (AAA, or a 999).
    Rejected,
    /// The answer told neither.
    Unknown,
}

/// One EB line as the payer sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Benefit {
    /// EB01, e.g. `1` active, `B` co-payment, `C` deductible.
    pub code: String,
    /// EB01 in words.
    pub meaning: String,
    /// EB02: `IND`, `FAM`, … when given.
    pub coverage_level: Option<String>,
    /// EB03: service type codes (`30` plan coverage, `98` office visit…).
    pub service_types: Vec<String>,
    /// EB05: the plan's description.
    pub description: Option<String>,
    /// EB06: time period qualifier (`27` visit, `23` calendar year, `29` remaining…).
    pub period: Option<String>,
    /// EB07.
    pub amount_cents: Option<i64>,
    /// EB08 as a percentage (`.2` is 20).
    pub percent: Option<f64>,
    /// EB12: `true` in network, `false` out of network, none when not applicable or unknown.
    pub in_network: Option<bool>,
}

/// The 271 read into a clear answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Eligibility {
    pub coverage: Coverage,
    /// The payer's name in the answer (2100A).
    pub payer_name: Option<String>,
    /// The plan, from the active coverage line (EB05).
    pub plan_name: Option<String>,
    /// In-network, individual, per-visit co-payment.
    pub copay_cents: Option<i64>,
    /// In-network individual deductible for the year.
    pub deductible_cents: Option<i64>,
    /// What is left of that deductible (EB06 `29`).
    pub deductible_remaining_cents: Option<i64>,
    /// In-network individual coinsurance, as a percentage.
    pub coinsurance_percent: Option<f64>,
    /// Why the payer could not answer, in plain words (AAA or 999).
    pub problems: Vec<String>,
    /// Every EB line, as sent.
    pub benefits: Vec<Benefit>,
}

/// Why a 271 cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the answer holds no 271")]
    No271,
    #[error("the 271 answers another inquiry (trace {0})")]
    OtherTrace(String),
}

fn benefit_meaning(code: &str) -> &'static str {
    match code {
        "1" => "active coverage",
        "2" => "active coverage, full risk capitation",
        "3" => "active coverage, services capitated",
        "4" => "active coverage, services capitated to primary care physician",
        "5" => "active coverage, pending investigation",
        "6" => "inactive",
        "7" => "inactive, pending eligibility update",
        "8" => "inactive, pending investigation",
        "A" => "co-insurance",
        "B" => "co-payment",
        "C" => "deductible",
        "CB" => "coverage basis",
        "D" => "benefit description",
        "E" => "exclusions",
        "F" => "limitations",
        "G" => "out of pocket (stop loss)",
        "H" => "unlimited",
        "I" => "non-covered",
        "J" => "cost containment",
        "K" => "reserve",
        "L" => "primary care provider",
        "M" => "pre-existing condition",
        "MC" => "managed care coordinator",
        "N" => "services restricted to following provider",
        "O" => "not deemed a medical necessity",
        "P" => "benefit disclaimer",
        "Q" => "second surgical opinion required",
        "R" => "other or additional payor",
        "S" => "prior year(s) history",
        "T" => "card(s) reported lost/stolen",
        "U" => "contact following entity for eligibility or benefit information",
        "V" => "cannot process",
        "W" => "other source of data",
        "X" => "health care facility",
        "Y" => "spend down",
        _ => "other benefit",
    }
}

/// AAA03 (element 901) in words a scheduler can act on.
pub fn rejection_reason(code: &str) -> String {
    let words = match code {
        "04" => "the authorized number of inquiries was exceeded",
        "15" => "required information is missing from the inquiry",
        "41" => "the provider is not authorised to ask about this member",
        "42" => "the payer cannot answer right now; try again later",
        "43" => "the payer does not recognise the provider's NPI",
        "44" => "the provider's name is missing or wrong",
        "45" => "the provider's specialty is missing or wrong",
        "46" => "the provider's phone number is missing or wrong",
        "47" => "the provider's state is missing or wrong",
        "48" => "the referring provider's identifier is missing or wrong",
        "49" => "the provider is not the member's primary care physician",
        "50" => "the provider may not make eligibility inquiries to this payer",
        "51" => "the provider is not on file with the payer",
        "52" => "the date of service is outside the provider's enrolment with the plan",
        "53" => "the benefit asked about does not fit the provider's type",
        "54" | "55" => "the service asked about is not one the payer recognises",
        "56" => "a date in the inquiry is not acceptable",
        "57" => "the date of service is missing or wrong",
        "58" => "the date of birth is missing or wrong",
        "60" => "the date of birth is after the date of service",
        "61" => "the date of death is before the date of service",
        "62" => "the date of service is outside the period the payer answers for",
        "63" => "the date of service is in the future",
        "64" => "the patient's id is missing or wrong",
        "65" => "the patient's name is missing or wrong",
        "66" => "the patient's sex is missing or wrong",
        "67" => "the payer did not find this patient",
        "68" => "the patient's id is on file more than once",
        "69" => "the inquiry does not fit the patient's age",
        "70" => "the inquiry does not fit the patient's sex",
        "71" => "the date of birth does not match the payer's records",
        "72" => "the member id is missing or wrong",
        "73" => "the subscriber's name is missing or wrong",
        "74" => "the subscriber's sex is missing or wrong",
        "75" => "the payer did not find this member: check the member id, name and date of birth",
        "76" => "the member id is on file more than once",
        "77" => "the subscriber was found but not this patient",
        "78" => "the member is not in the group or plan named",
        "79" => "the participant identification is not valid",
        "80" => "no answer came back from the payer",
        "97" => "the provider's address is missing or wrong",
        "T4" => "the payer's name or id is missing",
        _ => return format!("the payer refused the inquiry (reason code {code})"),
    };
    words.to_owned()
}

/// AAA04 (element 889) in words.
fn follow_up(code: &str) -> Option<&'static str> {
    Some(match code {
        "C" => "correct and send again",
        "N" => "do not send again",
        "P" => "send the same inquiry again",
        "R" => "it may be sent again",
        "S" => "do not send again; the payer is asking a third party",
        "W" => "wait 30 days and send again",
        "X" => "wait 10 days and send again",
        "Y" => "do not send again; the payer will answer by other means",
        _ => return None,
    })
}

fn aaa_problem(segment: &Segment, about: &str) -> String {
    let mut words = format!("{about}: {}", rejection_reason(segment.get(3)));
    if let Some(next) = follow_up(segment.get(4)) {
        words.push_str(&format!(" ({next})"));
    }
    words
}

fn benefit(eb: &Segment) -> Benefit {
    let text = |n: usize| Some(eb.get(n).to_owned()).filter(|v| !v.is_empty());
    Benefit {
        code: eb.get(1).to_owned(),
        meaning: benefit_meaning(eb.get(1)).to_owned(),
        coverage_level: text(2),
        service_types: eb.repeats(3).into_iter().map(str::to_owned).collect(),
        description: text(5),
        period: text(6),
        amount_cents: interchange::cents(eb.get(7)),
        percent: eb
            .get(8)
            .parse::<f64>()
            .ok()
            .map(|p| (p * 10_000.0).round() / 100.0),
        in_network: match eb.get(12) {
            "Y" => Some(true),
            "N" => Some(false),
            _ => None,
        },
    }
}

impl Benefit {
    fn is_individual(&self) -> bool {
        self.coverage_level.as_deref().is_none_or(|l| l == "IND")
    }

    fn serves(&self, service: &str) -> bool {
        self.service_types.iter().any(|s| s == service)
    }

    /// How well a line answers "in network, for an office visit": higher
    /// is better; out-of-network and family lines never qualify.
    fn fit(&self, service: &str) -> Option<u8> {
        if !self.is_individual() || self.in_network == Some(false) {
            return None;
        }
        let network = u8::from(self.in_network == Some(true)) * 4;
        let kind = if self.serves(service) {
            2
        } else {
            u8::from(self.service_types.is_empty() || self.serves("30"))
        };
        Some(network + kind)
    }
}

/// The best line of kind `code` matching `period`, read with `value`.
fn pick<T>(
    benefits: &[Benefit],
    code: &str,
    period: impl Fn(Option<&str>) -> bool,
    service: &str,
    value: impl Fn(&Benefit) -> Option<T>,
) -> Option<T> {
    benefits
        .iter()
        .filter(|b| b.code == code && period(b.period.as_deref()))
        .filter_map(|b| Some((b.fit(service)?, value(b)?)))
        // The first of equally good lines wins (max_by_key keeps the last).
        .rev()
        .max_by_key(|(fit, _)| *fit)
        .map(|(_, v)| v)
}

const REMAINING: &str = "29";

/// Reads the 271 in an answer that may also hold a 999; `trace` is the
/// 270's TRN02, which the 271 must echo.
pub fn read_271(text: &str, trace: &str) -> Result<Eligibility, AnswerError> {
    let groups = interchange::read_groups(text)?;
    let mut problems: Vec<String> = groups
        .iter()
        .filter(|g| g.functional_id == "FA")
        .filter_map(|g| super::acknowledgement::read_group(g).ok())
        .filter(|ack| ack.group_functional_id == "HS" && !ack.accepted())
        .map(|ack| {
            format!(
                "the clearinghouse rejected the inquiry as malformed ({})",
                ack.summary()
            )
        })
        .collect();
    let Some(group) = groups.iter().find(|g| g.functional_id == "HB") else {
        if problems.is_empty() {
            return Err(AnswerError::No271);
        }
        return Ok(Eligibility::refused(problems));
    };
    read_group(group, trace, &mut problems)
}

fn read_group(
    group: &Group,
    trace: &str,
    problems: &mut Vec<String>,
) -> Result<Eligibility, AnswerError> {
    if !group
        .segments
        .iter()
        .any(|s| s.id() == "ST" && s.get(1) == "271")
    {
        return Err(AnswerError::No271);
    }
    let mut about = "the payer";
    let mut payer_name = None;
    let mut benefits = Vec::new();
    for segment in &group.segments {
        match segment.id() {
            "NM1" => {
                about = match segment.get(1) {
                    "PR" => {
                        payer_name = Some(segment.get(3).to_owned()).filter(|n| !n.is_empty());
                        "the payer"
                    }
                    "1P" | "FA" => "the provider",
                    "IL" => "the member",
                    "03" => "the dependent",
                    _ => about,
                };
            }
            "TRN" if segment.get(1) == "2" && segment.get(2) != basic_text(trace, 50) => {
                return Err(AnswerError::OtherTrace(segment.get(2).to_owned()));
            }
            "AAA" if segment.get(1) == "N" => problems.push(aaa_problem(segment, about)),
            "EB" => benefits.push(benefit(segment)),
            _ => {}
        }
    }
    let active = benefits
        .iter()
        .any(|b| matches!(b.code.as_str(), "1" | "2" | "3" | "4" | "5"));
    let inactive = benefits
        .iter()
        .any(|b| matches!(b.code.as_str(), "6" | "7" | "8"));
    let coverage = if active {
        Coverage::Active
    } else if inactive {
        Coverage::Inactive
    } else if !problems.is_empty() {
        Coverage::Rejected
    } else {
        Coverage::Unknown
    };
    let plan_name = benefits
        .iter()
        .filter(|b| b.code == "1")
        .filter_map(|b| Some((b.serves("30"), b.description.clone()?)))
        .rev()
        .max_by_key(|(general, _)| *general)
        .map(|(_, name)| name);
    let yearly = |p: Option<&str>| p != Some(REMAINING);
    Ok(Eligibility {
        coverage,
        payer_name,
        plan_name,
        copay_cents: pick(
            &benefits,
            "B",
            |p| p.is_none_or(|p| p == "27"),
            "98",
            |b| b.amount_cents,
        ),
        deductible_cents: pick(&benefits, "C", yearly, "30", |b| b.amount_cents),
        deductible_remaining_cents: pick(
            &benefits,
            "C",
            |p| p == Some(REMAINING),
            "30",
            |b| b.amount_cents,
        ),
        coinsurance_percent: pick(&benefits, "A", |_| true, "98", |b| b.percent),
        problems: std::mem::take(problems),
        benefits,
    })
}

impl Eligibility {
    /// An answer that is only a refusal.
    pub fn refused(problems: Vec<String>) -> Self {
        Self {
            coverage: Coverage::Rejected,
            payer_name: None,
            plan_name: None,
            copay_cents: None,
            deductible_cents: None,
            deductible_remaining_cents: None,
            coinsurance_percent: None,
            problems,
            benefits: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::codes::{Npi, PostalCode};
    use chrono::{TimeZone, Utc};

    fn provider() -> BillingProvider {
        BillingProvider {
            name: "Acme Telehealth PC".into(),
            npi: Npi::parse("1234567893").unwrap(),
            tax_id: "123456789".into(),
            address_line: "123 Main St".into(),
            city: "Anytown".into(),
            state: "CA".into(),
            postal_code: PostalCode::parse("900011234").unwrap(),
        }
    }

    fn sample_270() -> String {
        let provider = provider();
        let envelope = Envelope {
            sender_id: "ACMETH01",
            receiver_id: "CLEAR01",
            control_number: 12,
            usage: 'T',
            at: Utc.with_ymd_and_hms(2026, 3, 2, 13, 19, 0).unwrap(),
        };
        write_270(
            &envelope,
            &Inquiry {
                provider: &provider,
                payer_id: "842610001",
                payer_name: "Example Health Plan",
                member_id: "XYZ123456789",
                family_name: "Núñez-O'Brien",
                given_name: "José",
                birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                service_date: NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
                trace: "EL0000012",
            },
        )
    }

    #[test]
    fn writes_the_tr3_shape_in_the_basic_character_set() {
        let text = sample_270();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].len(), 106);
        assert_eq!(
            lines[1],
            "GS*HS*ACMETH01*CLEAR01*20260302*1319*12*X*005010X279A1~"
        );
        assert_eq!(lines[2], "ST*270*0001*005010X279A1~");
        assert!(lines.contains(&"NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*842610001~"));
        assert!(lines.contains(&"NM1*1P*2*ACME TELEHEALTH PC*****XX*1234567893~"));
        assert!(lines.contains(&"TRN*1*EL0000012*1123456789~"));
        assert!(lines.contains(&"NM1*IL*1*NUNEZ-O'BRIEN*JOSE****MI*XYZ123456789~"));
        assert!(lines.contains(&"DMG*D8*19800101~"));
        assert!(lines.contains(&"EQ*30~"));
        assert!(lines.contains(&"SE*13*0001~"));
        assert_eq!(lines[lines.len() - 1], "IEA*1*000000012~");
    }

    fn answer(body: &str) -> String {
        format!(
            "ISA*00*          *00*          *ZZ*CLEAR01        *ZZ*ACMETH01       *260302*1320*^*00501*000000044*0*T*:~\
             GS*HB*CLEAR01*ACMETH01*20260302*1320*44*X*005010X279A1~ST*271*0001*005010X279A1~\
             BHT*0022*11*EL0000012*20260302*1320~HL*1**20*1~NM1*PR*2*EXAMPLE HEALTH PLAN*****PI*842610001~\
             HL*2*1*21*1~NM1*1P*2*ACME TELEHEALTH PC*****XX*1234567893~HL*3*2*22*0~TRN*2*EL0000012*9877281234~\
             NM1*IL*1*NUNEZ-O'BRIEN*JOSE****MI*XYZ123456789~DMG*D8*19800101~{body}SE*99*0001~GE*1*44~IEA*1*000000044~"
        )
    }

    #[test]
    fn reads_every_eb_line_not_only_the_first() {
        let text = answer(
            "EB*1**30**GOLD PPO 500~\
             EB*B*FAM*98***27*60*****Y~EB*B*IND*98***27*40*****N~EB*B*IND*98***27*25*****Y~\
             EB*C*FAM*30***23*3000*****Y~EB*C*IND*30***23*1500*****N~EB*C*IND*30***23*500*****Y~\
             EB*C*IND*30***29*320.5*****Y~EB*A*IND*98*****.2***Y~EB*A*IND*98*****.4***N~",
        );
        let answer = read_271(&text, "EL0000012").unwrap();
        assert_eq!(answer.coverage, Coverage::Active);
        assert_eq!(answer.plan_name.as_deref(), Some("GOLD PPO 500"));
        assert_eq!(answer.payer_name.as_deref(), Some("EXAMPLE HEALTH PLAN"));
        assert_eq!(answer.copay_cents, Some(2_500));
        assert_eq!(answer.deductible_cents, Some(50_000));
        assert_eq!(answer.deductible_remaining_cents, Some(32_050));
        assert_eq!(answer.coinsurance_percent, Some(20.0));
        assert_eq!(answer.benefits.len(), 10);
        assert_eq!(answer.benefits[1].in_network, Some(true));
        assert!(answer.problems.is_empty());
    }

    #[test]
    fn repeated_service_types_and_general_lines_are_understood() {
        let text = answer("EB*1**30^98^UC**SILVER HMO~EB*B*IND*30***27*35~");
        let answer = read_271(&text, "EL0000012").unwrap();
        assert_eq!(answer.benefits[0].service_types, ["30", "98", "UC"]);
        assert_eq!(answer.copay_cents, Some(3_500));
        assert_eq!(answer.deductible_cents, None);
    }

    #[test]
    fn an_inactive_member_and_a_rejection_read_in_plain_words() {
        let inactive = read_271(&answer("EB*6**30~"), "EL0000012").unwrap();
        assert_eq!(inactive.coverage, Coverage::Inactive);

        let rejected = read_271(&answer("AAA*N**75*C~"), "EL0000012").unwrap();
        assert_eq!(rejected.coverage, Coverage::Rejected);
        assert_eq!(
            rejected.problems,
            [
                "the member: the payer did not find this member: check the member id, name and date of birth (correct and send again)"
            ]
        );
        assert!(rejected.benefits.is_empty());
    }

    #[test]
    fn a_999_rejecting_the_270_is_told_in_words() {
        let text = "ISA*00*          *00*          *ZZ*CLEAR01        *ZZ*ACMETH01       *260302*1320*^*00501*000000045*0*T*:~\
                    GS*FA*CLEAR01*ACMETH01*20260302*1320*45*X*005010X231A1~ST*999*0001*005010X231A1~AK1*HS*12*005010X279A1~\
                    AK2*270*0001*005010X279A1~IK3*NM1*9*2100C*8~IK4*9*67*1~IK5*R*5~AK9*R*1*1*0~SE*8*0001~GE*1*45~IEA*1*000000045~";
        let answer = read_271(text, "EL0000012").unwrap();
        assert_eq!(answer.coverage, Coverage::Rejected);
        assert_eq!(
            answer.problems,
            [
                "the clearinghouse rejected the inquiry as malformed (rejected: segment NM1 (position 9): element 9: required data element missing)"
            ]
        );
    }

    #[test]
    fn an_answer_to_another_inquiry_is_refused() {
        assert_eq!(
            read_271(&answer("EB*1**30~"), "EL0000099"),
            Err(AnswerError::OtherTrace("EL0000012".into()))
        );
        assert!(matches!(
            read_271("not x12", "EL0000012"),
            Err(AnswerError::Read(_))
        ));
    }
}
