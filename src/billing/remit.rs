//! Reading an X12 835 remittance advice: the trace number that makes an
//! import idempotent, and per claim (CLP) what was paid, what the patient
//! owes and each adjustment (CAS) by group and reason.

/// Why an 835 cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RemitError {
    #[error("the remittance is not an X12 835 (no ST*835)")]
    NotAn835,
    #[error("the remittance has no TRN trace number")]
    NoTrace,
    #[error("segment {0} has a malformed amount")]
    Amount(&'static str),
    #[error("segment CLP is incomplete")]
    ClaimPayment,
    #[error(
        "the remittance does not balance: its claims pay {} and its provider adjustments come to {}, so BPR02 should be {}, not {}; nothing was posted",
        dollars(*claims_paid), dollars(*provider_adjustments), dollars(claims_paid - provider_adjustments), dollars(*total_paid)
    )]
    Unbalanced {
        claims_paid: i64,
        provider_adjustments: i64,
        total_paid: i64,
    },
}

/// Cents as a biller reads them: `$1,234.50`, `-$2.50`.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// One CAS adjustment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// CO contractual, PR patient responsibility, OA other, PI payer-initiated, CR correction.
    pub group: String,
    pub reason: String,
    pub cents: i64,
}

impl Adjustment {
    /// Whether the amount comes off what anyone owes (not moved to the patient).
    pub fn is_write_off(&self) -> bool {
        self.group != "PR"
    }
}

/// One CLP loop: an insurer's answer on one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPayment {
    /// CLP01: our CLM01 patient control number.
    pub claim_number: String,
    /// CLP02: 1–3 processed (primary, secondary, tertiary), 4 denied, 19–21 forwarded, 22 reversal.
    pub status_code: String,
    pub charge_cents: i64,
    pub paid_cents: i64,
    pub patient_responsibility_cents: i64,
    /// CLP07: the payer's claim control number, kept for a later
    /// replacement or void (`REF*F8`).
    pub payer_claim_number: Option<String>,
    pub adjustments: Vec<Adjustment>,
}

impl ClaimPayment {
    pub fn is_denied(&self) -> bool {
        self.status_code == "4"
    }

    /// CLP02 22: the payer takes back an earlier payment.
    pub fn is_reversal(&self) -> bool {
        self.status_code == "22"
    }

    /// Why this answer cannot be posted as it stands, by the 835's own
    /// rules (claim balancing: CLP03 − Σ CAS = CLP04; CLP05 = Σ PR).
    pub fn imbalance(&self) -> Option<String> {
        if self.is_reversal() {
            return Some("it reverses an earlier payment, which a biller posts by hand".to_owned());
        }
        if self.paid_cents < 0 {
            return Some(format!(
                "it pays a negative amount ({})",
                dollars(self.paid_cents)
            ));
        }
        if self.paid_cents > self.charge_cents {
            return Some(format!(
                "it pays {} on a charge of {}",
                dollars(self.paid_cents),
                dollars(self.charge_cents)
            ));
        }
        let adjusted: i64 = self.adjustments.iter().map(|a| a.cents).sum();
        if self.charge_cents - adjusted != self.paid_cents {
            return Some(format!(
                "its charge of {} less its adjustments of {} is {}, not the {} paid",
                dollars(self.charge_cents),
                dollars(adjusted),
                dollars(self.charge_cents - adjusted),
                dollars(self.paid_cents)
            ));
        }
        let patient_share: i64 = self
            .adjustments
            .iter()
            .filter(|a| a.group == "PR")
            .map(|a| a.cents)
            .sum();
        if patient_share != self.patient_responsibility_cents {
            return Some(format!(
                "its patient responsibility of {} does not match its PR adjustments of {}",
                dollars(self.patient_responsibility_cents),
                dollars(patient_share)
            ));
        }
        None
    }

    pub fn write_off_cents(&self) -> i64 {
        self.adjustments
            .iter()
            .filter(|a| a.is_write_off())
            .map(|a| a.cents)
            .sum()
    }
}

/// A parsed 835.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    /// TRN02: the check or EFT trace number.
    pub trace_number: String,
    /// BPR02: the total paid.
    pub total_paid_cents: i64,
    /// Σ PLB amounts: provider-level adjustments (positive reduces the payment).
    pub provider_adjustments_cents: i64,
    pub payments: Vec<ClaimPayment>,
}

impl Remittance {
    /// Transaction balancing (TR3 §1.10.2): Σ CLP04 − Σ PLB = BPR02.
    pub fn check_balance(&self) -> Result<(), RemitError> {
        let claims_paid: i64 = self.payments.iter().map(|p| p.paid_cents).sum();
        if claims_paid - self.provider_adjustments_cents == self.total_paid_cents {
            return Ok(());
        }
        Err(RemitError::Unbalanced {
            claims_paid,
            provider_adjustments: self.provider_adjustments_cents,
            total_paid: self.total_paid_cents,
        })
    }
}

/// Dollars as X12 writes them (`120`, `95.5`, `-10.25`) to cents.
pub fn cents(value: &str, segment: &'static str) -> Result<i64, RemitError> {
    let value = value.trim();
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !whole.is_empty()
        && whole.len() <= 12
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(RemitError::Amount(segment));
    }
    let whole: i64 = whole.parse().map_err(|_| RemitError::Amount(segment))?;
    let fraction: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| RemitError::Amount(segment))?;
    let total = whole * 100 + fraction;
    Ok(if negative { -total } else { total })
}

/// The delimiters of an interchange: from ISA's fixed offsets when present.
fn delimiters(text: &str) -> (char, char) {
    let isa: Vec<char> = text.trim_start().chars().take(106).collect();
    if isa.len() == 106 && isa[..3] == ['I', 'S', 'A'] {
        (isa[3], isa[105])
    } else {
        ('*', '~')
    }
}

pub fn parse_835(text: &str) -> Result<Remittance, RemitError> {
    let (element, terminator) = delimiters(text);
    let segments = text
        .split(terminator)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.split(element).collect::<Vec<&str>>());
    let mut is_835 = false;
    let mut trace = None;
    let mut total_paid_cents = 0;
    let mut provider_adjustments_cents = 0;
    let mut payments: Vec<ClaimPayment> = Vec::new();
    let field =
        |seg: &[&str], i: usize| seg.get(i).map(|v| v.trim()).unwrap_or_default().to_owned();
    for seg in segments {
        match seg[0] {
            "ST" => is_835 |= seg.get(1) == Some(&"835"),
            "BPR" => total_paid_cents = cents(&field(&seg, 2), "BPR")?,
            "TRN" if trace.is_none() => {
                trace = Some(field(&seg, 2)).filter(|t| !t.is_empty());
            }
            "CLP" => {
                if seg.len() < 5 || field(&seg, 1).is_empty() {
                    return Err(RemitError::ClaimPayment);
                }
                let responsibility = field(&seg, 5);
                payments.push(ClaimPayment {
                    claim_number: field(&seg, 1),
                    status_code: field(&seg, 2),
                    charge_cents: cents(&field(&seg, 3), "CLP")?,
                    paid_cents: cents(&field(&seg, 4), "CLP")?,
                    patient_responsibility_cents: if responsibility.is_empty() {
                        0
                    } else {
                        cents(&responsibility, "CLP")?
                    },
                    payer_claim_number: Some(field(&seg, 7)).filter(|n| !n.is_empty()),
                    adjustments: Vec::new(),
                });
            }
            // PLB*provider*date*reason:reference*amount, up to six pairs.
            "PLB" => {
                for pair in seg.get(3..).unwrap_or_default().chunks(2) {
                    if let Some(amount) = pair.get(1).filter(|a| !a.trim().is_empty()) {
                        provider_adjustments_cents += cents(amount, "PLB")?;
                    }
                }
            }
            // Claim- and service-level adjustments both count for the claim.
            "CAS" => {
                let Some(payment) = payments.last_mut() else {
                    continue;
                };
                let group = field(&seg, 1);
                for triple in seg.get(2..).unwrap_or_default().chunks(3) {
                    let reason = triple[0].trim();
                    let Some(amount) = triple.get(1).filter(|a| !a.trim().is_empty()) else {
                        continue;
                    };
                    if reason.is_empty() {
                        continue;
                    }
                    payment.adjustments.push(Adjustment {
                        group: group.clone(),
                        reason: reason.to_owned(),
                        cents: cents(amount, "CAS")?,
                    });
                }
            }
            _ => {}
        }
    }
    if !is_835 {
        return Err(RemitError::NotAn835);
    }
    Ok(Remittance {
        trace_number: trace.ok_or(RemitError::NoTrace)?,
        total_paid_cents,
        provider_adjustments_cents,
        payments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "ISA*00*          *00*          *ZZ*DEMOPAYER      *ZZ*BEDSIDEDEMO    *250310*1200*^*00501*000000007*0*P*:~
GS*HP*DEMOPAYER*BEDSIDEDEMO*20250310*1200*7*X*005010X221A1~
ST*835*0001~
BPR*I*95.5*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20250310~
TRN*1*EFT0001*1512345678~
N1*PR*DEMO HEALTH PLAN~
N1*PE*BEDSIDE DEMO CLINIC*XX*1234567893~
LX*1~
CLP*BS00000001*1*120*95.5*10*12*CLAIM1~
CAS*CO*45*14.5~
CAS*PR*2*10~
SVC*HC:99213:95*120*95.5~
CLP*BS00000002*4*80*0*0*12*CLAIM2~
CAS*CO*50*80~
SE*13*0001~
GE*1*7~
IEA*1*000000007~";

    #[test]
    fn reads_payments_and_adjustments_per_claim() {
        let remit = parse_835(SAMPLE).unwrap();
        assert_eq!(remit.trace_number, "EFT0001");
        assert_eq!(remit.total_paid_cents, 9_550);
        assert_eq!(remit.payments.len(), 2);
        let first = &remit.payments[0];
        assert_eq!(first.claim_number, "BS00000001");
        assert_eq!(
            (
                first.charge_cents,
                first.paid_cents,
                first.patient_responsibility_cents
            ),
            (12_000, 9_550, 1_000)
        );
        assert_eq!(first.write_off_cents(), 1_450);
        assert_eq!(first.adjustments.len(), 2);
        assert!(remit.payments[1].is_denied());
        assert_eq!(remit.payments[1].write_off_cents(), 8_000);
    }

    #[test]
    fn balanced_answers_pass_and_the_others_say_why() {
        let remit = parse_835(SAMPLE).unwrap();
        assert_eq!(remit.check_balance(), Ok(()));
        assert_eq!(remit.payments[0].imbalance(), None);
        assert_eq!(remit.payments[1].imbalance(), None);

        let overpaid = SAMPLE
            .replace("BPR*I*95.5*", "BPR*I*999999999999.99*")
            .replace(
                "CLP*BS00000001*1*120*95.5*",
                "CLP*BS00000001*1*120*999999999999.99*",
            );
        let remit = parse_835(&overpaid).unwrap();
        assert_eq!(remit.check_balance(), Ok(()));
        let why = remit.payments[0].imbalance().unwrap();
        assert_eq!(why, "it pays $999,999,999,999.99 on a charge of $120.00");

        let loose = SAMPLE.replace("CAS*CO*45*14.5~", "CAS*CO*45*4.5~");
        let why = parse_835(&loose).unwrap().payments[0].imbalance().unwrap();
        assert!(
            why.contains("less its adjustments of $14.50 is $105.50, not the $95.50 paid"),
            "{why}"
        );

        let share = SAMPLE.replace("*95.5*10*12*CLAIM1", "*95.5*7*12*CLAIM1");
        let why = parse_835(&share).unwrap().payments[0].imbalance().unwrap();
        assert!(why.contains("patient responsibility of $7.00"), "{why}");

        let short = SAMPLE.replace("BPR*I*95.5*", "BPR*I*90*");
        let error = parse_835(&short).unwrap().check_balance().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("BPR02 should be $95.50, not $90.00"),
            "{error}"
        );

        // A provider-level interest payment (negative PLB) raises BPR02.
        let interest = SAMPLE.replace("BPR*I*95.5*", "BPR*I*98*").replace(
            "SE*13*0001~",
            "PLB*1512345678*20251231*L6:INT1*-2.5~SE*14*0001~",
        );
        let remit = parse_835(&interest).unwrap();
        assert_eq!(remit.provider_adjustments_cents, -250);
        assert_eq!(remit.check_balance(), Ok(()));
    }

    #[test]
    fn dollars_read_as_a_biller_writes_them() {
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(dollars(9_550), "$95.50");
        assert_eq!(dollars(123_456_789), "$1,234,567.89");
        assert_eq!(dollars(-250), "-$2.50");
    }

    #[test]
    fn refuses_what_is_not_an_835() {
        assert_eq!(parse_835("ST*837*0001~"), Err(RemitError::NotAn835));
        assert_eq!(parse_835("ST*835*0001~BPR*I*1~"), Err(RemitError::NoTrace));
        assert!(parse_835("ST*835*0001~BPR*I*1.234~").is_err());
        assert_eq!(cents("0.07", "X"), Ok(7));
        assert!(cents("1e3", "X").is_err());
    }
}
