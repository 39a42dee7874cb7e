//! Which visits got exactly one claim: the check every close-claim run
//! ends with, kept apart from the run so it can be tested on its own.

use std::collections::{HashMap, HashSet};

/// Claims counted against the visits a run closed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClaimTally {
    /// Visits closed by the run.
    pub visits: usize,
    /// Of them, with exactly one claim.
    pub exactly_one: usize,
    /// Closed visits without a claim.
    pub without: Vec<String>,
    /// Closed visits with more than one claim, and how many each has.
    pub several: Vec<(String, usize)>,
    /// Claims for visits this run did not close (another run's, the demo's).
    pub others: usize,
}

impl ClaimTally {
    /// Counts `claims` (claim id, visit id) against `visits`. The same claim
    /// seen twice (a webhook delivered again) counts once.
    pub fn count<'a>(
        visits: impl IntoIterator<Item = &'a str>,
        claims: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let mut per_visit: HashMap<&str, HashSet<&str>> =
            visits.into_iter().map(|v| (v, HashSet::new())).collect();
        let mut others = HashSet::new();
        for (claim, visit) in claims {
            match per_visit.get_mut(visit) {
                Some(claims) => {
                    claims.insert(claim);
                }
                None => {
                    others.insert(claim);
                }
            }
        }
        let mut tally = Self {
            visits: per_visit.len(),
            others: others.len(),
            ..Self::default()
        };
        for (visit, claims) in per_visit {
            match claims.len() {
                0 => tally.without.push(visit.to_owned()),
                1 => tally.exactly_one += 1,
                n => tally.several.push((visit.to_owned(), n)),
            }
        }
        tally.without.sort();
        tally.several.sort();
        tally
    }

    /// Every closed visit has exactly one claim.
    pub fn holds(&self) -> bool {
        self.exactly_one == self.visits
    }

    /// One line for the report, naming a few offenders.
    pub fn line(&self) -> String {
        let mut line = format!(
            "exactly one claim for {} of {} visits; {} without a claim, {} with more than one",
            self.exactly_one,
            self.visits,
            self.without.len(),
            self.several.len()
        );
        if let Some(visit) = self.without.first() {
            line.push_str(&format!(" (first without: {visit})"));
        }
        if let Some((visit, n)) = self.several.first() {
            line.push_str(&format!(" (first with several: {visit}, {n} claims)"));
        }
        if self.others > 0 {
            line.push_str(&format!("; {} claims of other visits ignored", self.others));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_visit_holds() {
        let tally = ClaimTally::count(["v1", "v2"], [("c1", "v1"), ("c2", "v2")]);
        assert!(tally.holds());
        assert_eq!(tally.exactly_one, 2);
        assert!(tally.without.is_empty() && tally.several.is_empty());
    }

    #[test]
    fn a_missing_and_a_doubled_claim_are_both_named() {
        let tally = ClaimTally::count(
            ["v1", "v2", "v3"],
            [("c1", "v1"), ("c2", "v2"), ("c3", "v2")],
        );
        assert!(!tally.holds());
        assert_eq!(tally.exactly_one, 1);
        assert_eq!(tally.without, ["v3"]);
        assert_eq!(tally.several, [("v2".to_owned(), 2)]);
        let line = tally.line();
        assert!(
            line.contains("exactly one claim for 1 of 3 visits"),
            "{line}"
        );
        assert!(line.contains("first without: v3"), "{line}");
        assert!(line.contains("first with several: v2, 2 claims"), "{line}");
    }

    #[test]
    fn a_claim_seen_twice_counts_once_and_strangers_are_set_apart() {
        let tally = ClaimTally::count(["v1"], [("c1", "v1"), ("c1", "v1"), ("c9", "elsewhere")]);
        assert!(tally.holds());
        assert_eq!(tally.others, 1);
        assert!(tally.line().contains("1 claims of other visits ignored"));
    }

    #[test]
    fn no_claims_at_all_fails() {
        let tally = ClaimTally::count(["v1", "v2"], []);
        assert!(!tally.holds());
        assert_eq!(tally.without, ["v1", "v2"]);
    }
}
