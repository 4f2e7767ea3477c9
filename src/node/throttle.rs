//! Throttling of failed logins per source address: an address that fails too often is refused
//! for a while, at connect time, without slowing down anybody else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at once; beyond it the stalest entries are forgotten.
const MAX_TRACKED: usize = 100_000;

pub struct Throttle {
    limit: u32,
    window: Duration,
    ban: Duration,
    state: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

impl Throttle {
    /// `limit` failures within `window` ban an address for `ban`; a limit of 0 disables it.
    pub fn new(limit: u32, window: Duration, ban: Duration) -> Self {
        Throttle {
            limit,
            window,
            ban,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// True while `addr` is banned.
    pub fn is_banned(&self, addr: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        matches!(state.get(&addr), Some(Entry { banned_until: Some(t), .. }) if *t > now)
    }

    /// Counts a failed login; returns true when this failure started a ban.
    pub fn record_failure(&self, addr: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() >= MAX_TRACKED && !state.contains_key(&addr) {
            let window = self.window;
            state.retain(|_, e| {
                now.duration_since(e.window_start) < window
                    || e.banned_until.is_some_and(|t| t > now)
            });
            if state.len() >= MAX_TRACKED {
                return false;
            }
        }
        let entry = state.entry(addr).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        });
        if now.duration_since(entry.window_start) >= self.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= self.limit && entry.banned_until.is_none_or(|t| t <= now) {
            entry.banned_until = Some(now + self.ban);
            entry.failures = 0;
            entry.window_start = now;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_only_the_failing_address_and_forgives_later() {
        let t = Throttle::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let bad: IpAddr = "198.18.0.66".parse().unwrap();
        let good: IpAddr = "198.18.0.7".parse().unwrap();
        let now = Instant::now();
        assert!(!t.record_failure(bad, now));
        assert!(!t.record_failure(bad, now));
        assert!(!t.record_failure(good, now));
        assert!(t.record_failure(bad, now));
        assert!(t.is_banned(bad, now + Duration::from_secs(299)));
        assert!(!t.is_banned(good, now));
        assert!(!t.is_banned(bad, now + Duration::from_secs(301)));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = Throttle::new(2, Duration::from_secs(10), Duration::from_secs(300));
        let a: IpAddr = "::1".parse().unwrap();
        let now = Instant::now();
        assert!(!t.record_failure(a, now));
        assert!(!t.record_failure(a, now + Duration::from_secs(11)));
        assert!(t.record_failure(a, now + Duration::from_secs(12)));
    }

    #[test]
    fn zero_limit_disables() {
        let t = Throttle::new(0, Duration::from_secs(10), Duration::from_secs(10));
        let a: IpAddr = "::1".parse().unwrap();
        assert!(!t.record_failure(a, Instant::now()));
        assert!(!t.is_banned(a, Instant::now()));
    }
}
