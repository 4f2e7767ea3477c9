//! `sftpha status`: every node and gateway as it is now, against what it must be. Health
//! comes from each node's `/healthz` and each gateway's SSH handshake (no login); drift from
//! the same inventory `provision` plans with (over SSH), so a file edited by hand on one host
//! is named.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::desired::{self, HostSpec, Secrets};
use super::host::{self, FileAction};
use super::{health, health_problem, Expected};
use crate::cluster::{Cluster, GatewayKind};
use crate::error::{Error, Result};
use crate::remote::Access;

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub host: String,
    pub reachable: bool,
    pub healthy: bool,
    pub version: Option<String>,
    pub config_checksum: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub sessions: Option<u64>,
    /// Files that differ from the desired state (`node.toml (change)`), services not running.
    pub drift: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayStatus {
    pub name: String,
    pub host: String,
    pub kind: String,
    pub reachable: bool,
    pub healthy: bool,
    pub host_key_fingerprint: Option<String>,
    pub drift: Vec<String>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub cluster: String,
    pub host_key_fingerprint: String,
    pub nodes: Vec<NodeStatus>,
    pub gateways: Vec<GatewayStatus>,
    pub ok: bool,
    pub elapsed_ms: u64,
}

/// Drift of one host: what differs and what is not running; `Err` when SSH could not tell.
type Drift = std::result::Result<Vec<String>, String>;

async fn drift_of(cluster: &Cluster, access: &Access, spec: &HostSpec) -> Drift {
    let remote = access
        .connect(&spec.host)
        .await
        .map_err(|e| e.to_string())?;
    let facts = host::read_facts(&remote, cluster, spec).await;
    remote.close().await;
    let facts = facts.map_err(|e| e.to_string())?;
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

pub fn status(cluster: &Cluster, node_binary: Option<&std::path::PathBuf>) -> Result<StatusReport> {
    let started = Instant::now();
    let keys = cluster.dir().join(desired::KEYS_DIR);
    if !keys.join(crate::render::HOST_KEY_FILE).exists() {
        return Err(Error::usage(
            format!(
                "no cluster keys in `{}`: this cluster was never provisioned from here",
                keys.display()
            ),
            Some("run `sftpha provision` first (it generates the cluster host key once)"),
        ));
    }
    let secrets = Secrets::load_or_create(cluster, false)?;
    let binary = super::load_binary(node_binary)?;
    let renderer = crate::render::Renderer::new(cluster)?;
    let specs = desired::desired(cluster, &renderer, &secrets, binary)?;
    let access = Access::new(cluster, false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    let fingerprint = secrets.fingerprint();
    let (drifts, observed) = runtime.block_on(async {
        let drifts =
            futures::future::join_all(specs.iter().map(|spec| drift_of(cluster, &access, spec)));
        let observed = crate::assess::probe::observe(cluster);
        tokio::join!(drifts, observed)
    });
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
        match &seen.host_key {
            Ok(fp) if *fp != fingerprint => problems.push(format!(
                "the SFTP port presents {fp}, not the cluster's {fingerprint}"
            )),
            Ok(_) => {}
            Err(e) if reachable => problems.push(e.clone()),
            Err(_) => {}
        }
        let drift = match drift_for(&node.host) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("drift unknown: {e}"));
                Vec::new()
            }
        };
        let text = |k: &str| body.and_then(|b: &Value| b[k].as_str().map(str::to_owned));
        nodes.push(NodeStatus {
            name: node.name.clone(),
            host: node.host.clone(),
            reachable,
            healthy,
            version: text("version"),
            config_checksum: text("config_checksum"),
            host_key_fingerprint: text("host_key_fingerprint"),
            sessions: body.and_then(|b| b["sessions"].as_u64()),
            drift,
            problems,
        });
    }

    let g = &cluster.file.gateway;
    let mut gateways = Vec::new();
    if g.kind != GatewayKind::External {
        for (i, gw) in g.hosts.iter().enumerate() {
            let seen = observed.gateways.get(i);
            let mut problems = Vec::new();
            let key = seen.map(|s| s.host_key.clone());
            let (reachable, fp) = match key {
                Some(Ok(fp)) => {
                    if fp != fingerprint {
                        problems.push(format!(
                            "the gateway port presents {fp}, not the cluster's {fingerprint}"
                        ));
                    }
                    (true, Some(fp))
                }
                Some(Err(e)) => {
                    problems.push(e);
                    (false, None)
                }
                None => (false, None),
            };
            let mut healthy = reachable && problems.is_empty();
            if g.kind == GatewayKind::Builtin {
                let addr = format!("{}:{}", crate::net::bracket(gw), g.health_port);
                match runtime.block_on(health(&addr)) {
                    Ok((200, _)) => {}
                    Ok((code, body)) => {
                        healthy = false;
                        problems.push(format!(
                            "gateway /healthz is {code} ({})",
                            body["status"].as_str().unwrap_or("?")
                        ));
                    }
                    Err(e) => {
                        healthy = false;
                        problems.push(e);
                    }
                }
            }
            let drift = match drift_for(gw) {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("drift unknown: {e}"));
                    Vec::new()
                }
            };
            gateways.push(GatewayStatus {
                name: format!("gw{}", i + 1),
                host: gw.clone(),
                kind: g.kind.as_str().to_owned(),
                reachable,
                healthy,
                host_key_fingerprint: fp,
                drift,
                problems,
            });
        }
    }
    let ok = nodes
        .iter()
        .all(|n| n.healthy && n.drift.is_empty() && n.problems.is_empty())
        && gateways
            .iter()
            .all(|g| g.healthy && g.drift.is_empty() && g.problems.is_empty());
    Ok(StatusReport {
        cluster: cluster.file.name.clone(),
        host_key_fingerprint: fingerprint,
        nodes,
        gateways,
        ok,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
