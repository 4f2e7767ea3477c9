//! Entry points for coverage-guided fuzzing (the `fuzz/` crate, run by `scripts/fuzz`) and
//! for the regression cases it found (`tests/fuzz_regressions/`, replayed by `cargo test`):
//! whatever bytes a client sends, the node answers without panicking.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::limits::{FdBudget, Startups};
use super::sftp::{codec, ops};
use super::{
    audit, jail, metrics, password, ssh, storage, throttle, Identity, SessionContext, Shared,
};
use crate::config::node::Node;
use crate::config::users::{User, Users};

/// The PROXY protocol header parsers (v1 text and v2 binary).
pub fn proxy_header(data: &[u8]) {
    let _ = crate::wire::proxy::parse_v1(data);
    if data.len() >= 16 {
        let mut head = [0u8; 16];
        head.copy_from_slice(&data[..16]);
        let _ = crate::wire::proxy::parse_v2(&head, &data[16..]);
    }
}

/// users.toml and node.toml as the node reads them.
pub fn config_files(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Users::parse(std::path::Path::new("users.toml"), text);
        let _ = Node::parse(std::path::Path::new("/fuzz/node.toml"), text);
    }
}

/// Packets a fuzzer sends in one input, at most (the rest is ignored).
const MAX_PACKETS: usize = 64;
/// Inputs between two wipes of the fuzzing home.
const WIPE_EVERY: u64 = 512;

struct Fixture {
    shared: Arc<Shared>,
    storage: PathBuf,
    runs: AtomicU64,
    lock: Mutex<()>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sftpha-fuzz-{}", std::process::id()));
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).expect("fuzzing storage");
        let text = format!(
            "name = \"fuzz\"\nlisten = \"127.0.0.1:0\"\nhealth_listen = \"127.0.0.1:0\"\nstorage = \"{}\"\nhost_keys = [\"unused\"]\nusers = \"unused\"\nmax_handles = 64\n",
            storage.display()
        );
        let config = Node::parse(&dir.join("node.toml"), &text).expect("fuzzing node.toml");
        let key = crate::keys::generate::random_ed25519("fuzz").expect("a key");
        let identity = Identity {
            fingerprints: vec![super::fingerprint_of(&key)],
            ssh: Arc::new(super::ssh_config(&config, vec![key])),
            certificates: Vec::new(),
            probe: None,
            config_checksum: config.checksum.clone(),
        };
        let metrics = Arc::new(metrics::Metrics::default());
        let fds = FdBudget::new(1 << 16);
        let shared = Arc::new(Shared {
            users: RwLock::new(Arc::new(Users::default())),
            audit: audit::Audit::start(None, "fuzz", metrics.clone()).expect("no audit log"),
            metrics,
            throttle: throttle::Throttle::new(10, Duration::from_secs(60), Duration::from_secs(60)),
            startups: Startups::new(config.file.max_startups, 0),
            user_shares: super::limits::UserShares::new(0, &fds),
            fds,
            passwords: password::PasswordPool::start(1, 4, Duration::from_secs(1)),
            queues: super::limits::QueueBudget::new(64 << 20),
            draining: tokio_util::sync::CancellationToken::new(),
            journal: Arc::new(super::journal::Journal::new(&storage, "fuzz")),
            storage: storage::Storage::open(&storage, None).expect("fuzzing storage"),
            identity: RwLock::new(Arc::new(identity)),
            next_id: AtomicU64::new(1),
            upload_counter: AtomicU64::new(0),
            started: Instant::now(),
            refusals_logged: Mutex::new((Instant::now(), 0)),
            config,
        });
        Fixture {
            shared,
            storage,
            runs: AtomicU64::new(0),
            lock: Mutex::new(()),
        }
    })
}

/// One SFTP session fed `data` as the bytes of its channel (after an INIT the harness sends
/// first): every packet is framed and answered against a real jail on a real folder.
pub fn sftp_session(data: &[u8]) {
    let fx = fixture();
    let _one_at_a_time = fx.lock.lock().unwrap_or_else(|e| e.into_inner());
    let run = fx.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let home = fx.storage.join("user");
    if run.is_multiple_of(WIPE_EVERY) {
        let _ = std::fs::remove_dir_all(&home);
    }
    let user = Arc::new(User {
        name: "fuzz".into(),
        keys: Vec::new(),
        key_sources: Vec::new(),
        password_hash: None,
        home: PathBuf::from("user"),
        permissions: crate::config::users::Permissions::all(),
    });
    let jail = jail::Jail::open(&fx.shared.storage, &user.home).expect("the fuzzing home");
    let fds = fx.shared.fds.take(4).expect("budget");
    let ticket = fx
        .shared
        .startups
        .admit(
            "127.0.0.1".parse().expect("an address"),
            tokio_util::sync::CancellationToken::new(),
            Instant::now(),
            |_| 0,
        )
        .expect("a startup slot");
    let ctx = Arc::new(SessionContext {
        shared: fx.shared.clone(),
        user,
        client: "127.0.0.1:1".parse().expect("an address"),
        id: run,
        conn: Arc::new(ssh::ConnState::new(ticket, fds)),
    });
    let mut session = ops::Session::new(ctx, jail);
    let _ = session.handle(Bytes::from_static(&[codec::SSH_FXP_INIT, 0, 0, 0, 3]));
    let mut framer = codec::Framer::default();
    if framer.push(Bytes::copy_from_slice(data)).is_err() {
        return;
    }
    let mut answered = 0;
    while let Some(packet) = framer.next_packet() {
        let _ = session.handle(packet);
        answered += 1;
        if answered == MAX_PACKETS {
            break;
        }
    }
}
