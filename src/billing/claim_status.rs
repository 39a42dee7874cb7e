//! Claim status (005010X212): the X12 276 Bedside asks about a submitted
//! claim, and the 277 answer read per claim into its STC status — the
//! category (ECL 507) that moves the claim, the status code (ECL 508) and
//! the payer's claim control number.

use chrono::NaiveDate;

use super::BillingProvider;
use super::interchange::{self, Envelope, ReadError, basic_text};
use super::x12::{amount, sex_code};
use crate::model::patient::Sex;

/// GS08 and ST03 of a 276.
pub const VERSION: &str = "005010X212";

/// The claim a 276 asks about.
#[derive(Debug, Clone)]
pub struct StatusInquiry<'a> {
    pub provider: &'a BillingProvider,
    pub payer_id: &'a str,
    pub payer_name: &'a str,
    pub member_id: &'a str,
    pub family_name: &'a str,
    pub given_name: &'a str,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    /// CLM01, sent back as `REF*EJ` (patient control number).
    pub claim_number: &'a str,
    pub total_cents: i64,
    pub service_date: NaiveDate,
    /// TRN02: the trace the 277 echoes.
    pub trace: &'a str,
}

/// One 276 interchange for one claim.
pub fn write_276(envelope: &Envelope<'_>, inquiry: &StatusInquiry<'_>) -> String {
    let st = "0001";
    let provider = inquiry.provider;
    let sex = sex_code(inquiry.sex);
    let set = vec![
        format!("ST*276*{st}*{VERSION}"),
        format!(
            "BHT*0010*13*{}*{}*{}",
            basic_text(inquiry.trace, 50),
            envelope.at.format("%Y%m%d"),
            envelope.at.format("%H%M")
        ),
        "HL*1**20*1".to_owned(),
        interchange::payer_name(inquiry.payer_name, inquiry.payer_id),
        "HL*2*1*21*1".to_owned(),
        format!(
            "NM1*41*2*{}*****46*{}",
            basic_text(&provider.name, 60),
            basic_text(envelope.sender_id, 80)
        ),
        "HL*3*2*19*1".to_owned(),
        interchange::provider_name(provider),
        "HL*4*3*22*0".to_owned(),
        format!("DMG*D8*{}*{sex}", inquiry.birth_date.format("%Y%m%d")),
        interchange::subscriber_name(inquiry.family_name, inquiry.given_name, inquiry.member_id),
        format!("TRN*1*{}", basic_text(inquiry.trace, 50)),
        format!("REF*EJ*{}", basic_text(inquiry.claim_number, 50)),
        format!("AMT*T3*{}", amount(inquiry.total_cents)),
        format!("DTP*472*D8*{}", inquiry.service_date.format("%Y%m%d")),
    ];
    interchange::wrap(envelope, "HR", VERSION, &interchange::close_set(set, st))
}

/// What a status category means for the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A1: received, not yet accepted.
    Received,
    /// A2: accepted into adjudication.
    Accepted,
    /// A3, A6, A7, A8: returned as unprocessable.
    Rejected,
    /// F1: finalized with payment (the money comes from the 835).
    Paid,
    /// F2: finalized, denied.
    Denied,
    /// F4 (adjudicated, no payment forthcoming) and P0–P5: still open.
    Pending,
    /// Anything else: recorded, nothing moves.
    Noted,
}

/// ECL 507, as STANDARDS-2 §3.3 lists it.
fn category_words(category: &str) -> &'static str {
    match category {
        "A0" => "acknowledged and forwarded to another entity",
        "A1" => "received by the payer, not yet accepted",
        "A2" => "accepted into the payer's adjudication system",
        "A3" => "returned as unprocessable",
        "A4" => "not found by the payer",
        "A5" => "split by the payer",
        "A6" => "rejected for missing information",
        "A7" => "rejected for invalid information",
        "A8" => "rejected for a relational field in error",
        "F0" => "finalized",
        "F1" => "finalized with payment",
        "F2" => "finalized and denied",
        "F3" => "finalized and revised",
        "F3F" => "finalized, revised and forwarded",
        "F3N" => "finalized, revised and not forwarded",
        "F4" => "adjudication complete, no payment forthcoming",
        "P0" => "pending",
        "P1" => "pending, in process",
        "P2" => "pending, under payer review",
        "P3" => "pending, information requested from the provider",
        "P4" => "pending, information requested from the patient",
        "P5" => "pending, on administrative hold",
        "E0" => "no answer possible: the request data was not valid",
        "E1" => "no answer possible: the payer's system is unavailable",
        "E2" => "no answer possible: the information holder is not responding",
        "E3" => "no answer possible: relational error in the request",
        "E4" => "no answer possible: trading partner rule",
        "D0" => "the payer's data search found nothing",
        c if c.starts_with('R') => "the payer requests more information",
        _ => "status category not recognised",
    }
}

/// A few ECL 508 codes seen on nearly every 277; others are shown by number.
fn status_words(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "see the remittance advice for details",
        "3" => "adjudicated, awaiting the payment cycle",
        "19" => "the entity acknowledges receipt",
        "20" => "accepted for processing",
        "21" => "missing or invalid information",
        "65" => "claim or line has been paid",
        _ => return None,
    })
}

/// One STC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// STC01-1, e.g. `F1`.
    pub category: String,
    /// STC01-2, e.g. `65`.
    pub code: String,
    /// STC04 total charge and STC05 paid, when given.
    pub charge_cents: Option<i64>,
    pub paid_cents: Option<i64>,
}

impl Status {
    pub fn outcome(&self) -> Outcome {
        match self.category.as_str() {
            "A1" => Outcome::Received,
            "A2" => Outcome::Accepted,
            "A3" | "A6" | "A7" | "A8" => Outcome::Rejected,
            "F1" => Outcome::Paid,
            "F2" => Outcome::Denied,
            c if c == "F4" || c.starts_with('P') => Outcome::Pending,
            _ => Outcome::Noted,
        }
    }

    /// The status in words, e.g. "277 F1:65: finalized with payment (claim or line has been paid)".
    pub fn words(&self) -> String {
        let mut words = format!(
            "277 {}:{}: {}",
            self.category,
            self.code,
            category_words(&self.category)
        );
        match status_words(&self.code) {
            Some(detail) => words.push_str(&format!(" ({detail})")),
            None if !self.code.is_empty() => {
                words.push_str(&format!(" (status code {})", self.code));
            }
            None => {}
        }
        words
    }
}

/// A 277's answer on one claim (loop 2200D).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAnswer {
    /// TRN02: the 276's trace.
    pub trace: String,
    /// `REF*EJ`: our CLM01.
    pub claim_number: Option<String>,
    /// `REF*1K`: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// The claim-level STCs, as sent (the first is the current one).
    pub statuses: Vec<Status>,
}

/// Why a 277 cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the answer holds no 277")]
    No277,
    #[error("the 277 has a claim status (STC) without a category")]
    NoCategory,
}

/// Every claim answered in the 277s of `text`.
pub fn read_277(text: &str) -> Result<Vec<ClaimAnswer>, StatusError> {
    let groups = interchange::read_groups(text)?;
    let mut answers: Vec<ClaimAnswer> = Vec::new();
    let mut found = false;
    for group in groups.iter().filter(|g| g.functional_id == "HN") {
        // Service-line STCs (2220D) follow an SVC; only claim-level ones count.
        let mut in_line = false;
        for segment in &group.segments {
            match segment.id() {
                "ST" => found |= segment.get(1) == "277",
                "HL" => in_line = false,
                "TRN" if segment.get(1) == "2" => {
                    in_line = false;
                    answers.push(ClaimAnswer {
                        trace: segment.get(2).to_owned(),
                        claim_number: None,
                        payer_claim_number: None,
                        statuses: Vec::new(),
                    });
                }
                "SVC" => in_line = true,
                "STC" if !in_line => {
                    let Some(answer) = answers.last_mut() else {
                        continue;
                    };
                    let category = segment.component(1, 1);
                    if category.is_empty() {
                        return Err(StatusError::NoCategory);
                    }
                    answer.statuses.push(Status {
                        category: category.to_owned(),
                        code: segment.component(1, 2).to_owned(),
                        charge_cents: interchange::cents(segment.get(4)),
                        paid_cents: interchange::cents(segment.get(5)),
                    });
                }
                "REF" if !in_line => {
                    let Some(answer) = answers.last_mut() else {
                        continue;
                    };
                    let value = Some(segment.get(2).to_owned()).filter(|v| !v.is_empty());
                    match segment.get(1) {
                        "EJ" => answer.claim_number = value,
                        "1K" => answer.payer_claim_number = value,
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    if !found {
        return Err(StatusError::No277);
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::codes::{Npi, PostalCode};
    use chrono::{TimeZone, Utc};

    fn sample_276() -> String {
        let provider = BillingProvider {
            name: "Acme Telehealth PC".into(),
            npi: Npi::parse("1234567893").unwrap(),
            tax_id: "123456789".into(),
            address_line: "123 Main St".into(),
            city: "Anytown".into(),
            state: "CA".into(),
            postal_code: PostalCode::parse("900011234").unwrap(),
        };
        let envelope = Envelope {
            sender_id: "ACMETH01",
            receiver_id: "CLEAR01",
            control_number: 30,
            usage: 'T',
            at: Utc.with_ymd_and_hms(2026, 3, 10, 9, 5, 0).unwrap(),
        };
        write_276(
            &envelope,
            &StatusInquiry {
                provider: &provider,
                payer_id: "12345",
                payer_name: "ABC Insurance",
                member_id: "123456789A",
                family_name: "Smith",
                given_name: "Fred",
                birth_date: NaiveDate::from_ymd_opt(1930, 12, 10).unwrap(),
                sex: Sex::Male,
                claim_number: "BS00000017",
                total_cents: 851_388,
                service_date: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                trace: "CS0000030",
            },
        )
    }

    #[test]
    fn writes_the_tr3_shape() {
        let text = sample_276();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "GS*HR*ACMETH01*CLEAR01*20260310*0905*30*X*005010X212~"
        );
        assert_eq!(lines[2], "ST*276*0001*005010X212~");
        assert!(lines.contains(&"NM1*41*2*ACME TELEHEALTH PC*****46*ACMETH01~"));
        assert!(lines.contains(&"HL*4*3*22*0~"));
        assert!(lines.contains(&"DMG*D8*19301210*M~"));
        assert!(lines.contains(&"TRN*1*CS0000030~"));
        assert!(lines.contains(&"REF*EJ*BS00000017~"));
        assert!(lines.contains(&"AMT*T3*8513.88~"));
        assert!(lines.contains(&"SE*16*0001~"));
    }

    fn answer(claims: &str) -> String {
        format!(
            "ISA*00*          *00*          *ZZ*CLEAR01        *ZZ*ACMETH01       *260310*0906*^*00501*000000077*0*T*:~\
             GS*HN*CLEAR01*ACMETH01*20260310*0906*77*X*005010X212~ST*277*0001*005010X212~BHT*0010*08*CS0000030*20260310*0906*DG~\
             HL*1**20*1~NM1*PR*2*ABC INSURANCE*****PI*12345~HL*2*1*21*1~NM1*41*2*ACME TELEHEALTH PC*****46*ACMETH01~\
             HL*3*2*19*1~NM1*1P*2*ACME TELEHEALTH PC*****XX*1234567893~{claims}SE*20*0001~GE*1*77~IEA*1*000000077~"
        )
    }

    #[test]
    fn reads_each_claims_status_and_ignores_line_level_ones() {
        let text = answer(
            "HL*4*3*22*0~NM1*IL*1*SMITH*FRED****MI*123456789A~TRN*2*CS0000030~\
             STC*F1:65*20260310**8513.88*8000*20260308**20260310*EFT0001~REF*1K*PAYERICN77~REF*EJ*BS00000017~\
             DTP*472*D8*20260301~SVC*HC:99213:95*8513.88*8000~STC*F2:88*20260310~\
             HL*5*3*22*0~NM1*IL*1*DOE*JANE****MI*Z9~TRN*2*CS0000031~STC*A7:21*20260310~REF*EJ*BS00000018~",
        );
        let answers = read_277(&text).unwrap();
        assert_eq!(answers.len(), 2);
        let first = &answers[0];
        assert_eq!(first.trace, "CS0000030");
        assert_eq!(first.claim_number.as_deref(), Some("BS00000017"));
        assert_eq!(first.payer_claim_number.as_deref(), Some("PAYERICN77"));
        assert_eq!(first.statuses.len(), 1, "the line's STC is not the claim's");
        assert_eq!(first.statuses[0].outcome(), Outcome::Paid);
        assert_eq!(first.statuses[0].paid_cents, Some(800_000));
        assert_eq!(
            first.statuses[0].words(),
            "277 F1:65: finalized with payment (claim or line has been paid)"
        );
        assert_eq!(answers[1].statuses[0].outcome(), Outcome::Rejected);
    }

    #[test]
    fn categories_move_claims_as_the_code_list_says() {
        let outcome = |category: &str| {
            Status {
                category: category.into(),
                code: String::new(),
                charge_cents: None,
                paid_cents: None,
            }
            .outcome()
        };
        assert_eq!(outcome("A1"), Outcome::Received);
        assert_eq!(outcome("A2"), Outcome::Accepted);
        for rejected in ["A3", "A6", "A7", "A8"] {
            assert_eq!(outcome(rejected), Outcome::Rejected);
        }
        assert_eq!(outcome("F2"), Outcome::Denied);
        for pending in ["F4", "P0", "P3"] {
            assert_eq!(outcome(pending), Outcome::Pending);
        }
        assert_eq!(outcome("A4"), Outcome::Noted);
        assert_eq!(outcome("E1"), Outcome::Noted);
    }

    #[test]
    fn an_answer_without_a_277_is_refused() {
        assert!(matches!(read_277("junk"), Err(StatusError::Read(_))));
    }
}
