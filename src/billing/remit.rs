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
    pub adjustments: Vec<Adjustment>,
}

impl ClaimPayment {
    pub fn is_denied(&self) -> bool {
        self.status_code == "4"
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
    pub payments: Vec<ClaimPayment>,
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
                    adjustments: Vec::new(),
                });
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
    fn refuses_what_is_not_an_835() {
        assert_eq!(parse_835("ST*837*0001~"), Err(RemitError::NotAn835));
        assert_eq!(parse_835("ST*835*0001~BPR*I*1~"), Err(RemitError::NoTrace));
        assert!(parse_835("ST*835*0001~BPR*I*1.234~").is_err());
        assert_eq!(cents("0.07", "X"), Ok(7));
        assert!(cents("1e3", "X").is_err());
    }
}
