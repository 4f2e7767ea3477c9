//! `sftpha provision` and `sftpha status`: every host made (or checked to be) exactly what
//! cluster.toml, users.toml and the templates say.
//!
//! Plan first: connect to every host at once and read what is there (one command per host:
//! checksums, modes, owners, service state). Then apply, hosts in parallel: write what
//! differs, start what is stopped, reload what only needs a reload; restarts of nodes that
//! are serving run one node at a time, each healthy again before the next, so the cluster
//! keeps serving. Then verify from the outside, as a client would: every node healthy with
//! the expected config, users and host key; the storage really shared (a file written
//! through one node read back through every other, over SFTP); a login through every
//! gateway.

pub mod desired;
pub mod host;
pub mod installed;
pub mod push;
pub mod rotate;
pub mod status;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::cluster::{Cluster, NodeAddr};
use crate::error::{Error, Result};
use crate::net::bracket;
use crate::ssh::remote::{Access, Remote};
use crate::ssh::sftp::ClientError;
use crate::wire::health::{self, GatewayHealth, NodeHealth};
use desired::{HostSpec, Item, Secrets, Service};
use host::{FileAction, FileChange, HostPlan, ServiceAction, ServiceChange};

/// What a run touches: everything (`provision`), or only some files of the node hosts and
/// only the node service (`users`, `keys rotate`, `upgrade`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Everything,
    Nodes(&'static [Item]),
}

impl Scope {
    /// users.toml (`users`, `keys rotate user`).
    pub const USERS: Scope = Scope::Nodes(&[Item::UsersToml]);
    /// The binary (`upgrade`).
    pub const BINARY: Scope = Scope::Nodes(&[Item::Binary]);
    /// node.toml and the host keys (`keys rotate host`).
    pub const HOST_KEYS: Scope = Scope::Nodes(&[Item::NodeToml, Item::HostKey]);
}

/// How long a node may take to answer /healthz with the expected state after a (re)start.
const HEALTHY_WITHIN: Duration = Duration::from_secs(20);

pub struct Options {
    /// Node names, gateway names (`gw1`) or host addresses; empty: every host.
    pub only: Vec<String>,
    pub dry_run: bool,
    pub accept_new_host_keys: bool,
    pub node_binary: Option<PathBuf>,
    /// Show a progress line per host on stderr.
    pub progress: bool,
    pub scope: Scope,
    /// One host at a time, each healthy before the next; the first failure stops the rest.
    pub rolling: bool,
    /// Make the cluster's missing keys beside cluster.toml (`provision`, `keys rotate host`);
    /// users commands and `upgrade` push what exists and make nothing.
    pub create_keys: bool,
    /// Public key logins to check on every node once it is healthy (RFC 4252 query: no
    /// private key needed, nobody logs in).
    pub key_checks: Vec<KeyCheck>,
    /// Homes (relative to the storage) to create on the shared storage, owned by the service
    /// user, mode 0750; existing ones are left as they are.
    pub homes: Vec<String>,
}

/// "Node N accepts (or refuses) this key for this user."
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub user: String,
    pub key: russh::keys::PublicKey,
    pub accepted: bool,
}

impl Options {
    /// Every host, every item, hosts in parallel.
    pub fn everything() -> Options {
        Options {
            only: Vec::new(),
            dry_run: false,
            accept_new_host_keys: false,
            node_binary: None,
            progress: false,
            scope: Scope::Everything,
            rolling: false,
            create_keys: true,
            key_checks: Vec::new(),
            homes: Vec::new(),
        }
    }
}

/// Narrows specs to `items` on node hosts and to the node service.
fn narrow(specs: Vec<HostSpec>, items: &[Item]) -> Vec<HostSpec> {
    specs
        .into_iter()
        .filter(|s| s.node.is_some())
        .map(|mut s| {
            s.files.retain(|f| items.contains(&f.kind));
            for f in &mut s.files {
                f.affects.retain(|(service, _)| *service == Service::Node);
            }
            s.services.retain(|service| *service == Service::Node);
            s
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Dry run: what would happen.
    Planned,
    Unchanged,
    Changed,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub roles: Vec<String>,
    /// Every managed file and what was (or would be) done to it.
    pub files: Vec<FileChange>,
    pub services: Vec<ServiceChange>,
    pub result: Outcome,
    pub error: Option<String>,
    /// The host failed because it could not be reached or logged into over SSH (exit 3 when
    /// every failure is of this kind).
    pub unreachable: bool,
    pub elapsed_ms: u64,
}

impl HostReport {
    /// The changed items, for the table: `node.toml (change), node (restart)`.
    pub fn changed_items(&self) -> Vec<String> {
        let files = self
            .files
            .iter()
            .filter(|f| f.action != FileAction::Unchanged)
            .map(|f| format!("{} ({})", f.item, action_name(f.action)));
        let services = self
            .services
            .iter()
            .filter(|s| s.action != ServiceAction::Unchanged)
            .map(|s| format!("{} ({})", s.service.name(), service_action_name(s.action)));
        files.chain(services).collect()
    }
}

pub fn action_name(a: FileAction) -> &'static str {
    match a {
        FileAction::Create => "create",
        FileAction::Change => "change",
        FileAction::Mode => "mode",
        FileAction::Remove => "remove",
        FileAction::Unchanged => "unchanged",
    }
}

pub fn service_action_name(a: ServiceAction) -> &'static str {
    match a {
        ServiceAction::Start => "start",
        ServiceAction::Restart => "restart",
        ServiceAction::Reload => "reload",
        ServiceAction::Unchanged => "unchanged",
    }
}

/// One verification, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// Failed only because no node was reachable to run it on.
    #[serde(skip)]
    pub blocked: bool,
}

impl Report {
    /// 0 when all went well; 3 when every failure is a host that could not be reached or
    /// logged into over SSH; 4 when anything else failed (hosts may also be unreachable).
    pub fn exit_code(&self) -> u8 {
        use crate::error::exit;
        if self.ok {
            exit::OK
        } else if self.only_unreachable() {
            exit::UNREACHABLE
        } else {
            exit::PROVISION_FAILED
        }
    }

    /// Every failure is a host that could not be reached or logged into (or a check left
    /// with no node to run on): what exit code 3 means.
    pub fn only_unreachable(&self) -> bool {
        let failed: Vec<&HostReport> = self
            .hosts
            .iter()
            .filter(|h| h.result == Outcome::Failed)
            .collect();
        !failed.is_empty()
            && failed.iter().all(|h| h.unreachable)
            && self.checks.iter().all(|c| c.ok || c.blocked)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub dry_run: bool,
    /// Empty in a dry run before the first real run (the key does not exist yet).
    pub host_key_fingerprint: String,
    /// Every host key the nodes hold, the presented one first (two during a rotation).
    pub host_key_fingerprints: Vec<String>,
    /// Keys this run generated beside cluster.toml (back them up).
    pub generated_keys: Vec<String>,
    /// Host keys a real run with `--accept-new-host-keys` would record in known_hosts (a
    /// dry run records nothing).
    pub would_record: Vec<String>,
    /// Host certificates this run issued or renewed.
    pub issued_certificates: Vec<String>,
    pub hosts: Vec<HostReport>,
    pub checks: Vec<Check>,
    pub ok: bool,
    pub elapsed_ms: u64,
}

fn load_binary(path: Option<&PathBuf>) -> Result<Arc<Vec<u8>>> {
    let path = match path {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let bytes = std::fs::read(&path).map_err(|source| Error::ReadFile {
        path: path.clone(),
        source,
    })?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(Error::usage(
            format!("`{}` is not an executable (ELF) file", path.display()),
            Some("--node-binary takes a Linux build of sftpha"),
        ));
    }
    Ok(Arc::new(bytes))
}

/// Checks that every `--only` name is a node, gateway (`gw1`) or host of the cluster.
fn check_only(cluster: &Cluster, only: &[String]) -> Result<()> {
    let c = &cluster.file;
    let gateway_names = (1..=cluster.gateway.hosts().len()).map(|i| format!("gw{i}"));
    let known: Vec<String> = c
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .chain(gateway_names)
        .collect();
    let hosts = c
        .nodes
        .iter()
        .map(|n| &n.host)
        .chain(cluster.gateway.hosts());
    let hosts: Vec<&String> = hosts.collect();
    match only
        .iter()
        .find(|name| !known.contains(name) && !hosts.contains(name))
    {
        Some(name) => Err(Error::usage(
            format!("--only: `{name}` is not a node, gateway or host of the cluster"),
            Some(&format!("known: {}", known.join(", "))),
        )),
        None => Ok(()),
    }
}

/// Keeps the specs `only` names (all when empty).
fn select(specs: Vec<HostSpec>, only: &[String]) -> Vec<HostSpec> {
    if only.is_empty() {
        return specs;
    }
    let matches = |spec: &HostSpec, name: &str| {
        spec.host == name
            || spec.node.as_ref().is_some_and(|n| n.name == name)
            || spec.gateway.is_some_and(|i| format!("gw{}", i + 1) == name)
    };
    specs
        .into_iter()
        .filter(|s| only.iter().any(|name| matches(s, name)))
        .collect()
}

/// Progress lines on stderr, one per host (nothing when not wanted or not a terminal).
struct Progress {
    bars: Vec<indicatif::ProgressBar>,
    _multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    fn new(hosts: &[HostSpec], enabled: bool) -> Progress {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress {
                bars: hosts
                    .iter()
                    .map(|_| indicatif::ProgressBar::hidden())
                    .collect(),
                _multi: None,
            };
        }
        let multi = indicatif::MultiProgress::new();
        let width = hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
            .expect("valid template");
        let bars = hosts
            .iter()
            .map(|h| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("{:width$}", h.host));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message("connecting");
                bar
            })
            .collect();
        Progress {
            bars,
            _multi: Some(multi),
        }
    }
}

/// A host after planning: connected and read, or failed.
struct Planned {
    spec: HostSpec,
    started: Instant,
    state: std::result::Result<(Remote, HostPlan), String>,
    uid: Option<u32>,
    /// Planning failed because SSH could not reach or log into the host.
    unreachable: bool,
}

async fn plan_host(
    cluster: &Cluster,
    access: &Access,
    spec: HostSpec,
    custom_binary: bool,
    bar: &indicatif::ProgressBar,
) -> Planned {
    let started = Instant::now();
    let mut uid = None;
    let mut unreachable = false;
    let state = async {
        let remote = access.connect(&spec.host).await.map_err(|e| {
            unreachable = e.is_unreachable();
            e.to_string()
        })?;
        bar.set_message("reading what is there");
        let facts = match host::read_facts(&remote, cluster, &spec).await {
            Ok(facts) => facts,
            Err(e) => {
                remote.close().await;
                return Err(e.to_string());
            }
        };
        uid = facts.service_uid;
        let problems = host::preflight(cluster, &facts, custom_binary);
        if !problems.is_empty() {
            remote.close().await;
            return Err(problems.join("; "));
        }
        Ok((remote, host::plan(cluster, &spec, &facts)))
    }
    .await;
    Planned {
        spec,
        started,
        state,
        uid,
        unreachable,
    }
}

fn failed_report(p: &Planned, error: String) -> HostReport {
    HostReport {
        host: p.spec.host.clone(),
        roles: p.spec.roles.clone(),
        files: Vec::new(),
        services: Vec::new(),
        result: Outcome::Failed,
        error: Some(error),
        unreachable: p.unreachable,
        elapsed_ms: p.started.elapsed().as_millis() as u64,
    }
}

/// Writes the planned files and brings services up; restarts of running nodes are returned
/// for the rolling phase.
async fn apply_host(
    cluster: &Cluster,
    remote: &Remote,
    spec: &HostSpec,
    plan: &HostPlan,
    homes: &[String],
    bar: &indicatif::ProgressBar,
) -> std::result::Result<bool, String> {
    if spec.node.is_some() && !homes.is_empty() {
        bar.set_message("creating homes");
        run(
            remote,
            "creating homes on the storage",
            &host::homes_script(cluster, homes),
            None,
            None,
        )
        .await?;
    }
    if !plan.writes.is_empty() {
        bar.set_message("preparing folders");
        run(
            remote,
            "creating folders",
            &host::prepare_script(cluster),
            None,
            None,
        )
        .await?;
    }
    for &i in &plan.writes {
        let f = &spec.files[i];
        bar.set_message(format!(
            "writing {} ({})",
            f.item,
            human_bytes(f.content.len() as u64)
        ));
        // Large files get time for their size at a slow 2 MB/s, on top of the usual limit.
        let limit = Duration::from_secs(cluster.file.ssh.timeout_seconds)
            + Duration::from_secs(f.content.len() as u64 / 2_000_000);
        run(
            remote,
            &format!("writing {}", f.path.display()),
            &host::write_script(cluster, f),
            Some(&f.content),
            Some(limit),
        )
        .await?;
    }
    let units_changed = plan.units_changed(spec);
    let mut rolling = false;
    for change in &plan.services {
        if change.service == Service::Node && change.action == ServiceAction::Restart {
            rolling = true;
            continue;
        }
        if let Some(script) = host::service_script(
            cluster,
            spec,
            change.service,
            change.action,
            plan.systemd,
            units_changed,
        ) {
            bar.set_message(format!(
                "{} {}",
                service_action_name(change.action),
                change.service.name()
            ));
            run(
                remote,
                &format!(
                    "{} {}",
                    service_action_name(change.action),
                    change.service.name()
                ),
                &script,
                None,
                Some(host::stop_limit(cluster)),
            )
            .await?;
        }
    }
    Ok(rolling)
}

async fn run(
    remote: &Remote,
    what: &str,
    script: &str,
    stdin: Option<&[u8]>,
    limit: Option<Duration>,
) -> std::result::Result<(), String> {
    let out = remote
        .exec(what, script, stdin, limit)
        .await
        .map_err(|e| e.to_string())?;
    if out.status != 0 {
        return Err(format!("{what} failed: {}", out.complaint()));
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// What a node's /healthz must say once provisioned; a narrower command (users, keys,
/// upgrade) checks only what it changed, and always the host keys.
struct Expected {
    config_checksum: Option<String>,
    users_checksum: Option<String>,
    /// Every host key, in the order presented.
    fingerprints: Vec<String>,
}

fn expected_for(spec: &HostSpec, secrets: &Secrets) -> Result<Expected> {
    let file = |kind: Item| spec.files.iter().find(|f| f.kind == kind);
    let config_checksum = match file(Item::NodeToml) {
        Some(f) => Some(
            crate::config::node::Node::parse(&f.path, &String::from_utf8_lossy(&f.content))?
                .checksum,
        ),
        None => None,
    };
    Ok(Expected {
        config_checksum,
        users_checksum: file(Item::UsersToml).map(|f| f.sha256.clone()),
        fingerprints: secrets.on_disk().map(|k| k.fingerprint()).collect(),
    })
}

fn health_addr(node: &NodeAddr) -> String {
    format!("{}:{}", bracket(&node.host), node.health_port)
}

fn sftp_addr(host: &str, port: u16) -> String {
    format!("{}:{}", bracket(host), port)
}

/// A node's `/healthz`: status and body.
async fn health(addr: &str) -> std::result::Result<(u16, NodeHealth), String> {
    health::fetch_at::<NodeHealth>(addr, Duration::from_secs(3))
        .await
        .map(|a| (a.code, a.body))
}

/// A builtin gateway's `/healthz`: status and body.
async fn gateway_health(addr: &str) -> std::result::Result<(u16, GatewayHealth), String> {
    health::fetch_at::<GatewayHealth>(addr, Duration::from_secs(3))
        .await
        .map(|a| (a.code, a.body))
}

/// What is wrong with a node's health against what it must be; `None` when all is right.
fn health_problem(code: u16, body: &NodeHealth, expected: &Expected) -> Option<String> {
    if code != 200 {
        return Some(format!("/healthz is {code} ({})", body.status));
    }
    let field = |k: &str| match k {
        "config_checksum" => body.config_checksum.clone(),
        "users_checksum" => body.users_checksum.clone(),
        _ => String::new(),
    };
    if let Some(want) = expected
        .config_checksum
        .as_ref()
        .filter(|w| **w != field("config_checksum"))
    {
        return Some(format!(
            "runs config {} but node.toml renders to {}",
            short(&field("config_checksum")),
            short(want)
        ));
    }
    if let Some(want) = expected
        .users_checksum
        .as_ref()
        .filter(|w| **w != field("users_checksum"))
    {
        return Some(format!(
            "serves users {} but users.toml is {}",
            short(&field("users_checksum")),
            short(want)
        ));
    }
    let keys: Vec<&str> = body
        .host_key_fingerprints
        .iter()
        .map(String::as_str)
        .collect();
    if keys != expected.fingerprints {
        return Some(format!(
            "holds host keys {} instead of the cluster's {}",
            keys.join(", "),
            expected.fingerprints.join(", ")
        ));
    }
    None
}

pub fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

/// Waits until the node is healthy with the expected state.
async fn wait_healthy(node: &NodeAddr, expected: &Expected) -> std::result::Result<(), String> {
    let deadline = Instant::now() + HEALTHY_WITHIN;
    let addr = health_addr(node);
    loop {
        let problem = match health(&addr).await {
            Ok((code, body)) => match health_problem(code, &body, expected) {
                None => return Ok(()),
                Some(p) => p,
            },
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(format!(
                "node {} not healthy within {}s: {problem}",
                node.name,
                HEALTHY_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Runs `sftpha provision`.
pub async fn provision(cluster: &Cluster, options: &Options) -> Result<Report> {
    let started = Instant::now();
    // Everything that can be wrong locally is found before a key is generated.
    check_only(cluster, &options.only)?;
    let access = Access::new(cluster, options.accept_new_host_keys, !options.dry_run)?;
    let binary = load_binary(options.node_binary.as_ref())?;
    let renderer = crate::render::Renderer::new(cluster)?;
    let secrets = Secrets::load_or_create(cluster, options.create_keys && !options.dry_run)?;
    let mut specs = select(
        desired::desired(cluster, &renderer, &secrets, binary)?,
        &options.only,
    );
    if let Scope::Nodes(items) = options.scope {
        specs = narrow(specs, items);
    }
    // Which hosts get the binary, and which binary: recorded once they are done.
    let binary_sha = specs
        .iter()
        .flat_map(|s| &s.files)
        .find(|f| f.kind == Item::Binary)
        .map(|f| f.sha256.clone());
    let binary_hosts: Vec<String> = specs
        .iter()
        .filter(|s| s.files.iter().any(|f| f.kind == Item::Binary))
        .map(|s| s.host.clone())
        .collect();
    let progress = Progress::new(&specs, options.progress);
    let custom_binary = options.node_binary.is_some();
    let (hosts, checks) = async {
        let planned = futures::future::join_all(
            specs
                .into_iter()
                .zip(&progress.bars)
                .map(|(spec, bar)| plan_host(cluster, &access, spec, custom_binary, bar)),
        )
        .await;
        let mut checks = Vec::new();
        uid_check(cluster, &planned, &mut checks);
        if options.dry_run {
            let mut reports = Vec::new();
            for (p, bar) in planned.into_iter().zip(&progress.bars) {
                bar.finish_and_clear();
                reports.push(match p.state {
                    Ok((remote, plan)) => {
                        remote.close().await;
                        HostReport {
                            host: p.spec.host.clone(),
                            roles: p.spec.roles.clone(),
                            result: if plan.is_unchanged() {
                                Outcome::Unchanged
                            } else {
                                Outcome::Planned
                            },
                            files: plan.files,
                            services: plan.services,
                            error: None,
                            unreachable: false,
                            elapsed_ms: p.started.elapsed().as_millis() as u64,
                        }
                    }
                    Err(ref e) => failed_report(&p, e.clone()),
                });
            }
            return (reports, checks);
        }
        let uid_ok = checks.iter().all(|c| c.ok);
        let mut reports = Vec::new();
        let mut verified_nodes = Vec::new();
        if options.rolling {
            // One host at a time: write, reload or restart, healthy; stop at the first failure.
            let mut stopped: Option<String> = None;
            for (p, bar) in planned.into_iter().zip(&progress.bars) {
                let result = match &stopped {
                    Some(host) => Err(format!("not changed: stopped after {host} failed")),
                    None => apply_planned(cluster, &p, bar, uid_ok, &options.homes).await,
                };
                let report = settle(cluster, &secrets, p, result, bar, &mut verified_nodes).await;
                if report.result == Outcome::Failed && stopped.is_none() {
                    stopped = Some(report.host.clone());
                }
                reports.push(report);
            }
        } else {
            let results = futures::future::join_all(
                planned
                    .iter()
                    .zip(&progress.bars)
                    .map(|(p, bar)| apply_planned(cluster, p, bar, uid_ok, &options.homes)),
            )
            .await;
            // Rolling restarts: serving nodes one at a time, each healthy before the next.
            for ((p, result), bar) in planned.into_iter().zip(results).zip(&progress.bars) {
                reports.push(settle(cluster, &secrets, p, result, bar, &mut verified_nodes).await);
            }
        }
        verify(
            cluster,
            &secrets,
            &verified_nodes,
            &mut reports,
            &mut checks,
        )
        .await;
        check_keys(&secrets, &verified_nodes, &options.key_checks, &mut checks).await;
        (reports, checks)
    }
    .await;
    let ok = hosts.iter().all(|h| h.result != Outcome::Failed) && checks.iter().all(|c| c.ok);
    if let (Some(sha), false) = (&binary_sha, options.dry_run) {
        let done: Vec<String> = hosts
            .iter()
            .filter(|h| h.result != Outcome::Failed && binary_hosts.contains(&h.host))
            .map(|h| h.host.clone())
            .collect();
        installed::Installed::record_binary(cluster, &done, sha)?;
    }
    Ok(Report {
        cluster: cluster.file.name.clone(),
        dry_run: options.dry_run,
        host_key_fingerprint: if secrets.pending {
            String::new()
        } else {
            secrets.fingerprint()
        },
        host_key_fingerprints: secrets.on_disk().map(|k| k.fingerprint()).collect(),
        would_record: access.would_record(),
        generated_keys: secrets
            .generated
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        issued_certificates: secrets
            .issued
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        hosts,
        checks,
        ok,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Applies one planned host (nothing when planning failed or the uids differ).
async fn apply_planned(
    cluster: &Cluster,
    p: &Planned,
    bar: &indicatif::ProgressBar,
    uid_ok: bool,
    homes: &[String],
) -> std::result::Result<bool, String> {
    let result = match &p.state {
        Ok(_) if !uid_ok => Err(
            "not changed: the service user's uid differs between hosts (see the checks)".to_owned(),
        ),
        Ok((remote, plan)) => apply_host(cluster, remote, &p.spec, plan, homes, bar).await,
        Err(e) => Err(e.clone()),
    };
    bar.set_message(match &result {
        Ok(true) => "waiting for its turn to restart".to_owned(),
        Ok(false) => "applied".to_owned(),
        Err(_) => "failed".to_owned(),
    });
    result
}

/// After a host's files are written: restarts its node if that was held back for its turn,
/// waits for the node to be healthy with the expected state, and reports.
async fn settle(
    cluster: &Cluster,
    secrets: &Secrets,
    p: Planned,
    result: std::result::Result<bool, String>,
    bar: &indicatif::ProgressBar,
    verified_nodes: &mut Vec<NodeAddr>,
) -> HostReport {
    let mut error = result.as_ref().err().cloned();
    if let (Ok((remote, plan)), Ok(rolling)) = (&p.state, &result) {
        if *rolling {
            bar.set_message("restarting node");
            let script = host::service_script(
                cluster,
                &p.spec,
                Service::Node,
                ServiceAction::Restart,
                plan.systemd,
                plan.units_changed(&p.spec),
            )
            .expect("a restart has a script");
            if let Err(e) = run(
                remote,
                "restarting the node",
                &script,
                None,
                Some(host::stop_limit(cluster)),
            )
            .await
            {
                error = Some(e);
            }
        }
        if error.is_none() {
            if let Some(node) = &p.spec.node {
                bar.set_message("checking health");
                match expected_for(&p.spec, secrets) {
                    Ok(expected) => match wait_healthy(node, &expected).await {
                        Ok(()) => verified_nodes.push(node.clone()),
                        Err(e) => error = Some(e),
                    },
                    Err(e) => error = Some(e.to_string()),
                }
            }
        }
    }
    bar.finish_and_clear();
    if let Err(e) = &p.state {
        return failed_report(&p, e.clone());
    }
    match p.state {
        Ok((remote, plan)) => {
            remote.close().await;
            let changed = !plan.is_unchanged();
            HostReport {
                host: p.spec.host.clone(),
                roles: p.spec.roles.clone(),
                files: plan.files,
                services: plan.services,
                result: match (&error, changed) {
                    (Some(_), _) => Outcome::Failed,
                    (None, true) => Outcome::Changed,
                    (None, false) => Outcome::Unchanged,
                },
                error,
                unreachable: false,
                elapsed_ms: p.started.elapsed().as_millis() as u64,
            }
        }
        Err(_) => unreachable!("a failed plan is reported above"),
    }
}

/// The service user must have one uid everywhere, or files written through one node are
/// someone else's on the next.
fn uid_check(cluster: &Cluster, planned: &[Planned], checks: &mut Vec<Check>) {
    let Some(user) = &cluster.file.node.service_user else {
        return;
    };
    let mut by_uid: BTreeMap<u32, Vec<&str>> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.state.is_ok()) {
        if let Some(uid) = p.uid {
            by_uid.entry(uid).or_default().push(&p.spec.host);
        }
    }
    let ok = by_uid.len() <= 1;
    let detail = by_uid
        .iter()
        .map(|(uid, hosts)| format!("uid {uid} on {}", hosts.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    checks.push(Check {
        blocked: false,
        check: format!("service user `{user}` has one uid"),
        ok,
        detail: if ok {
            detail
        } else {
            format!("{detail}: files written through one node would belong to another user on the next; give `{user}` the same uid everywhere")
        },
    });
}

/// The checks after applying: storage shared between the healthy nodes, a login through
/// every gateway.
async fn verify(
    cluster: &Cluster,
    secrets: &Secrets,
    nodes: &[NodeAddr],
    reports: &mut [HostReport],
    checks: &mut Vec<Check>,
) {
    let fingerprint = secrets.fingerprint();
    let key = secrets.probe_key.clone();
    if nodes.len() >= 2 {
        let (check, missing) = storage_shared(nodes, key.clone(), &fingerprint).await;
        for node in nodes.iter().filter(|n| missing.contains(&n.name)) {
            if let Some(r) = reports.iter_mut().find(|r| r.host == node.host) {
                r.result = Outcome::Failed;
                r.error.get_or_insert_with(|| check.detail.clone());
            }
        }
        checks.push(check);
    }
    let g = &cluster.file.gateway;
    if !nodes.is_empty() {
        for (i, gw) in cluster.gateway.hosts().iter().enumerate() {
            let Some(report) = reports
                .iter_mut()
                .find(|r| r.host == *gw && r.roles.iter().any(|role| role.starts_with("gateway")))
            else {
                continue; // not provisioned in this run (--only)
            };
            if report.result == Outcome::Failed {
                continue;
            }
            let addr = sftp_addr(gw, g.port);
            let check = match gateway_login(
                &addr,
                crate::config::users::PROBE_USER,
                key.clone(),
                &fingerprint,
            )
            .await
            {
                Ok(took) => Check {
                    blocked: false,
                    check: format!("login through gateway gw{} ({addr})", i + 1),
                    ok: true,
                    detail: format!("logged in and listed the home in {} ms", took.as_millis()),
                },
                Err(e) => {
                    report.result = Outcome::Failed;
                    report.error = Some(format!("no login through the gateway: {e}"));
                    Check {
                        blocked: false,
                        check: format!("login through gateway gw{} ({addr})", i + 1),
                        ok: false,
                        detail: e.to_string(),
                    }
                }
            };
            checks.push(check);
        }
    }
}

/// Asks every healthy node whether it accepts each key for its user, as a client's key
/// query would; one check per key.
async fn check_keys(
    secrets: &Secrets,
    nodes: &[NodeAddr],
    key_checks: &[KeyCheck],
    checks: &mut Vec<Check>,
) {
    let fingerprint = secrets.fingerprint();
    for kc in key_checks {
        let mut wrong = Vec::new();
        for node in nodes {
            let answer = match resolve(&sftp_addr(&node.host, node.port)).await {
                Ok(sock) => crate::ssh::sftp::key_accepted(sock, &kc.user, &kc.key, &fingerprint)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match answer {
                Ok(a) if a == kc.accepted => {}
                Ok(a) => wrong.push(format!(
                    "{} {}",
                    node.name,
                    if a { "still accepts it" } else { "refuses it" }
                )),
                Err(e) => wrong.push(format!("{}: {e}", node.name)),
            }
        }
        let verb = if kc.accepted { "accept" } else { "refuse" };
        let fp = crate::config::users::fingerprint(&kc.key);
        checks.push(Check {
            blocked: nodes.is_empty(),
            check: format!("every node {verb}s {fp} for `{}`", kc.user),
            ok: wrong.is_empty() && !nodes.is_empty(),
            detail: if nodes.is_empty() {
                "no healthy node to ask".to_owned()
            } else if wrong.is_empty() {
                format!(
                    "asked {} directly: all {verb}",
                    nodes
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                wrong.join("; ")
            },
        });
    }
}

async fn resolve(addr: &str) -> std::result::Result<std::net::SocketAddr, String> {
    crate::net::resolve(addr, crate::timeouts::PROBE).await
}

/// Logs in through a gateway as `user` and lists the home, host key pinned; retried while
/// the gateway may still be learning which nodes are up.
pub async fn gateway_login(
    addr: &str,
    user: &str,
    key: Arc<russh::keys::PrivateKey>,
    fingerprint: &str,
) -> std::result::Result<Duration, ClientError> {
    let started = Instant::now();
    let sock = resolve(addr).await.map_err(ClientError::Unreachable)?;
    // The gateway may need a health interval or two to see freshly started nodes.
    let deadline = Instant::now() + HEALTHY_WITHIN;
    loop {
        let attempt = async {
            let session = crate::ssh::sftp::login(sock, user, key.clone(), fingerprint).await?;
            let listed = session.list(".").await;
            session.close().await;
            listed.map(|_| ())
        };
        match attempt.await {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) if Instant::now() > deadline => return Err(e),
            // A host key that differs will not change by waiting.
            Err(e @ ClientError::HostKey { .. }) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// Logs in as the probe user, the host key pinned to the cluster's.
async fn probe_login(
    sock: std::net::SocketAddr,
    key: &Arc<russh::keys::PrivateKey>,
    fingerprint: &str,
) -> std::result::Result<crate::ssh::sftp::Session, crate::ssh::sftp::ClientError> {
    crate::ssh::sftp::login(
        sock,
        crate::config::users::PROBE_USER,
        key.clone(),
        fingerprint,
    )
    .await
}

/// Writes a token through the first node and reads it back through every other, over SFTP.
/// Returns the check and the nodes that did not see the file.
pub async fn storage_shared(
    nodes: &[NodeAddr],
    key: Arc<russh::keys::PrivateKey>,
    fingerprint: &str,
) -> (Check, Vec<String>) {
    let name = format!("verify-{:016x}", rand_u64());
    let token = format!("sftpha storage check {name}\n");
    let first = &nodes[0];
    let result: std::result::Result<Vec<String>, String> = async {
        let sock = resolve(&sftp_addr(&first.host, first.port)).await?;
        let writer = probe_login(sock, &key, fingerprint).await.map_err(|e| {
            format!(
                "cannot log into {} as {}: {e}",
                first.name,
                crate::config::users::PROBE_USER
            )
        })?;
        writer
            .upload(&name, token.as_bytes())
            .await
            .map_err(|e| format!("cannot write through {}: {e}", first.name))?;
        let mut missing = Vec::new();
        for other in &nodes[1..] {
            let seen = async {
                let sock = resolve(&sftp_addr(&other.host, other.port)).await?;
                let reader = probe_login(sock, &key, fingerprint)
                    .await
                    .map_err(|e| e.to_string())?;
                let data = reader.download(&name).await.map_err(|e| e.to_string());
                reader.close().await;
                data
            }
            .await;
            match seen {
                Ok(data) if data == token.as_bytes() => {}
                Ok(_) | Err(_) => missing.push(other.name.clone()),
            }
        }
        let _ = writer.remove(&name).await;
        writer.close().await;
        Ok(missing)
    }
    .await;
    let check = "storage shared by every node".to_owned();
    match result {
        Ok(missing) if missing.is_empty() => (Check {
            blocked: false,
            check,
            ok: true,
            detail: format!(
                "a file written through {} was read back through {}",
                first.name,
                nodes[1..]
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }, Vec::new()),
        Ok(missing) => (Check {
            blocked: false,
            check,
            ok: false,
            detail: format!(
                "the storage is not shared: a file written through {} is not visible through {} (is the shared storage mounted at the storage path there?)",
                first.name,
                missing.join(", ")
            ),
        }, missing),
        Err(e) => (Check {
            blocked: false,
            check,
            ok: false,
            detail: e,
        }, Vec::new()),
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}
