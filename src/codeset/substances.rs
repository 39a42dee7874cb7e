//! The substances and drugs the chart can code: RxNorm ingredients from the
//! decision-support tables (`drug_allergy.toml`, `interactions.toml`) and
//! non-drug substances in SNOMED CT (`substances.toml`). Coding an allergy
//! or medication from these is what lets decision support check it; a
//! code outside them is refused rather than stored unread.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::model::clinical::CodeSystem;

static SUBSTANCES: LazyLock<SubstanceTable> = LazyLock::new(|| {
    SubstanceTable::from_texts(
        include_str!("../../knowledge/drug_allergy.toml"),
        include_str!("../../knowledge/interactions.toml"),
        include_str!("../../knowledge/substances.toml"),
    )
    .expect("the bundled substance tables read")
});

/// The bundled substance table.
pub fn substances() -> &'static SubstanceTable {
    &SUBSTANCES
}

/// One coded substance or drug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substance {
    pub code: String,
    pub system: CodeSystem,
    /// Its name as the chart shows it ("Penicillin G").
    pub name: String,
}

/// Which substances a search wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Drugs only (RxNorm): a medication.
    Drugs,
    /// Drugs and other substances: an allergy.
    Any,
}

#[derive(Debug, Deserialize)]
struct Member {
    name: String,
    rxnorm: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Class {
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct ClassFile {
    class: Vec<Class>,
}

#[derive(Debug, Deserialize)]
struct InteractionFile {
    rxnorm: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct SubstanceEntry {
    name: String,
    snomed: String,
}

#[derive(Debug, Deserialize)]
struct SubstanceFile {
    substance: Vec<SubstanceEntry>,
}

/// Why a table could not be read.
#[derive(Debug, thiserror::Error)]
#[error("knowledge/{file}: {message}")]
pub struct TableError {
    file: &'static str,
    message: String,
}

fn parse<T: for<'de> Deserialize<'de>>(file: &'static str, text: &str) -> Result<T, TableError> {
    toml::from_str(text).map_err(|e| TableError {
        file,
        message: e.message().to_owned(),
    })
}

/// "penicillin g" → "Penicillin G": the first letter raised, and a
/// one-letter word (a variant's letter) too.
fn display(name: &str) -> String {
    name.split(' ')
        .enumerate()
        .map(|(i, word)| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) if i == 0 || word.chars().count() == 1 => {
                    first.to_uppercase().chain(chars).collect()
                }
                _ => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every coded substance, each code once.
#[derive(Debug)]
pub struct SubstanceTable {
    entries: Vec<Substance>,
    by_code: HashMap<(CodeSystem, String), usize>,
}

impl SubstanceTable {
    pub fn from_texts(
        classes: &str,
        interactions: &str,
        substances: &str,
    ) -> Result<Self, TableError> {
        let mut entries = Vec::new();
        for class in parse::<ClassFile>("drug_allergy.toml", classes)?.class {
            for member in class.members {
                if let Some(code) = member.rxnorm {
                    entries.push((CodeSystem::Rxnorm, code, member.name));
                }
            }
        }
        for (name, code) in parse::<InteractionFile>("interactions.toml", interactions)?.rxnorm {
            entries.push((CodeSystem::Rxnorm, code, name));
        }
        for entry in parse::<SubstanceFile>("substances.toml", substances)?.substance {
            entries.push((CodeSystem::Snomed, entry.snomed, entry.name));
        }
        let mut table = Self {
            entries: Vec::new(),
            by_code: HashMap::new(),
        };
        for (system, code, name) in entries {
            let key = (system, code.clone());
            if table.by_code.contains_key(&key) {
                continue;
            }
            table.by_code.insert(key, table.entries.len());
            table.entries.push(Substance {
                code,
                system,
                name: display(&name),
            });
        }
        table.entries.sort_by(|a, b| a.name.cmp(&b.name));
        table.by_code = table
            .entries
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.system, s.code.clone()), i))
            .collect();
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The substance with this code in this system.
    pub fn get(&self, system: CodeSystem, code: &str) -> Option<&Substance> {
        self.by_code
            .get(&(system, code.trim().to_owned()))
            .map(|&i| &self.entries[i])
    }

    /// The substance with this code in any system the kind allows, RxNorm first.
    pub fn find(&self, kind: Kind, code: &str) -> Option<&Substance> {
        self.get(CodeSystem::Rxnorm, code).or_else(|| match kind {
            Kind::Any => self.get(CodeSystem::Snomed, code),
            Kind::Drugs => None,
        })
    }

    /// Substances whose name holds every word of the query, or whose code
    /// starts with it; names starting with the query first, at most `limit`.
    pub fn search(&self, kind: Kind, query: &str, limit: usize) -> Vec<&Substance> {
        let query = query.trim().to_lowercase();
        if query.is_empty() || limit == 0 {
            return Vec::new();
        }
        let words: Vec<&str> = query.split_whitespace().collect();
        let mut found: Vec<&Substance> = self
            .entries
            .iter()
            .filter(|s| kind == Kind::Any || s.system == CodeSystem::Rxnorm)
            .filter(|s| {
                let name = s.name.to_lowercase();
                s.code.starts_with(&query) || words.iter().all(|w| name.contains(w))
            })
            .collect();
        // Stable: within each group the names stay in order.
        found.sort_by_key(|s| !s.name.to_lowercase().starts_with(&query));
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drugs_come_from_the_decision_support_tables_and_substances_from_snomed() {
        let table = substances();
        assert!(table.len() > 40, "{} substances", table.len());
        let penicillin = table.get(CodeSystem::Rxnorm, "7980").unwrap();
        assert_eq!(penicillin.name, "Penicillin G");
        assert_eq!(
            table.get(CodeSystem::Rxnorm, "11289").unwrap().name,
            "Warfarin"
        );
        assert_eq!(
            table.get(CodeSystem::Snomed, "111088007").unwrap().name,
            "Latex"
        );
        assert!(table.get(CodeSystem::Snomed, "7980").is_none());
        assert!(table.find(Kind::Drugs, "111088007").is_none());
        assert!(table.find(Kind::Any, "111088007").is_some());
    }

    #[test]
    fn search_finds_by_words_or_code_names_starting_with_the_query_first() {
        let found = substances().search(Kind::Any, "penic", 10);
        assert_eq!(found[0].name, "Penicillin");
        assert!(
            found
                .iter()
                .all(|s| s.name.to_lowercase().contains("penic"))
        );
        let drugs = substances().search(Kind::Drugs, "latex", 10);
        assert!(drugs.is_empty());
        assert_eq!(
            substances().search(Kind::Any, "latex", 10)[0].code,
            "111088007"
        );
        assert_eq!(
            substances().search(Kind::Any, "1128", 10)[0].name,
            "Warfarin"
        );
        assert!(substances().search(Kind::Any, " ", 10).is_empty());
    }
}
