//! `sftpha status`: every node and gateway as it is now, against what it must be. Health
//! comes from each node's `/healthz` and each gateway's SSH handshake (no login); drift from
//! the same inventory `provision` plans with (over SSH), so a file edited by hand on one host
//! is named.

use std::time::Instant;

use serde::Serialize;

use super::desired::{self, HostSpec, Secrets};
use super::host::{self, FileAction};
use super::{gateway_health, health_problem, Expected};
use crate::config::cluster::{Cluster, Gateway};
use crate::error::{Error, Result};
use crate::ssh::remote::Access;

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub host: String,
    pub reachable: bool,
    pub healthy: bool,
    pub version: Option<String>,
    pub config_checksum: Option<String>,
    pub host_key_fingerprint: Option<String>,
    /// The host keys the SFTP port presents in the SSH handshake, one per type.
    pub presented_host_keys: Vec<String>,
    pub sessions: Option<u64>,
    /// Files that differ from the desired state (`node.toml (change)`), services not running.
    pub drift: Vec<String>,
    pub problems: Vec<String>,
    /// SSH could not reach or log into the host (exit 3 when that is all that is wrong).
    pub unreachable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayStatus {
    pub name: String,
    pub host: String,
    pub kind: String,
    pub reachable: bool,
    pub healthy: bool,
    pub host_key_fingerprint: Option<String>,
    /// The host keys the gateway's port presents, one per type.
    pub presented_host_keys: Vec<String>,
    pub drift: Vec<String>,
    pub problems: Vec<String>,
    /// SSH could not reach or log into the host.
    pub unreachable: bool,
}

impl StatusReport {
    /// Everything wrong is a host SSH could not reach or log into: what exit code 3 means.
    pub fn only_unreachable(&self) -> bool {
        let bad_nodes = self
            .nodes
            .iter()
            .filter(|n| !(n.healthy && n.drift.is_empty() && n.problems.is_empty()));
        let bad_gateways = self
            .gateways
            .iter()
            .filter(|g| !(g.healthy && g.drift.is_empty() && g.problems.is_empty()));
        let unreachable: Vec<bool> = bad_nodes
            .map(|n| n.unreachable)
            .chain(bad_gateways.map(|g| g.unreachable))
            .collect();
        !unreachable.is_empty() && unreachable.iter().all(|u| *u)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    pub host_key_fingerprint: String,
    /// The host keys every node and gateway must present, one per type.
    pub host_key_fingerprints: Vec<String>,
    pub nodes: Vec<NodeStatus>,
    pub gateways: Vec<GatewayStatus>,
    /// The gateways' virtual IP, when the cluster has one: who holds it. Exactly one gateway
    /// must; none (the address clients use answers nowhere) or two is a failure.
    pub vip: Option<VipStatus>,
    pub ok: bool,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VipStatus {
    pub address: String,
    /// The gateway hosts that have the address on an interface.
    pub holders: Vec<String>,
    /// Gateway hosts that could not be asked (SSH failed).
    pub unknown: Vec<String>,
    pub ok: bool,
}

impl VipStatus {
    /// Asks every gateway host whether it has `vip` on an interface.
    pub async fn observe(access: &Access, hosts: &[String], vip: std::net::IpAddr) -> VipStatus {
        let script = format!(
            "if ip -o addr show | grep -Fq ' {vip}/'; then echo holds; else echo free; fi\n"
        );
        let asked = futures::future::join_all(hosts.iter().map(|host| {
            let script = script.clone();
            async move {
                let remote = access.connect(host).await.ok()?;
                let out = remote.exec("look for the vip", &script, None, None).await;
                remote.close().await;
                out.ok().map(|o| o.stdout_text().trim() == "holds")
            }
        }))
        .await;
        let mut status = VipStatus {
            address: vip.to_string(),
            holders: Vec::new(),
            unknown: Vec::new(),
            ok: false,
        };
        for (host, answer) in hosts.iter().zip(asked) {
            match answer {
                Some(true) => status.holders.push(host.clone()),
                Some(false) => {}
                None => status.unknown.push(host.clone()),
            }
        }
        status.ok = status.holders.len() == 1;
        status
    }

    /// One line for people: who holds it, or what is wrong.
    pub fn describe(&self) -> String {
        let unknown = match self.unknown.is_empty() {
            true => String::new(),
            false => format!(" ({} could not be asked)", self.unknown.join(", ")),
        };
        match self.holders.as_slice() {
            [one] => format!("vip {} held by {one}{unknown}", self.address),
            [] => format!(
                "vip {} held by NO gateway: clients of that address reach nothing{unknown}",
                self.address
            ),
            many => format!(
                "vip {} held by {} gateways at once ({}): a split brain",
                self.address,
                many.len(),
                many.join(", ")
            ),
        }
    }
}

/// After provisioning a vip: exactly one gateway holds it, within the time keepalived takes to
/// elect one (three advertisements and a margin).
pub(super) async fn vip_check(cluster: &Cluster, access: &Access) -> Option<super::Check> {
    let (Some(m), Some(vip)) = (cluster.gateway.managed(), cluster.gateway.vip()) else {
        return None;
    };
    if m.hosts.len() < 2 {
        return None;
    }
    let advert = std::time::Duration::from_millis(cluster.file.gateway.advert_interval_ms);
    let deadline = Instant::now() + advert * 4 + std::time::Duration::from_secs(5);
    loop {
        let seen = VipStatus::observe(access, &m.hosts, vip).await;
        if seen.ok || Instant::now() > deadline {
            return Some(super::Check {
                blocked: false,
                check: format!("exactly one gateway holds the vip {vip}"),
                ok: seen.ok,
                detail: seen.describe(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Drift of one host: what differs and what is not running; `Err` when SSH could not tell
/// (with whether the host could not be reached or logged into at all).
type Drift = std::result::Result<Vec<String>, (String, bool)>;

async fn drift_of(cluster: &Cluster, access: &Access, spec: &HostSpec) -> Drift {
    let failed = |e: crate::ssh::remote::RemoteError| (e.to_string(), e.is_unreachable());
    let remote = access.connect(&spec.host).await.map_err(failed)?;
    let facts = host::read_facts(&remote, cluster, spec).await;
    remote.close().await;
    let facts = facts.map_err(failed)?;
    let plan = host::plan(cluster, spec, &facts);
    let mut drift: Vec<String> = plan
        .files
        .iter()
        .filter(|f| f.action != FileAction::Unchanged)
        .map(|f| {
            let what = match f.action {
                FileAction::Create => "missing",
                FileAction::Change => "differs",
                FileAction::Remove => "is retired but still there",
                _ => "mode or owner differs",
            };
            format!("{} {what} ({})", f.item, f.path)
        })
        .collect();
    for (service, up) in &facts.running {
        if !up {
            drift.push(format!("{} not running", service.name()));
        }
    }
    Ok(drift)
}

/// What is wrong with the set of host keys `what` presents, against the cluster's set.
fn key_set_problem(what: &str, seen: &[String], expected: &[String]) -> Option<String> {
    let missing: Vec<&String> = expected.iter().filter(|k| !seen.contains(k)).collect();
    let foreign: Vec<&String> = seen.iter().filter(|k| !expected.contains(k)).collect();
    if missing.is_empty() && foreign.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !foreign.is_empty() {
        parts.push(format!(
            "presents {} that the cluster does not have",
            foreign
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "does not present the cluster's {}",
            missing
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Some(format!("{what} {}", parts.join(" and ")))
}

/// The status of every host; a count of the hosts done on stderr with `progress`.
pub async fn status(
    cluster: &Cluster,
    node_binary: Option<&std::path::PathBuf>,
    progress: bool,
) -> Result<StatusReport> {
    let started = Instant::now();
    let keys = cluster.dir().join(desired::KEYS_DIR);
    if cluster.dir().join("lab.json").exists() {
        return Err(Error::usage(
            format!(
                "`{}` is a lab's: status is for clusters `sftpha provision` built",
                cluster.path.display()
            ),
            Some(&format!(
                "`sftpha lab status --dir {}` shows the lab's processes; `sftpha assess --probe` checks its live nodes",
                cluster.dir().display()
            )),
        ));
    }
    if !keys.join(crate::keys::secrets::HOST_KEY_FILE).exists() {
        return Err(Error::usage(
            format!(
                "no cluster keys in `{}`: this cluster was never provisioned from here",
                keys.display()
            ),
            Some("run `sftpha provision` first (it generates the cluster host key once)"),
        ));
    }
    let secrets = Secrets::load_or_create(cluster, false)?;
    let binary = super::binary::Binary::load(node_binary)?;
    let renderer = crate::render::Renderer::new(cluster)?;
    let mut specs = desired::desired(cluster, &renderer, &secrets, binary)?;
    if node_binary.is_none() {
        // Without --node-binary, a host should run what it was last given.
        let installed = super::installed::Installed::load(cluster)?;
        for spec in &mut specs {
            if let Some(sha) = installed.binary.get(&spec.host) {
                for f in spec
                    .files
                    .iter_mut()
                    .filter(|f| f.kind == super::desired::Item::Binary)
                {
                    f.sha256 = sha.clone();
                }
            }
        }
    }
    let access = Access::new(cluster, false, false)?;
    let fingerprint = secrets.fingerprint();
    let expected_keys = secrets.presented();
    let probe = crate::assess::probe::probes(cluster);
    let done = crate::text::Counter::new("checking the hosts", specs.len() + probe, progress);
    let (drifts, observed) = async {
        let drifts = futures::future::join_all(specs.iter().map(|spec| async {
            let drift = drift_of(cluster, &access, spec).await;
            done.inc();
            drift
        }));
        let observed = crate::assess::probe::observe(cluster, &done);
        tokio::join!(drifts, observed)
    }
    .await;
    drop(done);
    let drift_for = |host: &str| -> Drift {
        specs
            .iter()
            .zip(&drifts)
            .find(|(s, _)| s.host == host)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| Ok(Vec::new()))
    };

    let mut nodes = Vec::new();
    for (node, seen) in cluster.node_addrs().iter().zip(&observed.nodes) {
        let spec = specs
            .iter()
            .find(|s| s.node.as_ref() == Some(node))
            .expect("every node has a spec");
        let expected: Expected = super::expected_for(spec, &secrets)?;
        let mut problems = Vec::new();
        let (reachable, healthy, body) = match &seen.health {
            Ok((code, body)) => {
                if let Some(p) = health_problem(*code, body, &expected) {
                    problems.push(p);
                }
                (true, *code == 200, Some(body))
            }
            Err(e) => {
                problems.push(e.clone());
                (false, false, None)
            }
        };
        match &seen.host_keys {
            Ok(keys) => {
                if let Some(p) = key_set_problem("the SFTP port", keys, &expected_keys) {
                    problems.push(p);
                }
            }
            Err(e) if reachable => problems.push(e.clone()),
            Err(_) => {}
        }
        let (drift, unreachable) = match drift_for(&node.host) {
            Ok(d) => (d, false),
            Err((e, unreachable)) => {
                problems.push(format!("drift unknown: {e}"));
                (Vec::new(), unreachable)
            }
        };
        nodes.push(NodeStatus {
            name: node.name.clone(),
            host: node.host.clone(),
            reachable,
            healthy,
            version: body.map(|b| b.version.clone()),
            config_checksum: body.map(|b| b.config_checksum.clone()),
            host_key_fingerprint: body.map(|b| b.host_key_fingerprint.clone().unwrap_or_default()),
            presented_host_keys: seen.host_keys.clone().unwrap_or_default(),
            sessions: body.map(|b| b.sessions.max(0) as u64),
            drift,
            problems,
            unreachable,
        });
    }

    let g = &cluster.file.gateway;
    let mut gateways = Vec::new();
    if let Some(m) = cluster.gateway.managed() {
        for (i, gw) in m.hosts.iter().enumerate() {
            let seen = observed.gateways.get(i);
            let mut problems = Vec::new();
            let keys = seen.map(|s| s.host_keys.clone());
            let (reachable, presented) = match keys {
                Some(Ok(keys)) => {
                    if let Some(p) = key_set_problem("the gateway port", &keys, &expected_keys) {
                        problems.push(p);
                    }
                    (true, keys)
                }
                Some(Err(e)) => {
                    problems.push(e);
                    (false, Vec::new())
                }
                None => (false, Vec::new()),
            };
            let mut healthy = reachable && problems.is_empty();
            if let Gateway::Builtin(_) = cluster.gateway {
                let addr = format!("{}:{}", crate::net::bracket(gw), g.health_port);
                match gateway_health(&addr).await {
                    Ok((200, _)) => {}
                    Ok((code, body)) => {
                        healthy = false;
                        problems.push(format!("gateway /healthz is {code} ({})", body.status));
                    }
                    Err(e) => {
                        healthy = false;
                        problems.push(e);
                    }
                }
            }
            let (drift, unreachable) = match drift_for(gw) {
                Ok(d) => (d, false),
                Err((e, unreachable)) => {
                    problems.push(format!("drift unknown: {e}"));
                    (Vec::new(), unreachable)
                }
            };
            gateways.push(GatewayStatus {
                name: format!("gw{}", i + 1),
                host: gw.clone(),
                kind: cluster.gateway.kind().as_str().to_owned(),
                reachable,
                healthy,
                host_key_fingerprint: presented.first().cloned(),
                presented_host_keys: presented,
                drift,
                problems,
                unreachable,
            });
        }
    }
    let vip = match (cluster.gateway.managed(), cluster.gateway.vip()) {
        (Some(m), Some(vip)) if m.hosts.len() >= 2 => {
            Some(VipStatus::observe(&access, &m.hosts, vip).await)
        }
        _ => None,
    };
    let ok = nodes
        .iter()
        .all(|n| n.healthy && n.drift.is_empty() && n.problems.is_empty())
        && gateways
            .iter()
            .all(|g| g.healthy && g.drift.is_empty() && g.problems.is_empty())
        && vip.as_ref().is_none_or(|v| v.ok);
    Ok(StatusReport {
        cluster: cluster.file.name.clone(),
        host_key_fingerprint: fingerprint,
        host_key_fingerprints: expected_keys,
        nodes,
        gateways,
        vip,
        ok,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
