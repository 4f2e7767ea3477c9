//! Verification from the outside, as a client would: every node healthy with the expected
//! config, users and host keys; one uid for the service user; the storage really shared (a
//! file written through one node read back through every other, over SFTP); a login through
//! every gateway; the key checks a users or keys command asks for.

use super::*;

/// What a node's /healthz must say once provisioned; a narrower command (users, keys,
/// upgrade) checks only what it changed, and always the host keys.
pub(super) struct Expected {
    pub(super) config_checksum: Option<String>,
    pub(super) users_checksum: Option<String>,
    /// Every host key, in the order presented.
    pub(super) fingerprints: Vec<String>,
}

pub(super) fn expected_for(spec: &HostSpec, secrets: &Secrets) -> Result<Expected> {
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

pub(super) fn health_addr(node: &NodeAddr) -> String {
    format!("{}:{}", bracket(&node.host), node.health_port)
}

pub(super) fn sftp_addr(host: &str, port: u16) -> String {
    format!("{}:{}", bracket(host), port)
}

/// A node's `/healthz`: status and body.
pub(super) async fn health(addr: &str) -> std::result::Result<(u16, NodeHealth), String> {
    health::fetch_at::<NodeHealth>(addr, Duration::from_secs(3))
        .await
        .map(|a| (a.code, a.body))
}

/// A builtin gateway's `/healthz`: status and body.
pub(super) async fn gateway_health(
    addr: &str,
) -> std::result::Result<(u16, GatewayHealth), String> {
    health::fetch_at::<GatewayHealth>(addr, Duration::from_secs(3))
        .await
        .map(|a| (a.code, a.body))
}

/// What is wrong with a node's health against what it must be; `None` when all is right.
pub(super) fn health_problem(code: u16, body: &NodeHealth, expected: &Expected) -> Option<String> {
    if code != 200 {
        return Some(format!("/healthz is {code} ({})", body.status));
    }
    if let Some(want) = expected
        .config_checksum
        .as_ref()
        .filter(|w| **w != body.config_checksum)
    {
        return Some(format!(
            "runs config {} but node.toml renders to {}",
            short(&body.config_checksum),
            short(want)
        ));
    }
    if let Some(want) = expected
        .users_checksum
        .as_ref()
        .filter(|w| **w != body.users_checksum)
    {
        return Some(format!(
            "serves users {} but users.toml is {}",
            short(&body.users_checksum),
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
/// Waits (up to 30 s) for the builtin gateway on `host` to answer its /healthz with 200.
pub(super) async fn wait_gateway(host: &str, port: u16) -> std::result::Result<(), String> {
    let addr = format!("{}:{port}", crate::net::bracket(host));
    const WITHIN: Duration = Duration::from_secs(30);
    let deadline = Instant::now() + WITHIN;
    loop {
        let problem = match gateway_health(&addr).await {
            Ok((200, _)) => return Ok(()),
            Ok((code, body)) => format!("/healthz is {code} ({})", body.status),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(format!(
                "the gateway on {addr} is not healthy {}s after its hand-over: {problem}",
                WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a node found on another storage than the cluster's is reported.
const NOT_SHARED: &str = "the storage is not shared";

pub(super) async fn wait_healthy(
    node: &NodeAddr,
    expected: &Expected,
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + HEALTHY_WITHIN;
    let addr = health_addr(node);
    loop {
        let problem = match health(&addr).await {
            // Not on the cluster's storage: no wait makes it so.
            Ok((_, body)) if body.status == "storage_not_shared" => {
                return Err(format!(
                    "{NOT_SHARED}: node {} is not on the cluster's storage (its /healthz says storage_not_shared; its storage's identity is {}): is the shared storage mounted at the storage path there?",
                    node.name,
                    body.storage_id.as_deref().map_or("missing".to_owned(), |id| format!("`{id}`"))
                ));
            }
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

/// The service user must have one uid everywhere, or files written through one node are
/// someone else's on the next.
pub(super) fn uid_check(cluster: &Cluster, planned: &[Planned], checks: &mut Vec<Check>) {
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
pub(super) async fn verify(
    cluster: &Cluster,
    secrets: &Secrets,
    nodes: &[NodeAddr],
    reports: &mut [HostReport],
    checks: &mut Vec<Check>,
) {
    let fingerprint = secrets.fingerprint();
    let key = secrets.probe_key.clone();
    // Nodes that found themselves on another storage than the cluster's (settle).
    let not_shared: Vec<String> = reports
        .iter()
        .filter_map(|r| r.error.as_deref())
        .filter(|e| e.starts_with(NOT_SHARED))
        .map(str::to_owned)
        .collect();
    if !not_shared.is_empty() {
        checks.push(Check {
            blocked: false,
            check: "storage shared by every node".to_owned(),
            ok: false,
            detail: not_shared.join("; "),
        });
    } else if nodes.len() >= 2 {
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
pub(super) async fn check_keys(
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

pub(super) async fn resolve(addr: &str) -> std::result::Result<std::net::SocketAddr, String> {
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
pub(super) async fn probe_login(
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

pub(super) fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}
