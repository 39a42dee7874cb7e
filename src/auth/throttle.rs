//! Sign-in throttling: after repeated failures for one username or from one
//! address, further attempts get 429 until the window passes. Only failures
//! count, so a clinic behind one address is not locked out by its own
//! successful sign-ins. Kept per node, in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    max_per_user: u32,
    max_per_ip: u32,
    failures: Mutex<HashMap<Key, Failures>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Ip(IpAddr),
}

#[derive(Debug)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Past this many tracked keys, expired ones are dropped on the next failure.
const PRUNE_AT: usize = 10_000;

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl LoginThrottle {
    pub fn new(window: Duration, max_per_user: u32, max_per_ip: u32) -> Self {
        Self {
            window,
            max_per_user,
            max_per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether another attempt for this username from this address may proceed.
    pub fn allows(&self, username: &str, ip: IpAddr) -> bool {
        let now = Instant::now();
        let failures = self.failures.lock().expect("throttle lock");
        let over = |key: &Key, max: u32| {
            failures
                .get(key)
                .is_some_and(|f| now.duration_since(f.since) < self.window && f.count >= max)
        };
        !over(&Key::User(username.to_lowercase()), self.max_per_user)
            && !over(&Key::Ip(ip), self.max_per_ip)
    }

    pub fn record_failure(&self, username: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() > PRUNE_AT {
            failures.retain(|_, f| now.duration_since(f.since) < self.window);
        }
        for key in [Key::User(username.to_lowercase()), Key::Ip(ip)] {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.duration_since(entry.since) >= self.window {
                *entry = Failures {
                    count: 0,
                    since: now,
                };
            }
            entry.count += 1;
        }
    }

    /// A successful sign-in clears that username's failures.
    pub fn record_success(&self, username: &str) {
        self.failures
            .lock()
            .expect("throttle lock")
            .remove(&Key::User(username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn repeated_failures_for_a_user_block_that_user_only() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(throttle.allows("amy", IP));
            throttle.record_failure("amy", IP);
        }
        assert!(!throttle.allows("AMY", IP));
        assert!(throttle.allows("bob", IP));
    }

    #[test]
    fn repeated_failures_from_an_address_block_every_user_there() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        throttle.record_failure("a", IP);
        throttle.record_failure("b", IP);
        assert!(!throttle.allows("c", IP));
        assert!(throttle.allows("c", "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn failures_expire_with_the_window() {
        let throttle = LoginThrottle::new(Duration::ZERO, 1, 1);
        throttle.record_failure("a", IP);
        assert!(throttle.allows("a", IP));
    }
}
