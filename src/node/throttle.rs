//! Throttling of logins per source address. An attempt is counted when it starts, before the
//! credentials are verified, so that `limit` is exact however many attempts a source makes at
//! once: at most `limit` attempts of a source are ever under way or failed within a window.
//! A success gives its attempt back. Once `limit` attempts have failed, the address is refused
//! for a while, at connect time, without slowing down anybody else.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::node::limits::SourceKey;

/// Addresses tracked at once; beyond it the stalest entries are forgotten.
const MAX_TRACKED: usize = 100_000;

pub struct Throttle {
    limit: u32,
    window: Duration,
    ban: Duration,
    state: Mutex<HashMap<SourceKey, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    in_flight: u32,
    banned_until: Option<Instant>,
}

/// The answer to [`Throttle::begin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; `earlier` attempts of this source are under way or failed in the window
    /// (the password pool serves sources with fewer first).
    Allowed { earlier: u32 },
    /// The source is banned, or has `limit` attempts under way or failed.
    Refused,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SourceKey, Entry>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while `addr` is banned.
    pub fn is_banned(&self, addr: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let state = self.lock();
        matches!(state.get(&SourceKey::of(addr)), Some(Entry { banned_until: Some(t), .. }) if *t > now)
    }

    /// How suspect a source is now: its failed logins in the window (a banned source counts as
    /// the limit). Logins under way do not count: a client in the middle of its login is no
    /// more suspect than an idle socket.
    pub fn suspicion(&self, key: SourceKey, now: Instant) -> u32 {
        if self.limit == 0 {
            return 0;
        }
        match self.lock().get(&key) {
            Some(e) if e.banned_until.is_some_and(|t| t > now) => self.limit,
            Some(e) if now.duration_since(e.window_start) < self.window => e.failures,
            _ => 0,
        }
    }

    /// Counts an attempt of `addr` before it is verified.
    pub fn begin(&self, addr: IpAddr, now: Instant) -> Attempt {
        if self.limit == 0 {
            return Attempt::Allowed { earlier: 0 };
        }
        let mut state = self.lock();
        let key = SourceKey::of(addr);
        if state.len() >= MAX_TRACKED && !state.contains_key(&key) {
            let window = self.window;
            state.retain(|_, e| {
                e.in_flight > 0
                    || now.duration_since(e.window_start) < window
                    || e.banned_until.is_some_and(|t| t > now)
            });
            if state.len() >= MAX_TRACKED {
                // Still full (a flood from that many addresses): forget the sources that are
                // neither banned nor mid-login, rather than refuse a newcomer who never failed.
                state.retain(|_, e| e.in_flight > 0 || e.banned_until.is_some_and(|t| t > now));
            }
            if state.len() >= MAX_TRACKED {
                return Attempt::Refused;
            }
        }
        let entry = state.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
            in_flight: 0,
            banned_until: None,
        });
        if entry.banned_until.is_some_and(|t| t > now) {
            return Attempt::Refused;
        }
        if now.duration_since(entry.window_start) >= self.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        let earlier = entry.failures + entry.in_flight;
        if earlier >= self.limit {
            return Attempt::Refused;
        }
        entry.in_flight += 1;
        Attempt::Allowed { earlier }
    }

    /// The attempt begun for `addr` succeeded: it no longer counts.
    pub fn succeeded(&self, addr: IpAddr) {
        if self.limit == 0 {
            return;
        }
        if let Some(entry) = self.lock().get_mut(&SourceKey::of(addr)) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
        }
    }

    /// The attempt begun for `addr` failed; returns true when this failure started a ban.
    pub fn failed(&self, addr: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        let mut state = self.lock();
        let Some(entry) = state.get_mut(&SourceKey::of(addr)) else {
            return false;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
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

    fn fail(t: &Throttle, a: IpAddr, now: Instant) -> bool {
        assert!(matches!(t.begin(a, now), Attempt::Allowed { .. }));
        t.failed(a, now)
    }

    #[test]
    fn bans_only_the_failing_address_and_forgives_later() {
        let t = Throttle::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let bad: IpAddr = "198.18.0.66".parse().unwrap();
        let good: IpAddr = "198.18.0.7".parse().unwrap();
        let now = Instant::now();
        assert!(!fail(&t, bad, now));
        assert!(!fail(&t, bad, now));
        assert!(!fail(&t, good, now));
        assert!(fail(&t, bad, now));
        assert!(t.is_banned(bad, now + Duration::from_secs(299)));
        assert_eq!(t.begin(bad, now), Attempt::Refused);
        assert!(!t.is_banned(good, now));
        assert!(!t.is_banned(bad, now + Duration::from_secs(301)));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = Throttle::new(2, Duration::from_secs(10), Duration::from_secs(300));
        let a: IpAddr = "::1".parse().unwrap();
        let now = Instant::now();
        assert!(!fail(&t, a, now));
        assert!(!fail(&t, a, now + Duration::from_secs(11)));
        assert!(fail(&t, a, now + Duration::from_secs(12)));
    }

    #[test]
    fn concurrent_attempts_are_counted_before_they_are_verified() {
        let t = Throttle::new(10, Duration::from_secs(60), Duration::from_secs(300));
        let a: IpAddr = "198.18.0.66".parse().unwrap();
        let now = Instant::now();
        let allowed: Vec<Attempt> = (0..100).map(|_| t.begin(a, now)).collect();
        let n = allowed
            .iter()
            .filter(|a| matches!(a, Attempt::Allowed { .. }))
            .count();
        assert_eq!(n, 10, "exactly the limit may be verified at once");
        assert_eq!(allowed[9], Attempt::Allowed { earlier: 9 });
        // A success gives its attempt back; failures then ban.
        t.succeeded(a);
        assert_eq!(t.begin(a, now), Attempt::Allowed { earlier: 9 });
        let bans = (0..10).filter(|_| t.failed(a, now)).count();
        assert_eq!(bans, 1);
        assert!(t.is_banned(a, now));
    }

    #[test]
    fn zero_limit_disables() {
        let t = Throttle::new(0, Duration::from_secs(10), Duration::from_secs(10));
        let a: IpAddr = "::1".parse().unwrap();
        assert_eq!(t.begin(a, Instant::now()), Attempt::Allowed { earlier: 0 });
        assert!(!t.failed(a, Instant::now()));
        assert!(!t.is_banned(a, Instant::now()));
    }
}
