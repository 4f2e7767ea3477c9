//! `node.toml`: the configuration of one bundled SFTP node, parsed and validated.
//!
//! Every node of a cluster gets the same file except for `name`; relative paths are taken
//! relative to the directory of the file itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How the node treats a PROXY protocol header in front of the SSH stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Never expect a header; a connection that starts with one fails the SSH handshake.
    Off,
    /// Trusted sources may send a header; connections without one are served as they are.
    Optional,
    /// Every connection must come from a trusted source and start with a header.
    Required,
}

/// What happens to an upload while it is being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadMode {
    /// Data goes to a hidden temporary file that is renamed into place on close; resuming is refused.
    Atomic,
    /// Data goes straight to the final name, so clients can resume (`reput`, rclone); partial
    /// files are visible while they are written and after an aborted upload.
    Resumable,
}

/// The folder below the storage path that belongs to sftpha, not to users.
pub const STATE_DIR: &str = ".sftpha";

/// `start:rate:full`, as OpenSSH's `MaxStartups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    pub start: usize,
    pub rate: u32,
    pub full: usize,
}

impl Default for MaxStartups {
    fn default() -> Self {
        MaxStartups {
            start: 128,
            rate: 30,
            full: 256,
        }
    }
}

impl fmt::Display for MaxStartups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.rate, self.full)
    }
}

impl FromStr for MaxStartups {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not `start:rate:full` (e.g. `128:30:256`: shed from 128 unauthenticated connections with 30 % probability, rising to 100 % at 256), nor a single number"
            )
        };
        let parts: Vec<&str> = text.split(':').collect();
        let number = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
        let limits = match parts.as_slice() {
            [full] => {
                let full = number(full)?;
                MaxStartups {
                    start: full,
                    rate: 100,
                    full,
                }
            }
            [start, rate, full] => MaxStartups {
                start: number(start)?,
                rate: number(rate)? as u32,
                full: number(full)?,
            },
            _ => return Err(bad()),
        };
        if limits.full == 0 || limits.start > limits.full || limits.rate > 100 {
            return Err(format!(
                "`{text}`: need 1 <= start <= full and a rate of 0 to 100 %"
            ));
        }
        Ok(limits)
    }
}

impl serde::Serialize for MaxStartups {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MaxStartups {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The file as written by the operator; every key is checked by [`NodeConfig::load`].
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name: in logs, /healthz and the audit log.
    pub name: String,
    /// The SFTP address, `IP:PORT` (`0.0.0.0:2222`).
    pub listen: String,
    /// The address of /healthz and /metrics (HTTP), `IP:PORT`.
    pub health_listen: String,
    /// The folder the users' homes are under (the shared storage).
    pub storage: PathBuf,
    /// A file that holds the cluster's storage identity (32 hex digits, the content of
    /// `.sftpha/storage-id` on the shared storage), kept by `sftpha provision` and read at
    /// every storage check. A node whose storage has another identity, or none, is not on the
    /// cluster's storage (a missing or wrong mount): /healthz answers 503
    /// `storage_not_shared`, so no balancer sends it sessions, and it opens no home. While the
    /// file is missing the node takes the identity it finds on the storage, or makes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id_file: Option<PathBuf>,
    /// OpenSSH private host key files (ed25519, ECDSA, RSA), the same on every node of a cluster. Reloadable on SIGHUP.
    pub host_keys: Vec<PathBuf>,
    /// OpenSSH host certificates (`*-cert.pub`) for keys of `host_keys`, each presented to
    /// clients that trust its CA (`@cert-authority` in known_hosts).
    #[serde(default)]
    pub host_certificates: Vec<PathBuf>,
    /// users.toml: the users, re-read on SIGHUP.
    pub users: PathBuf,
    /// Whether connections start with a PROXY protocol header (the gateway sends v2, so nodes see the real client).
    #[serde(default = "default_proxy_mode")]
    pub proxy_protocol: ProxyMode,
    /// Networks (CIDR) allowed to send a PROXY header: the gateways.
    #[serde(default = "default_proxy_trusted")]
    pub proxy_trusted: Vec<String>,
    /// Logged-in connections the node takes at once; more are refused at login.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// What happens to an upload while it is being written.
    #[serde(default = "default_upload_mode")]
    pub upload_mode: UploadMode,
    /// A JSON-lines file of logins and file operations; reopened on SIGHUP (for logrotate). Unset: none.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// On SIGTERM, seconds to wait for open sessions to finish before closing them.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_seconds: u64,
    /// Seconds a connection may take to log in before it is closed (OpenSSH `LoginGraceTime`).
    #[serde(default = "default_login_grace")]
    pub login_grace_seconds: u64,
    /// Seconds without any traffic after which a logged-in session is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// Authentication attempts allowed on one connection (OpenSSH `MaxAuthTries`).
    #[serde(default = "default_max_auth_tries")]
    pub max_auth_tries: usize,
    /// Failed logins from one source address within `auth_fail_window_seconds` before that
    /// address is refused for `auth_ban_seconds`. 0 turns throttling off.
    #[serde(default = "default_auth_fail_limit")]
    pub auth_fail_limit: u32,
    /// The window over which failed logins from one address are counted.
    #[serde(default = "default_auth_fail_window")]
    pub auth_fail_window_seconds: u64,
    /// How long an address that reached auth_fail_limit is refused.
    #[serde(default = "default_auth_ban")]
    pub auth_ban_seconds: u64,
    /// Open file and directory handles one connection may hold, over all its SFTP sessions.
    #[serde(default = "default_max_handles")]
    pub max_handles: usize,
    /// Unauthenticated connections: `start:rate:full` as OpenSSH's `MaxStartups`: from
    /// `start` on, a newcomer makes the node shed one with `rate` percent probability, rising
    /// to always at `full`; unlike OpenSSH it sheds from sources failing logins or holding
    /// the most first, so a flood evicts itself. A single number N means `N:100:N`.
    // How: crate::node::limits.
    #[serde(default)]
    #[schemars(with = "String")]
    pub max_startups: MaxStartups,
    /// Unauthenticated connections one source (an IPv4 address or an IPv6 /64) may hold at
    /// once (OpenSSH `PerSourceMaxStartups`); 0 turns the limit off.
    #[serde(default = "default_per_source_max_startups")]
    pub per_source_max_startups: usize,
    /// MiB of queued SFTP requests and replies over all sessions; beyond it only sessions
    /// under their floor (256 KiB) take more.
    // How: crate::node::limits::QueueBudget.
    #[serde(default = "default_max_queued_mib")]
    pub max_queued_mib: u64,
    /// Logged-in connections one user may have on the node at once (0: no limit), so that one
    /// account cannot take every session slot.
    #[serde(default = "default_max_sessions_per_user")]
    pub max_sessions_per_user: usize,
    /// SFTP sessions (session channels) one connection may have open at once (OpenSSH
    /// `MaxSessions`).
    #[serde(default = "default_max_channels")]
    pub max_channels: usize,
    /// Permission bits taken away from files and directories that clients create, and from
    /// homes made at first login (OpenSSH `sftp-server -u`): octal, e.g. `"077"` (owner
    /// only, the default) or `"027"` (group may read).
    #[serde(default = "default_umask", with = "octal")]
    #[schemars(with = "String")]
    pub umask: u32,
    /// fsync every uploaded file before it is renamed into place (survives a host crash on
    /// local disks; NFS already flushes on close).
    #[serde(default)]
    pub fsync_uploads: bool,
    /// Seconds between checks that the storage accepts writes (reported by `/healthz`).
    #[serde(default = "default_storage_check_interval")]
    pub storage_check_interval_seconds: u64,
    /// Public key file of the operator's verification login (`sftpha-probe`, jailed in
    /// `.sftpha/probe` on the storage), which `provision` and `status` use to prove the
    /// storage is shared and the gateway logs in. Unset: no such login exists.
    #[serde(default)]
    pub probe_key: Option<PathBuf>,
}

fn default_proxy_mode() -> ProxyMode {
    ProxyMode::Off
}
fn default_proxy_trusted() -> Vec<String> {
    vec!["127.0.0.1/32".into(), "::1/128".into()]
}
fn default_max_sessions() -> usize {
    1000
}
fn default_upload_mode() -> UploadMode {
    UploadMode::Atomic
}
fn default_drain_timeout() -> u64 {
    30
}
fn default_login_grace() -> u64 {
    30
}
fn default_idle_timeout() -> u64 {
    900
}
fn default_max_auth_tries() -> usize {
    6
}
fn default_auth_fail_limit() -> u32 {
    10
}
fn default_auth_fail_window() -> u64 {
    60
}
fn default_auth_ban() -> u64 {
    300
}
fn default_max_handles() -> usize {
    256
}
fn default_per_source_max_startups() -> usize {
    20
}
fn default_max_sessions_per_user() -> usize {
    100
}
fn default_max_queued_mib() -> u64 {
    128
}
fn default_max_channels() -> usize {
    4
}
fn default_umask() -> u32 {
    0o077
}

/// An octal permission mask written as a string (`"077"`), as people write umasks.
mod octal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mask: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mask:03o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        u32::from_str_radix(text.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an octal mask of permission bits like \"077\" or \"027\""
                ))
            })
    }
}
fn default_storage_check_interval() -> u64 {
    2
}

/// Keys of node.toml a running node takes on SIGHUP (besides re-reading users.toml): a host
/// key rotation needs no restart and cuts no session.
pub const RELOADABLE: [&str; 3] = ["host_keys", "host_certificates", "probe_key"];

/// A validated node configuration with absolute paths and parsed addresses.
#[derive(Debug, Clone)]
pub struct Node {
    pub file: NodeConfig,
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    pub proxy_trusted: Vec<IpNet>,
    /// SHA-256 over everything that must be the same on every node: all keys but the
    /// host-local `name`, `listen`, `health_listen` and `audit_log`.
    pub checksum: String,
}

impl Node {
    /// Reads, parses and validates `path`; every problem names the file and the key.
    pub fn load(path: &Path) -> Result<Node> {
        let text = crate::files::read_text(path)?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Node> {
        Self::parse_file(path, text).map_err(|e| {
            e.documented_in(path, |key| {
                crate::config::reference::FileFormat::Node.hint(key)
            })
        })
    }

    fn parse_file(path: &Path, text: &str) -> Result<Node> {
        let mut file: NodeConfig = crate::files::parse_toml(path, text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |key: &str, msg: String| Error::config(path, Some(key), msg);

        if !valid_name(&file.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` is not a valid node name: use 1-63 letters, digits, `-` or `_`",
                    file.name
                ),
            ));
        }
        let listen = parse_addr(&file.listen).map_err(|m| invalid("listen", m))?;
        let health_listen =
            parse_addr(&file.health_listen).map_err(|m| invalid("health_listen", m))?;
        if listen.port() != 0 && listen == health_listen {
            return Err(invalid(
                "health_listen",
                format!("`{health_listen}` is the same address as `listen`"),
            ));
        }
        file.storage = absolute(base, &file.storage);
        file.users = absolute(base, &file.users);
        file.storage_id_file = file.storage_id_file.map(|f| absolute(base, &f));
        if file.host_keys.is_empty() {
            return Err(invalid(
                "host_keys",
                "list at least one OpenSSH private key file".into(),
            ));
        }
        for key in file.host_keys.iter_mut().chain(&mut file.host_certificates) {
            *key = absolute(base, key);
        }
        if let Some(probe) = &mut file.probe_key {
            *probe = absolute(base, probe);
        }
        if let Some(audit) = &mut file.audit_log {
            if audit.as_os_str().is_empty() {
                file.audit_log = None;
            } else {
                *audit = absolute(base, audit);
            }
        }
        let mut proxy_trusted = Vec::new();
        for cidr in &file.proxy_trusted {
            let net = cidr
                .parse::<IpNet>()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    invalid(
                        "proxy_trusted",
                        format!("`{cidr}` is not an address or CIDR block like `10.0.0.0/8`"),
                    )
                })?;
            proxy_trusted.push(net);
        }
        if file.proxy_protocol == ProxyMode::Required && proxy_trusted.is_empty() {
            return Err(invalid(
                "proxy_trusted",
                "`proxy_protocol = \"required\"` needs at least one trusted source".into(),
            ));
        }
        let positive = [
            ("max_sessions", file.max_sessions as u64),
            ("login_grace_seconds", file.login_grace_seconds),
            ("idle_timeout_seconds", file.idle_timeout_seconds),
            ("max_auth_tries", file.max_auth_tries as u64),
            ("auth_fail_window_seconds", file.auth_fail_window_seconds),
            ("max_handles", file.max_handles as u64),
            ("max_channels", file.max_channels as u64),
            ("max_queued_mib", file.max_queued_mib),
            (
                "storage_check_interval_seconds",
                file.storage_check_interval_seconds,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if file.max_channels > 64 {
            return Err(invalid(
                "max_channels",
                format!("`{}` is over the limit of 64", file.max_channels),
            ));
        }
        if file.max_handles > 65536 {
            return Err(invalid(
                "max_handles",
                format!("`{}` is over the limit of 65536", file.max_handles),
            ));
        }

        let checksum = {
            let mut anonymous = file.clone();
            anonymous.name = String::new();
            anonymous.listen = String::new();
            anonymous.health_listen = String::new();
            anonymous.audit_log = None;
            let canonical = serde_json::to_vec(&anonymous).expect("config serializes");
            crate::checksum::sha256_hex(&canonical)
        };
        Ok(Node {
            file,
            path: path.to_owned(),
            listen,
            health_listen,
            proxy_trusted,
            checksum,
        })
    }

    /// The keys whose values differ between `self` and `other` and that only a restart puts
    /// in force (all but [`RELOADABLE`] and the host-local ones).
    pub fn restart_keys_changed(&self, other: &Node) -> Vec<String> {
        let a = serde_json::to_value(&self.file).expect("config serializes");
        let b = serde_json::to_value(&other.file).expect("config serializes");
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        a.iter()
            .filter(|(k, v)| !RELOADABLE.contains(&k.as_str()) && b.get(k.as_str()) != Some(v))
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn is_trusted_proxy(&self, addr: std::net::IpAddr) -> bool {
        let addr = canonical_ip(addr);
        self.proxy_trusted.iter().any(|net| net.contains(&addr))
    }
}

/// Maps an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) to plain IPv4.
pub fn canonical_ip(addr: std::net::IpAddr) -> std::net::IpAddr {
    match addr {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(std::net::IpAddr::V4)
            .unwrap_or(addr),
        v4 => v4,
    }
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        format!("`{text}` is not an address with a port, like `0.0.0.0:2222` or `[::]:2222`")
    })
}

pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_startups_parses_like_openssh() {
        assert_eq!(
            "10:30:100".parse::<MaxStartups>().unwrap(),
            MaxStartups {
                start: 10,
                rate: 30,
                full: 100
            }
        );
        assert_eq!("50".parse::<MaxStartups>().unwrap().start, 50);
        for bad in ["", "1:2", "a:b:c", "20:30:10", "1:101:5", "0"] {
            assert!(bad.parse::<MaxStartups>().is_err(), "{bad}");
        }
    }

    const MINIMAL: &str = r#"
name = "n1"
listen = "127.0.0.1:0"
health_listen = "127.0.0.1:0"
storage = "storage"
host_keys = ["keys/host_ed25519"]
users = "users.toml"
"#;

    #[test]
    fn relative_paths_are_taken_from_the_config_directory() {
        let node = Node::parse(Path::new("/etc/sftpha/node.toml"), MINIMAL).unwrap();
        assert_eq!(node.file.storage, Path::new("/etc/sftpha/storage"));
        assert_eq!(
            node.file.host_keys,
            vec![PathBuf::from("/etc/sftpha/keys/host_ed25519")]
        );
        assert_eq!(node.file.upload_mode, UploadMode::Atomic);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Node::parse(
            Path::new("node.toml"),
            &format!("{MINIMAL}\nmax_sesions = 3\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_sesions"), "{err}");
        assert!(err.contains("node.toml"), "{err}");
        assert!(err.contains("line 9"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let text = MINIMAL.replace("127.0.0.1:0\"\nhealth", "localhost\"\nhealth");
        let err = Node::parse(Path::new("node.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `listen`"), "{err}");
        let err = Node::parse(
            Path::new("node.toml"),
            &format!("{MINIMAL}\nproxy_trusted = [\"10.0.0.0/33\"]\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("key `proxy_trusted`"), "{err}");
        let err = Node::parse(
            Path::new("node.toml"),
            &format!("{MINIMAL}\nupload_mode = \"fast\"\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("fast"), "{err}");
    }

    #[test]
    fn checksum_ignores_name_and_bind_addresses() {
        let a = Node::parse(Path::new("/x/node.toml"), MINIMAL).unwrap();
        let b = Node::parse(
            Path::new("/x/node.toml"),
            &MINIMAL.replace("\"n1\"", "\"n2\"").replace(
                "\nlisten = \"127.0.0.1:0\"",
                "\nlisten = \"127.0.0.1:2202\"",
            ),
        )
        .unwrap();
        let c = Node::parse(
            Path::new("/x/node.toml"),
            &format!("{MINIMAL}\nmax_sessions = 7\n"),
        )
        .unwrap();
        assert_eq!(a.checksum, b.checksum);
        assert_ne!(a.checksum, c.checksum);
    }

    #[test]
    fn trusted_proxies_match_mapped_addresses() {
        let node = Node::parse(Path::new("n.toml"), MINIMAL).unwrap();
        assert!(node.is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(node.is_trusted_proxy("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!node.is_trusted_proxy("198.18.0.5".parse().unwrap()));
    }
}
