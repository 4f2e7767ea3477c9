//! The desired state of every host: which files it holds (rendered from the templates, the
//! cluster's keys, users.toml, the sftpha binary), with which modes, and which services run.
//! Pure but for reading and, once, generating the cluster's keys beside cluster.toml.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::PrivateKey;
use serde::Serialize;

use crate::cluster::{Cluster, GatewayKind, NodeAddr};
use crate::error::{Error, Result};
use crate::node_config::sha256_hex;
use crate::render::{Renderer, HOST_KEY_FILE, PROBE_KEY_FILE};

/// The folder beside cluster.toml that holds the cluster's secrets (0700).
pub const KEYS_DIR: &str = "keys";
/// The probe login's private key in [`KEYS_DIR`].
pub const PROBE_PRIVATE: &str = "probe_ed25519";

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

/// One file a host must hold.
#[derive(Debug, Clone)]
pub struct Managed {
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
}

/// The cluster's keys, kept beside cluster.toml: one host key set for every node, and the
/// key of the probe login `provision` and `status` verify with.
pub struct Secrets {
    pub host_key: PrivateKey,
    /// The host key file's bytes as kept beside cluster.toml: sent as they are, so a key made
    /// by `ssh-keygen` (or the playbook) arrives byte for byte.
    pub host_key_file: Vec<u8>,
    pub probe_key: Arc<PrivateKey>,
    /// Files made by this run (shown once so the operator backs them up).
    pub generated: Vec<PathBuf>,
    /// The keys do not exist yet and stand in from memory (a dry run before the first run).
    pub pending: bool,
}

impl Secrets {
    /// Loads the keys, generating the missing ones when `create` (else an in-memory key
    /// stands in, for a dry run).
    pub fn load_or_create(cluster: &Cluster, create: bool) -> Result<Secrets> {
        let dir = cluster.dir().join(KEYS_DIR);
        let mut generated = Vec::new();
        let mut pending = false;
        let mut get = |name: &str, comment: String| -> Result<PrivateKey> {
            let path = dir.join(name);
            if path.exists() {
                check_private(&path)?;
                return crate::lab::load_key(&path);
            }
            if !create {
                pending = true;
                return crate::lab::random_key(&comment);
            }
            std::fs::create_dir_all(&dir).map_err(|source| Error::WriteFile {
                path: dir.clone(),
                source,
            })?;
            set_mode(&dir, 0o700)?;
            let key = crate::lab::generate_key(&path, &comment)?;
            generated.push(path);
            Ok(key)
        };
        let name = &cluster.file.name;
        let host_key = get(HOST_KEY_FILE, format!("sftpha cluster {name} host key"))?;
        let probe_key = get(PROBE_PRIVATE, format!("sftpha cluster {name} probe"))?;
        let host_key_file = match std::fs::read(dir.join(HOST_KEY_FILE)) {
            Ok(bytes) => bytes,
            Err(_) => host_key
                .to_openssh(russh::keys::ssh_key::LineEnding::LF)
                .map_err(|e| Error::usage(format!("cannot encode the host key: {e}"), None))?
                .as_bytes()
                .to_vec(),
        };
        Ok(Secrets {
            host_key,
            host_key_file,
            probe_key: Arc::new(probe_key),
            generated,
            pending,
        })
    }

    pub fn fingerprint(&self) -> String {
        crate::users::fingerprint(self.host_key.public_key())
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::WriteFile {
            path: path.to_owned(),
            source,
        }
    })
}

/// A private key others can read is refused (as OpenSSH refuses it).
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::HostKey {
            path: path.to_owned(),
            message: format!(
                "the key is readable by others (mode {:o}); `chmod 600 {}`",
                meta.permissions().mode() & 0o777,
                path.display()
            ),
        });
    }
    Ok(())
}

fn file(
    item: &str,
    path: PathBuf,
    content: Arc<Vec<u8>>,
    mode: u32,
    affects: Vec<(Service, Effect)>,
) -> Managed {
    Managed {
        item: item.to_owned(),
        sha256: sha256_hex(&content),
        path,
        content,
        mode,
        owned: false,
        affects,
        systemd_only: false,
        check: None,
        quick: false,
    }
}

fn text(s: String) -> Arc<Vec<u8>> {
    Arc::new(s.into_bytes())
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
    binary: Arc<Vec<u8>>,
) -> Result<Vec<HostSpec>> {
    let c = &cluster.file;
    let config = |name: &str| c.node.config_dir.join(name);
    let users = std::fs::read(&cluster.users).map_err(|source| Error::ReadFile {
        path: cluster.users.clone(),
        source,
    })?;
    // The nodes refuse an invalid users.toml; so do we, before anything is sent.
    crate::users::Users::parse(&cluster.users, &String::from_utf8_lossy(&users))?;
    let users = Arc::new(users);
    let host_key = Arc::new(secrets.host_key_file.clone());
    let public = |key: &PrivateKey| -> Result<Arc<Vec<u8>>> {
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))?;
        Ok(text(format!("{line}\n")))
    };
    let host_pub = public(&secrets.host_key)?;
    let probe_pub = public(&secrets.probe_key)?;
    let binary_file = |affects: Vec<(Service, Effect)>| {
        let mut f = file(
            "binary",
            c.node.install_dir.join("bin/sftpha"),
            binary.clone(),
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
            "node.toml",
            config("node.toml"),
            text(renderer.node_toml(&node)?),
            0o644,
            restart.clone(),
        ));
        let mut users_file = file(
            "users.toml",
            config("users.toml"),
            users.clone(),
            0o640,
            vec![(Service::Node, Effect::Reload)],
        );
        users_file.owned = true;
        files.push(users_file);
        let mut key = file(
            "host key",
            config(HOST_KEY_FILE),
            host_key.clone(),
            0o600,
            restart.clone(),
        );
        key.owned = true;
        files.push(key);
        files.push(file(
            "host key (public)",
            config(&format!("{HOST_KEY_FILE}.pub")),
            host_pub.clone(),
            0o644,
            vec![],
        ));
        files.push(file(
            "probe key",
            config(PROBE_KEY_FILE),
            probe_pub.clone(),
            0o644,
            restart.clone(),
        ));
        let mut unit = file(
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
        });
    }

    let g = &c.gateway;
    if g.kind != GatewayKind::External {
        for (index, host) in g.hosts.iter().enumerate() {
            let mut files = Vec::new();
            let mut services = Vec::new();
            match g.kind {
                GatewayKind::Builtin => {
                    let restart = vec![(Service::Gateway, Effect::Restart)];
                    files.push(binary_file(restart.clone()));
                    files.push(file(
                        "gateway.toml",
                        config("gateway.toml"),
                        text(renderer.gateway_toml(host, index)?),
                        0o644,
                        restart.clone(),
                    ));
                    let mut unit = file(
                        "systemd unit",
                        PathBuf::from(UNIT_DIR).join("sftpha-gateway.service"),
                        text(renderer.gateway_unit()?),
                        0o644,
                        restart,
                    );
                    unit.systemd_only = true;
                    files.push(unit);
                    services.push(Service::Gateway);
                }
                GatewayKind::Haproxy => {
                    let mut cfg = file(
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
                }
                None => hosts.push(HostSpec {
                    host: host.clone(),
                    roles: vec![role],
                    node: None,
                    gateway: Some(index),
                    files,
                    services,
                }),
            }
        }
    }
    Ok(hosts)
}
