//! `assess --probe`: looks at the live cluster and turns what it sees into findings.
//!
//! [`observe`] does the I/O (every node's `/healthz`, the set of host keys every node and
//! gateway presents in the SSH handshake, one handshake per key type, all at once, each with
//! [`timeouts::PROBE`]);
//! [`findings`] is a pure function of the observations, unit-tested without a network.
//! No login is needed: the storage check compares the storage identity every node reads
//! from the storage itself (`.sftpha/storage-id`, created once by whichever node is first).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::health::{self, NodeHealth};

use super::{Finding, Severity};
use crate::config::cluster::Cluster;
use crate::timeouts;

/// Clock differences above this are reported: audit logs and file times stop lining up.
const MAX_SKEW_MS: i64 = 2000;
/// Free space below this fraction of the storage is reported.
const LOW_SPACE_FRACTION: f64 = 0.10;

#[derive(Debug, Clone)]
pub struct NodeObservation {
    pub name: String,
    pub sftp_addr: String,
    pub health_addr: String,
    /// HTTP status and body of `/healthz`, or why there was none.
    pub health: Result<(u16, NodeHealth), String>,
    /// The host keys presented on the SFTP port (one per type, in [`crate::keys::KeyKind`]
    /// order), or why there were none.
    pub host_keys: Result<Vec<String>, String>,
    /// The node's clock minus ours, in ms, less the round trip's uncertainty.
    pub clock_offset_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct GatewayObservation {
    pub addr: String,
    pub host_keys: Result<Vec<String>, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub nodes: Vec<NodeObservation>,
    pub gateways: Vec<GatewayObservation>,
}

/// How many hosts [`observe`] probes (every node, every gateway address).
pub fn probes(cluster: &Cluster) -> usize {
    cluster.node_addrs().len() + cluster.gateway.addresses().len()
}

/// Probes every node and gateway of `cluster` concurrently; `done` counts each one finished.
pub async fn observe(cluster: &Cluster, done: &Counter) -> Observations {
    let nodes = cluster.node_addrs().into_iter().map(|n| async move {
        let sftp_addr = format!("{}:{}", bracket(&n.host), n.port);
        let health_addr = format!("{}:{}", bracket(&n.host), n.health_port);
        tracing::debug!(node = %n.name, url = %format!("http://{health_addr}/healthz"), "fetching /healthz");
        let (health, host_keys) = tokio::join!(
            health::fetch_at::<NodeHealth>(&health_addr, timeouts::PROBE),
            host_keys_of(&sftp_addr)
        );
        let (health, clock_offset_ms) = match health {
            Ok(answer) => (Ok((answer.code, answer.body)), answer.clock_offset_ms),
            Err(e) => (Err(e), None),
        };
        done.inc();
        NodeObservation {
            name: n.name,
            sftp_addr,
            health_addr,
            health,
            host_keys,
            clock_offset_ms,
        }
    });
    let g = &cluster.file.gateway;
    let gateway_hosts = cluster.gateway.addresses();
    let gateways = gateway_hosts.into_iter().map(|host| async move {
        let addr = format!("{}:{}", bracket(&host), g.port);
        let host_keys = host_keys_of(&addr).await;
        done.inc();
        GatewayObservation { host_keys, addr }
    });
    let (nodes, gateways) = tokio::join!(
        futures::future::join_all(nodes),
        futures::future::join_all(gateways)
    );
    Observations { nodes, gateways }
}

use crate::net::bracket;
use crate::text::Counter;

async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    crate::net::resolve(addr, timeouts::PROBE).await
}

/// Every host key `addr` presents (one handshake per key type, no login).
pub async fn host_keys_of(addr: &str) -> Result<Vec<String>, String> {
    let sock = resolve(addr).await?;
    tracing::debug!(%addr, "scanning the host keys (one handshake per key type)");
    let keys = crate::ssh::keyscan::scan(sock, false)
        .await
        .map(|p| p.fingerprints());
    tracing::trace!(%addr, ?keys, "host keys seen");
    keys
}

/// A set of host keys as one value, for grouping and messages.
fn key_set(keys: &[String]) -> String {
    keys.join(", ")
}

/// Groups `name -> value` by value; more than one group is a disagreement.
fn groups<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> BTreeMap<String, Vec<&'a str>> {
    let mut out: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, value) in pairs {
        out.entry(value).or_default().push(name);
    }
    out
}

fn describe(groups: &BTreeMap<String, Vec<&str>>, short: bool) -> String {
    groups
        .iter()
        .map(|(value, names)| {
            let shown = if short && value.len() > 16 {
                &value[..16]
            } else {
                value.as_str()
            };
            format!("{} -> `{shown}`", names.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Findings from the live observations.
pub fn findings(cluster: &Cluster, obs: &Observations) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut healthy: Vec<(&str, &NodeHealth)> = Vec::new();
    for n in &obs.nodes {
        let mut problems = Vec::new();
        if let Err(e) = &n.health {
            problems.push(e.clone());
        }
        if let Err(e) = &n.host_keys {
            problems.push(e.clone());
        }
        if !problems.is_empty() {
            out.push(Finding {
                id: "node.unreachable",
                severity: Severity::High,
                component: n.name.clone(),
                title: format!("node `{}` did not answer", n.name),
                detail: problems.join("; "),
                recommendation: format!(
                    "check that the node runs (`sftpha status`) and that {} and {} are open from here",
                    n.sftp_addr, n.health_addr
                ),
            });
        }
        if let Ok((code, body)) = &n.health {
            if *code != 200 {
                out.push(Finding {
                    id: "node.unhealthy",
                    severity: Severity::High,
                    component: n.name.clone(),
                    title: format!("node `{}` is out of service", n.name),
                    detail: format!(
                        "/healthz answered {code} with status `{}`: the gateway sends it no sessions",
                        body.status
                    ),
                    recommendation: "see the node's log; `storage_not_writable` means the storage mount, `draining` a stop in progress".into(),
                });
            }
            healthy.push((n.name.as_str(), body));
            if let Some(offset) = n.clock_offset_ms {
                if offset.abs() > MAX_SKEW_MS {
                    out.push(Finding {
                        id: "clock.skew",
                        severity: Severity::Medium,
                        component: n.name.clone(),
                        title: format!("node `{}`'s clock is {:.1} s off", n.name, offset as f64 / 1000.0),
                        detail: "file times and audit logs of different nodes stop lining up; time-based jobs see files from the future or the past".into(),
                        recommendation: "run NTP (chrony or systemd-timesyncd) on every node".into(),
                    });
                }
            }
            if let (Some(free), Some(total)) = (body.storage_free_bytes, body.storage_total_bytes) {
                if total > 0 && (free as f64) < LOW_SPACE_FRACTION * total as f64 {
                    out.push(Finding {
                        id: "storage.low_space",
                        severity: Severity::Medium,
                        component: n.name.clone(),
                        title: format!(
                            "the storage seen by `{}` is {:.0}% full",
                            n.name,
                            100.0 - free as f64 * 100.0 / total as f64
                        ),
                        detail: format!(
                            "{free} of {total} bytes free: uploads fail when it is full"
                        ),
                        recommendation: "grow the storage or remove old files before the next peak"
                            .into(),
                    });
                }
            }
        }
    }

    let keys = groups(obs.nodes.iter().filter_map(|n| {
        n.host_keys
            .as_ref()
            .ok()
            .map(|k| (n.name.as_str(), key_set(k)))
    }));
    if keys.len() > 1 {
        out.push(Finding {
            id: "hostkey.mismatch",
            severity: Severity::High,
            component: "nodes".into(),
            title: "the nodes present different sets of host keys".into(),
            detail: format!(
                "{}: a client the gateway moves to another node stops with \"REMOTE HOST IDENTIFICATION HAS CHANGED\"",
                describe(&keys, false)
            ),
            recommendation: "give every node the same host keys, one of each type (`sftpha provision` does): a client that prefers a type one node lacks sees another key there".into(),
        });
    }
    // The key most nodes present; a gateway is judged against it, and reported when it does
    // not answer even if no node did.
    let cluster_key = keys
        .iter()
        .max_by_key(|(_, names)| names.len())
        .map(|(k, _)| k);
    for g in &obs.gateways {
        let seen = g.host_keys.as_ref().map(|k| key_set(k));
        match (&seen, cluster_key) {
            (Ok(k), Some(cluster_key)) if k != cluster_key => out.push(Finding {
                id: "hostkey.mismatch",
                severity: Severity::High,
                component: "gateway".into(),
                title: format!("the gateway `{}` presents other host keys than the nodes", g.addr),
                detail: format!("the gateway shows `{k}`, the nodes `{cluster_key}`: is it pointed at other servers?"),
                recommendation: "point the gateway at the cluster's nodes".into(),
            }),
            (Err(e), _) => out.push(Finding {
                id: "gateway.unreachable",
                severity: Severity::High,
                component: "gateway".into(),
                title: format!("the gateway `{}` did not answer", g.addr),
                detail: e.to_string(),
                recommendation: "check that the gateway runs and that its port is open from here".into(),
            }),
            _ => {}
        }
    }

    let field = |key: &str| {
        groups(healthy.iter().filter_map(|(name, body)| {
            let value = match key {
                "config_checksum" => Some(body.config_checksum.clone()),
                "users_checksum" => Some(body.users_checksum.clone()),
                "version" => Some(body.version.clone()),
                "storage_id" => body.storage_id.clone(),
                _ => None,
            };
            value.filter(|v| !v.is_empty()).map(|v| (*name, v))
        }))
    };
    // Values every node must agree on: (health key, id, severity, title, consequence, fix).
    let agreements = [
        ("config_checksum", "config.drift", Severity::High, "the nodes run different configurations",
         "config checksums", "",
         "run `sftpha provision` to make every node alike, and `sftpha status` to see which file differs"),
        ("users_checksum", "users.drift", Severity::High, "the nodes have different users or keys",
         "users.toml checksums", ": a revoked key may still work on some nodes",
         "push users.toml to every node (`sftpha provision`)"),
        ("version", "version.drift", Severity::Low, "the nodes run different sftpha versions",
         "versions", "", "finish the rolling upgrade (`sftpha upgrade`)"),
    ];
    for (key, id, severity, title, what, consequence, fix) in agreements {
        let values = field(key);
        if values.len() > 1 {
            out.push(Finding {
                id,
                severity,
                component: "nodes".into(),
                title: title.into(),
                detail: format!(
                    "{what}: {}{consequence}",
                    describe(&values, key != "version")
                ),
                recommendation: fix.into(),
            });
        }
    }
    let storage = field("storage_id");
    let unknown: Vec<&str> = healthy
        .iter()
        .filter(|(_, b)| b.storage_id.is_none())
        .map(|(n, _)| *n)
        .collect();
    if storage.len() > 1 {
        out.push(Finding {
            id: "storage.not_shared",
            severity: Severity::High,
            component: "storage".into(),
            title: "the nodes do not see the same storage".into(),
            detail: format!(
                "storage identities under `{}`: {}: a file uploaded through one node is missing on the others",
                cluster.file.storage.path.display(),
                describe(&storage, false)
            ),
            recommendation: "mount the same shared file system at `storage.path` on every node".into(),
        });
    } else if !unknown.is_empty() && !storage.is_empty() {
        out.push(Finding {
            id: "storage.not_shared",
            severity: Severity::Medium,
            component: "storage".into(),
            title: "not every node reports its storage identity".into(),
            detail: format!(
                "{} did not report one (an older version, or the storage is not writable)",
                unknown.join(", ")
            ),
            recommendation: "upgrade every node and check its storage".into(),
        });
    }
    out
}

/// What the probe saw on one host: the evidence behind its findings, shown in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Evidence {
    /// A node's name, or a gateway address.
    pub host: String,
    pub role: &'static str,
    pub reachable: bool,
    pub version: Option<String>,
    /// The host keys it presents, as SHA-256 fingerprints.
    pub host_keys: Vec<String>,
    pub config_checksum: Option<String>,
    pub storage_id: Option<String>,
    pub storage_free_bytes: Option<u64>,
    /// Its clock minus ours, from the HTTP Date header.
    pub clock_offset_ms: Option<i64>,
    /// Why something could not be seen.
    pub problem: Option<String>,
}

/// The observations as evidence rows, nodes first.
pub fn evidence(obs: &Observations) -> Vec<Evidence> {
    let mut out = Vec::new();
    for n in &obs.nodes {
        let body = n.health.as_ref().ok().map(|(_, b)| b);
        let mut problems = Vec::new();
        if let Err(e) = &n.health {
            problems.push(format!("/healthz: {e}"));
        }
        if let Err(e) = &n.host_keys {
            problems.push(format!("host keys: {e}"));
        }
        out.push(Evidence {
            host: n.name.clone(),
            role: "node",
            reachable: n.health.is_ok() || n.host_keys.is_ok(),
            version: body.map(|b| b.version.clone()),
            host_keys: n.host_keys.clone().unwrap_or_default(),
            config_checksum: body.map(|b| b.config_checksum.clone()),
            storage_id: body.and_then(|b| b.storage_id.clone()),
            storage_free_bytes: body.and_then(|b| b.storage_free_bytes),
            clock_offset_ms: n.clock_offset_ms,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        });
    }
    for g in &obs.gateways {
        out.push(Evidence {
            host: g.addr.clone(),
            role: "gateway",
            reachable: g.host_keys.is_ok(),
            version: None,
            host_keys: g.host_keys.clone().unwrap_or_default(),
            config_checksum: None,
            storage_id: None,
            storage_free_bytes: None,
            clock_offset_ms: None,
            problem: g.host_keys.as_ref().err().cloned(),
        });
    }
    out
}

/// The probe as a whole: observe, then judge; the evidence seen, and how long observing
/// took.
/// Probes the live hosts: the findings, the evidence and how long it took; a count of the
/// hosts done on stderr with `progress`.
pub async fn run(cluster: &Cluster, progress: bool) -> (Vec<Finding>, Vec<Evidence>, Duration) {
    let started = std::time::Instant::now();
    let done = Counter::new("probing the live hosts", probes(cluster), progress);
    let obs = observe(cluster, &done).await;
    drop(done);
    let took = started.elapsed();
    (findings(cluster, &obs), evidence(&obs), took)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster::parse(
            std::path::Path::new("/x/cluster.toml"),
            r#"
name = "t"
[storage]
path = "/srv"
[[nodes]]
name = "n1"
host = "198.18.0.11"
[[nodes]]
name = "n2"
host = "198.18.0.12"
[gateway]
hosts = ["198.18.0.10"]
"#,
        )
        .unwrap()
    }

    fn node(name: &str, key: &str, config: &str, storage: &str) -> NodeObservation {
        NodeObservation {
            name: name.into(),
            sftp_addr: format!("{name}:2222"),
            health_addr: format!("{name}:9022"),
            health: Ok((
                200,
                NodeHealth {
                    status: "ok".into(),
                    config_checksum: config.into(),
                    users_checksum: "u".into(),
                    version: "0.1.0".into(),
                    storage_id: Some(storage.into()),
                    storage_free_bytes: Some(50),
                    storage_total_bytes: Some(100),
                    ..NodeHealth::default()
                },
            )),
            host_keys: Ok(vec![key.into(), format!("{key}-rsa")]),
            clock_offset_ms: Some(0),
        }
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn agreement_finds_nothing() {
        let obs = Observations {
            nodes: vec![node("n1", "K", "c", "s"), node("n2", "K", "c", "s")],
            gateways: vec![GatewayObservation {
                addr: "g".into(),
                host_keys: Ok(vec!["K".into(), "K-rsa".into()]),
            }],
        };
        assert!(findings(&cluster(), &obs).is_empty());
    }

    #[test]
    fn disagreements_are_found() {
        let mut n2 = node("n2", "OTHER", "c2", "s2");
        n2.clock_offset_ms = Some(-5000);
        if let Ok((_, body)) = &mut n2.health {
            body.storage_free_bytes = Some(5);
        }
        let obs = Observations {
            nodes: vec![node("n1", "K", "c", "s"), n2],
            gateways: vec![],
        };
        let found = findings(&cluster(), &obs);
        let ids = ids(&found);
        for id in [
            "hostkey.mismatch",
            "config.drift",
            "storage.not_shared",
            "clock.skew",
            "storage.low_space",
        ] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        let mismatch = found.iter().find(|f| f.id == "hostkey.mismatch").unwrap();
        assert!(
            mismatch.detail.contains("n2 -> `OTHER, OTHER-rsa`"),
            "{}",
            mismatch.detail
        );
    }

    #[test]
    fn a_node_without_one_key_type_is_a_mismatch() {
        let mut n2 = node("n2", "K", "c", "s");
        n2.host_keys = Ok(vec!["K".into()]);
        let obs = Observations {
            nodes: vec![node("n1", "K", "c", "s"), node("n3", "K", "c", "s"), n2],
            gateways: vec![GatewayObservation {
                addr: "g".into(),
                host_keys: Ok(vec!["K".into()]),
            }],
        };
        let found = findings(&cluster(), &obs);
        let mismatches: Vec<&Finding> = found
            .iter()
            .filter(|f| f.id == "hostkey.mismatch")
            .collect();
        assert_eq!(mismatches.len(), 2, "nodes and gateway: {found:?}");
        assert!(mismatches[0].detail.contains("n2 -> `K`"), "{found:?}");
    }

    #[test]
    fn an_unreachable_node_is_one_finding() {
        let mut n2 = node("n2", "K", "c", "s");
        n2.health = Err("no /healthz".into());
        n2.host_keys = Err("refused".into());
        let obs = Observations {
            nodes: vec![node("n1", "K", "c", "s"), n2],
            gateways: vec![],
        };
        assert_eq!(ids(&findings(&cluster(), &obs)), vec!["node.unreachable"]);
    }

    #[test]
    fn a_dead_gateway_is_reported_even_when_no_node_answers() {
        let mut n1 = node("n1", "K", "c", "s");
        n1.health = Err("no /healthz".into());
        n1.host_keys = Err("refused".into());
        let obs = Observations {
            nodes: vec![n1],
            gateways: vec![GatewayObservation {
                addr: "g:2222".into(),
                host_keys: Err("refused".into()),
            }],
        };
        assert_eq!(
            ids(&findings(&cluster(), &obs)),
            vec!["node.unreachable", "gateway.unreachable"]
        );
    }
}
