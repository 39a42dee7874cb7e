//! The 999 implementation acknowledgement (005010X231A1): which functional
//! group it answers (AK1: GS01 and GS06) and, per transaction set (AK2,
//! IK5), whether it was accepted, with the errors it names (IK3, IK4).
//! Codes per pyx12's 999 map: `A`/`E` accepted, `R`/`M`/`W`/`X` rejected,
//! and for the whole group also `P`, partially accepted.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::interchange::{self, Group, ReadError};

/// A verdict on a transaction set or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    /// At least one transaction set was rejected (AK901 `P`).
    PartiallyAccepted,
    Rejected,
}

impl Verdict {
    /// IK501 or AK901.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "A" | "E" => Some(Self::Accepted),
            "P" => Some(Self::PartiallyAccepted),
            "R" | "M" | "W" | "X" => Some(Self::Rejected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::PartiallyAccepted => "partially_accepted",
            Self::Rejected => "rejected",
        }
    }
}

/// The answer on one transaction set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAnswer {
    /// AK202: the ST02 it answers.
    pub control_number: String,
    pub verdict: Verdict,
    /// The errors in words, e.g. "segment NM1 (position 14): element 3: invalid character in data element".
    pub errors: Vec<String>,
}

/// One 999 read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// AK101: the GS01 acknowledged (`HC` for an 837).
    pub group_functional_id: String,
    /// AK102: the GS06 acknowledged.
    pub group_control_number: i64,
    /// AK901.
    pub verdict: Verdict,
    pub sets: Vec<SetAnswer>,
}

impl Acknowledgement {
    pub fn accepted(&self) -> bool {
        self.verdict == Verdict::Accepted
    }

    /// The verdict with the first errors, in a line.
    pub fn summary(&self) -> String {
        let errors: Vec<&str> = self
            .sets
            .iter()
            .flat_map(|s| s.errors.iter().map(String::as_str))
            .take(3)
            .collect();
        if errors.is_empty() {
            self.verdict.as_str().replace('_', " ")
        } else {
            format!(
                "{}: {}",
                self.verdict.as_str().replace('_', " "),
                errors.join("; ")
            )
        }
    }
}

/// Why a 999 cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AckError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the document holds no 999 acknowledgement")]
    No999,
    #[error("the 999 has no {0} segment")]
    Missing(&'static str),
    #[error("the 999's {0} is not valid")]
    Invalid(&'static str),
}

/// IK304 (segment syntax error code) in words.
fn segment_error(code: &str) -> &'static str {
    match code {
        "1" => "unrecognized segment",
        "2" => "unexpected segment",
        "3" => "required segment missing",
        "4" => "loop occurs over maximum times",
        "5" => "segment exceeds maximum use",
        "6" => "segment not in defined transaction set",
        "7" => "segment not in proper sequence",
        "8" => "segment has data element errors",
        "I4" => "implementation \"not used\" segment present",
        "I6" => "implementation dependent segment missing",
        "I7" => "implementation loop occurs under minimum times",
        "I8" => "implementation segment below minimum use",
        "I9" => "implementation dependent \"not used\" segment present",
        _ => "segment error",
    }
}

/// IK403 (element syntax error code) in words.
fn element_error(code: &str) -> &'static str {
    match code {
        "1" => "required data element missing",
        "2" => "conditional required data element missing",
        "3" => "too many data elements",
        "4" => "data element too short",
        "5" => "data element too long",
        "6" => "invalid character in data element",
        "7" => "invalid code value",
        "8" => "invalid date",
        "9" => "invalid time",
        "10" => "exclusion condition violated",
        "12" => "too many repetitions",
        "13" => "too many components",
        "I10" => "implementation \"not used\" data element present",
        "I11" => "implementation too few repetitions",
        "I12" => "implementation pattern match failure",
        "I13" => "implementation dependent \"not used\" data element present",
        "I6" => "code value not used in implementation",
        "I9" => "implementation dependent data element missing",
        _ => "data element error",
    }
}

/// IK502 (transaction set syntax error code) in words.
fn set_error(code: &str) -> &'static str {
    match code {
        "1" => "transaction set not supported",
        "2" => "transaction set trailer missing",
        "3" => "transaction set control numbers do not match",
        "4" => "number of included segments does not match the count",
        "5" => "one or more segments in error",
        "6" => "missing or invalid transaction set identifier",
        "7" => "missing or invalid transaction set control number",
        "23" => "transaction set control number not unique within the group",
        "I5" => "implementation one or more segments in error",
        "I6" => "implementation convention not supported",
        _ => "transaction set error",
    }
}

/// Reads the first 999 in `text`.
pub fn read_999(text: &str) -> Result<Acknowledgement, AckError> {
    let groups = interchange::read_groups(text)?;
    let group = groups
        .iter()
        .find(|g| g.functional_id == "FA")
        .ok_or(AckError::No999)?;
    read_group(group)
}

/// Reads one `FA` functional group.
pub fn read_group(group: &Group) -> Result<Acknowledgement, AckError> {
    if !group
        .segments
        .iter()
        .any(|s| s.id() == "ST" && s.get(1) == "999")
    {
        return Err(AckError::No999);
    }
    let mut ak1 = None;
    let mut ak9 = None;
    let mut sets: Vec<SetAnswer> = Vec::new();
    let mut current: Option<SetAnswer> = None;
    let mut segment_note = String::new();
    for segment in &group.segments {
        match segment.id() {
            "AK1" => {
                let number = segment
                    .get(2)
                    .parse::<i64>()
                    .map_err(|_| AckError::Invalid("AK102 group control number"))?;
                ak1 = Some((segment.get(1).to_owned(), number));
            }
            "AK2" => {
                sets.extend(current.take());
                current = Some(SetAnswer {
                    control_number: segment.get(2).to_owned(),
                    verdict: Verdict::Accepted,
                    errors: Vec::new(),
                });
            }
            "IK3" => {
                segment_note = format!("segment {} (position {})", segment.get(1), segment.get(2));
                if let Some(set) = current.as_mut()
                    && segment.get(4) != "8"
                {
                    set.errors
                        .push(format!("{segment_note}: {}", segment_error(segment.get(4))));
                }
            }
            "IK4" => {
                if let Some(set) = current.as_mut() {
                    let position = segment.component(1, 1);
                    let mut words = format!(
                        "{segment_note}: element {position}: {}",
                        element_error(segment.get(3))
                    );
                    if !segment.get(4).is_empty() {
                        words.push_str(&format!(" ({:?})", segment.get(4)));
                    }
                    set.errors.push(words);
                }
            }
            "IK5" => {
                if let Some(set) = current.as_mut() {
                    set.verdict = match Verdict::parse(segment.get(1)) {
                        Some(Verdict::PartiallyAccepted) | None => {
                            return Err(AckError::Invalid("IK501 code"));
                        }
                        Some(verdict) => verdict,
                    };
                    for n in 2..=6 {
                        let code = segment.get(n);
                        if !code.is_empty() && code != "5" && code != "I5" {
                            set.errors.push(set_error(code).to_owned());
                        }
                    }
                    if set.verdict == Verdict::Rejected && set.errors.is_empty() {
                        set.errors.push(set_error(segment.get(2)).to_owned());
                    }
                }
            }
            "AK9" => {
                ak9 = Some(Verdict::parse(segment.get(1)).ok_or(AckError::Invalid("AK901 code"))?);
            }
            _ => {}
        }
    }
    sets.extend(current.take());
    let (group_functional_id, group_control_number) = ak1.ok_or(AckError::Missing("AK1"))?;
    Ok(Acknowledgement {
        group_functional_id,
        group_control_number,
        verdict: ak9.ok_or(AckError::Missing("AK9"))?,
        sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(body: &str) -> String {
        format!(
            "ISA*00*          *00*          *ZZ*CLEAR01        *ZZ*ACMETH01       *260302*1400*^*00501*000000501*0*T*:~\n\
             GS*FA*CLEAR01*ACMETH01*20260302*1400*501*X*005010X231A1~\nST*999*0001*005010X231A1~\n\
             {body}SE*9*0001~\nGE*1*501~\nIEA*1*000000501~\n"
        )
    }

    #[test]
    fn reads_a_partial_acceptance_set_by_set() {
        let text = sample(
            "AK1*HC*17*005010X222A1~AK2*837*0001*005010X222A1~IK5*A~\
             AK2*837*0002*005010X222A1~IK3*NM1*14*2010*8~IK4*3*1035*6*NÚÑEZ~IK5*R*5~AK9*P*2*2*1~",
        );
        let ack = read_999(&text).unwrap();
        assert_eq!(ack.group_functional_id, "HC");
        assert_eq!(ack.group_control_number, 17);
        assert_eq!(ack.verdict, Verdict::PartiallyAccepted);
        assert_eq!(ack.sets.len(), 2);
        assert_eq!(ack.sets[0].verdict, Verdict::Accepted);
        assert!(ack.sets[0].errors.is_empty());
        assert_eq!(ack.sets[1].control_number, "0002");
        assert_eq!(ack.sets[1].verdict, Verdict::Rejected);
        assert_eq!(
            ack.sets[1].errors,
            ["segment NM1 (position 14): element 3: invalid character in data element (\"NÚÑEZ\")"]
        );
    }

    #[test]
    fn e_is_accepted_and_m_w_x_are_rejected() {
        for (code, verdict) in [
            ("A", Verdict::Accepted),
            ("E", Verdict::Accepted),
            ("R", Verdict::Rejected),
            ("M", Verdict::Rejected),
            ("W", Verdict::Rejected),
            ("X", Verdict::Rejected),
        ] {
            let text = sample(&format!(
                "AK1*HC*3*005010X222A1~AK2*837*0001~IK5*{code}~AK9*{code}*1*1*1~"
            ));
            let ack = read_999(&text).unwrap();
            assert_eq!(ack.sets[0].verdict, verdict, "{code}");
            assert_eq!(ack.verdict, verdict, "{code}");
        }
    }

    #[test]
    fn a_999_without_ak1_or_ak9_is_refused() {
        assert_eq!(
            read_999(&sample("AK9*A*1*1*1~")),
            Err(AckError::Missing("AK1"))
        );
        assert_eq!(
            read_999(&sample("AK1*HC*3~")),
            Err(AckError::Missing("AK9"))
        );
        assert_eq!(
            read_999(&sample("AK1*HC*3~AK9*Q*1*1*1~")),
            Err(AckError::Invalid("AK901 code"))
        );
    }
}
