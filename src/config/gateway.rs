//! `gateway.toml`: the configuration of the bundled TCP gateway, parsed and validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::node::valid_name;
use crate::error::{Error, Result};

/// How new connections are spread over healthy backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// In turn.
    Roundrobin,
    /// The backend with the fewest open sessions (ties in turn).
    Leastconn,
    /// A hash of the client address: a client keeps its backend while that backend is up.
    Source,
}

impl Balance {
    /// The name as written in gateway.toml.
    pub fn name(self) -> &'static str {
        match self {
            Balance::Roundrobin => "roundrobin",
            Balance::Leastconn => "leastconn",
            Balance::Source => "source",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// The gateway's name: in logs and /healthz.
    pub name: String,
    /// The address clients connect to, `IP:PORT`.
    pub listen: String,
    /// The address of the gateway's own /healthz and /metrics (HTTP), `IP:PORT`.
    pub health_listen: String,
    /// How new connections are spread over healthy backends.
    #[serde(default = "default_balance")]
    pub balance: Balance,
    /// Milliseconds between health checks of each backend.
    #[serde(default = "default_interval")]
    pub health_interval_ms: u64,
    /// How long one health check may take; defaults to the interval, at most 2 s.
    #[serde(default)]
    pub health_timeout_ms: Option<u64>,
    /// Failed checks in a row before a backend is taken out of the rotation.
    #[serde(default = "default_fall_rise")]
    pub health_fall: u32,
    /// Passed checks in a row before a backend is put back.
    #[serde(default = "default_fall_rise")]
    pub health_rise: u32,
    /// Milliseconds to connect to a backend before the client is taken to the next one.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// How long a backend may take to send its `SSH-2.0-` banner before the client is taken
    /// to the next backend (a frozen node accepts TCP but never speaks).
    #[serde(default = "default_banner_timeout")]
    pub banner_timeout_ms: u64,
    /// Send a PROXY protocol v2 header to the backends, so nodes see the real client.
    #[serde(default = "default_true")]
    pub send_proxy: bool,
    /// Client connections the gateway carries at once; more wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM, seconds to let open connections finish before closing them.
    #[serde(default = "default_drain")]
    pub drain_timeout_seconds: u64,
    /// The nodes, one table each.
    pub backends: Vec<BackendFile>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendFile {
    /// The node's name: in logs and /healthz.
    pub name: String,
    /// The node's SFTP address.
    pub address: String,
    /// The node's health URL, `http://HOST:PORT/healthz`.
    pub health_url: String,
}

pub(crate) fn default_balance() -> Balance {
    Balance::Leastconn
}
pub(crate) fn default_interval() -> u64 {
    1000
}
pub(crate) fn default_fall_rise() -> u32 {
    2
}
pub(crate) fn default_connect_timeout() -> u64 {
    1000
}
pub(crate) fn default_banner_timeout() -> u64 {
    1500
}
fn default_true() -> bool {
    true
}
fn default_max_connections() -> usize {
    10_000
}
fn default_drain() -> u64 {
    30
}

#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub address: SocketAddr,
    pub health_addr: SocketAddr,
    pub health_path: String,
}

/// A validated gateway configuration.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub file: GatewayFile,
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub health_listen: SocketAddr,
    pub backends: Vec<Backend>,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    pub connect_timeout: Duration,
    pub banner_timeout: Duration,
}

impl Gateway {
    pub fn load(path: &Path) -> Result<Gateway> {
        let text = crate::files::read_text(path)?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Gateway> {
        Self::parse_file(path, text).map_err(|e| {
            e.documented_in(path, |key| {
                crate::config::reference::FileFormat::Gateway.hint(key)
            })
        })
    }

    fn parse_file(path: &Path, text: &str) -> Result<Gateway> {
        let file: GatewayFile = crate::files::parse_toml(path, text)?;
        let invalid = |key: &str, msg: String| Error::config(path, Some(key), msg);
        if !valid_name(&file.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` is not a valid name: use letters, digits, `-` or `_`",
                    file.name
                ),
            ));
        }
        let addr = |key: &str, text: &str| {
            text.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    key,
                    format!("`{text}` is not an address with a port, like `0.0.0.0:2222`"),
                )
            })
        };
        let listen = addr("listen", &file.listen)?;
        let health_listen = addr("health_listen", &file.health_listen)?;
        for (key, value) in [
            ("health_interval_ms", file.health_interval_ms),
            ("health_fall", file.health_fall as u64),
            ("health_rise", file.health_rise as u64),
            ("connect_timeout_ms", file.connect_timeout_ms),
            ("banner_timeout_ms", file.banner_timeout_ms),
            ("max_connections", file.max_connections as u64),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if file.health_timeout_ms == Some(0) {
            return Err(invalid("health_timeout_ms", "must be at least 1".into()));
        }
        if file.backends.is_empty() {
            return Err(invalid(
                "backends",
                "list at least one backend ([[backends]])".into(),
            ));
        }
        let mut backends = Vec::new();
        for (i, b) in file.backends.iter().enumerate() {
            let key = |k: &str| format!("backends[{i}].{k}");
            if !valid_name(&b.name) {
                return Err(invalid(
                    &key("name"),
                    format!("`{}` is not a valid name", b.name),
                ));
            }
            if backends.iter().any(|o: &Backend| o.name == b.name) {
                return Err(invalid(
                    &key("name"),
                    format!("backend `{}` is listed twice", b.name),
                ));
            }
            let address = addr(&key("address"), &b.address)?;
            let (health_addr, health_path) =
                parse_http_url(&b.health_url).map_err(|m| invalid(&key("health_url"), m))?;
            backends.push(Backend {
                name: b.name.clone(),
                address,
                health_addr,
                health_path,
            });
        }
        let interval = Duration::from_millis(file.health_interval_ms);
        let health_timeout = file
            .health_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| interval.min(Duration::from_secs(2)));
        Ok(Gateway {
            listen,
            health_listen,
            backends,
            health_interval: interval,
            health_timeout,
            connect_timeout: Duration::from_millis(file.connect_timeout_ms),
            banner_timeout: Duration::from_millis(file.banner_timeout_ms),
            path: path.to_owned(),
            file,
        })
    }
}

/// `http://HOST:PORT/PATH` with a literal IP address (health checks must not depend on DNS).
pub fn parse_http_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/healthz".to_owned()),
    };
    let addr = host.parse::<SocketAddr>().map_err(|_| {
        format!("`{url}`: the host must be an IP address with a port, like http://10.0.0.5:9022/healthz")
    })?;
    Ok((addr, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "gw1"
listen = "127.0.0.1:0"
health_listen = "127.0.0.1:0"
[[backends]]
name = "n1"
address = "127.0.0.1:2201"
health_url = "http://127.0.0.1:9001/healthz"
"#;

    #[test]
    fn parses_with_defaults() {
        let g = Gateway::parse(Path::new("g.toml"), OK).unwrap();
        assert_eq!(g.file.balance, Balance::Leastconn);
        assert_eq!(g.backends[0].health_path, "/healthz");
        assert_eq!(g.health_timeout, Duration::from_secs(1));
        assert!(g.file.send_proxy);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = OK.replace("http://127.0.0.1:9001/healthz", "http://node1:9001/healthz");
        let err = Gateway::parse(Path::new("g.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("backends[0].health_url"), "{err}");
        let bad = OK.replace("name = \"gw1\"", "name = \"gw1\"\nbalance = \"random\"");
        let err = Gateway::parse(Path::new("g.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("random"), "{err}");
        let dup = format!("{OK}[[backends]]\nname = \"n1\"\naddress = \"127.0.0.1:1\"\nhealth_url = \"http://127.0.0.1:2/\"\n");
        let err = Gateway::parse(Path::new("g.toml"), &dup)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listed twice"), "{err}");
    }
}
