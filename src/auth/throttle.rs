//! Sign-in throttling with backoff. Failures count per username *and*
//! address together, so wrong passwords sent from one place never lock the
//! account's owner out from another; a looser count per address slows one
//! place trying many usernames. Past a few free failures each further one
//! doubles the wait (up to a cap) instead of locking for a fixed window, and
//! the caller is told when to retry. Only failures count, so a clinic behind
//! one address is not slowed by its own successful sign-ins. Kept per node,
//! in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::timestamp::Timestamp;

/// How many failures are free and how the wait grows after them.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures of one username from one address before waits begin.
    pub free_per_pair: u32,
    /// Failures from one address, any username, before waits begin.
    pub free_per_address: u32,
    /// The first wait; each further failure doubles it.
    pub first_wait: Duration,
    /// The longest wait; failures older than this are forgotten.
    pub longest_wait: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            free_per_pair: 5,
            free_per_address: 50,
            first_wait: Duration::from_secs(1),
            longest_wait: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<Key, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Timestamp,
}

/// Past this many tracked keys, forgotten ones are dropped on the next failure.
const PRUNE_AT: usize = 10_000;

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ThrottleSettings::default())
    }
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: IpAddr) -> [(Key, bool); 2] {
        [
            (Key::Pair(username.to_lowercase(), ip), true),
            (Key::Address(ip), false),
        ]
    }

    /// The wait owed after `count` failures.
    fn wait_after(&self, count: u32, free: u32) -> Duration {
        let Some(over) = count.checked_sub(free) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over).unwrap_or(u32::MAX);
        self.settings
            .first_wait
            .saturating_mul(factor)
            .min(self.settings.longest_wait)
    }

    /// `Ok` when another attempt for this username from this address may
    /// proceed now; otherwise how long until it may.
    pub fn check(&self, username: &str, ip: IpAddr, now: Timestamp) -> Result<(), Duration> {
        let failures = self.failures.lock().expect("throttle lock");
        let mut retry_after = Duration::ZERO;
        for (key, pair) in Self::keys(username, ip) {
            let Some(f) = failures.get(&key) else {
                continue;
            };
            let free = if pair {
                self.settings.free_per_pair
            } else {
                self.settings.free_per_address
            };
            let until = f.last + self.wait_after(f.count, free);
            let left = u64::try_from(until.millis() - now.millis()).unwrap_or(0);
            retry_after = retry_after.max(Duration::from_millis(left));
        }
        if retry_after.is_zero() {
            Ok(())
        } else {
            Err(retry_after)
        }
    }

    pub fn record_failure(&self, username: &str, ip: IpAddr, now: Timestamp) {
        let forget_after =
            i64::try_from(self.settings.longest_wait.as_millis()).unwrap_or(i64::MAX);
        let forgotten = |f: &Failures| now.millis() - f.last.millis() > forget_after;
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() > PRUNE_AT {
            failures.retain(|_, f| !forgotten(f));
        }
        for (key, _) in Self::keys(username, ip) {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            if forgotten(entry) {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
        }
    }

    /// A successful sign-in clears that username's failures from that address.
    pub fn record_success(&self, username: &str, ip: IpAddr) {
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&Key::Pair(username.to_lowercase(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn throttle(free_per_pair: u32, free_per_address: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleSettings {
            free_per_pair,
            free_per_address,
            first_wait: Duration::from_secs(1),
            longest_wait: Duration::from_secs(60),
        })
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp(seconds * 1000)
    }

    #[test]
    fn failures_from_one_address_leave_the_user_free_elsewhere() {
        let throttle = throttle(2, 100);
        for _ in 0..5 {
            throttle.record_failure("amy", A, at(0));
        }
        assert!(throttle.check("AMY", A, at(0)).is_err());
        assert_eq!(throttle.check("amy", B, at(0)), Ok(()));
        assert_eq!(throttle.check("bob", A, at(0)), Ok(()));
    }

    #[test]
    fn each_failure_past_the_free_ones_doubles_the_wait() {
        let throttle = throttle(2, 100);
        throttle.record_failure("amy", A, at(0));
        throttle.record_failure("amy", A, at(0));
        assert_eq!(throttle.check("amy", A, at(0)), Err(Duration::from_secs(1)));
        throttle.record_failure("amy", A, at(1));
        assert_eq!(throttle.check("amy", A, at(1)), Err(Duration::from_secs(2)));
        throttle.record_failure("amy", A, at(3));
        assert_eq!(throttle.check("amy", A, at(3)), Err(Duration::from_secs(4)));
        assert_eq!(throttle.check("amy", A, at(7)), Ok(()));
    }

    #[test]
    fn the_wait_is_capped_and_old_failures_are_forgotten() {
        let throttle = throttle(1, 100);
        for _ in 0..40 {
            throttle.record_failure("amy", A, at(0));
        }
        assert_eq!(
            throttle.check("amy", A, at(0)),
            Err(Duration::from_secs(60))
        );
        throttle.record_failure("amy", A, at(200));
        assert_eq!(
            throttle.check("amy", A, at(200)),
            Err(Duration::from_secs(1))
        );
    }

    #[test]
    fn many_usernames_from_one_address_are_slowed_too() {
        let throttle = throttle(100, 3);
        for name in ["a", "b", "c", "d"] {
            throttle.record_failure(name, A, at(0));
        }
        assert!(throttle.check("e", A, at(0)).is_err());
        assert_eq!(throttle.check("e", B, at(0)), Ok(()));
    }

    #[test]
    fn success_clears_the_pair() {
        let throttle = throttle(0, 100);
        throttle.record_failure("amy", A, at(0));
        throttle.record_success("amy", A);
        assert_eq!(throttle.check("amy", A, at(0)), Ok(()));
    }
}
