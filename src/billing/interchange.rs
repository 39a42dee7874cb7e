//! What every X12 document Bedside trades shares: the ISA/GS envelope it
//! writes around a transaction set, element text kept to the basic
//! character set, and a reader that splits an answer into its functional
//! groups and segments by the delimiters its own ISA declares.

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use super::BillingProvider;

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

/// One transaction set wrapped in its interchange: ISA, GS (functional id
/// `group` and implementation `version`), the segments, GE, IEA. Segments
/// end with `~` and a newline, as the 837 writer does.
pub fn wrap(envelope: &Envelope<'_>, group: &str, version: &str, set: &[String]) -> String {
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
            "GS*{group}*{}*{}*{}*{}*{control}*X*{version}",
            envelope.sender_id,
            envelope.receiver_id,
            at.format("%Y%m%d"),
            at.format("%H%M")
        ),
    ];
    segments.extend(set.iter().cloned());
    segments.push(format!("GE*1*{control}"));
    segments.push(format!("IEA*1*{control:09}"));
    segments.iter().map(|s| format!("{s}~\n")).collect()
}

/// Closes a transaction set: appends SE with the count of ST through SE.
pub fn close_set(mut segments: Vec<String>, st: &str) -> Vec<String> {
    segments.push(format!("SE*{}*{st}", segments.len() + 1));
    segments
}

/// The payer an inquiry goes to (`NM1*PR`), by its payer id.
pub fn payer_name(name: &str, payer_id: &str) -> String {
    format!(
        "NM1*PR*2*{}*****PI*{}",
        basic_text(name, 60),
        basic_text(payer_id, 80)
    )
}

/// The provider who asks (`NM1*1P`), by NPI.
pub fn provider_name(provider: &BillingProvider) -> String {
    format!(
        "NM1*1P*2*{}*****XX*{}",
        basic_text(&provider.name, 60),
        provider.npi
    )
}

/// The subscriber, who is the patient (`NM1*IL`), by member id.
pub fn subscriber_name(family_name: &str, given_name: &str, member_id: &str) -> String {
    format!(
        "NM1*IL*1*{}*{}****MI*{}",
        basic_text(family_name, 60),
        basic_text(given_name, 35),
        basic_text(member_id, 80)
    )
}

/// Text for an element in X12's basic character set (uppercase letters,
/// digits, space and `! " & ' ( ) + , - . / ; ? =`): accents are folded
/// (`NÚÑEZ` → `NUNEZ`), delimiters and anything else dropped, spaces
/// collapsed, cut to `max` characters. The record keeps the original.
pub fn basic_text(value: &str, max: usize) -> String {
    let folded: String = value
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_uppercase)
        .filter(|c| c.is_ascii_alphanumeric() || " !\"&'()+,-./;?=".contains(*c))
        .collect();
    folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// One segment: its id and its elements (element 1 is `get(1)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    elements: Vec<String>,
    component: char,
    repetition: char,
}

impl Segment {
    pub fn id(&self) -> &str {
        &self.elements[0]
    }

    /// Element `n` (1-based), trimmed; empty when absent.
    pub fn get(&self, n: usize) -> &str {
        self.elements.get(n).map_or("", |e| e.trim())
    }

    /// The repeated values of element `n` (ISA11 separates them).
    pub fn repeats(&self, n: usize) -> Vec<&str> {
        self.get(n)
            .split(self.repetition)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Component `c` (1-based) of element `n`; empty when absent.
    pub fn component(&self, n: usize, c: usize) -> &str {
        self.get(n)
            .split(self.component)
            .nth(c - 1)
            .map_or("", str::trim)
    }
}

/// One functional group (GS to GE) of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// GS01: `HB` 271, `HN` 277, `FA` 999, `HS` 270, `HR` 276, `HC` 837.
    pub functional_id: String,
    /// GS06.
    pub control_number: String,
    /// GS08, e.g. `005010X279A1`.
    pub version: String,
    /// Every segment from the first ST to the last SE.
    pub segments: Vec<Segment>,
}

/// Why an answer cannot be read as X12.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("the answer is not an X12 interchange (it does not start with ISA)")]
    NotX12,
    #[error("the interchange has no functional group (GS)")]
    NoGroup,
    #[error("the {0} segment is outside a functional group")]
    Outside(&'static str),
}

/// Splits one or more interchanges into their functional groups, reading
/// the element, component and segment delimiters from each ISA.
pub fn read_groups(text: &str) -> Result<Vec<Group>, ReadError> {
    let mut rest = text.trim_start_matches(['\u{feff}', ' ', '\r', '\n', '\t']);
    if !rest.starts_with("ISA") {
        return Err(ReadError::NotX12);
    }
    let mut groups = Vec::new();
    while rest.starts_with("ISA") {
        let isa: Vec<char> = rest.chars().take(106).collect();
        if isa.len() < 106 {
            return Err(ReadError::NotX12);
        }
        let (element, repetition, component, terminator) = (isa[3], isa[82], isa[104], isa[105]);
        if element.is_alphanumeric() || terminator.is_alphanumeric() {
            return Err(ReadError::NotX12);
        }
        let (interchange, after) = match rest.find(&format!("{terminator}IEA{element}")) {
            Some(at) => {
                let end = rest[at + 1..]
                    .find(terminator)
                    .map_or(rest.len(), |e| at + 1 + e + terminator.len_utf8());
                (&rest[..end], &rest[end..])
            }
            None => (rest, ""),
        };
        let mut current: Option<Group> = None;
        for raw in interchange.split(terminator) {
            let raw = raw.trim_matches(['\r', '\n', ' ', '\t']);
            if raw.is_empty() {
                continue;
            }
            let segment = Segment {
                elements: raw.split(element).map(str::to_owned).collect(),
                component,
                repetition,
            };
            match segment.id() {
                "ISA" | "IEA" | "TA1" => {}
                "GS" => {
                    current = Some(Group {
                        functional_id: segment.get(1).to_owned(),
                        control_number: segment.get(6).to_owned(),
                        version: segment.get(8).to_owned(),
                        segments: Vec::new(),
                    });
                }
                "GE" => groups.extend(current.take()),
                _ => match current.as_mut() {
                    Some(group) => group.segments.push(segment),
                    None if segment.id() == "ST" => return Err(ReadError::Outside("ST")),
                    None => {}
                },
            }
        }
        groups.extend(current.take());
        rest = after.trim_start_matches(['\r', '\n', ' ', '\t']);
    }
    if groups.is_empty() {
        return Err(ReadError::NoGroup);
    }
    Ok(groups)
}

/// A decimal amount in dollars (`25`, `1500.00`) as cents; `None` when
/// empty or malformed.
pub fn cents(value: &str) -> Option<i64> {
    super::remit::cents(value, "EB").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_text_folds_accents_and_keeps_the_basic_set() {
        assert_eq!(basic_text("Núñez-O'Brien", 60), "NUNEZ-O'BRIEN");
        assert_eq!(basic_text("José", 35), "JOSE");
        assert_eq!(basic_text("Müller*Test~x:y^z", 60), "MULLERTESTXYZ");
        assert_eq!(basic_text("  Ann   Lee  ", 60), "ANN LEE");
        assert_eq!(basic_text("Straße", 60), "STRASSE");
        assert_eq!(basic_text("abcdef", 3), "ABC");
    }

    #[test]
    fn reads_groups_with_the_delimiters_isa_declares() {
        let text = "ISA|00|          |00|          |ZZ|A              |ZZ|B              |260302|1319|^|00501|000000007|0|T|>!\n\
                    GS|HB|A|B|20260302|1319|7|X|005010X279A1!ST|271|0001|005010X279A1!EB|B|IND|98|||27|25!SE|3|0001!GE|1|7!IEA|1|000000007!";
        let groups = read_groups(text).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].functional_id, "HB");
        assert_eq!(groups[0].control_number, "7");
        let eb = &groups[0].segments[1];
        assert_eq!(eb.id(), "EB");
        assert_eq!(eb.get(7), "25");
        assert_eq!(eb.get(12), "");
    }

    #[test]
    fn reads_two_interchanges_in_one_answer() {
        let isa = |n: u32| {
            format!(
                "ISA*00*          *00*          *ZZ*A              *ZZ*B              *260302*1319*^*00501*{n:09}*0*T*:~"
            )
        };
        let text = format!(
            "{}GS*FA*A*B*20260302*1319*1*X*005010X231A1~ST*999*0001*005010X231A1~AK1*HS*5*005010X279A1~AK9*A*1*1*1~SE*4*0001~GE*1*1~IEA*1*000000001~\n{}GS*HB*A*B*20260302*1319*2*X*005010X279A1~ST*271*0001*005010X279A1~SE*2*0001~GE*1*2~IEA*1*000000002~",
            isa(1),
            isa(2)
        );
        let groups = read_groups(&text).unwrap();
        let ids: Vec<&str> = groups.iter().map(|g| g.functional_id.as_str()).collect();
        assert_eq!(ids, ["FA", "HB"]);
        assert_eq!(groups[0].segments[1].component(1, 1), "HS");
    }

    #[test]
    fn refuses_what_is_not_x12() {
        assert_eq!(read_groups("<html>busy</html>"), Err(ReadError::NotX12));
        assert_eq!(read_groups("ISA*short~"), Err(ReadError::NotX12));
    }
}
