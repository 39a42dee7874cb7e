//! Code sets: which codes exist and which may be billed, not just their
//! shape. ICD-10-CM (FY2026, CDC/NCHS tabular data) ships compressed in
//! `knowledge/icd10cm-2026.tsv.gz`, written by `tools/icd10cm_table.py`.
//!
//! The table is immutable and costly to read (98,000 codes), so it is read
//! once per process, on first use, and shared. The substances and drugs
//! an allergy or medication is coded with are in [`substances`].

pub mod substances;

pub use substances::{Kind as SubstanceKind, Substance, SubstanceTable, substances};

use std::io::Read;
use std::ops::Range;
use std::sync::LazyLock;

use crate::model::codes::Icd10;

const ICD10CM_GZ: &[u8] = include_bytes!("../../knowledge/icd10cm-2026.tsv.gz");

/// The ICD-10-CM release the table holds.
pub const ICD10CM_RELEASE: &str = "ICD-10-CM FY2026 (April 1 2026 update)";

/// How many billable codes a refusal suggests.
const SUGGESTIONS: usize = 5;

static ICD10CM: LazyLock<Icd10Table> =
    LazyLock::new(|| Icd10Table::from_gzip(ICD10CM_GZ).expect("the bundled ICD-10-CM table reads"));

/// The bundled ICD-10-CM table.
pub fn icd10cm() -> &'static Icd10Table {
    &ICD10CM
}

/// One code of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry<'a> {
    /// With the dot, as FHIR writes it.
    pub code: &'a str,
    /// Coded to full specificity (a leaf of the tabular list); headers are not.
    pub billable: bool,
    pub description: &'a str,
}

/// Why a diagnosis cannot go on a claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeProblem {
    #[error("{code} is not an ICD-10-CM code")]
    Unknown { code: String },
    #[error(
        "{code} ({description}) is a heading, not a billable code{}",
        suggest(children)
    )]
    Header {
        code: String,
        description: String,
        /// Its first billable codes, with their descriptions.
        children: Vec<(String, String)>,
    },
}

fn suggest(children: &[(String, String)]) -> String {
    if children.is_empty() {
        return String::new();
    }
    let list: Vec<String> = children
        .iter()
        .map(|(code, description)| format!("{code} {description}"))
        .collect();
    format!("; use a code under it, such as {}", list.join("; "))
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the ICD-10-CM table is unreadable: {0}")]
pub struct TableError(String);

#[derive(Debug, Clone)]
struct Row {
    code: Range<usize>,
    description: Range<usize>,
    billable: bool,
}

/// ICD-10-CM codes sorted by code, so a heading's codes lie just after it.
#[derive(Debug)]
pub struct Icd10Table {
    text: String,
    rows: Vec<Row>,
}

impl Icd10Table {
    /// Reads the table from its gzip-compressed TSV (`code`, `1`/`0`, description).
    pub fn from_gzip(bytes: &[u8]) -> Result<Self, TableError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| TableError(e.to_string()))?;
        Self::from_tsv(text)
    }

    fn from_tsv(text: String) -> Result<Self, TableError> {
        let mut rows = Vec::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            let content = line.trim_end_matches(['\n', '\r']);
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let mut fields = content.splitn(3, '\t');
            let (Some(code), Some(flag), Some(description)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(TableError(format!("line at byte {start} has no 3 fields")));
            };
            let code_at = start;
            let description_at = start + code.len() + flag.len() + 2;
            rows.push(Row {
                code: code_at..code_at + code.len(),
                description: description_at..description_at + description.len(),
                billable: flag == "1",
            });
        }
        rows.sort_by(|a, b| text[a.code.clone()].cmp(&text[b.code.clone()]));
        rows.dedup_by(|a, b| text[a.code.clone()] == text[b.code.clone()]);
        Ok(Self { text, rows })
    }

    fn entry(&self, row: &Row) -> CodeEntry<'_> {
        CodeEntry {
            code: &self.text[row.code.clone()],
            billable: row.billable,
            description: &self.text[row.description.clone()],
        }
    }

    fn position(&self, code: &str) -> Result<usize, usize> {
        self.rows
            .binary_search_by(|row| self.text[row.code.clone()].cmp(code))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn get(&self, code: &Icd10) -> Option<CodeEntry<'_>> {
        self.position(code.as_str())
            .ok()
            .map(|i| self.entry(&self.rows[i]))
    }

    /// The codes under a heading (its subcategories and codes), in order.
    pub fn under<'a>(&'a self, code: &Icd10) -> impl Iterator<Item = CodeEntry<'a>> + 'a {
        let parent = code.as_str().to_owned();
        // Under `J06` lie `J06.0`…; under `S52.00` lie `S52.001`…
        let prefix = if parent.contains('.') {
            parent.clone()
        } else {
            format!("{parent}.")
        };
        let start = match self.position(&parent) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.rows[start..]
            .iter()
            .map(move |row| self.entry(row))
            .take_while(move |entry| entry.code.starts_with(&prefix))
    }

    /// Whether a code may go on a claim: it exists and is billable.
    pub fn check_billable(&self, code: &Icd10) -> Result<CodeEntry<'_>, CodeProblem> {
        let Some(entry) = self.get(code) else {
            return Err(CodeProblem::Unknown {
                code: code.as_str().to_owned(),
            });
        };
        if entry.billable {
            return Ok(entry);
        }
        Err(CodeProblem::Header {
            code: entry.code.to_owned(),
            description: entry.description.to_owned(),
            children: self
                .under(code)
                .filter(|child| child.billable)
                .take(SUGGESTIONS)
                .map(|child| (child.code.to_owned(), child.description.to_owned()))
                .collect(),
        })
    }

    /// Codes whose code starts with the query, or whose description holds
    /// every word of it; billable codes first, at most `limit`.
    pub fn search(&self, query: &str, limit: usize) -> Vec<CodeEntry<'_>> {
        let query = query.trim();
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let as_code = Icd10::parse(query).ok();
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let matches = |entry: &CodeEntry<'_>| {
            if let Some(code) = &as_code
                && entry.code.starts_with(code.as_str())
            {
                return true;
            }
            let description = entry.description.to_lowercase();
            words.iter().all(|word| description.contains(word.as_str()))
        };
        let mut found: Vec<CodeEntry<'_>> = self
            .rows
            .iter()
            .map(|row| self.entry(row))
            .filter(|entry| matches(entry))
            .collect();
        // Stable: within each group the table's code order stays.
        found.sort_by_key(|entry| !entry.billable);
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: &str) -> Icd10 {
        Icd10::parse(value).unwrap()
    }

    #[test]
    fn the_bundled_table_holds_the_whole_code_set() {
        let table = icd10cm();
        assert!(table.len() > 90_000, "{} codes", table.len());
        let billable = table.rows.iter().filter(|r| r.billable).count();
        assert!(billable > 70_000, "{billable} billable codes");
    }

    #[test]
    fn billable_codes_pass_and_their_descriptions_come_along() {
        let entry = icd10cm().check_billable(&code("J06.9")).unwrap();
        assert_eq!(
            entry.description,
            "Acute upper respiratory infection, unspecified"
        );
        assert!(icd10cm().check_billable(&code("T07.XXXA")).is_ok());
        assert!(icd10cm().check_billable(&code("f329")).is_ok());
    }

    #[test]
    fn a_heading_is_refused_with_its_billable_codes_suggested() {
        let Err(CodeProblem::Header { children, .. }) = icd10cm().check_billable(&code("J06"))
        else {
            panic!("J06 is a heading");
        };
        let codes: Vec<&str> = children.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["J06.0", "J06.9"]);
        let message = icd10cm()
            .check_billable(&code("J06"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("J06.9 Acute upper respiratory infection"),
            "{message}"
        );
    }

    #[test]
    fn a_code_of_the_right_shape_that_does_not_exist_is_refused() {
        assert_eq!(
            icd10cm().check_billable(&code("A00.0000")),
            Err(CodeProblem::Unknown {
                code: "A00.0000".to_owned()
            })
        );
    }

    #[test]
    fn a_deep_heading_suggests_only_codes_below_it() {
        let Err(CodeProblem::Header { children, .. }) = icd10cm().check_billable(&code("S52.001"))
        else {
            panic!("S52.001 needs its seventh character");
        };
        assert!(!children.is_empty());
        assert!(children.iter().all(|(c, _)| c.starts_with("S52.001")));
    }

    #[test]
    fn search_finds_by_code_or_by_words_billable_first() {
        let by_code = icd10cm().search("J06", 10);
        assert_eq!(by_code[0].code, "J06.0");
        assert!(by_code.iter().any(|e| e.code == "J06" && !e.billable));
        let by_words = icd10cm().search("upper respiratory acute", 10);
        assert!(by_words.iter().any(|e| e.code == "J06.9"));
        assert!(by_words.iter().all(|e| {
            let d = e.description.to_lowercase();
            d.contains("upper") && d.contains("respiratory") && d.contains("acute")
        }));
        assert!(icd10cm().search("  ", 10).is_empty());
    }
}
