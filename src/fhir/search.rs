//! Search parameters: each resource's parameters parsed from the query
//! string into typed criteria, with FHIR's date prefixes turned into bounds
//! on the target's period. Anything not understood is refused rather than
//! ignored, so a filter is never silently dropped.

use chrono::{DateTime, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::{FhirError, ResourceType, system};
use crate::model::ids::{EncounterId, PatientId, UserId};

/// `Encounter.status` codes (R4 `encounter-status`).
pub const ENCOUNTER_STATUSES: [&str; 9] = [
    "planned",
    "arrived",
    "triaged",
    "in-progress",
    "onleave",
    "finished",
    "cancelled",
    "entered-in-error",
    "unknown",
];

const DAY_MS: i64 = 86_400_000;

/// A date search prefix (`eq` when none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// A date search value: its prefix and the instants its precision covers,
/// `[start, end)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateParam {
    pub prefix: Prefix,
    pub start: i64,
    pub end: i64,
}

fn bad_value(name: &str, why: &str) -> FhirError {
    FhirError::InvalidSearch(format!("search parameter {name}: {why}"))
}

const DATE_HINT: &str = "must be a date such as 2025-03-01, 2025-03, 2025 or 2025-03-01T10:05:00Z, optionally after a prefix eq, gt, lt, ge, le, sa, eb or ap";

impl DateParam {
    pub fn parse(name: &str, value: &str) -> Result<Self, FhirError> {
        let (prefix, rest) = match value.get(..2) {
            Some(p) if p.bytes().all(|b| b.is_ascii_lowercase()) => {
                let prefix = match p {
                    "eq" => Prefix::Eq,
                    "gt" => Prefix::Gt,
                    "lt" => Prefix::Lt,
                    "ge" => Prefix::Ge,
                    "le" => Prefix::Le,
                    "sa" => Prefix::Sa,
                    "eb" => Prefix::Eb,
                    "ap" => Prefix::Ap,
                    "ne" => return Err(bad_value(name, "the prefix ne is not supported")),
                    _ => return Err(bad_value(name, DATE_HINT)),
                };
                (prefix, &value[2..])
            }
            _ => (Prefix::Eq, value),
        };
        let (start, end) = date_range(rest).ok_or_else(|| bad_value(name, DATE_HINT))?;
        Ok(Self { prefix, start, end })
    }
}

fn midnight(date: NaiveDate) -> i64 {
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
        .timestamp_millis()
}

/// The instants a date or dateTime value covers at its precision.
fn date_range(value: &str) -> Option<(i64, i64)> {
    let bytes = value.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        bytes
            .get(r)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    match value.len() {
        4 if digits(0..4) => {
            let start = NaiveDate::from_ymd_opt(value.parse().ok()?, 1, 1)?;
            Some((
                midnight(start),
                midnight(start.checked_add_months(Months::new(12))?),
            ))
        }
        7 if digits(0..4) && bytes[4] == b'-' && digits(5..7) => {
            let start =
                NaiveDate::from_ymd_opt(value[..4].parse().ok()?, value[5..].parse().ok()?, 1)?;
            Some((
                midnight(start),
                midnight(start.checked_add_months(Months::new(1))?),
            ))
        }
        10 => {
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
            Some((midnight(day), midnight(day.checked_add_days(Days::new(1))?)))
        }
        _ => date_time_range(value),
    }
}

/// `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`; without a zone it is UTC. A
/// `+` that a form decoder turned into a space counts as `+`.
fn date_time_range(value: &str) -> Option<(i64, i64)> {
    let value = value.replace(' ', "+");
    let (local, zone) = match value.find(['Z', '+']).or_else(|| {
        // A `-` after the time part starts a negative offset.
        value.get(11..)?.find('-').map(|i| i + 11)
    }) {
        Some(i) => (&value[..i], Some(&value[i..])),
        None => (value.as_str(), None),
    };
    let (naive, precision) = if let Ok(t) = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M") {
        (t, 60_000)
    } else if local.contains('.') {
        (
            NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S%.f").ok()?,
            1,
        )
    } else {
        (
            NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").ok()?,
            1_000,
        )
    };
    let start = match zone {
        None | Some("Z") => Utc.from_utc_datetime(&naive).timestamp_millis(),
        Some(offset) => {
            let stamp = format!("{}{offset}", naive.format("%Y-%m-%dT%H:%M:%S%.f"));
            DateTime::parse_from_rfc3339(&stamp)
                .ok()?
                .timestamp_millis()
        }
    };
    Some((start, start + precision))
}

/// Bounds on a target period `[low, high]` (inclusive, Unix milliseconds)
/// that every date parameter of a search adds to: `low >= start_from`,
/// `low < start_before`, `high >= end_from`, `high < end_before`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start_from: Option<i64>,
    pub start_before: Option<i64>,
    pub end_from: Option<i64>,
    pub end_before: Option<i64>,
}

fn raise(bound: &mut Option<i64>, value: i64) {
    *bound = Some(bound.map_or(value, |b| b.max(value)));
}

fn lower(bound: &mut Option<i64>, value: i64) {
    *bound = Some(bound.map_or(value, |b| b.min(value)));
}

impl Window {
    /// Adds one parameter. `eq` wants the period inside the value's range;
    /// `gt`/`lt` a period reaching after/before it; `ge`/`le` a period
    /// reaching into or after/before it; `sa`/`eb` a period wholly
    /// after/before it; `ap` any overlap.
    pub fn constrain(&mut self, p: DateParam) {
        match p.prefix {
            Prefix::Eq => {
                raise(&mut self.start_from, p.start);
                lower(&mut self.end_before, p.end);
            }
            Prefix::Gt => raise(&mut self.end_from, p.end),
            Prefix::Lt => lower(&mut self.start_before, p.start),
            Prefix::Ge => raise(&mut self.end_from, p.start),
            Prefix::Le => lower(&mut self.start_before, p.end),
            Prefix::Sa => raise(&mut self.start_from, p.end),
            Prefix::Eb => lower(&mut self.end_before, p.start),
            Prefix::Ap => {
                lower(&mut self.start_before, p.end);
                raise(&mut self.end_from, p.start);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// For a date target (a whole day, as `birthDate`): the days matching,
    /// as `[from, before)`.
    pub fn days(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        // A day `d` spans [midnight(d), midnight(d) + DAY_MS - 1].
        let from = [self.start_from, self.end_from.map(|c| c - DAY_MS + 1)]
            .into_iter()
            .flatten()
            .map(ceil_day)
            .max();
        let before = [self.start_before, self.end_before.map(|e| e - DAY_MS + 1)]
            .into_iter()
            .flatten()
            .map(ceil_day)
            .min();
        (from, before)
    }
}

/// The first day whose midnight is at or after `millis`.
fn ceil_day(millis: i64) -> NaiveDate {
    let days = millis.div_euclid(DAY_MS) + i64::from(millis.rem_euclid(DAY_MS) != 0);
    DateTime::from_timestamp_millis(days * DAY_MS)
        .unwrap_or_default()
        .date_naive()
}

/// A token value `[system|]code`; `None` for the system means any system.
fn token(value: &str) -> (Option<&str>, &str) {
    match value.split_once('|') {
        Some((system, code)) => (Some(system), code),
        None => (None, value),
    }
}

/// The codes of a token list (`a,b`, each `[system|]code`) that belong to
/// `wanted`: `None` when an item `wanted|` asks for any code of it.
fn codes_of(value: &str, wanted: &str) -> Option<Vec<String>> {
    let mut codes = Vec::new();
    for item in value.split(',') {
        match token(item.trim()) {
            (Some(s), "") if s == wanted => return None,
            (None, code) if !code.is_empty() => codes.push(code.to_owned()),
            (Some(s), code) if s == wanted && !code.is_empty() => codes.push(code.to_owned()),
            _ => {}
        }
    }
    Some(codes)
}

/// What a search asks for. A criterion that can match nothing (a
/// reference to another kind of resource, an id that cannot exist, a code
/// of another system) sets `matches_nothing` instead of failing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Criteria {
    pub name: Option<String>,
    pub birthdate: Window,
    pub date: Window,
    pub patient: Option<PatientId>,
    pub encounter: Option<EncounterId>,
    pub statuses: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    pub codes: Option<Vec<String>>,
    /// A Practitioner (`actor`) or a Schedule (`schedule`, the same id).
    pub actor: Option<UserId>,
    pub schedule: Option<UserId>,
    /// When the search is answered (slots start after it).
    pub now_ms: i64,
    pub matches_nothing: bool,
    /// `_count`: the page size asked for (at most [`super::SEARCH_LIMIT`]);
    /// 0 asks for the total only.
    pub count: Option<i64>,
    /// `_offset`: how many matches earlier pages held.
    pub offset: i64,
}

/// The deepest a search pages: past it, narrow the search.
pub const MAX_OFFSET: i64 = 10_000;

/// One page of a search: which matches it holds and how it links on.
#[derive(Debug, Clone, Copy)]
pub struct Pager {
    /// Matches a page holds; 0 asks for the total only.
    size: i64,
    offset: i64,
}

impl Pager {
    pub fn new(criteria: &Criteria) -> Self {
        Self {
            size: criteria.count.unwrap_or(super::SEARCH_LIMIT),
            offset: criteria.offset,
        }
    }

    /// How many matches to read: the earlier pages, this one, and one
    /// more to tell whether a next page exists. A count-only search reads
    /// as deep as paging goes.
    pub fn fetch(&self) -> i64 {
        if self.size == 0 {
            MAX_OFFSET + 1
        } else {
            self.offset + self.size + 1
        }
    }

    /// This page of `matches` (the first [`Self::fetch`] of them), and its
    /// place: the `next` link, and the total when this page shows it.
    pub fn cut<T>(&self, matches: Vec<T>, self_url: &str) -> (Vec<T>, super::Paging) {
        let read = matches.len();
        if self.size == 0 {
            let total = (read as i64 <= MAX_OFFSET).then_some(read);
            return (Vec::new(), super::Paging { next: None, total });
        }
        let rest: Vec<T> = matches.into_iter().skip(self.offset as usize).collect();
        let more = rest.len() as i64 > self.size;
        let page: Vec<T> = rest.into_iter().take(self.size as usize).collect();
        let next_offset = self.offset + self.size;
        let next = (more && next_offset <= MAX_OFFSET).then(|| self.link(self_url, next_offset));
        let total = (!more).then_some(self.offset as usize + page.len());
        (page, super::Paging { next, total })
    }

    /// `self_url` with this page size and `offset`; the other parameters
    /// stay as the client wrote them.
    fn link(&self, self_url: &str, offset: i64) -> String {
        let (path, query) = self_url.split_once('?').unwrap_or((self_url, ""));
        let mut parts: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("_count=") && !p.starts_with("_offset="))
            .map(str::to_owned)
            .collect();
        parts.push(format!("_count={}", self.size));
        parts.push(format!("_offset={offset}"));
        format!("{path}?{}", parts.join("&"))
    }
}

/// A non-negative whole number of at most `max`.
fn whole(name: &str, value: &str, max: i64) -> Result<i64, FhirError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=max).contains(n))
        .ok_or_else(|| bad_value(name, &format!("must be a whole number from 0 to {max}")))
}

/// The id in a reference `Type/id`, `id` or `{base}/Type/id`, when it
/// names a resource of `kind`.
fn reference_id<'a>(kind: &str, value: &'a str) -> Option<&'a str> {
    let marker = format!("{kind}/");
    let id = match value.rfind(&marker) {
        Some(i) if i == 0 || value[..i].ends_with('/') => &value[i + marker.len()..],
        Some(_) => return None,
        None if value.contains('/') => return None,
        None => value,
    };
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The parameters every resource takes.
fn common(name: &str, value: &str) -> Result<bool, FhirError> {
    match name {
        "_format" => match value {
            "json" | "application/json" | "application/fhir+json" => Ok(true),
            _ => Err(FhirError::NotSupported(
                "only _format=json is supported".to_owned(),
            )),
        },
        _ => Ok(false),
    }
}

impl Criteria {
    /// Parses a search of `kind` from the decoded query pairs.
    pub fn parse(kind: ResourceType, pairs: &[(String, String)]) -> Result<Self, FhirError> {
        let mut criteria = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in pairs {
            let value = value.trim();
            if key.contains(':') {
                return Err(FhirError::NotSupported(format!(
                    "search parameter {key}: modifiers are not supported"
                )));
            }
            // An empty parameter is ignored, as the spec asks.
            if value.is_empty() || common(key, value)? {
                continue;
            }
            let name = key.as_str();
            // Paging: the page size (a larger one is served as the largest)
            // and the place in the matches, which `next` links carry.
            match name {
                "_count" => {
                    let count = value.parse::<i64>().ok().filter(|n| *n >= 0);
                    let count = count.ok_or_else(|| bad_value(name, "must be a whole number"))?;
                    criteria.count = Some(count.min(super::SEARCH_LIMIT));
                    continue;
                }
                "_offset" => {
                    criteria.offset = whole(name, value, MAX_OFFSET)?;
                    continue;
                }
                _ => {}
            }
            if !kind.search_params().iter().any(|(n, _)| *n == name) {
                return Err(FhirError::NotSupported(format!(
                    "unknown search parameter {name} for {}",
                    kind.as_str()
                )));
            }
            let repeatable = matches!(name, "date" | "birthdate");
            if !repeatable && seen.contains(&name) {
                return Err(bad_value(name, "may appear only once"));
            }
            seen.push(name);
            if kind == ResourceType::Claim && name == "status" {
                criteria.statuses = Some(super::claim::statuses(value)?);
                continue;
            }
            criteria.add(name, value)?;
        }
        Ok(criteria)
    }

    fn add(&mut self, name: &str, value: &str) -> Result<(), FhirError> {
        match name {
            "name" => self.name = Some(value.to_owned()),
            "birthdate" => self.birthdate.constrain(DateParam::parse(name, value)?),
            "date" => self.date.constrain(DateParam::parse(name, value)?),
            "patient" => match reference_id("Patient", value).and_then(PatientId::parse) {
                Some(id) => self.patient = Some(id),
                None => self.matches_nothing = true,
            },
            "encounter" => match reference_id("Encounter", value).and_then(EncounterId::parse) {
                Some(id) => self.encounter = Some(id),
                None => self.matches_nothing = true,
            },
            "status" => {
                let mut statuses = Vec::new();
                for item in value.split(',') {
                    let (sys, code) = token(item.trim());
                    if !ENCOUNTER_STATUSES.contains(&code) {
                        return Err(bad_value(
                            name,
                            "must be an encounter status such as planned, arrived, in-progress, finished or cancelled",
                        ));
                    }
                    if sys.is_none_or(|s| s == system::ENCOUNTER_STATUS) {
                        statuses.push(code.to_owned());
                    }
                }
                self.statuses = Some(statuses);
            }
            "actor" => match reference_id("Practitioner", value).and_then(UserId::parse) {
                Some(id) => self.actor = Some(id),
                None => self.matches_nothing = true,
            },
            "schedule" => match reference_id("Schedule", value).and_then(UserId::parse) {
                Some(id) => self.schedule = Some(id),
                None => self.matches_nothing = true,
            },
            "category" => self.categories = codes_of(value, system::OBSERVATION_CATEGORY),
            "code" => self.codes = codes_of(value, system::LOINC),
            _ => {
                return Err(FhirError::NotSupported(format!(
                    "unknown search parameter {name}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_link_on_until_the_matches_end() {
        let criteria = Criteria {
            count: Some(2),
            ..Criteria::default()
        };
        let pager = Pager::new(&criteria);
        assert_eq!(pager.fetch(), 3);
        let (page, paging) = pager.cut(
            vec![1, 2, 3],
            "https://x.org/fhir/Observation?code=8867-4&_count=2",
        );
        assert_eq!(page, vec![1, 2]);
        assert_eq!(
            paging.next.as_deref(),
            Some("https://x.org/fhir/Observation?code=8867-4&_count=2&_offset=2")
        );
        assert_eq!(paging.total, None);
        let last = Pager::new(&Criteria {
            count: Some(2),
            offset: 2,
            ..Criteria::default()
        });
        let (page, paging) = last.cut(
            vec![1, 2, 3],
            "https://x.org/fhir/Observation?_offset=2&_count=2",
        );
        assert_eq!(page, vec![3]);
        assert_eq!((paging.next, paging.total), (None, Some(3)));
        let count_only = Pager::new(&Criteria {
            count: Some(0),
            ..Criteria::default()
        });
        let (page, paging) = count_only.cut(vec![1, 2, 3], "u");
        assert!(page.is_empty());
        assert_eq!(paging.total, Some(3));
    }

    fn ms(value: &str) -> i64 {
        DateTime::parse_from_rfc3339(value)
            .unwrap()
            .timestamp_millis()
    }

    fn day(value: &str) -> NaiveDate {
        NaiveDate::parse_from_str(value, "%Y-%m-%d").unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn dates_cover_their_precision() {
        let p = DateParam::parse("date", "2025-03-01").unwrap();
        assert_eq!(
            (p.prefix, p.start, p.end),
            (
                Prefix::Eq,
                ms("2025-03-01T00:00:00Z"),
                ms("2025-03-02T00:00:00Z")
            )
        );
        let p = DateParam::parse("date", "ge2025-02").unwrap();
        assert_eq!(
            (p.prefix, p.start, p.end),
            (
                Prefix::Ge,
                ms("2025-02-01T00:00:00Z"),
                ms("2025-03-01T00:00:00Z")
            )
        );
        let p = DateParam::parse("date", "2024").unwrap();
        assert_eq!(p.end, ms("2025-01-01T00:00:00Z"));
        let p = DateParam::parse("date", "lt2025-03-01T10:05:00Z").unwrap();
        assert_eq!(
            (p.start, p.end - p.start),
            (ms("2025-03-01T10:05:00Z"), 1_000)
        );
        // A form-decoded `+` arrives as a space.
        let p = DateParam::parse("date", "2025-03-01T11:05:00 01:00").unwrap();
        assert_eq!(p.start, ms("2025-03-01T10:05:00Z"));
        let p = DateParam::parse("date", "2025-03-01T05:05-05:00").unwrap();
        assert_eq!(
            (p.start, p.end - p.start),
            (ms("2025-03-01T10:05:00Z"), 60_000)
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            "notadate",
            "2025-13-01",
            "2025-02-30",
            "ne2025",
            "xx2025",
            "25",
            "2025-3-1",
            "2025-03-01T25:00:00Z",
        ] {
            assert!(
                matches!(
                    DateParam::parse("birthdate", bad),
                    Err(FhirError::InvalidSearch(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn birthdate_windows_become_day_ranges() {
        let days = |values: &[&str]| {
            let mut window = Window::default();
            for v in values {
                window.constrain(DateParam::parse("birthdate", v).unwrap());
            }
            window.days()
        };
        assert_eq!(
            days(&["1985-12-10"]),
            (Some(day("1985-12-10")), Some(day("1985-12-11")))
        );
        assert_eq!(
            days(&["1985"]),
            (Some(day("1985-01-01")), Some(day("1986-01-01")))
        );
        assert_eq!(days(&["gt1985-12-10"]), (Some(day("1985-12-11")), None));
        assert_eq!(days(&["ge1985-12-10"]), (Some(day("1985-12-10")), None));
        assert_eq!(days(&["lt1985-12-10"]), (None, Some(day("1985-12-10"))));
        assert_eq!(days(&["le1985-12-10"]), (None, Some(day("1985-12-11"))));
        assert_eq!(
            days(&["ge1980-01-01", "lt1990-01-01"]),
            (Some(day("1980-01-01")), Some(day("1990-01-01")))
        );
    }

    #[test]
    fn period_windows_follow_the_prefixes() {
        let window = |v: &str| {
            let mut w = Window::default();
            w.constrain(DateParam::parse("date", v).unwrap());
            w
        };
        let (start, end) = (ms("2025-03-01T00:00:00Z"), ms("2025-03-02T00:00:00Z"));
        assert_eq!(
            window("2025-03-01"),
            Window {
                start_from: Some(start),
                end_before: Some(end),
                ..Default::default()
            }
        );
        assert_eq!(window("gt2025-03-01").end_from, Some(end));
        assert_eq!(window("lt2025-03-01").start_before, Some(start));
        assert_eq!(window("sa2025-03-01").start_from, Some(end));
        assert_eq!(window("eb2025-03-01").end_before, Some(start));
    }

    #[test]
    fn references_name_their_resource_type() {
        let id = "0190e4a2-1234-7abc-8def-0123456789ab";
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("patient", &format!("Patient/{id}"))]),
        )
        .unwrap();
        assert_eq!(c.patient.as_ref().map(PatientId::as_str), Some(id));
        assert!(!c.matches_nothing);
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("patient", &format!("https://x.org/fhir/Patient/{id}"))]),
        )
        .unwrap();
        assert!(c.patient.is_some());
        let c = Criteria::parse(ResourceType::Observation, &pairs(&[("patient", id)])).unwrap();
        assert!(c.patient.is_some());
        for other in [
            format!("Group/{id}"),
            "not-an-id".to_owned(),
            format!("XPatient/{id}"),
        ] {
            let c =
                Criteria::parse(ResourceType::Observation, &pairs(&[("patient", &other)])).unwrap();
            assert!(c.matches_nothing, "{other}");
        }
    }

    #[test]
    fn tokens_match_on_their_system() {
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("code", "http://loinc.org|8867-4,9279-1")]),
        )
        .unwrap();
        assert_eq!(
            c.codes,
            Some(vec!["8867-4".to_owned(), "9279-1".to_owned()])
        );
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("code", "http://snomed.info/sct|8867-4")]),
        )
        .unwrap();
        assert_eq!(c.codes, Some(vec![]));
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("code", "http://loinc.org|")]),
        )
        .unwrap();
        assert_eq!(c.codes, None);
        let c = Criteria::parse(
            ResourceType::Encounter,
            &pairs(&[("status", "finished,in-progress")]),
        )
        .unwrap();
        assert_eq!(
            c.statuses,
            Some(vec!["finished".to_owned(), "in-progress".to_owned()])
        );
        assert!(matches!(
            Criteria::parse(ResourceType::Encounter, &pairs(&[("status", "done")])),
            Err(FhirError::InvalidSearch(_))
        ));
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[("category", "laboratory")]),
        )
        .unwrap();
        assert_eq!(c.categories, Some(vec!["laboratory".to_owned()]));
        let c = Criteria::parse(
            ResourceType::Observation,
            &pairs(&[(
                "category",
                "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs",
            )]),
        )
        .unwrap();
        assert_eq!(c.categories, Some(vec!["vital-signs".to_owned()]));
    }

    #[test]
    fn unknown_parameters_and_modifiers_are_refused() {
        for query in [("family", "x"), ("name:exact", "Ada"), ("_sort", "name")] {
            assert!(
                matches!(
                    Criteria::parse(ResourceType::Patient, &pairs(&[query])),
                    Err(FhirError::NotSupported(_))
                ),
                "{query:?}"
            );
        }
        assert!(
            Criteria::parse(ResourceType::Patient, &pairs(&[("name", "")])).unwrap()
                == Criteria::default()
        );
        assert!(Criteria::parse(ResourceType::Patient, &pairs(&[("_format", "json")])).is_ok());
        assert!(matches!(
            Criteria::parse(
                ResourceType::Patient,
                &pairs(&[("name", "a"), ("name", "b")])
            ),
            Err(FhirError::InvalidSearch(_))
        ));
    }
}
