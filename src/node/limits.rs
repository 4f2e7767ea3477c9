//! What a stranger can make a node spend before logging in, and what every connection may
//! hold: the admission of unauthenticated connections ("startups", after OpenSSH's
//! `MaxStartups`) and the node's budget of file descriptors.
//!
//! Startups are counted per source (an IPv4 address, or an IPv6 /64) and in total. Between
//! `start` and `full` a newcomer makes the node shed one startup with a probability that rises
//! linearly from `rate` % to 100 %; at `full` it always sheds one. Unlike OpenSSH, which always
//! drops the newcomer, the one shed is chosen for fairness: a source that has been failing
//! logins gives way to one that has not; among equals, the heaviest of the sources holding
//! more startups than the newcomer's gives up its oldest (a source holding a single startup
//! keeps it for [`EVICT_MIN_AGE`], so a login in progress finishes); when there is none, the
//! newcomer goes.
//! A flood of idle sockets, from one address or from hundreds, therefore ends up evicting
//! itself, and a client from anywhere else still gets in. Logged-in sessions are never counted
//! here, so no flood of strangers takes their slots.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use crate::config::node::MaxStartups;

/// A startup younger than this is never evicted: a login in progress gets the time a real
/// client needs (a few round trips and a key signature) before a newcomer can push it out.
pub const EVICT_MIN_AGE: Duration = Duration::from_secs(2);

/// The key a source is counted under: an IPv4 address, or the /64 of an IPv6 address (one
/// host commonly holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey(u128);

impl SourceKey {
    pub fn of(addr: IpAddr) -> SourceKey {
        match crate::config::node::canonical_ip(addr) {
            IpAddr::V4(v4) => SourceKey(u32::from(v4) as u128),
            IpAddr::V6(v6) => SourceKey((u128::from(v6) >> 64) | (1 << 127)),
        }
    }
}

struct Entry {
    id: u64,
    since: Instant,
    evict: CancellationToken,
}

#[derive(Default)]
struct State {
    total: usize,
    next_id: u64,
    by_source: HashMap<SourceKey, VecDeque<Entry>>,
}

/// Why a newcomer was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source already holds `per_source` startups.
    PerSource,
    /// The node sheds startups and the newcomer's source holds the most of them (or no other
    /// startup is old enough to evict).
    Shed,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::PerSource => "too many unauthenticated connections from this source",
            Refusal::Shed => "too many unauthenticated connections (max_startups)",
        }
    }
}

/// The node's unauthenticated connections.
pub struct Startups {
    limits: MaxStartups,
    per_source: usize,
    state: Mutex<State>,
    evicted: AtomicI64,
    random: Mutex<u64>,
}

/// One admitted startup; dropping it (the connection ended, or logged in) frees the slot.
pub struct Ticket {
    startups: Arc<Startups>,
    source: SourceKey,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.startups.lock();
        let state = &mut *state;
        if let Some(queue) = state.by_source.get_mut(&self.source) {
            if let Some(pos) = queue.iter().position(|e| e.id == self.id) {
                queue.remove(pos);
                state.total -= 1;
            }
            if queue.is_empty() {
                state.by_source.remove(&self.source);
            }
        }
    }
}

impl Startups {
    pub fn new(limits: MaxStartups, per_source: usize) -> Arc<Startups> {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Arc::new(Startups {
            limits,
            per_source,
            state: Mutex::new(State::default()),
            evicted: AtomicI64::new(0),
            random: Mutex::new(u64::from_le_bytes(seed) | 1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unauthenticated connections now.
    pub fn count(&self) -> usize {
        self.lock().total
    }

    /// Startups evicted so far to make room for newcomers.
    pub fn evicted(&self) -> i64 {
        self.evicted.load(Relaxed)
    }

    /// A number in 0..100 (xorshift; fairness, not secrecy).
    fn percent(&self) -> u32 {
        let mut s = self.random.lock().unwrap_or_else(|e| e.into_inner());
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s % 100) as u32
    }

    /// Admits a connection from `source`; `evict` is cancelled if the node later sheds it.
    /// `suspicion` tells how many logins a source has failed lately (the throttle's count): a
    /// source that has been guessing gives way to one that has not, whatever the age of its
    /// connection.
    pub fn admit(
        self: &Arc<Self>,
        source: IpAddr,
        evict: CancellationToken,
        now: Instant,
        suspicion: impl Fn(SourceKey) -> u32,
    ) -> Result<Ticket, Refusal> {
        let key = SourceKey::of(source);
        let shed_roll = self.percent();
        let mine = suspicion(key);
        let mut state = self.lock();
        let own = state.by_source.get(&key).map_or(0, VecDeque::len);
        if self.per_source > 0 && own >= self.per_source {
            return Err(Refusal::PerSource);
        }
        let MaxStartups { start, rate, full } = self.limits;
        let total = state.total;
        let shed = if total >= full {
            true
        } else if total >= start {
            let span = (full - start).max(1) as u64;
            let p = rate as u64 + (100 - rate as u64) * (total - start) as u64 / span;
            (shed_roll as u64) < p
        } else {
            false
        };
        if shed {
            // Who gives way: a source more suspect than the newcomer's (it has been guessing),
            // else, among startups old enough to evict, one of a source holding more than
            // the newcomer's would; the most suspect, then the heaviest, then the oldest.
            let victim = state
                .by_source
                .iter()
                .filter(|(k, _)| **k != key)
                .filter_map(|(k, q)| {
                    let e = q.front()?;
                    let suspect = suspicion(*k);
                    // A source holding several startups has no claim to its young ones: a
                    // client logs in on one connection at a time, a flood holds many.
                    let evictable = q.len() >= 2 || now.duration_since(e.since) >= EVICT_MIN_AGE;
                    let worse = suspect > mine || (suspect == mine && q.len() > own && evictable);
                    worse.then_some((*k, suspect, q.len(), e.since, e.id))
                })
                .max_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(b.3.cmp(&a.3)))
                .map(|(k, _, _, since, id)| (k, since, id));
            match victim {
                Some((victim_key, _, victim_id)) => {
                    let queue = state.by_source.get_mut(&victim_key).expect("found above");
                    let pos = queue
                        .iter()
                        .position(|e| e.id == victim_id)
                        .expect("found above");
                    let entry = queue.remove(pos).expect("position is valid");
                    if queue.is_empty() {
                        state.by_source.remove(&victim_key);
                    }
                    state.total -= 1;
                    entry.evict.cancel();
                    self.evicted.fetch_add(1, Relaxed);
                }
                None if total >= full => return Err(Refusal::Shed),
                // Below full with nobody to evict: the newcomer is shed only if its source
                // already holds startups (one lone client is never the one dropped early).
                None if own > 0 => return Err(Refusal::Shed),
                None => {}
            }
        }
        state.next_id += 1;
        let id = state.next_id;
        state.total += 1;
        state.by_source.entry(key).or_default().push_back(Entry {
            id,
            since: now,
            evict,
        });
        Ok(Ticket {
            startups: self.clone(),
            source: key,
            id,
        })
    }
}

/// What the node may spend of its open-file limit. Connections, SFTP sessions and handles are
/// counted at what they cost (measured with /proc/PID/fd: a connection 5, its socket and its
/// runtime's drivers; a session's home 1; a file 1, an upload's folder 1 more, a directory 2);
/// a reserve is kept for the listeners, the health endpoint, logs and the storage checks, so
/// no client can starve `accept()`.
pub struct FdBudget {
    limit: i64,
    used: AtomicI64,
}

/// Descriptors kept back for the node itself: 64, or 1/64 of the limit if more.
const FD_RESERVE: i64 = 64;
pub const FDS_CONNECTION: i64 = 5;
pub const FDS_SESSION: i64 = 1;
pub const FDS_FILE: i64 = 1;
/// An upload in atomic mode holds its directory too.
pub const FDS_UPLOAD: i64 = 2;
pub const FDS_DIR: i64 = 2;
/// `/healthz` reports the node unable to take more once this share of the budget is used.
const HEALTH_SHARE_PERCENT: i64 = 90;

/// A share of the budget, given back when dropped.
pub struct Fds {
    budget: Arc<FdBudget>,
    n: i64,
}

impl Drop for Fds {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.n, Relaxed);
    }
}

impl Fds {
    /// Descriptors held.
    pub fn count(&self) -> i64 {
        self.n
    }
}

impl FdBudget {
    /// A budget for a process whose open-file limit is `limit`.
    pub fn new(limit: u64) -> Arc<FdBudget> {
        let limit = limit.min(i64::MAX as u64 / 2) as i64;
        Arc::new(FdBudget {
            limit: (limit - FD_RESERVE.max(limit / 64)).max(16),
            used: AtomicI64::new(0),
        })
    }

    /// Takes `n` descriptors, or `None` when the budget would be exceeded.
    pub fn take(self: &Arc<Self>, n: i64) -> Option<Fds> {
        let before = self.used.fetch_add(n, Relaxed);
        if before + n > self.limit {
            self.used.fetch_sub(n, Relaxed);
            return None;
        }
        Some(Fds {
            budget: self.clone(),
            n,
        })
    }

    pub fn used(&self) -> i64 {
        self.used.load(Relaxed)
    }

    pub fn limit(&self) -> i64 {
        self.limit
    }

    /// True once so much is used that a balancer should send new clients elsewhere.
    pub fn nearly_exhausted(&self) -> bool {
        self.used() * 100 >= self.limit * HEALTH_SHARE_PERCENT
    }
}

/// What one user may hold of the node: logged-in sessions (`max_sessions_per_user`) and a
/// share of the open-file budget. Without it one account with many connections could take
/// every session slot or every descriptor and lock everybody else out.
pub struct UserShares {
    max_sessions: usize,
    max_fds: i64,
    by_user: Mutex<HashMap<Arc<str>, (usize, i64)>>,
}

/// Share of the open-file budget one user may hold.
pub const USER_FD_SHARE_PERCENT: i64 = 25;

/// A logged-in session of a user, counted while it lives.
pub struct UserSession {
    shares: Arc<UserShares>,
    user: Arc<str>,
}

impl Drop for UserSession {
    fn drop(&mut self) {
        self.shares.update(&self.user, -1, 0);
    }
}

impl UserShares {
    /// `max_sessions` 0: no limit.
    pub fn new(max_sessions: usize, fd_budget: &FdBudget) -> Arc<UserShares> {
        Arc::new(UserShares {
            max_sessions,
            max_fds: (fd_budget.limit() * USER_FD_SHARE_PERCENT / 100).max(64),
            by_user: Mutex::new(HashMap::new()),
        })
    }

    fn update(&self, user: &str, sessions: isize, fds: i64) {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(user) {
            entry.0 = (entry.0 as isize + sessions).max(0) as usize;
            entry.1 += fds;
            if entry.0 == 0 && entry.1 <= 0 {
                map.remove(user);
            }
        }
    }

    /// Counts a login of `user`, or `None` when the user has `max_sessions` already.
    pub fn login(self: &Arc<Self>, user: &str) -> Option<UserSession> {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(Arc::from(user)).or_insert((0, 0));
        if self.max_sessions > 0 && entry.0 >= self.max_sessions {
            return None;
        }
        entry.0 += 1;
        Some(UserSession {
            shares: self.clone(),
            user: Arc::from(user),
        })
    }

    /// Takes `n` descriptors of `user`'s share; false when the share is used up.
    pub fn take_fds(&self, user: &str, n: i64) -> bool {
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = map.get_mut(user) else {
            return true;
        };
        if entry.1 + n > self.max_fds {
            return false;
        }
        entry.1 += n;
        true
    }

    pub fn give_fds(&self, user: &str, n: i64) {
        self.update(user, 0, -n);
    }
}

/// What every SFTP session may queue (requests read but not answered, replies not yet sent)
/// whatever the rest of the node does.
pub const QUEUE_FLOOR: usize = 256 << 10;

/// The node's memory for queued SFTP requests and replies. Each session may always hold
/// [`QUEUE_FLOOR`]; beyond it a session grows (up to its own caps) only while the node's total
/// is under the limit. Sessions whose clients never read their replies therefore cannot take
/// more than the limit between them, and every other session keeps its floor: transfers slow
/// down under such an attack, they never stop, and memory stays bounded.
pub struct QueueBudget {
    limit: i64,
    used: AtomicI64,
}

/// One session's share of the [`QueueBudget`], given back when dropped.
pub struct Queued {
    budget: Arc<QueueBudget>,
    bytes: i64,
}

impl QueueBudget {
    pub fn new(limit_bytes: u64) -> Arc<QueueBudget> {
        Arc::new(QueueBudget {
            limit: limit_bytes.min(i64::MAX as u64) as i64,
            used: AtomicI64::new(0),
        })
    }

    pub fn used(&self) -> i64 {
        self.used.load(Relaxed)
    }

    /// A session's account, empty.
    pub fn account(self: &Arc<Self>) -> Queued {
        Queued {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

impl Queued {
    /// Records that the session now holds `bytes`.
    pub fn set(&mut self, bytes: usize) {
        let bytes = bytes as i64;
        self.budget.used.fetch_add(bytes - self.bytes, Relaxed);
        self.bytes = bytes;
    }

    /// Whether the session may take more now.
    pub fn may_grow(&self) -> bool {
        self.bytes < QUEUE_FLOOR as i64 || self.budget.used() < self.budget.limit
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn clean(_: SourceKey) -> u32 {
        0
    }

    #[test]
    fn per_source_limit_refuses_only_that_source() {
        let s = Startups::new("100".parse().unwrap(), 2);
        let now = Instant::now();
        let a = ip("198.18.0.1");
        let _t1 = s.admit(a, CancellationToken::new(), now, clean).unwrap();
        let _t2 = s.admit(a, CancellationToken::new(), now, clean).unwrap();
        assert_eq!(
            s.admit(a, CancellationToken::new(), now, clean).err(),
            Some(Refusal::PerSource)
        );
        assert!(s
            .admit(ip("198.18.0.2"), CancellationToken::new(), now, clean)
            .is_ok());
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        assert_eq!(
            SourceKey::of(ip("2001:db8::1")),
            SourceKey::of(ip("2001:db8::ffff:1"))
        );
        assert_ne!(
            SourceKey::of(ip("2001:db8::1")),
            SourceKey::of(ip("2001:db8:0:1::1"))
        );
        assert_eq!(
            SourceKey::of(ip("::ffff:198.18.0.1")),
            SourceKey::of(ip("198.18.0.1"))
        );
    }

    #[test]
    fn tickets_free_their_slot() {
        let s = Startups::new("1".parse().unwrap(), 0);
        let now = Instant::now();
        let t = s
            .admit(ip("198.18.0.1"), CancellationToken::new(), now, clean)
            .unwrap();
        assert_eq!(s.count(), 1);
        drop(t);
        assert_eq!(s.count(), 0);
        assert!(s
            .admit(ip("198.18.0.1"), CancellationToken::new(), now, clean)
            .is_ok());
    }

    #[test]
    fn at_full_the_heaviest_source_gives_way_to_a_newcomer() {
        let s = Startups::new("4".parse().unwrap(), 0);
        let t0 = Instant::now();
        let flood = ip("198.18.0.66");
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        let _held: Vec<Ticket> = tokens
            .iter()
            .map(|t| s.admit(flood, t.clone(), t0, clean).unwrap())
            .collect();
        // The flood itself cannot grow past full.
        let later = t0 + EVICT_MIN_AGE;
        assert_eq!(
            s.admit(flood, CancellationToken::new(), later, clean).err(),
            Some(Refusal::Shed)
        );
        // A newcomer from elsewhere evicts the flood's oldest startup.
        let _legit = s
            .admit(ip("198.18.0.7"), CancellationToken::new(), later, clean)
            .unwrap();
        assert!(tokens[0].is_cancelled());
        assert!(!tokens[1].is_cancelled());
        assert_eq!(s.count(), 4);
        assert_eq!(s.evicted(), 1);
    }

    #[test]
    fn young_startups_are_not_evicted() {
        let s = Startups::new("2".parse().unwrap(), 0);
        let t0 = Instant::now();
        let a = CancellationToken::new();
        let _ta = s.admit(ip("198.18.0.1"), a.clone(), t0, clean).unwrap();
        let _tb = s
            .admit(
                ip("198.18.0.2"),
                CancellationToken::new(),
                t0 + Duration::from_millis(1),
                clean,
            )
            .unwrap();
        // Everybody holds one and all are young: the newcomer waits its turn.
        assert_eq!(
            s.admit(ip("198.18.0.3"), CancellationToken::new(), t0, clean)
                .err(),
            Some(Refusal::Shed)
        );
        // Once old, the oldest of the equally heavy sources makes room.
        let _tc = s
            .admit(
                ip("198.18.0.3"),
                CancellationToken::new(),
                t0 + EVICT_MIN_AGE,
                clean,
            )
            .unwrap();
        assert!(a.is_cancelled());
    }

    #[test]
    fn many_sources_with_one_idle_socket_each_do_not_lock_out_a_newcomer() {
        let s = Startups::new("10:30:50".parse().unwrap(), 3);
        let t0 = Instant::now();
        let mut held = Vec::new();
        for i in 0..300u32 {
            let addr = IpAddr::from([127, 1, (i / 250) as u8, (i % 250) as u8 + 1]);
            if let Ok(t) = s.admit(addr, CancellationToken::new(), t0, clean) {
                held.push(t);
            }
        }
        assert!(s.count() <= 50);
        let later = t0 + Duration::from_secs(3);
        for i in 0..20 {
            assert!(
                s.admit(
                    IpAddr::from([127, 9, 0, i + 1]),
                    CancellationToken::new(),
                    later,
                    clean
                )
                .is_ok(),
                "newcomer {i} refused"
            );
        }
    }

    #[test]
    fn a_source_holding_many_young_startups_gives_way_to_a_lone_newcomer() {
        let s = Startups::new("4".parse().unwrap(), 0);
        let t0 = Instant::now();
        let tokens: Vec<CancellationToken> = (0..4).map(|_| CancellationToken::new()).collect();
        let _held: Vec<Ticket> = tokens
            .iter()
            .map(|t| s.admit(ip("198.18.0.66"), t.clone(), t0, clean).unwrap())
            .collect();
        // A flood that keeps reconnecting is always young: its number gives it away.
        let lone = CancellationToken::new();
        let _legit = s.admit(ip("198.18.0.7"), lone.clone(), t0, clean).unwrap();
        assert!(tokens[0].is_cancelled());
        // The flood cannot push the lone newcomer out in turn.
        assert_eq!(
            s.admit(ip("198.18.0.66"), CancellationToken::new(), t0, clean)
                .err(),
            Some(Refusal::Shed)
        );
        assert!(!lone.is_cancelled());
    }

    #[test]
    fn sources_that_guess_give_way_to_one_that_does_not_whatever_their_age() {
        let s = Startups::new("3".parse().unwrap(), 0);
        let t0 = Instant::now();
        let guessers: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        let suspicion = |k: SourceKey| {
            if k == SourceKey::of(ip("198.18.9.9")) {
                0
            } else {
                5
            }
        };
        let _held: Vec<Ticket> = guessers
            .iter()
            .enumerate()
            .map(|(i, t)| {
                s.admit(
                    IpAddr::from([198, 18, 1, i as u8]),
                    t.clone(),
                    t0,
                    suspicion,
                )
                .unwrap()
            })
            .collect();
        // Young as they are, a guesser gives way to a clean newcomer...
        let clean_token = CancellationToken::new();
        let _clean = s
            .admit(ip("198.18.9.9"), clean_token.clone(), t0, suspicion)
            .unwrap();
        assert_eq!(guessers.iter().filter(|t| t.is_cancelled()).count(), 1);
        // ...and a guessing newcomer never pushes the clean one out: an old guesser goes.
        let _next = s
            .admit(
                ip("198.18.2.1"),
                CancellationToken::new(),
                t0 + EVICT_MIN_AGE,
                suspicion,
            )
            .unwrap();
        assert!(!clean_token.is_cancelled());
        assert_eq!(guessers.iter().filter(|t| t.is_cancelled()).count(), 2);
    }

    #[test]
    fn one_user_cannot_take_every_session_or_descriptor() {
        let budget = FdBudget::new(64 + 1000);
        let shares = UserShares::new(2, &budget);
        let a = shares.login("alice").unwrap();
        let _b = shares.login("alice").unwrap();
        assert!(shares.login("alice").is_none(), "max_sessions_per_user");
        assert!(shares.login("bob").is_some(), "others are not held back");
        drop(a);
        assert!(shares.login("alice").is_some());
        assert!(shares.take_fds("alice", 250));
        assert!(!shares.take_fds("alice", 1), "a quarter of the budget");
        shares.give_fds("alice", 250);
        assert!(shares.take_fds("alice", 250));
    }

    #[test]
    fn queue_budget_keeps_every_session_its_floor() {
        let budget = QueueBudget::new(1 << 20);
        let mut hog = budget.account();
        hog.set(1 << 20);
        assert!(
            !hog.may_grow(),
            "over the node's limit, a session above its floor waits"
        );
        let mut other = budget.account();
        assert!(other.may_grow(), "another session still has its floor");
        other.set(QUEUE_FLOOR);
        assert!(!other.may_grow());
        drop(hog);
        assert!(other.may_grow());
        assert_eq!(budget.used(), QUEUE_FLOOR as i64);
    }

    #[test]
    fn fd_budget_refuses_past_the_limit_and_gives_back() {
        let b = FdBudget::new(64 + 20);
        assert_eq!(b.limit(), 20);
        let a = b.take(8).unwrap();
        let c = b.take(10).unwrap();
        assert!(b.take(3).is_none());
        assert!(b.nearly_exhausted());
        drop(a);
        drop(c);
        assert_eq!(b.used(), 0);
        assert!(!b.nearly_exhausted());
        assert!(b.take(20).is_some());
    }
}
