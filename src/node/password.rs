//! Password verification on a small pool of threads that each own their argon2 memory.
//! argon2id is what sftpha writes; sha512-crypt, sha256-crypt and yescrypt are verified too,
//! so that hashes imported from an OpenSSH server's /etc/shadow keep working.
//!
//! argon2id is expensive on purpose (19 MiB and two passes by default), so it is the one thing
//! a stranger who knows a user name can make the node do. Verifications therefore run on a
//! fixed pool (about one thread per core), each thread reusing one memory area for every hash
//! it checks: memory stays at `threads x m_cost` however many guesses arrive (a thread per
//! attempt left glibc holding every freed 19 MiB area in its per-thread arenas: 7.6 GiB after
//! 300 connections). Waiting attempts are served best first: a source with fewer attempts in
//! the throttle window goes before one that keeps guessing, then first come, first served; an
//! attempt that waited past the deadline is answered "busy" without being verified, and a full
//! queue drops its worst attempt.

use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, Salt};
use argon2::{Argon2, Block};

use crate::config::users::{argon2_parameters, check_password_hash, HashScheme};
use tokio::sync::oneshot;

/// The answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    NoMatch,
    /// Not verified: the pool was too busy to get to it in time.
    Busy,
}

/// A copy of a password that is wiped when dropped.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(password: &str) -> Secret {
        Secret(password.as_bytes().to_vec())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

struct Job {
    /// Lower is served first: the source's attempts already under way or failed.
    priority: u32,
    seq: u64,
    enqueued: Instant,
    hash: Arc<str>,
    password: Secret,
    reply: oneshot::Sender<Verdict>,
}

impl PartialEq for Job {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Job {
    /// The heap's greatest is the best job: lowest priority number, then oldest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.priority, other.seq).cmp(&(self.priority, self.seq))
    }
}

struct Queue {
    jobs: BinaryHeap<Job>,
    next_seq: u64,
}

pub struct PasswordPool {
    queue: Mutex<Queue>,
    /// Hashes computed so far (attempts answered busy are not).
    verified: std::sync::atomic::AtomicU64,
    ready: Condvar,
    capacity: usize,
    deadline: Duration,
    threads: usize,
}

/// Attempts waiting at most; past it the worst waiting attempt is answered busy.
pub const QUEUE_CAPACITY: usize = 256;
/// An attempt not started within this is answered busy (well inside the login grace time).
pub const QUEUE_DEADLINE: Duration = Duration::from_secs(10);
impl PasswordPool {
    /// Starts `threads` verifier threads.
    pub fn start(threads: usize, capacity: usize, deadline: Duration) -> Arc<PasswordPool> {
        let pool = Arc::new(PasswordPool {
            queue: Mutex::new(Queue {
                jobs: BinaryHeap::new(),
                next_seq: 0,
            }),
            verified: std::sync::atomic::AtomicU64::new(0),
            ready: Condvar::new(),
            capacity,
            deadline,
            threads: threads.max(1),
        });
        for i in 0..pool.threads {
            let worker = pool.clone();
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || worker.work())
                .expect("start a password verifier thread");
        }
        pool
    }

    /// One verifier a core, at least one.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8)
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Passwords verified so far.
    pub fn verified(&self) -> u64 {
        self.verified.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Attempts waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().jobs.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifies `password` against `hash` (argon2id PHC string); `priority` orders waiting
    /// attempts (lower first).
    pub async fn verify(&self, hash: Arc<str>, password: Secret, priority: u32) -> Verdict {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.lock();
            q.next_seq += 1;
            let job = Job {
                priority,
                seq: q.next_seq,
                enqueued: Instant::now(),
                hash,
                password,
                reply: tx,
            };
            q.jobs.push(job);
            if q.jobs.len() > self.capacity {
                // Drop the worst attempt waiting: the highest priority number, newest first.
                let mut all = std::mem::take(&mut q.jobs).into_sorted_vec();
                // Sorted ascending: the worst job is first.
                let worst = all.remove(0);
                q.jobs = all.into_iter().collect();
                let _ = worst.reply.send(Verdict::Busy);
            }
        }
        self.ready.notify_one();
        rx.await.unwrap_or(Verdict::Busy)
    }

    fn work(&self) {
        let mut memory: Vec<Block> = Vec::new();
        loop {
            let job = {
                let mut q = self.lock();
                loop {
                    if let Some(job) = q.jobs.pop() {
                        break job;
                    }
                    q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            if job.reply.is_closed() {
                continue;
            }
            let verdict = if job.enqueued.elapsed() > self.deadline {
                Verdict::Busy
            } else {
                self.verified
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match check(&job.password.0, &job.hash, &mut memory) {
                    Ok(true) => Verdict::Match,
                    Ok(false) | Err(_) => Verdict::NoMatch,
                }
            };
            let _ = job.reply.send(verdict);
        }
    }
}

/// Verifies `password` against `hash` of any scheme the node knows; argon2id in `memory`.
fn check(password: &[u8], hash: &str, memory: &mut Vec<Block>) -> Result<bool, String> {
    use yescrypt::password_hash::{self, PasswordVerifier};
    let verdict = |r: password_hash::Result<()>| match r {
        Ok(()) => Ok(true),
        Err(password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(e.to_string()),
    };
    // The limits of users.toml again: a hash that reached the pool another way is no bypass.
    match check_password_hash(hash)? {
        HashScheme::Argon2id => check_argon2(password, hash, memory),
        HashScheme::Sha512Crypt | HashScheme::Sha256Crypt => {
            verdict(sha_crypt::ShaCrypt::default().verify_password(password, hash))
        }
        HashScheme::Yescrypt => {
            verdict(yescrypt::Yescrypt::default().verify_password(password, hash))
        }
    }
}

/// Verifies an argon2id hash in `memory`, grown to the largest hash seen and then reused.
fn check_argon2(password: &[u8], hash: &str, memory: &mut Vec<Block>) -> Result<bool, String> {
    let (algorithm, version, params) = argon2_parameters(hash)?;
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    let expected = parsed.hash.ok_or("no hash")?;
    let salt: Salt = parsed.salt.ok_or("no salt")?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| e.to_string())?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
        .map_err(|e| e.to_string())?;
    // `Output`'s equality is constant-time.
    let got = argon2::password_hash::Output::new(&out).map_err(|e| e.to_string())?;
    Ok(got == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::users::MAX_MEMORY_KIB;
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Params, Version};

    fn hash(password: &str) -> Arc<str> {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        // Small parameters keep the test fast; the pool does not care.
        let params = Params::new(1024, 1, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
            .into()
    }

    #[tokio::test]
    async fn verifies_with_reused_memory() {
        let pool = PasswordPool::start(2, 16, QUEUE_DEADLINE);
        let h = hash("correct horse");
        assert_eq!(
            pool.verify(h.clone(), Secret::new("correct horse"), 0)
                .await,
            Verdict::Match
        );
        assert_eq!(
            pool.verify(h.clone(), Secret::new("wrong"), 0).await,
            Verdict::NoMatch
        );
        // The same result as the argon2 crate's own verifier, for the default parameters.
        let real = argon2::Argon2::default()
            .hash_password(b"pw", &SaltString::encode_b64(b"saltsaltsalt").unwrap())
            .unwrap()
            .to_string();
        assert_eq!(
            pool.verify(real.into(), Secret::new("pw"), 0).await,
            Verdict::Match
        );
    }

    /// Known vectors: the sha-crypt specification's (Drepper, "Unix crypt using SHA-256 and
    /// SHA-512"), the yescrypt reference implementation's TESTS-OK, and a hash Debian's
    /// `mkpasswd -m yescrypt` (libxcrypt) made, as /etc/shadow holds it.
    #[tokio::test]
    async fn verifies_sha_crypt_and_yescrypt_vectors() {
        let vectors = [
            ("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
            ("Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
            ("Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
            ("pleaseletmein", "$y$j4/$LdJMENpBA/$tHlkpTQ8V/eEnTVau1uW36T97LIXlfPrEzdeV5SE5K7"),
            ("secret", "$y$j9T$WiTwPnDJuDPgkAgPCia1z0$qLudBv6lBcNA/eMq7BjoY8Gq87jCQ4af5OXYD2gs4IC"),
        ];
        let pool = PasswordPool::start(2, 16, QUEUE_DEADLINE);
        for (password, hash) in vectors {
            assert!(check_password_hash(hash).is_ok(), "{hash}");
            assert_eq!(
                pool.verify(hash.into(), Secret::new(password), 0).await,
                Verdict::Match,
                "{hash}"
            );
            assert_eq!(
                pool.verify(hash.into(), Secret::new("wrong"), 0).await,
                Verdict::NoMatch,
                "{hash}"
            );
        }
        // A malformed hash never matches, and costs beyond the limits are refused up front.
        let broken = "$y$j9T$WiTwPnDJuDPgkAgPCia1z0";
        assert!(check_password_hash(broken).is_err());
        assert_eq!(
            pool.verify(broken.into(), Secret::new("secret"), 0).await,
            Verdict::NoMatch
        );
        let costly = "$6$rounds=900000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(check_password_hash(costly)
            .unwrap_err()
            .contains("rounds=900000"));
        // N = 2^20, r = 32: 4 GiB.
        let huge = "$y$jK5$WiTwPnDJuDPgkAgPCia1z0$qLudBv6lBcNA/eMq7BjoY8Gq87jCQ4af5OXYD2gs4IC";
        assert!(
            check_password_hash(huge).unwrap_err().contains("MiB"),
            "{:?}",
            check_password_hash(huge)
        );
        assert!(
            check_password_hash("$1$md5$x").is_err(),
            "md5-crypt is not verified"
        );
    }

    #[test]
    fn better_jobs_are_served_first_and_full_queues_drop_the_worst() {
        let mk = |priority, seq| {
            let (tx, _rx) = oneshot::channel();
            Job {
                priority,
                seq,
                enqueued: Instant::now(),
                hash: "".into(),
                password: Secret::new(""),
                reply: tx,
            }
        };
        let mut heap = BinaryHeap::new();
        heap.push(mk(3, 1));
        heap.push(mk(0, 5));
        heap.push(mk(0, 2));
        heap.push(mk(3, 4));
        let order: Vec<(u32, u64)> = std::iter::from_fn(|| heap.pop())
            .map(|j| (j.priority, j.seq))
            .collect();
        assert_eq!(order, vec![(0, 2), (0, 5), (3, 1), (3, 4)]);
    }

    #[test]
    fn costly_parameters_are_refused() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(MAX_MEMORY_KIB * 2, 1, 1, None).unwrap();
        // Build the string by hand: hashing with 512 MiB would be slow.
        let text = format!(
            "$argon2id$v=19$m={},t=1,p=1${}$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            params.m_cost(),
            salt.as_str()
        );
        assert!(argon2_parameters(&text).unwrap_err().contains("m="));
        assert!(argon2_parameters(&hash("x")).is_ok());
    }
}
