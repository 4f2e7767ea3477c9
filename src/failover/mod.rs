//! `sftpha test-failover`: a real workload through the gateway, a fault on one node,
//! detection and recovery measured, every completed upload verified, the node restored.
//!
//! The run is bounded: the workload stops at `duration`, every login and file operation has
//! its own timeout ([`client::LOGIN_TIMEOUT`], [`client::OP_TIMEOUT`]), and every wait for
//! the cluster (detection, restore) has a deadline.
//!
//! A fault cannot outlive the run: the fault in force sits in a [`FaultSlot`] from the moment
//! it is injected, and whoever ends the run (the run's own restore, the command when SIGINT
//! or SIGTERM arrives, or a [`FaultGuard`] dropped on any other way out) undoes it, once.

pub mod fault;
pub mod remote;
pub mod report;
mod workload;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::keys::PrivateKey;
use sha2::{Digest, Sha256};

use crate::config::cluster::{Cluster, Gateway};
use crate::config::gateway::parse_http_url;
use crate::error::{FailoverError, LabError, Result};
use crate::lab::Lab;
use crate::ssh::remote::Access;
use crate::ssh::sftp as client;
use crate::wire::health::{self, GatewayHealth, NodeHealth};
pub use fault::{Fault, Injected, Injector, LabInjector};
use workload::{cleanup, verify, worker};

/// How long the restored node has to be healthy and in rotation again.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often detection polls the gateway.
const DETECT_POLL: Duration = Duration::from_millis(25);
/// Logins through the gateway tried while waiting for the restored node to get one.
const RESTORE_LOGINS: usize = 30;
/// How long logins are tried before the restored node is said to take none: a balancer that
/// counts sessions (leastconn) sends nothing to a node still holding the stale connections of
/// clients that left while it was cut off, until their FINs get through.
const RESTORE_LOGIN_WINDOW: Duration = Duration::from_secs(30);

enum SlotState {
    Empty,
    InForce(Box<dyn Injected>),
    /// What undoing it did, or why it failed.
    Undone(std::result::Result<String, String>),
}

/// The fault in force, shared by the run and the command that guards it.
#[derive(Clone)]
pub struct FaultSlot(Arc<Mutex<SlotState>>);

impl Default for FaultSlot {
    fn default() -> FaultSlot {
        FaultSlot(Arc::new(Mutex::new(SlotState::Empty)))
    }
}

impl FaultSlot {
    fn set(&self, injected: Box<dyn Injected>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = SlotState::InForce(injected);
    }

    /// Undoes the fault in force, once (an undo under way on another thread is waited for).
    /// `None` when no fault was injected; else what undoing it did.
    pub fn undo(&self) -> Option<std::result::Result<String, String>> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let SlotState::InForce(injected) = &*state {
            let done = injected
                .undo()
                .map_err(|e| format!("could not restore {}: {e}", injected.node()));
            *state = SlotState::Undone(done);
        }
        match &*state {
            SlotState::Undone(done) => Some(done.clone()),
            _ => None,
        }
    }

    /// A guard that undoes the fault in force when dropped (a panic, an early return).
    pub fn guard(&self) -> FaultGuard {
        FaultGuard(self.clone())
    }
}

/// Undoes the fault in force when dropped, and says so on stderr.
pub struct FaultGuard(FaultSlot);

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let in_force = matches!(
            *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()),
            SlotState::InForce(_)
        );
        if in_force {
            match self.0.undo() {
                Some(Ok(what)) => eprintln!("test-failover: restored {what}"),
                Some(Err(e)) => eprintln!("test-failover: {e}"),
                None => {}
            }
        }
    }
}

/// The cluster a run tests.
pub enum Under {
    /// A lab on 127.0.0.1 (`sftpha lab up`).
    Lab(Lab),
    /// A provisioned cluster, through its public address, with its hosts reached over SSH.
    Cluster {
        cluster: Box<Cluster>,
        access: Arc<Access>,
    },
}

/// A validated plan of one run.
pub struct Plan {
    /// Show the phases on stderr (a terminal only).
    pub progress: bool,
    pub under: Under,
    /// Where the fault is injected: the lab's processes, or the hosts over SSH.
    pub injector: Box<dyn Injector>,
    pub fault: Fault,
    pub node: Option<String>,
    pub clients: usize,
    pub duration: Duration,
    pub file_size: usize,
    pub rto: Duration,
    pub max_failed_logins: u64,
}

/// What the run saw.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Observed {
    pub detect_ms: Option<u64>,
    pub recovery_ms: Option<u64>,
    pub logins_total: u64,
    /// Logins that failed, except those in progress on the faulted node when the fault hit.
    pub failed_logins: u64,
    /// Logins that were under way when the fault hit and failed with it: no TCP balancer can
    /// move a half-done SSH handshake to another node.
    pub interrupted_logins: u64,
    pub ops_total: u64,
    pub ops_failed: u64,
    /// Operations that had started on a session when it broke (not login failures).
    pub interrupted_ops: u64,
    pub uploads_completed: u64,
    pub bytes_verified: u64,
    pub corrupt_files: u64,
    pub lost_files: u64,
    pub partial_files_visible: u64,
    /// Uploads whose client gave up waiting for the close (the node was frozen) but that the
    /// node completed when it resumed: intact, an ambiguous outcome the client retries.
    pub late_commits: u64,
    pub temporary_files_left: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub fault: Fault,
    pub node: String,
    pub objectives: serde_json::Value,
    pub observed: Observed,
    pub checks: Vec<Check>,
    pub errors: Vec<String>,
    pub elapsed_ms: u64,
}

/// A completed upload: the client saw the close succeed.
#[derive(Clone)]
struct Uploaded {
    path: String,
    sha256: [u8; 32],
    len: usize,
}

#[derive(Default)]
struct Tally {
    logins: AtomicU64,
    failed_logins: AtomicU64,
    interrupted_logins: AtomicU64,
    ops: AtomicU64,
    ops_failed: AtomicU64,
    corrupt: AtomicU64,
    /// 1 + milliseconds after the start of the run when the injection returned (0: not yet):
    /// over SSH the fault lands somewhere between its start and this.
    injected_ms: AtomicU64,
    /// Milliseconds after the start of the run of the first login that began after the
    /// fault and succeeded.
    first_login_after_fault_ms: Mutex<Option<u64>>,
    uploads: Mutex<Vec<Uploaded>>,
    errors: Mutex<Vec<String>>,
}

impl Tally {
    /// An operation that failed on an established session: its session broke under it.
    fn op_failed(&self, msg: String) {
        self.ops_failed.fetch_add(1, Relaxed);
        self.error(msg);
    }

    fn error(&self, msg: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() < 20 {
            errors.push(msg);
        }
    }
}

/// Where the storage's temporary files of the run are counted.
enum TempFiles {
    /// The user's home on this machine (a lab).
    Local(std::path::PathBuf),
    /// The user's home on a node host, listed over SSH.
    Remote {
        access: Arc<Access>,
        host: String,
        home: String,
    },
}

struct Target {
    /// Where clients connect: the gateway, the vip.
    gateway: SocketAddr,
    /// The builtin gateways' `/healthz`, by host (none for HAProxy or an external balancer,
    /// whose view of the nodes is not observable: then detection is not measured).
    gateways: Vec<(String, (SocketAddr, String))>,
    nodes: Vec<(String, SocketAddr, (SocketAddr, String))>,
    user: String,
    key: Arc<PrivateKey>,
    /// The ed25519 host key, pinned by the workload's clients.
    fingerprint: String,
    /// Every host key the nodes present (labs made before ECDSA and RSA keys: the one).
    fingerprints: Vec<String>,
    temp: TempFiles,
}

fn addr(text: &str) -> Result<SocketAddr> {
    text.parse().map_err(|_| {
        LabError::BadLabFile {
            value: text.to_owned(),
            what: "an address",
        }
        .into()
    })
}

fn url(text: &str) -> Result<(SocketAddr, String)> {
    parse_http_url(text).map_err(|_| {
        LabError::BadLabFile {
            value: text.to_owned(),
            what: "a health URL",
        }
        .into()
    })
}

/// A `/healthz` body (node or gateway) with its status code, or nothing when none came.
async fn get_health<T: serde::de::DeserializeOwned + health::Clock + Default>(
    target: &(SocketAddr, String),
) -> Option<(u16, T)> {
    let (status, body) = crate::wire::http::get(target.0, &target.1, Duration::from_secs(2))
        .await
        .ok()?;
    Some((status, serde_json::from_str(&body).unwrap_or_default()))
}

async fn node_health(target: &(SocketAddr, String)) -> Option<(u16, NodeHealth)> {
    get_health(target).await
}

async fn gateway_health(target: &(SocketAddr, String)) -> Option<(u16, GatewayHealth)> {
    get_health(target).await
}

/// The lab's addresses, user and keys, from lab.json.
fn lab_target(lab: &Lab) -> Result<Target> {
    let lab = lab.load()?;
    Ok(Target {
        gateway: addr(&lab.gateway.addr)?,
        gateways: vec![("gateway".into(), url(&lab.gateway.health_url)?)],
        nodes: lab
            .nodes
            .iter()
            .map(|n| Ok((n.name.clone(), addr(&n.addr)?, url(&n.health_url)?)))
            .collect::<Result<_>>()?,
        user: lab.user.clone(),
        key: Arc::new(crate::keys::generate::load(&lab.identity)?),
        fingerprint: lab.host_key_fingerprint.clone(),
        fingerprints: if lab.host_key_fingerprints.is_empty() {
            vec![lab.host_key_fingerprint.clone()]
        } else {
            lab.host_key_fingerprints.clone()
        },
        temp: TempFiles::Local(lab.storage.join(&lab.user)),
    })
}

/// A provisioned cluster's public address and nodes; the workload logs in as sftpha's own
/// verification login (`sftpha-probe`, on every node, jailed in `.sftpha/probe`), so no user
/// of users.toml is touched.
async fn cluster_target(cluster: &Cluster, access: &Arc<Access>) -> Result<Target> {
    let resolve = |host: &str, port: u16| {
        let text = format!("{}:{port}", crate::net::bracket(host));
        async move {
            crate::net::resolve(&text, Duration::from_secs(5))
                .await
                .map_err(|e| crate::error::Error::usage(format!("`{text}`: {e}"), None))
        }
    };
    let entry = cluster.gateway.entry().ok_or_else(|| {
        crate::error::Error::usage(
            "the cluster has no gateway address to send the workload through",
            Some("set [gateway] hosts (or the external balancer's names) in cluster.toml"),
        )
    })?;
    let port = cluster.file.gateway.port;
    let mut gateways = Vec::new();
    if let Gateway::Builtin(managed) = &cluster.gateway {
        for host in &managed.hosts {
            let health = resolve(host, cluster.file.gateway.health_port).await?;
            gateways.push((host.clone(), (health, "/healthz".to_owned())));
        }
    }
    let mut nodes = Vec::new();
    for n in cluster.node_addrs() {
        let sftp = resolve(&n.host, n.port).await?;
        let health = resolve(&n.host, n.health_port).await?;
        nodes.push((n.name, sftp, (health, "/healthz".to_owned())));
    }
    let secrets = crate::keys::secrets::Secrets::load_or_create(cluster, false)?;
    let storage = cluster
        .file
        .storage
        .path
        .join(crate::config::users::PROBE_HOME);
    Ok(Target {
        gateway: resolve(&entry, port).await?,
        gateways,
        nodes,
        user: crate::config::users::PROBE_USER.to_owned(),
        key: secrets.probe_key.clone(),
        fingerprint: secrets.fingerprint(),
        fingerprints: secrets.presented(),
        temp: TempFiles::Remote {
            access: access.clone(),
            host: cluster.file.nodes[0].host.clone(),
            home: storage.display().to_string(),
        },
    })
}

/// Runs the whole test; errors are returned only for what prevents running it at all. The
/// command has checked the plan against lab.json or cluster.toml (node, fault, node count).
pub async fn run(plan: Plan, slot: FaultSlot) -> Result<Outcome> {
    let started = Instant::now();
    let target = match &plan.under {
        Under::Lab(lab) => lab_target(lab)?,
        Under::Cluster { cluster, access } => cluster_target(cluster, access).await?,
    };
    let mut checks = Vec::new();
    let mut observed = Observed::default();
    let phase = Phase::new(plan.progress);

    // 1. Preflight.
    phase.say("preflight: every node healthy, the gateway up, the host keys as pinned");
    let preflight = preflight(&target).await;
    let preflight_ok = preflight.iter().all(|c| c.ok);
    checks.extend(preflight);
    if !preflight_ok {
        return Ok(finish(
            plan.fault,
            plan.node.clone().unwrap_or_else(|| "-".into()),
            &plan,
            observed,
            checks,
            Vec::new(),
            started,
        ));
    }

    // 2. The workload, with the fault a third of the way in.
    let run_dir = format!("/failover-{}", std::process::id());
    let setup = client::login(
        target.gateway,
        &target.user,
        target.key.clone(),
        &target.fingerprint,
    )
    .await
    .map_err(|e| FailoverError::SetupLogin(Box::new(e)))?;
    for i in 0..plan.clients {
        setup
            .mkdir_all(&format!("{run_dir}/c{i}"))
            .await
            .map_err(|e| FailoverError::SetupFolders(e.to_string()))?;
    }
    setup.close().await;

    let tally = Arc::new(Tally::default());
    let fault_at_ms = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let run_start = Instant::now();
    let target = Arc::new(target);
    let ticker = phase.workload(tally.clone(), run_start, plan.duration, fault_at_ms.clone());
    let mut workers = Vec::new();
    for i in 0..plan.clients {
        workers.push(tokio::spawn(worker(
            i,
            target.clone(),
            run_dir.clone(),
            plan.file_size,
            tally.clone(),
            fault_at_ms.clone(),
            stop.clone(),
            run_start,
        )));
    }
    tokio::time::sleep(plan.duration / 3).await;
    // The vip holder before the fault: a gateway fault's default target, and what detection
    // watches move.
    let holder_before = vip_holders(&plan.under).await;
    let node = match &plan.node {
        Some(n) => n.clone(),
        None if plan.fault.on_gateway() => holder_before
            .as_ref()
            .and_then(|h| h.first().cloned())
            .or_else(|| first_gateway(&plan.under))
            .unwrap_or_default(),
        None => busiest(&target).await,
    };
    let node_index = target.nodes.iter().position(|(n, ..)| *n == node);
    let fault_instant = Instant::now();
    fault_at_ms.store(run_start.elapsed().as_millis() as u64, Relaxed);
    // A run dropped during this await (SIGINT) leaves no fault behind on a cluster: the host's
    // dead-man timer, started before the fault, undoes it; a lab's injection never awaits.
    let injected = plan.injector.inject(&node, plan.fault).await;
    tally
        .injected_ms
        .store(run_start.elapsed().as_millis() as u64 + 1, Relaxed);
    let detail = match &injected {
        Ok(injected) => format!("{} on {node} ({})", plan.fault.name(), injected.what()),
        Err(e) => e.to_string(),
    };
    // In the slot before the next await, so no way out of the run leaves it in force.
    let ok = injected.is_ok();
    if let Ok(injected) = injected {
        slot.set(injected);
    }
    checks.push(Check {
        name: "fault.injected".into(),
        ok,
        detail,
    });
    // 3. Detection: every gateway has taken the node out of rotation (not measured when
    // the gateways' view is not observable); for a gateway fault, the vip has moved to
    // another gateway (not measured without a vip), or, for a killed builtin gateway, the
    // faulted gateway serves again from its held sockets (its supervisor restarted it).
    let detect_deadline = run_start + plan.duration;
    let own_health = target.gateways.iter().find(|(host, _)| *host == node);
    while plan.fault.on_gateway() && Instant::now() < detect_deadline {
        if let (Fault::GatewayKill, Some((_, health))) = (plan.fault, own_health) {
            if matches!(gateway_health(health).await, Some((200, _))) {
                observed.detect_ms = Some(fault_instant.elapsed().as_millis() as u64);
                checks.push(Check {
                    name: "gateway.recovered".into(),
                    ok: true,
                    detail: format!(
                        "the gateway on {node} serves again after {} ms (restarted on its held sockets; the vip stayed)",
                        fault_instant.elapsed().as_millis()
                    ),
                });
                break;
            }
        }
        if holder_before.is_some() {
            // Only the other gateways are asked: the faulted host may not answer at all.
            let now = vip_holders_except(&plan.under, &node)
                .await
                .unwrap_or_default();
            if !now.is_empty() {
                observed.detect_ms = Some(fault_instant.elapsed().as_millis() as u64);
                checks.push(Check {
                    name: "gateway.recovered".into(),
                    ok: true,
                    detail: format!(
                        "the vip moved to {} after {} ms",
                        now.join(", "),
                        fault_instant.elapsed().as_millis()
                    ),
                });
                break;
            }
        } else if own_health.is_none() || plan.fault != Fault::GatewayKill {
            break;
        }
        tokio::time::sleep(DETECT_POLL).await;
    }
    while !plan.fault.on_gateway()
        && !target.gateways.is_empty()
        && Instant::now() < detect_deadline
    {
        let mut all_out = true;
        for (_, health) in &target.gateways {
            let state = gateway_health(health)
                .await
                .and_then(|(_, status)| status.backend(&node).map(|b| b.state.clone()));
            if state.is_none_or(|s| s == "up") {
                all_out = false;
                break;
            }
        }
        if all_out {
            observed.detect_ms = Some(fault_instant.elapsed().as_millis() as u64);
            break;
        }
        tokio::time::sleep(DETECT_POLL).await;
    }
    let remaining = plan.duration.saturating_sub(run_start.elapsed());
    tokio::time::sleep(remaining).await;
    stop.store(true, Relaxed);
    for w in workers {
        let _ = w.await;
    }
    if let Some(t) = ticker {
        t.abort();
    }
    let fault_ms = fault_at_ms.load(Relaxed);
    observed.recovery_ms = tally
        .first_login_after_fault_ms
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(|ms| ms.saturating_sub(fault_ms));

    // 4. Restore the node and see it take sessions again.
    phase.say(&format!(
        "restoring {node} and waiting for it to take sessions"
    ));
    checks.push(match node_index {
        Some(index) => restore(&slot, &target, &node, index).await,
        None => restore_gateway(&slot, &plan.under, &node).await,
    });

    // 5. Verify every completed upload through nodes other than the one that wrote it.
    let uploads = tally
        .uploads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    observed.uploads_completed = uploads.len() as u64;
    phase.say(&format!(
        "verifying {} uploads through other nodes",
        uploads.len()
    ));
    verify(
        &target,
        &run_dir,
        plan.clients,
        plan.file_size,
        &uploads,
        &mut observed,
        &tally,
    )
    .await;
    cleanup(&target, &run_dir).await;
    phase.done();

    observed.logins_total = tally.logins.load(Relaxed);
    observed.failed_logins = tally.failed_logins.load(Relaxed);
    observed.interrupted_logins = tally.interrupted_logins.load(Relaxed);
    observed.ops_total = tally.ops.load(Relaxed);
    observed.ops_failed = tally.ops_failed.load(Relaxed);
    // Every failed operation had started on a session that broke under it.
    observed.interrupted_ops = observed.ops_failed;
    observed.corrupt_files += tally.corrupt.load(Relaxed);
    let errors = tally
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(finish(
        plan.fault, node, &plan, observed, checks, errors, started,
    ))
}

/// `9 ms` below a second, `1.2 s`, `2 min 30 s` above.
fn short_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        crate::text::human_duration(d.as_secs_f64())
    }
}

fn finish(
    fault: Fault,
    node: String,
    plan: &Plan,
    observed: Observed,
    mut checks: Vec<Check>,
    errors: Vec<String>,
    started: Instant,
) -> Outcome {
    let ran = checks.iter().any(|c| c.name == "fault.injected");
    if ran {
        let rto_ms = plan.rto.as_millis() as u64;
        checks.push(Check {
            name: "rto".into(),
            ok: observed.recovery_ms.is_some_and(|r| r <= rto_ms),
            detail: match observed.recovery_ms {
                Some(r) => {
                    format!(
                        "first good login {} after the fault (objective {})",
                        short_duration(Duration::from_millis(r)),
                        short_duration(plan.rto)
                    )
                }
                None => "no login succeeded after the fault".into(),
            },
        });
        checks.push(Check {
            name: "failed_logins".into(),
            ok: observed.failed_logins <= plan.max_failed_logins,
            detail: format!(
                "{} of {} logins failed (allowed {}); {} were under way on the node when the fault hit",
                observed.failed_logins, observed.logins_total, plan.max_failed_logins, observed.interrupted_logins
            ),
        });
        checks.push(Check {
            name: "rpo".into(),
            ok: observed.lost_files == 0,
            detail: format!(
                "{} of {} completed uploads missing",
                observed.lost_files, observed.uploads_completed
            ),
        });
        checks.push(Check {
            name: "integrity".into(),
            ok: observed.corrupt_files == 0,
            detail: format!(
                "{} corrupt files, {} verified",
                observed.corrupt_files,
                crate::text::human_bytes(observed.bytes_verified)
            ),
        });
        checks.push(Check {
            name: "no_partial_files".into(),
            ok: observed.partial_files_visible == 0 && observed.temporary_files_left == 0,
            detail: format!(
                "{} partial files visible, {} temporary files left on storage ({} uploads completed by the node after their client gave up, intact)",
                observed.partial_files_visible, observed.temporary_files_left, observed.late_commits
            ),
        });
        if fault == Fault::Drain {
            checks.push(Check {
                name: "drain_no_interrupted".into(),
                ok: observed.interrupted_ops == 0,
                detail: format!(
                    "{} operations interrupted by the drain",
                    observed.interrupted_ops
                ),
            });
        }
    }
    Outcome {
        ok: checks.iter().all(|c| c.ok),
        fault,
        node,
        objectives: serde_json::json!({
            "rto_seconds": plan.rto.as_secs_f64(),
            "rpo_seconds": 0,
            "max_failed_logins": plan.max_failed_logins,
        }),
        observed,
        checks,
        errors,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

async fn preflight(target: &Target) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut unhealthy = Vec::new();
    for (name, _, health) in &target.nodes {
        match node_health(health).await {
            Some((200, _)) => {}
            Some((status, body)) => {
                unhealthy.push(format!("{name}: HTTP {status} {:?}", body.status))
            }
            None => unhealthy.push(format!("{name}: no answer")),
        }
    }
    checks.push(Check {
        name: "preflight.nodes_healthy".into(),
        ok: unhealthy.is_empty(),
        detail: if unhealthy.is_empty() {
            format!("{} nodes healthy", target.nodes.len())
        } else {
            unhealthy.join("; ")
        },
    });
    let mut seen = Vec::new();
    let mut ok = true;
    for (name, health) in &target.gateways {
        let gw = gateway_health(health).await;
        let up = gw.as_ref().map(|(_, v)| v.up()).unwrap_or(0);
        ok &= matches!(gw, Some((200, _))) && up == target.nodes.len();
        seen.push(match &gw {
            Some((status, _)) => format!(
                "{name}: HTTP {status}, {up} of {} backends up",
                target.nodes.len()
            ),
            None => format!("{name}: no answer"),
        });
    }
    if target.gateways.is_empty() {
        seen.push(format!(
            "the balancer's view of the nodes is not observable (not the builtin gateway); {} is checked by the host-key scan below",
            target.gateway
        ));
    }
    checks.push(Check {
        name: "preflight.gateway_reachable".into(),
        ok,
        detail: seen.join("; "),
    });
    // The whole set of host keys (one handshake per type), as a client of any type sees it.
    let mut expected = target.fingerprints.clone();
    expected.sort();
    let mut differing = Vec::new();
    for (name, addr) in target
        .nodes
        .iter()
        .map(|(n, a, _)| (n.as_str(), *a))
        .chain([("gateway", target.gateway)])
    {
        match crate::ssh::keyscan::scan(addr, false).await {
            Ok(seen) => {
                let mut seen = seen.fingerprints();
                seen.sort();
                if seen != expected {
                    differing.push(format!("{name} presents {}", seen.join(", ")));
                }
            }
            Err(e) => differing.push(format!("{name}: {e}")),
        }
    }
    checks.push(Check {
        name: "preflight.same_host_key".into(),
        ok: differing.is_empty(),
        detail: if differing.is_empty() {
            format!(
                "every node and the gateway present {}",
                target.fingerprints.join(", ")
            )
        } else {
            format!(
                "expected {}; {}",
                target.fingerprints.join(", "),
                differing.join("; ")
            )
        },
    });
    checks
}

/// Who holds the cluster's vip now (gateway hosts); `None` without a vip or on a lab.
async fn vip_holders(under: &Under) -> Option<Vec<String>> {
    vip_holders_except(under, "").await
}

/// [`vip_holders`] among the gateway hosts but `skip`.
async fn vip_holders_except(under: &Under, skip: &str) -> Option<Vec<String>> {
    let Under::Cluster { cluster, access } = under else {
        return None;
    };
    let (managed, vip) = (cluster.gateway.managed()?, cluster.gateway.vip()?);
    let hosts: Vec<String> = managed
        .hosts
        .iter()
        .filter(|h| *h != skip)
        .cloned()
        .collect();
    let seen = crate::provision::status::VipStatus::observe(access, &hosts, vip).await;
    Some(seen.holders)
}

fn first_gateway(under: &Under) -> Option<String> {
    match under {
        Under::Cluster { cluster, .. } => cluster.gateway.hosts().first().cloned(),
        Under::Lab(_) => None,
    }
}

/// Undoes a gateway fault and waits until that host's gateway takes connections again.
async fn restore_gateway(slot: &FaultSlot, under: &Under, host: &str) -> Check {
    let action = match undo_in_force(slot).await {
        Ok(action) => action,
        Err(failed) => return failed,
    };
    let port = match under {
        Under::Cluster { cluster, .. } => cluster.file.gateway.port,
        Under::Lab(_) => 0,
    };
    let addr = format!("{}:{port}", crate::net::bracket(host));
    let deadline = Instant::now() + RESTORE_TIMEOUT;
    while Instant::now() < deadline {
        let connected = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(&addr),
        )
        .await;
        if matches!(connected, Ok(Ok(_))) {
            return Check {
                name: "restore".into(),
                ok: true,
                detail: format!("{action}: {addr} takes connections again"),
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Check {
        name: "restore".into(),
        ok: false,
        detail: format!(
            "{action}, but {addr} takes no connection within {}s",
            RESTORE_TIMEOUT.as_secs()
        ),
    }
}

/// The node with the most sessions now (first in order when tied).
async fn busiest(target: &Target) -> String {
    let mut best = (target.nodes[0].0.clone(), -1i64);
    for (name, _, health) in &target.nodes {
        let sessions = node_health(health)
            .await
            .map(|(_, v)| v.sessions)
            .unwrap_or(0);
        if sessions > best.1 {
            best = (name.clone(), sessions);
        }
    }
    best.0
}

/// Undoes the fault in force off the runtime's threads (the undo blocks): what it did, or
/// the failed `restore` check.
async fn undo_in_force(slot: &FaultSlot) -> std::result::Result<String, Check> {
    let undo = {
        let slot = slot.clone();
        tokio::task::spawn_blocking(move || slot.undo())
    };
    let action = match undo.await {
        Ok(Some(done)) => done.map_err(FailoverError::Restore),
        Ok(None) => Err(FailoverError::NoFault),
        Err(e) => Err(FailoverError::Restore(e.to_string())),
    };
    action.map_err(|e| Check {
        name: "restore".into(),
        ok: false,
        detail: e.to_string(),
    })
}

async fn restore(slot: &FaultSlot, target: &Target, node: &str, index: usize) -> Check {
    let action = match undo_in_force(slot).await {
        Ok(action) => action,
        Err(failed) => return failed,
    };
    let health = &target.nodes[index].2;
    let deadline = Instant::now() + RESTORE_TIMEOUT;
    let mut in_rotation = false;
    while Instant::now() < deadline {
        let node_ok = matches!(node_health(health).await, Some((200, _)));
        let mut gw_up = true;
        for (_, gateway) in &target.gateways {
            gw_up &= gateway_health(gateway)
                .await
                .and_then(|(_, v)| v.backend(node).map(|b| b.state == "up"))
                .unwrap_or(false);
        }
        if node_ok && gw_up {
            in_rotation = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !in_rotation {
        return Check {
            name: "restore".into(),
            ok: false,
            detail: format!(
                "{action}, but not healthy and in rotation within {}s",
                RESTORE_TIMEOUT.as_secs()
            ),
        };
    }
    // It takes sessions again: logins through the gateway until one lands there.
    let login_deadline = Instant::now() + RESTORE_LOGIN_WINDOW;
    let mut attempts = 0;
    while attempts < RESTORE_LOGINS || Instant::now() < login_deadline {
        attempts += 1;
        if attempts > RESTORE_LOGINS {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // While this session is open, the node counts it if the gateway sent it there.
        let session = client::login(
            target.gateway,
            &target.user,
            target.key.clone(),
            &target.fingerprint,
        )
        .await;
        let landed = node_health(health)
            .await
            .map(|(_, v)| v.sessions)
            .unwrap_or(0)
            > 0;
        if let Ok(s) = session {
            s.close().await;
        }
        if landed {
            return Check {
                name: "restore".into(),
                ok: true,
                detail: format!("{action}: healthy, in rotation and taking sessions"),
            };
        }
    }
    Check { name: "restore".into(), ok: false, detail: format!("{action} and healthy, but {attempts} logins through the gateway in {}s never reached it", RESTORE_LOGIN_WINDOW.as_secs()) }
}

/// The run's phases on stderr, as a spinner with a line that changes (a terminal only).
struct Phase(indicatif::ProgressBar);

impl Phase {
    fn new(enabled: bool) -> Phase {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Phase(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} test-failover: {wide_msg}")
                .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Phase(bar)
    }

    fn say(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }

    /// During the workload: elapsed of total, logins, uploads and failures, live; whether
    /// the fault is in.
    fn workload(
        &self,
        tally: Arc<Tally>,
        start: Instant,
        total: Duration,
        fault_at_ms: Arc<AtomicU64>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.0.is_hidden() {
            return None;
        }
        let bar = self.0.clone();
        Some(tokio::spawn(async move {
            loop {
                let uploads = tally.uploads.lock().map(|u| u.len()).unwrap_or(0);
                let fault = match fault_at_ms.load(Relaxed) {
                    u64::MAX => "fault at 1/3".to_owned(),
                    ms => format!("fault in since {:.1} s", ms as f64 / 1000.0),
                };
                bar.set_message(format!(
                    "workload {:.0}/{:.0} s, {fault}: {} logins ({} failed), {uploads} uploads, {} failed operations",
                    start.elapsed().as_secs_f64().min(total.as_secs_f64()),
                    total.as_secs_f64(),
                    tally.logins.load(Relaxed),
                    tally.failed_logins.load(Relaxed),
                    tally.ops_failed.load(Relaxed),
                ));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }))
    }

    fn done(&self) {
        self.0.finish_and_clear();
    }
}
