//! The desired state of every host: which files it holds (rendered from the templates, the
//! cluster's keys, users.toml, the sftpha binary), with which modes, and which services run.
//! Pure but for reading and, once, generating the cluster's keys beside cluster.toml.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::PrivateKey;
use serde::Serialize;

use super::binary::Binary;
use crate::checksum::sha256_hex;
use crate::config::cluster::{Cluster, GatewayKind, NodeAddr};
use crate::error::{Error, Result};
use crate::keys::secrets::{host_key_slots, CERT_SUFFIX};
use crate::render::{Renderer, PROBE_KEY_FILE};

pub use crate::keys::secrets::{Secrets, KEYS_DIR, PROBE_PRIVATE};

/// A service `provision` runs on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Node,
    Gateway,
    Haproxy,
    Keepalived,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Node => "node",
            Service::Gateway => "gateway",
            Service::Haproxy => "haproxy",
            Service::Keepalived => "keepalived",
        }
    }

    /// The systemd unit.
    pub fn unit(self) -> &'static str {
        match self {
            Service::Node => "sftpha-node",
            Service::Gateway => "sftpha-gateway",
            Service::Haproxy => "haproxy",
            Service::Keepalived => "keepalived",
        }
    }
}

/// What a changed file asks of the service it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// Nothing (a public key kept for the operator's reference).
    None,
    /// Re-read without a restart (SIGHUP): users.toml, haproxy.cfg, keepalived.conf.
    Reload,
    Restart,
}

/// Decides a change's effect from the old and the new content.
pub type Judge = fn(&[u8], &[u8]) -> Effect;

/// What a managed file is: what a narrower command ([`super::Scope`]) selects by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The sftpha binary.
    Binary,
    NodeToml,
    UsersToml,
    /// A host key slot: the private key, its certificate or its public half.
    HostKey,
    /// The probe key's public half (the node lets `assess --probe` in with it).
    ProbeKey,
    SystemdUnit,
    GatewayToml,
    HaproxyCfg,
    KeepalivedConf,
    /// A file of a service that no longer runs on the host (after a gateway kind switch).
    Retired,
}

/// One file a host must hold.
#[derive(Debug, Clone)]
pub struct Managed {
    pub kind: Item,
    /// Short name for reports: `binary`, `node.toml`, `host key`, ...
    pub item: String,
    pub path: PathBuf,
    pub content: Arc<Vec<u8>>,
    pub sha256: String,
    pub mode: u32,
    /// Owned by `node.service_user` (private files the service reads).
    pub owned: bool,
    pub affects: Vec<(Service, Effect)>,
    /// Only where systemd manages the services.
    pub systemd_only: bool,
    /// A command that must accept the new file before it replaces the old one; `{}` is the
    /// temporary file.
    pub check: Option<&'static str>,
    /// Large file: the host keeps `PATH.sha256` (checksum, size, mtime) so a re-run need not
    /// hash it again.
    pub quick: bool,
    /// Must not exist (a retired key's slot): removed where found.
    pub absent: bool,
    /// Decides the effect of a change from the old and new content (the inventory reads the
    /// old one back); `affects` holds when unset or when the old content is unknown.
    pub judge: Option<Judge>,
}

/// Everything one host must have.
#[derive(Debug, Clone)]
pub struct HostSpec {
    pub host: String,
    /// `node n1`, `gateway gw1`, for reports.
    pub roles: Vec<String>,
    pub node: Option<NodeAddr>,
    /// Index into `gateway.hosts`.
    pub gateway: Option<usize>,
    pub files: Vec<Managed>,
    pub services: Vec<Service>,
    /// Services of ours that must not run here (the other gateway kind after a switch):
    /// stopped and disabled where found, before anything starts.
    pub retired: Vec<Service>,
}

fn file(
    kind: Item,
    item: &str,
    path: PathBuf,
    content: Arc<Vec<u8>>,
    mode: u32,
    affects: Vec<(Service, Effect)>,
) -> Managed {
    let sha256 = sha256_hex(&content);
    hashed(kind, item, path, (content, sha256), mode, affects)
}

/// A file whose digest is known already (the binary's, hashed once for every host).
fn hashed(
    kind: Item,
    item: &str,
    path: PathBuf,
    (content, sha256): (Arc<Vec<u8>>, String),
    mode: u32,
    affects: Vec<(Service, Effect)>,
) -> Managed {
    Managed {
        kind,
        item: item.to_owned(),
        sha256,
        path,
        content,
        mode,
        owned: false,
        affects,
        systemd_only: false,
        check: None,
        quick: false,
        absent: false,
        judge: None,
    }
}

/// node.toml: a change only to keys a running node reloads (host keys, certificates, the
/// probe key) takes a SIGHUP; any other needs a restart.
pub fn judge_node_toml(old: &[u8], new: &[u8]) -> Effect {
    let parse = |b: &[u8]| {
        crate::config::node::Node::parse(Path::new("node.toml"), &String::from_utf8_lossy(b))
    };
    match (parse(old), parse(new)) {
        (Ok(old), Ok(new)) if old.restart_keys_changed(&new).is_empty() => Effect::Reload,
        _ => Effect::Restart,
    }
}

fn text(s: String) -> Arc<Vec<u8>> {
    Arc::new(s.into_bytes())
}

/// The report names of the host key files, per slot of [`crate::keys::secrets::host_key_slots`]
/// (the keys in force, ed25519, ecdsa, rsa, then a rotation's next keys): private key,
/// certificate, public key.
const HOST_KEY_ITEMS: [[&str; 3]; 6] = [
    ["host key", "host key certificate", "host key (public)"],
    [
        "ecdsa host key",
        "ecdsa host key certificate",
        "ecdsa host key (public)",
    ],
    [
        "rsa host key",
        "rsa host key certificate",
        "rsa host key (public)",
    ],
    [
        "next host key",
        "next host key certificate",
        "next host key (public)",
    ],
    [
        "next ecdsa host key",
        "next ecdsa host key certificate",
        "next ecdsa host key (public)",
    ],
    [
        "next rsa host key",
        "next rsa host key certificate",
        "next rsa host key (public)",
    ],
];

/// The host key files of every node: each key (0600, the service user's), its certificate
/// and public key; the slots of a rotation's next keys are absent when no rotation runs. A
/// change takes a reload: the node swaps keys without a restart.
fn host_key_files(
    cluster: &Cluster,
    secrets: &Secrets,
    public: &dyn Fn(&PrivateKey) -> Result<Arc<Vec<u8>>>,
) -> Result<Vec<Managed>> {
    let config = |name: &str| cluster.file.node.config_dir.join(name);
    let reload = vec![(Service::Node, Effect::Reload)];
    let mut files = Vec::new();
    for ((_, _, slot), [key_item, cert_item, public_item]) in
        host_key_slots().iter().zip(HOST_KEY_ITEMS)
    {
        let key = secrets.host_keys.iter().find(|k| k.name == *slot);
        let (private_bytes, cert_bytes, public_bytes) = match key {
            Some(k) => (
                Arc::new(k.file.clone()),
                Arc::new(k.certificate.clone()),
                public(&k.key)?,
            ),
            None => Default::default(),
        };
        let mut private = file(
            Item::HostKey,
            key_item,
            config(slot),
            private_bytes,
            0o600,
            reload.clone(),
        );
        private.owned = true;
        let certificate = file(
            Item::HostKey,
            cert_item,
            config(&format!("{slot}{CERT_SUFFIX}")),
            cert_bytes,
            0o644,
            reload.clone(),
        );
        let public = file(
            Item::HostKey,
            public_item,
            config(&format!("{slot}.pub")),
            public_bytes,
            0o644,
            vec![],
        );
        for mut f in [private, certificate, public] {
            f.absent = key.is_none();
            files.push(f);
        }
    }
    Ok(files)
}

/// Where haproxy.cfg and keepalived.conf go (their packages' standard places).
pub const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";
pub const KEEPALIVED_CONF: &str = "/etc/keepalived/keepalived.conf";
const UNIT_DIR: &str = "/etc/systemd/system";

/// The desired state of every host of the cluster, in the order of cluster.toml (nodes, then
/// gateway hosts; a host that is both appears once).
pub fn desired(
    cluster: &Cluster,
    renderer: &Renderer,
    secrets: &Secrets,
    binary: Binary,
) -> Result<Vec<HostSpec>> {
    let c = &cluster.file;
    let config = |name: &str| c.node.config_dir.join(name);
    let users = std::fs::read(&cluster.users).map_err(|source| Error::ReadFile {
        path: cluster.users.clone(),
        source,
    })?;
    // The nodes refuse an invalid users.toml; so do we, before anything is sent.
    crate::config::users::Users::parse(&cluster.users, &String::from_utf8_lossy(&users))?;
    let users = Arc::new(users);
    let public = |key: &PrivateKey| -> Result<Arc<Vec<u8>>> {
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))?;
        Ok(text(format!("{line}\n")))
    };
    let probe_pub = public(&secrets.probe_key)?;
    let binary_file = |affects: Vec<(Service, Effect)>| {
        let mut f = hashed(
            Item::Binary,
            "binary",
            c.node.install_dir.join("bin/sftpha"),
            (binary.bytes.clone(), binary.sha256.clone()),
            0o755,
            affects,
        );
        f.quick = true;
        f
    };

    let mut hosts: Vec<HostSpec> = Vec::new();
    for node in cluster.node_addrs() {
        let restart = vec![(Service::Node, Effect::Restart)];
        let mut files = vec![binary_file(restart.clone())];
        files.push(file(
            Item::NodeToml,
            "node.toml",
            config("node.toml"),
            text(renderer.node_toml(&node)?),
            0o644,
            restart.clone(),
        ));
        files.last_mut().expect("just pushed").judge = Some(judge_node_toml);
        let mut users_file = file(
            Item::UsersToml,
            "users.toml",
            config("users.toml"),
            users.clone(),
            0o640,
            vec![(Service::Node, Effect::Reload)],
        );
        users_file.owned = true;
        files.push(users_file);
        files.extend(host_key_files(cluster, secrets, &public)?);
        files.push(file(
            Item::ProbeKey,
            "probe key",
            config(PROBE_KEY_FILE),
            probe_pub.clone(),
            0o644,
            vec![(Service::Node, Effect::Reload)],
        ));
        let mut unit = file(
            Item::SystemdUnit,
            "systemd unit",
            PathBuf::from(UNIT_DIR).join("sftpha-node.service"),
            text(renderer.node_unit()?),
            0o644,
            restart,
        );
        unit.systemd_only = true;
        files.push(unit);
        hosts.push(HostSpec {
            host: node.host.clone(),
            roles: vec![format!("node {}", node.name)],
            node: Some(node),
            gateway: None,
            files,
            services: vec![Service::Node],
            retired: Vec::new(),
        });
    }

    if let Some(m) = cluster.gateway.managed() {
        for (index, host) in m.hosts.iter().enumerate() {
            let mut files = Vec::new();
            let mut services = Vec::new();
            let mut retired = Vec::new();
            match cluster.gateway.kind() {
                GatewayKind::Builtin => {
                    // An HAProxy of ours from before a kind switch stops (one that is not
                    // ours, serving something else, is left alone).
                    retired.push(Service::Haproxy);
                    let restart = vec![(Service::Gateway, Effect::Restart)];
                    files.push(binary_file(restart.clone()));
                    files.push(file(
                        Item::GatewayToml,
                        "gateway.toml",
                        config("gateway.toml"),
                        text(renderer.gateway_toml(host, index)?),
                        0o644,
                        restart.clone(),
                    ));
                    let mut unit = file(
                        Item::SystemdUnit,
                        "systemd unit",
                        PathBuf::from(UNIT_DIR).join("sftpha-gateway.service"),
                        text(renderer.gateway_unit()?),
                        0o644,
                        restart,
                    );
                    unit.systemd_only = true;
                    files.push(unit);
                    let mut socket = file(
                        Item::SystemdUnit,
                        "systemd socket unit",
                        PathBuf::from(UNIT_DIR).join("sftpha-gateway.socket"),
                        text(renderer.gateway_socket()?),
                        0o644,
                        vec![(Service::Gateway, Effect::Restart)],
                    );
                    socket.systemd_only = true;
                    files.push(socket);
                    services.push(Service::Gateway);
                }
                GatewayKind::Haproxy => {
                    // A builtin gateway from before a kind switch: its files go, it stops.
                    for (item, path, systemd_only) in [
                        ("gateway.toml", config("gateway.toml"), false),
                        (
                            "systemd unit",
                            PathBuf::from(UNIT_DIR).join("sftpha-gateway.service"),
                            true,
                        ),
                        (
                            "systemd socket unit",
                            PathBuf::from(UNIT_DIR).join("sftpha-gateway.socket"),
                            true,
                        ),
                    ] {
                        let mut gone = file(
                            Item::Retired,
                            item,
                            path,
                            text(String::new()),
                            0o644,
                            Vec::new(),
                        );
                        gone.absent = true;
                        gone.systemd_only = systemd_only;
                        files.push(gone);
                    }
                    retired.push(Service::Gateway);
                    let mut cfg = file(
                        Item::HaproxyCfg,
                        "haproxy.cfg",
                        PathBuf::from(HAPROXY_CFG),
                        text(renderer.haproxy_cfg()?),
                        0o644,
                        vec![(Service::Haproxy, Effect::Reload)],
                    );
                    cfg.check = Some("haproxy -c -q -f {}");
                    files.push(cfg);
                    services.push(Service::Haproxy);
                }
                GatewayKind::External => unreachable!("external gateways are skipped above"),
            }
            if let Some(conf) = renderer.keepalived_conf(index)? {
                let mut conf = file(
                    Item::KeepalivedConf,
                    "keepalived.conf",
                    PathBuf::from(KEEPALIVED_CONF),
                    text(conf),
                    0o640,
                    vec![(Service::Keepalived, Effect::Reload)],
                );
                conf.check = Some("keepalived -t -f {}");
                files.push(conf);
                services.push(Service::Keepalived);
            }
            let role = format!("gateway gw{}", index + 1);
            match hosts.iter_mut().find(|h| h.host == *host) {
                Some(existing) => {
                    existing.roles.push(role);
                    existing.gateway = Some(index);
                    for f in files {
                        match existing.files.iter_mut().find(|e| e.path == f.path) {
                            // The binary serves both: a new one restarts both.
                            Some(e) => e.affects.extend(f.affects),
                            None => existing.files.push(f),
                        }
                    }
                    existing.services.extend(services);
                    existing.retired.extend(retired);
                }
                None => hosts.push(HostSpec {
                    host: host.clone(),
                    roles: vec![role],
                    node: None,
                    gateway: Some(index),
                    files,
                    services,
                    retired,
                }),
            }
        }
    }
    Ok(hosts)
}
