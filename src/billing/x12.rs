//! The X12 837P 5010 (005010X222A1) writer: one interchange with one
//! functional group and one transaction set per claim. Control numbers come
//! from the caller (the store hands out each once); segment counts and the
//! pairs ISA13/IEA02, GS06/GE02 and ST02/SE02 are kept here.

use chrono::{DateTime, Utc};

use super::BillingProvider;
use crate::ehr::{Patient, Sex};
use crate::model::claim::{Claim, ClaimFrequency};

/// Who sends and who receives an interchange, and its control number.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub sender_id: &'a str,
    pub receiver_id: &'a str,
    /// ISA13 and GS06: unique per interchange, 1..=999_999_999.
    pub control_number: i64,
    /// `P` for production data, `T` for test.
    pub usage: char,
    pub at: DateTime<Utc>,
}

/// The submitter's contact, required in loop 1000A.
#[derive(Debug, Clone)]
pub struct Submitter<'a> {
    pub provider: &'a BillingProvider,
    pub phone: &'a str,
}

/// One claim with the patient (who is also the subscriber) it bills for.
#[derive(Debug, Clone, Copy)]
pub struct ClaimOfPatient<'a> {
    pub claim: &'a Claim,
    pub patient: &'a Patient,
}

/// Why a claim cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum X12Error {
    #[error("the claim has no codes yet")]
    NotCoded,
    #[error("the claim has no payer")]
    NoPayer,
    #[error("the claim has more than 12 diagnoses")]
    TooManyDiagnoses,
    #[error("an interchange needs at least one claim")]
    Empty,
    #[error("a replacement or void needs the payer's claim control number")]
    NoPayerClaimNumber,
}

/// Money as X12 writes it: dollars, with cents only when there are any.
pub fn amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    match cents % 100 {
        0 => format!("{sign}{}", cents / 100),
        c if c % 10 == 0 => format!("{sign}{}.{}", cents / 100, c / 10),
        c => format!("{sign}{}.{c:02}", cents / 100),
    }
}

/// Text safe inside an element: no delimiters, uppercase, trimmed.
fn text(value: &str, max: usize) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '*' | '~' | ':' | '^') && !c.is_control())
        .collect::<String>()
        .trim()
        .to_uppercase()
        .chars()
        .take(max)
        .collect()
}

pub(super) fn sex_code(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "F",
        Sex::Male => "M",
        Sex::Other | Sex::Unknown => "U",
    }
}

/// The segments of one transaction set, ST to SE.
fn transaction(
    st: usize,
    envelope: &Envelope<'_>,
    submitter: &Submitter<'_>,
    item: ClaimOfPatient<'_>,
) -> Result<Vec<String>, X12Error> {
    let ClaimOfPatient { claim, patient } = item;
    if !claim.status.is_coded() || claim.lines.is_empty() {
        return Err(X12Error::NotCoded);
    }
    let payer = claim.payer.as_ref().ok_or(X12Error::NoPayer)?;
    if claim.diagnoses.len() > 12 {
        return Err(X12Error::TooManyDiagnoses);
    }
    let provider = submitter.provider;
    let st = format!("{st:04}");
    let date = envelope.at.format("%Y%m%d");
    let time = envelope.at.format("%H%M");
    let mut s = vec![
        format!("ST*837*{st}*005010X222A1"),
        format!(
            "BHT*0019*00*{}*{date}*{time}*CH",
            text(&format!("{}{st}", envelope.control_number), 30)
        ),
        format!(
            "NM1*41*2*{}*****46*{}",
            text(&provider.name, 60),
            envelope.sender_id
        ),
        format!("PER*IC*BILLING*TE*{}", submitter.phone),
        format!(
            "NM1*40*2*{}*****46*{}",
            text(envelope.receiver_id, 60),
            envelope.receiver_id
        ),
        "HL*1**20*1".to_owned(),
        format!(
            "NM1*85*2*{}*****XX*{}",
            text(&provider.name, 60),
            provider.npi
        ),
        format!("N3*{}", text(&provider.address_line, 55)),
        format!(
            "N4*{}*{}*{}",
            text(&provider.city, 30),
            provider.state,
            provider.postal_code.digits()
        ),
        format!("REF*EI*{}", provider.tax_id),
        "HL*2*1*22*0".to_owned(),
        format!(
            "SBR*P*18*{}******CI",
            payer
                .group_number
                .as_deref()
                .map(|g| text(g, 50))
                .unwrap_or_default()
        ),
        format!(
            "NM1*IL*1*{}*{}****MI*{}",
            text(&patient.family_name, 60),
            text(&patient.given_name, 35),
            text(&payer.member_id, 80)
        ),
    ];
    if let Some(address) = &patient.address {
        s.push(format!("N3*{}", text(address.line.as_str(), 55)));
        s.push(format!(
            "N4*{}*{}*{}",
            text(address.city.as_str(), 30),
            text(address.state.as_str(), 2),
            address.postal_code.digits()
        ));
    }
    s.push(format!(
        "DMG*D8*{}*{}",
        patient.birth_date.format("%Y%m%d"),
        sex_code(patient.sex)
    ));
    s.push(format!(
        "NM1*PR*2*{}*****PI*{}",
        text(&payer.payer_name, 60),
        text(&payer.payer_id, 80)
    ));
    let total = Claim::sum_of_lines(&claim.lines);
    s.push(format!(
        "CLM*{}*{}***{}:B:{}*Y*A*Y*Y",
        claim.number,
        amount(total),
        claim.place_of_service.code(),
        claim.frequency.code()
    ));
    // A replacement or void names the payer's claim it replaces (TR3: only then).
    if claim.frequency != ClaimFrequency::Original {
        let reference = claim
            .payer_claim_number
            .as_deref()
            .ok_or(X12Error::NoPayerClaimNumber)?;
        s.push(format!("REF*F8*{}", text(reference, 50)));
    }
    let hi: Vec<String> = claim
        .diagnoses
        .iter()
        .enumerate()
        .map(|(i, dx)| format!("{}:{}", if i == 0 { "ABK" } else { "ABF" }, dx.x12()))
        .collect();
    s.push(format!("HI*{}", hi.join("*")));
    let service_date = claim.service_date.format("%Y%m%d");
    for (n, line) in claim.lines.iter().enumerate() {
        s.push(format!("LX*{}", n + 1));
        let mut procedure = format!("HC:{}", line.cpt);
        for modifier in line.modifiers.iter().take(4) {
            procedure.push(':');
            procedure.push_str(modifier.as_str());
        }
        let pointers: Vec<String> = line
            .diagnosis_pointers
            .iter()
            .take(4)
            .map(u8::to_string)
            .collect();
        s.push(format!(
            "SV1*{procedure}*{}*UN*{}***{}",
            amount(line.charge_cents * line.units),
            line.units,
            pointers.join(":")
        ));
        s.push(format!("DTP*472*D8*{service_date}"));
    }
    s.push(format!("SE*{}*{st}", s.len() + 1));
    Ok(s)
}

/// One interchange holding every claim given, one transaction set each.
pub fn write_837(
    envelope: &Envelope<'_>,
    submitter: &Submitter<'_>,
    claims: &[ClaimOfPatient<'_>],
) -> Result<String, X12Error> {
    if claims.is_empty() {
        return Err(X12Error::Empty);
    }
    let control = envelope.control_number;
    let at = envelope.at;
    let mut segments = vec![
        format!(
            "ISA*00*          *00*          *ZZ*{:<15}*ZZ*{:<15}*{}*{}*^*00501*{control:09}*0*{}*:",
            envelope.sender_id,
            envelope.receiver_id,
            at.format("%y%m%d"),
            at.format("%H%M"),
            envelope.usage
        ),
        format!(
            "GS*HC*{}*{}*{}*{}*{control}*X*005010X222A1",
            envelope.sender_id,
            envelope.receiver_id,
            at.format("%Y%m%d"),
            at.format("%H%M")
        ),
    ];
    for (i, item) in claims.iter().enumerate() {
        segments.extend(transaction(i + 1, envelope, submitter, *item)?);
    }
    segments.push(format!("GE*{}*{control}", claims.len()));
    segments.push(format!("IEA*1*{control:09}"));
    Ok(segments.iter().map(|s| format!("{s}~\n")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::codes::{Cpt, Modifier, PlaceOfService};
    use crate::ehr::{Address, Insurance};
    use crate::model::claim::{ClaimId, ClaimLine, ClaimPayer, ClaimStatus};
    use crate::model::codes::{Icd10, Npi, PostalCode};
    use crate::model::ids::{EncounterId, PatientId, VisitId};
    use crate::model::timestamp::Timestamp;
    use crate::model::validation::Text;

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

    fn patient() -> Patient {
        Patient {
            id: PatientId::new(),
            mrn: "MRN1".into(),
            given_name: "John".into(),
            family_name: "Doe".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            sex: Sex::Male,
            email: None,
            phone: None,
            address: Some(Address {
                line: Text::parse("456 Oak Ave").unwrap(),
                city: Text::parse("Anytown").unwrap(),
                state: Text::parse("CA").unwrap(),
                postal_code: PostalCode::parse("900021234").unwrap(),
            }),
            insurance: Some(Insurance {
                payer_id: Text::parse("12345").unwrap(),
                payer_name: Text::parse("Example Health Plan").unwrap(),
                member_id: Text::parse("XYZ123456789").unwrap(),
                group_number: Some(Text::parse("GRP12345").unwrap()),
            }),
            created_at: Timestamp(0),
        }
    }

    fn claim() -> Claim {
        Claim {
            id: ClaimId::new(),
            number: "PATACCT001".into(),
            encounter_id: EncounterId::new(),
            visit_id: VisitId::new(),
            patient_id: PatientId::new(),
            status: ClaimStatus::Ready,
            review_reason: None,
            status_reason: None,
            payer: Some(ClaimPayer {
                payer_id: "12345".into(),
                payer_name: "Example Health Plan".into(),
                member_id: "XYZ123456789".into(),
                group_number: Some("GRP12345".into()),
            }),
            place_of_service: PlaceOfService::TelehealthHome,
            new_patient: false,
            audio_only: false,
            total_minutes: 25,
            service_date: chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap(),
            diagnoses: vec![
                Icd10::parse("J06.9").unwrap(),
                Icd10::parse("R50.9").unwrap(),
            ],
            lines: vec![ClaimLine {
                cpt: Cpt::parse("99213").unwrap(),
                modifiers: vec![Modifier::parse("95").unwrap()],
                units: 1,
                charge_cents: 12_000,
                diagnosis_pointers: vec![1, 2],
            }],
            total_cents: 12_000,
            paid_cents: 0,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            submitted_at: None,
            frequency: crate::model::claim::ClaimFrequency::Original,
            payer_claim_number: None,
            modality_reason: None,
        }
    }

    #[test]
    fn amounts_drop_needless_cents() {
        assert_eq!(amount(12_000), "120");
        assert_eq!(amount(12_050), "120.5");
        assert_eq!(amount(12_005), "120.05");
        assert_eq!(amount(-250), "-2.5");
    }

    #[test]
    fn writes_the_verified_sample_shape() {
        let provider = provider();
        let patient = patient();
        let claim = claim();
        let at = chrono::DateTime::parse_from_rfc3339("2025-03-01T10:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let envelope = Envelope {
            sender_id: "ACMETH01",
            receiver_id: "CLEAR01",
            control_number: 1,
            usage: 'T',
            at,
        };
        let submitter = Submitter {
            provider: &provider,
            phone: "5555551234",
        };
        let x12 = write_837(
            &envelope,
            &submitter,
            &[ClaimOfPatient {
                claim: &claim,
                patient: &patient,
            }],
        )
        .unwrap();
        let lines: Vec<&str> = x12.lines().collect();
        assert_eq!(lines[0].len(), 106, "ISA is fixed width");
        assert_eq!(
            lines[0],
            "ISA*00*          *00*          *ZZ*ACMETH01       *ZZ*CLEAR01        *250301*1030*^*00501*000000001*0*T*:~"
        );
        assert!(lines.contains(&"N4*ANYTOWN*CA*900011234~"));
        assert!(lines.contains(&"CLM*PATACCT001*120***10:B:1*Y*A*Y*Y~"));
        assert!(lines.contains(&"HI*ABK:J069*ABF:R509~"));
        assert!(lines.contains(&"SV1*HC:99213:95*120*UN*1***1:2~"));
        assert!(lines.contains(&"SE*23*0001~"));
        assert_eq!(lines[lines.len() - 2], "GE*1*1~");
        assert_eq!(lines[lines.len() - 1], "IEA*1*000000001~");
    }

    #[test]
    fn a_claim_without_codes_is_not_written() {
        let provider = provider();
        let patient = patient();
        let mut claim = claim();
        claim.status = ClaimStatus::NeedsReview;
        let envelope = Envelope {
            sender_id: "A1",
            receiver_id: "B1",
            control_number: 2,
            usage: 'T',
            at: Utc::now(),
        };
        let submitter = Submitter {
            provider: &provider,
            phone: "5555551234",
        };
        let item = ClaimOfPatient {
            claim: &claim,
            patient: &patient,
        };
        assert_eq!(
            write_837(&envelope, &submitter, &[item]),
            Err(X12Error::NotCoded)
        );
        assert_eq!(write_837(&envelope, &submitter, &[]), Err(X12Error::Empty));
    }
}
