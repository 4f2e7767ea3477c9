//! The `/healthz` bodies, typed once: the node and the gateway write them, and every reader
//! (the gateway's checks, assess --probe, provision, status, test-failover, the lab) reads
//! them through these types rather than by string key. Fields added later have defaults, so a
//! newer reader still reads an older node during a rolling upgrade.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One host certificate as a node presents it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub path: String,
    /// The host key it certifies.
    pub key_fingerprint: String,
    /// The CA that signed it: what clients trust with `@cert-authority`.
    pub ca_fingerprint: String,
    pub principals: Vec<String>,
    pub valid_after: u64,
    /// Unix seconds; `u64::MAX` for "forever".
    pub valid_before: u64,
    pub serial: u64,
}

/// A node's `/healthz` (200 when `status` is `ok`, else 503).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeHealth {
    /// `ok`, `draining`, `storage_not_shared`, `storage_changed`, `storage_not_writable`,
    /// `full` or `fd_limit`.
    pub status: String,
    pub node: String,
    pub version: String,
    /// Over every node.toml key that must match across nodes (all but the host-local ones).
    pub config_checksum: String,
    pub users_checksum: String,
    pub users: usize,
    /// The first host key's fingerprint (what a client without a preference is shown).
    pub host_key_fingerprint: Option<String>,
    pub host_key_fingerprints: Vec<String>,
    pub host_certificates: Vec<CertificateInfo>,
    /// Logged-in sessions.
    pub sessions: i64,
    pub connections: i64,
    /// Connections that have not logged in yet.
    pub startups: usize,
    pub fds_used: i64,
    pub fds_budget: i64,
    pub password_checks_waiting: usize,
    pub queued_bytes: i64,
    pub open_files: i64,
    pub max_sessions: usize,
    pub storage_writable: bool,
    pub storage_same: bool,
    /// The storage's identity: the same on every node that really shares it.
    pub storage_id: Option<String>,
    pub storage_free_bytes: Option<u64>,
    pub storage_total_bytes: Option<u64>,
    /// The node's clock (for clock skew).
    pub time_unix_ms: Option<i64>,
    pub draining: bool,
    pub upload_mode: String,
    pub uptime_seconds: u64,
}

/// A builtin gateway's `/healthz` (200 while a backend is up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayHealth {
    /// `ok`, `draining` or `no_backend`.
    pub status: String,
    pub gateway: String,
    pub version: String,
    pub balance: String,
    pub connections: i64,
    pub redispatches_total: u64,
    pub backends: Vec<BackendHealth>,
}

/// One backend as the gateway sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendHealth {
    pub name: String,
    pub address: String,
    /// `up`, `down` or `unavailable`.
    pub state: String,
    pub suspect: bool,
    pub active: i64,
    pub sessions_total: u64,
    pub connect_failures_total: u64,
    pub since_ms: i64,
    pub last_check: String,
}

impl GatewayHealth {
    pub fn backend(&self, name: &str) -> Option<&BackendHealth> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// Backends taking new sessions.
    pub fn up(&self) -> usize {
        self.backends.iter().filter(|b| b.state == "up").count()
    }
}

/// An answer to a `/healthz` request.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub code: u16,
    pub body: T,
    /// The server's clock minus ours (ms), when it says its time and the uncertainty of the
    /// round trip leaves any.
    pub clock_offset_ms: Option<i64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// The clock a body reports, when it reports one.
pub trait Clock {
    fn time_unix_ms(&self) -> Option<i64>;
}

impl Clock for NodeHealth {
    fn time_unix_ms(&self) -> Option<i64> {
        self.time_unix_ms
    }
}

impl Clock for GatewayHealth {
    fn time_unix_ms(&self) -> Option<i64> {
        None
    }
}

/// `GET /healthz` of `addr`, within `limit`; errors for people.
pub async fn fetch<T: DeserializeOwned + Clock>(
    addr: SocketAddr,
    limit: Duration,
) -> Result<Answer<T>, String> {
    let before = now_ms();
    let (code, text) = super::http::get(addr, "/healthz", limit)
        .await
        .map_err(|e| format!("no /healthz from `{addr}`: {e}"))?;
    let after = now_ms();
    let body: T = serde_json::from_str(&text).map_err(|_| {
        format!("`{addr}` answered /healthz with something other than sftpha's JSON")
    })?;
    let clock_offset_ms = body.time_unix_ms().map(|t| {
        let raw = t - (before + after) / 2;
        let uncertainty = (after - before) / 2 + 1;
        raw.signum() * (raw.abs() - uncertainty).max(0)
    });
    Ok(Answer {
        code,
        body,
        clock_offset_ms,
    })
}

/// `fetch` of `addr` given as `host:port` (looked up within `limit`).
pub async fn fetch_at<T: DeserializeOwned + Clock>(
    addr: &str,
    limit: Duration,
) -> Result<Answer<T>, String> {
    let sock = crate::net::resolve(addr, limit).await?;
    fetch(sock, limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_node_without_the_new_fields_still_reads() {
        let old = r#"{"status":"ok","node":"n1","version":"0.1.0","config_checksum":"c","users_checksum":"u","users":1,"host_key_fingerprint":"SHA256:x","host_key_fingerprints":["SHA256:x"],"sessions":2,"connections":3}"#;
        let h: NodeHealth = serde_json::from_str(old).unwrap();
        assert_eq!(h.sessions, 2);
        assert_eq!(h.storage_id, None);
        let back: NodeHealth = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
