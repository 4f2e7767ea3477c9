//! `sftpha provision` and `sftpha status`: every host made (or checked to be) exactly what
//! cluster.toml, users.toml and the templates say.
//!
//! A pipeline of values. The desired state ([`desired`]): what every host must hold, found
//! locally, narrowed to a command's [`Scope`] and `--only`. The [`ClusterPlan`]: every host
//! connected at once and read (one command per host: checksums, modes, owners, service
//! state) and compared with it; `--dry-run` prints it and stops. Apply: hosts in parallel
//! write what differs, start what is stopped, reload what only needs a reload; restarts of
//! serving nodes run one node at a time, each healthy again before the next, so the cluster
//! keeps serving. Verify ([`verify`]), from the outside as a client would: every node healthy
//! with the expected config, users and host keys; the storage really shared (a file written
//! through one node read back through every other, over SFTP); a login through every
//! gateway. The planning is pure and unit-tested without hosts (`tests.rs`).

pub mod binary;
pub mod desired;
pub mod host;
pub mod installed;
mod progress;
pub mod push;
mod report;
pub mod rotate;
pub mod status;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::cluster::{Cluster, NodeAddr};
use crate::error::{Error, Result};
use crate::net::bracket;
use crate::render::Renderer;
use crate::ssh::remote::{Access, Remote};
use crate::ssh::sftp::ClientError;
use crate::wire::health::{self, GatewayHealth, NodeHealth};
use desired::{HostSpec, Item, Managed, Secrets, Service};
use host::{HostPlan, ServiceAction};
use progress::Progress;
pub use report::*;
use verify::*;
pub use verify::{gateway_login, short, storage_shared};

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

/// A host after planning: connected and read, or failed.
struct Planned {
    spec: HostSpec,
    started: Instant,
    state: std::result::Result<(Remote, HostPlan), String>,
    uid: Option<u32>,
    /// Planning failed because SSH could not reach or log into the host.
    unreachable: bool,
    /// A node host's storage identity and the one its node expects, as found.
    storage_ids: (Option<String>, Option<String>),
    /// What tells this node host's node the cluster's storage identity, if it must be told.
    storage_script: Option<String>,
    /// What gives a new cluster's storage its identity, on the first node host, before any
    /// host is changed.
    storage_create: Option<String>,
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
    let mut storage_ids = (None, None);
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
        storage_ids = (facts.storage_id.clone(), facts.expected_storage_id.clone());
        let problems = host::preflight(cluster, &facts, custom_binary);
        if !problems.is_empty() {
            remote.close().await;
            return Err(problems.join("; "));
        }
        let plan = host::plan(cluster, &spec, &facts);
        // -v: every file compared and what it needs; every service and what it gets.
        for f in &plan.files {
            tracing::debug!(host = %spec.host, item = %f.item, path = %f.path, action = %action_name(f.action), "compared");
        }
        for s in &plan.services {
            tracing::debug!(host = %spec.host, service = %s.service.name(), action = %service_action_name(s.action), "service");
        }
        Ok((remote, plan))
    }
    .await;
    Planned {
        spec,
        started,
        state,
        uid,
        unreachable,
        storage_ids,
        storage_script: None,
        storage_create: None,
    }
}

/// The cluster's storage identity: the one most node hosts' storage has (a tie goes to the
/// first node in cluster.toml's order), else a new one, made on the first node host reached.
/// Each node host whose node does not expect it yet gets the script that tells it; a node
/// on another storage then answers `storage_not_shared` and leaves the rotation.
fn settle_storage_id(cluster: &Cluster, planned: &mut [Planned]) {
    let nodes = || {
        planned
            .iter()
            .filter(|p| p.spec.node.is_some() && p.state.is_ok())
    };
    let mut counts: Vec<(String, usize)> = Vec::new();
    for p in nodes() {
        if let Some(id) = &p.storage_ids.0 {
            match counts.iter_mut().find(|(i, _)| i == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id.clone(), 1)),
            }
        }
    }
    // max_by_key keeps the last of equals: reversed, the first seen wins a tie.
    let found = counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(id, _)| id.clone());
    let (id, create_on) = match found {
        Some(id) => (id, None),
        None => {
            let mut bytes = [0u8; 16];
            if getrandom::fill(&mut bytes).is_err() {
                return;
            }
            (
                crate::checksum::hex(&bytes),
                nodes().next().map(|p| p.spec.host.clone()),
            )
        }
    };
    for p in planned
        .iter_mut()
        .filter(|p| p.spec.node.is_some() && p.state.is_ok())
    {
        if create_on.as_deref() == Some(p.spec.host.as_str()) {
            p.storage_create = Some(host::storage_create_script(cluster, &id));
        }
        if p.storage_ids.1.as_deref() != Some(id.as_str()) {
            p.storage_script = Some(host::storage_id_script(cluster, &id));
        }
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

/// Writes the planned files and brings services up; restarts of running nodes and
/// hand-overs of running gateways are held back and returned for the rolling phase.
async fn apply_host(
    cluster: &Cluster,
    renderer: &Renderer<'_>,
    remote: &Remote,
    p: &Planned,
    plan: &HostPlan,
    homes: &[String],
    bar: &indicatif::ProgressBar,
) -> std::result::Result<Held, String> {
    let (spec, storage_script) = (&p.spec, p.storage_script.as_deref());
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
    // The folders are made by the first script that writes, and the markers of the service
    // actions these writes call for (removed as each action succeeds).
    let mut prepare = (!plan.writes.is_empty()).then(|| {
        let mut s = host::prepare_script(cluster);
        for change in &plan.services {
            if let Some(marker) = host::pending_marker(cluster, change.service, change.action) {
                s += &format!(": > {}\n", crate::ssh::remote::quote(&marker));
            }
        }
        s
    });
    // Large files get time for their size at a slow 2 MB/s, on top of the usual limit.
    let limit = |bytes: usize| {
        Duration::from_secs(cluster.file.ssh.timeout_seconds)
            + Duration::from_secs(bytes as u64 / 2_000_000)
    };
    // The binary streams on its own; every other file goes in one script (one round trip).
    let (big, small): (Vec<&Managed>, Vec<&Managed>) = plan
        .writes
        .iter()
        .map(|&i| &spec.files[i])
        .partition(|f| f.quick);
    for f in big {
        bar.set_message(format!(
            "writing {} ({})",
            f.item,
            crate::text::human_bytes(f.content.len() as u64)
        ));
        let script = prepare.take().unwrap_or_default() + &host::write_script(cluster, f);
        run(
            remote,
            &format!("writing {}", f.path.display()),
            &script,
            Some(&f.content),
            Some(limit(f.content.len())),
        )
        .await?;
    }
    if !small.is_empty() {
        let bytes: usize = small.iter().map(|f| f.content.len()).sum();
        bar.set_message(format!(
            "writing {} files ({})",
            small.len(),
            crate::text::human_bytes(bytes as u64)
        ));
        let names: Vec<String> = small.iter().map(|f| f.path.display().to_string()).collect();
        run(
            remote,
            &format!("writing {}", names.join(", ")),
            "sh -s",
            Some(
                (prepare.take().unwrap_or_default() + &host::write_all_script(cluster, &small))
                    .as_bytes(),
            ),
            Some(limit(bytes * 4 / 3)),
        )
        .await?;
    }
    if let Some(script) = storage_script {
        bar.set_message("naming the storage");
        run(
            remote,
            "telling the node the cluster's storage identity",
            script,
            None,
            None,
        )
        .await?;
    }
    let units_changed = plan.units_changed(spec);
    let mut held = Vec::new();
    for change in &plan.services {
        let rolls = match change.service {
            Service::Node => change.action == ServiceAction::Restart,
            Service::Gateway => {
                matches!(
                    change.action,
                    ServiceAction::Restart | ServiceAction::Reload
                )
            }
            _ => false,
        };
        if rolls {
            held.push((change.service, change.action));
            continue;
        }
        if let Some(script) = host::service_script(
            cluster,
            renderer,
            spec,
            change.service,
            change.action,
            plan.systemd,
            units_changed,
        )
        .map_err(|e| e.to_string())?
        {
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
                &host::clearing_marker(cluster, change.service, change.action, script),
                None,
                Some(host::stop_limit(cluster)),
            )
            .await?;
        }
    }
    Ok(held)
}

/// What a host's apply leaves for its turn in the rolling phase.
type Held = Vec<(Service, ServiceAction)>;

/// `items` in the order to take them, each with its place in the given order: the one on the
/// vip `holder`'s host last, the others as they come.
fn holder_last<T>(
    items: impl IntoIterator<Item = T>,
    holder: Option<String>,
    host: impl Fn(&T) -> &String,
) -> Vec<(usize, T)> {
    let mut turns: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    turns.sort_by_key(|(_, item)| holder.as_ref() == Some(host(item)));
    turns
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

/// Runs `sftpha provision` (and the narrower pushes of `users`, `keys`, `upgrade`): the
/// desired state, the cluster plan, then (unless a dry run) apply and verify.
pub async fn provision(cluster: &Cluster, options: &Options) -> Result<Report> {
    let plan = ClusterPlan::new(cluster, options).await?;
    if options.dry_run {
        Ok(plan.into_report().await)
    } else {
        plan.apply().await
    }
}

/// What every host must hold, found locally before any host is contacted.
struct Desired {
    specs: Vec<HostSpec>,
    secrets: Secrets,
    /// The binary's checksum and the hosts that get it: recorded once they are done.
    binary: Option<(String, Vec<String>)>,
}

impl Desired {
    fn new(cluster: &Cluster, options: &Options, renderer: &Renderer) -> Result<Desired> {
        let binary = binary::Binary::load(options.node_binary.as_ref())?;
        let secrets = Secrets::load_or_create(cluster, options.create_keys && !options.dry_run)?;
        let mut specs = select(
            desired::desired(cluster, renderer, &secrets, binary)?,
            &options.only,
        );
        if let Scope::Nodes(items) = options.scope {
            specs = narrow(specs, items);
        }
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
        Ok(Desired {
            specs,
            secrets,
            binary: binary_sha.map(|sha| (sha, binary_hosts)),
        })
    }
}

/// The cluster plan: every host connected, read (one command each) and compared with what it
/// must hold. A dry run reports it ([`ClusterPlan::into_report`]); a real run applies it
/// ([`ClusterPlan::apply`]), which verifies the cluster from outside at the end.
pub struct ClusterPlan<'c> {
    cluster: &'c Cluster,
    options: &'c Options,
    renderer: Renderer<'c>,
    access: Access,
    secrets: Secrets,
    binary: Option<(String, Vec<String>)>,
    /// Per host, in the order of cluster.toml: connected with its plan, or why not.
    hosts: Vec<Planned>,
    /// Checks across hosts found while planning (one uid for the service user).
    checks: Vec<Check>,
    progress: Progress,
    started: Instant,
}

impl<'c> ClusterPlan<'c> {
    /// Everything that can be wrong locally is found before a key is generated or a host
    /// contacted; then every host is planned at once.
    pub async fn new(cluster: &'c Cluster, options: &'c Options) -> Result<ClusterPlan<'c>> {
        let started = Instant::now();
        check_only(cluster, &options.only)?;
        let renderer = Renderer::new(cluster)?;
        let access = Access::new(cluster, options.accept_new_host_keys, !options.dry_run)?;
        let desired = Desired::new(cluster, options, &renderer)?;
        let progress = Progress::new(&desired.specs, options.progress);
        let custom_binary = options.node_binary.is_some();
        let hosts = futures::future::join_all(
            desired
                .specs
                .into_iter()
                .zip(&progress.bars)
                .map(|(spec, bar)| plan_host(cluster, &access, spec, custom_binary, bar)),
        )
        .await;
        let mut hosts = hosts;
        settle_storage_id(cluster, &mut hosts);
        let mut checks = Vec::new();
        uid_check(cluster, &hosts, &mut checks);
        Ok(ClusterPlan {
            cluster,
            options,
            renderer,
            access,
            secrets: desired.secrets,
            binary: desired.binary,
            hosts,
            checks,
            progress,
            started,
        })
    }

    /// The plan as a report: what would change on every host; nothing is changed.
    pub async fn into_report(mut self) -> Report {
        let mut reports = Vec::new();
        let hosts = std::mem::take(&mut self.hosts);
        for (p, bar) in hosts.into_iter().zip(&self.progress.bars) {
            bar.finish_and_clear();
            reports.push(match p.state {
                Ok((remote, ref plan)) => {
                    remote.close().await;
                    HostReport {
                        host: p.spec.host.clone(),
                        roles: p.spec.roles.clone(),
                        result: if plan.is_unchanged() {
                            Outcome::Unchanged
                        } else {
                            Outcome::Planned
                        },
                        files: plan.files.clone(),
                        services: plan.services.clone(),
                        error: None,
                        unreachable: false,
                        elapsed_ms: p.started.elapsed().as_millis() as u64,
                    }
                }
                Err(ref e) => failed_report(&p, e.clone()),
            });
        }
        let checks = self.checks.clone();
        self.report(reports, checks)
    }

    /// Applies the plan (hosts in parallel, or one at a time when rolling; restarts of
    /// serving nodes one at a time, each healthy before the next), then verifies.
    pub async fn apply(mut self) -> Result<Report> {
        let cluster = self.cluster;
        let options = self.options;
        let uid_ok = self.checks.iter().all(|c| c.ok);
        let planned = std::mem::take(&mut self.hosts);
        let mut reports = Vec::new();
        let mut verified_nodes = Vec::new();
        // A new cluster's storage is named before any node starts (they start in parallel).
        for p in &planned {
            if let (Some(script), Ok((remote, _))) = (&p.storage_create, &p.state) {
                if let Err(e) =
                    run(remote, "naming the cluster's storage", script, None, None).await
                {
                    tracing::warn!(host = %p.spec.host, "{e}");
                }
            }
        }
        let bars = &self.progress.bars;
        if options.rolling {
            // One host at a time: write, reload or restart, healthy; stop at the first
            // failure. The gateway holding the vip goes last, as below.
            let mut stopped: Option<String> = None;
            let holder = match planned.iter().any(|p| p.spec.gateway.is_some()) {
                true => self.vip_holder().await,
                false => None,
            };
            let turns = holder_last(planned.into_iter().zip(bars), holder, |(p, _)| &p.spec.host);
            let mut settled: Vec<(usize, HostReport)> = Vec::new();
            for (i, (p, bar)) in turns {
                let result = match &stopped {
                    Some(host) => Err(format!("not changed: stopped after {host} failed")),
                    None => self.apply_planned(&p, bar, uid_ok).await,
                };
                let report = self.settle(p, result, bar, &mut verified_nodes).await;
                if report.result == Outcome::Failed && stopped.is_none() {
                    stopped = Some(report.host.clone());
                }
                settled.push((i, report));
            }
            settled.sort_by_key(|(i, _)| *i);
            reports.extend(settled.into_iter().map(|(_, r)| r));
        } else {
            let results = futures::future::join_all(
                planned
                    .iter()
                    .zip(bars)
                    .map(|(p, bar)| self.apply_planned(p, bar, uid_ok)),
            )
            .await;
            // Rolling restarts: serving nodes and gateways one at a time, each healthy before
            // the next; the gateway holding the vip last, once the others are handed over
            // and healthy.
            let hands_over = results
                .iter()
                .any(|r| matches!(r, Ok(held) if held.iter().any(|(s, _)| *s == Service::Gateway)));
            let holder = match hands_over {
                true => self.vip_holder().await,
                false => None,
            };
            let mut settled: Vec<(usize, HostReport)> = Vec::new();
            let turns = holder_last(
                planned.into_iter().zip(results).zip(bars),
                holder,
                |((p, _), _)| &p.spec.host,
            );
            for (i, ((p, result), bar)) in turns {
                settled.push((i, self.settle(p, result, bar, &mut verified_nodes).await));
            }
            settled.sort_by_key(|(i, _)| *i);
            reports.extend(settled.into_iter().map(|(_, r)| r));
        }
        let mut checks = std::mem::take(&mut self.checks);
        verify(
            cluster,
            &self.secrets,
            &verified_nodes,
            &mut reports,
            &mut checks,
        )
        .await;
        check_keys(
            &self.secrets,
            &verified_nodes,
            &options.key_checks,
            &mut checks,
        )
        .await;
        if options.scope == Scope::Everything {
            if let Some(check) = status::vip_check(cluster, &self.access).await {
                checks.push(check);
            }
        }
        if let Some((sha, binary_hosts)) = &self.binary {
            let done: Vec<String> = reports
                .iter()
                .filter(|h| h.result != Outcome::Failed && binary_hosts.contains(&h.host))
                .map(|h| h.host.clone())
                .collect();
            installed::Installed::record_binary(cluster, &done, sha)?;
        }
        Ok(self.report(reports, checks))
    }

    /// The gateway host holding the vip now, if the cluster has one and exactly one holds it.
    async fn vip_holder(&self) -> Option<String> {
        let (managed, vip) = (self.cluster.gateway.managed()?, self.cluster.gateway.vip()?);
        let seen = status::VipStatus::observe(&self.access, &managed.hosts, vip).await;
        match seen.holders.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    fn report(&self, hosts: Vec<HostReport>, checks: Vec<Check>) -> Report {
        let secrets = &self.secrets;
        let ok = hosts.iter().all(|h| h.result != Outcome::Failed) && checks.iter().all(|c| c.ok);
        Report {
            cluster: self.cluster.file.name.clone(),
            dry_run: self.options.dry_run,
            host_key_fingerprint: if secrets.pending {
                String::new()
            } else {
                secrets.fingerprint()
            },
            host_key_fingerprints: secrets.on_disk().map(|k| k.fingerprint()).collect(),
            would_record: self.access.would_record(),
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
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }
}

impl ClusterPlan<'_> {
    /// Applies one planned host (nothing when planning failed or the uids differ).
    async fn apply_planned(
        &self,
        p: &Planned,
        bar: &indicatif::ProgressBar,
        uid_ok: bool,
    ) -> std::result::Result<Held, String> {
        let (cluster, renderer, homes) = (self.cluster, &self.renderer, &self.options.homes);
        let result = match &p.state {
            Ok(_) if !uid_ok => Err(
                "not changed: the service user's uid differs between hosts (see the checks)"
                    .to_owned(),
            ),
            Ok((remote, plan)) => apply_host(cluster, renderer, remote, p, plan, homes, bar).await,
            Err(e) => Err(e.clone()),
        };
        bar.set_message(match &result {
            Ok(held) if !held.is_empty() => "waiting for its turn to restart".to_owned(),
            Ok(_) => "applied".to_owned(),
            Err(_) => "failed".to_owned(),
        });
        result
    }

    /// After a host's files are written: restarts its node and hands its gateway over if
    /// those were held back for their turn, waits for the node (and the gateway) to be
    /// healthy with the expected state, and reports.
    async fn settle(
        &self,
        p: Planned,
        result: std::result::Result<Held, String>,
        bar: &indicatif::ProgressBar,
        verified_nodes: &mut Vec<NodeAddr>,
    ) -> HostReport {
        let (cluster, renderer, secrets) = (self.cluster, &self.renderer, &self.secrets);
        let mut error = result.as_ref().err().cloned();
        if let (Ok((remote, plan)), Ok(held)) = (&p.state, &result) {
            for (service, action) in held {
                if error.is_some() {
                    break;
                }
                let what = match service {
                    Service::Gateway => "handing the gateway over",
                    _ => "restarting the node",
                };
                bar.set_message(what);
                let script = host::service_script(
                    cluster,
                    renderer,
                    &p.spec,
                    *service,
                    *action,
                    plan.systemd,
                    plan.units_changed(&p.spec),
                );
                let restarted = async {
                    let script = script
                        .map_err(|e| e.to_string())?
                        .expect("a restart has a script");
                    let script = host::clearing_marker(cluster, *service, *action, script);
                    run(remote, what, &script, None, Some(host::stop_limit(cluster))).await?;
                    if *service == Service::Gateway {
                        verify::wait_gateway(&p.spec.host, cluster.file.gateway.health_port)
                            .await?;
                    }
                    Ok::<(), String>(())
                };
                if let Err(e) = restarted.await {
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
}
