//! `cluster.toml`: the desired state of a whole cluster (what the business needs, how the
//! operator reaches the hosts, the node settings every node shares, the storage, the nodes and
//! the gateways), parsed and validated into a [`Cluster`].
//!
//! Every problem names the file and the key (`nodes[2].host`), so an operator can fix it
//! without reading code. Relative paths are relative to the directory of cluster.toml.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::node::{absolute, UploadMode};
use crate::error::Result;

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// The cluster's name: in reports, host certificates and the lab.
    pub name: String,
    /// users.toml, relative to cluster.toml.
    #[serde(default = "default_users")]
    pub users: PathBuf,
    /// What the business needs: `assess` judges the design against these.
    #[serde(default)]
    pub objectives: Objectives,
    /// How sftpha logs into the hosts to provision and check them.
    #[serde(default)]
    pub ssh: Ssh,
    /// Settings every node shares (rendered into each node.toml).
    #[serde(default)]
    pub node: NodeSettings,
    /// The storage every node serves the users' homes from.
    pub storage: Storage,
    /// The SFTP nodes, one table each; two or more for high availability.
    pub nodes: Vec<NodeEntry>,
    /// The gateway tier in front of the nodes: the address clients connect to.
    pub gateway: GatewaySettings,
    /// Availability of single components for the availability estimate.
    #[serde(default)]
    pub availability: AvailabilityFigures,
    /// Recovery of components that cannot fail over by themselves.
    #[serde(default)]
    pub recovery: Recovery,
    /// The cluster's host keys and certificates.
    #[serde(default)]
    pub keys: KeySettings,
    /// Findings the business has accepted for a while: `assess` lists them and does not fail
    /// on them until they expire.
    #[serde(default)]
    pub accepted_risks: Vec<AcceptedRisk>,
}

/// `[[accepted_risks]]`: a finding accepted, why, and until when.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptedRisk {
    /// The finding's id, as `assess` prints it (`spof.gateway`, `rto.breached.zone_down`).
    pub id: String,
    /// Why, in the words of whoever accepted it (a ticket, a decision).
    pub reason: String,
    /// The last day it is accepted (UTC); from the next day the finding counts again.
    #[schemars(with = "String", extend("format" = "date"))]
    pub expires: crate::date::Date,
}

/// The cluster's host identity as clients see it.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// Names clients reach the cluster by besides the gateway and node addresses (DNS
    /// names): host certificate principals and `sftpha keys known-hosts` patterns.
    #[serde(default)]
    pub host_names: Vec<String>,
    /// Days a host certificate is valid; `provision` renews it when a third is left.
    #[serde(default = "default_certificate_days")]
    pub certificate_days: u32,
}

fn default_certificate_days() -> u32 {
    365
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            host_names: Vec::new(),
            certificate_days: default_certificate_days(),
        }
    }
}

/// How bad downtime is for the business; `init` derives default objectives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Money, patients or regulators are hurt within minutes.
    Critical,
    /// Partners notice within the hour; contracts have penalties.
    High,
    /// Batches are late but catch up.
    Moderate,
    /// Transfers can wait for the next business day.
    Low,
}

impl Impact {
    pub const ALL: [Impact; 4] = [
        Impact::Critical,
        Impact::High,
        Impact::Moderate,
        Impact::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Critical => "critical",
            Impact::High => "high",
            Impact::Moderate => "moderate",
            Impact::Low => "low",
        }
    }

    /// Default objectives for this impact: (rto_seconds, rpo_seconds, availability_percent).
    pub fn objectives(self) -> (u64, u64, f64) {
        match self {
            Impact::Critical => (30, 0, 99.99),
            Impact::High => (60, 0, 99.95),
            Impact::Moderate => (300, 300, 99.9),
            Impact::Low => (3600, 3600, 99.5),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Longest tolerable outage for new sessions.
    #[serde(default = "default_rto")]
    pub rto_seconds: u64,
    /// Longest tolerable loss window for completed uploads.
    #[serde(default)]
    pub rpo_seconds: u64,
    /// Concurrent SFTP sessions at peak.
    #[serde(default = "default_peak_sessions")]
    pub peak_sessions: u64,
    /// Availability objective in percent over a year (99.95 is about 4.4 hours of downtime).
    #[serde(default = "default_availability")]
    pub availability_percent: f64,
    /// Aggregate transfer rate at peak, in megabits per second (optional).
    #[serde(default)]
    pub peak_throughput_mbps: Option<f64>,
    /// How bad downtime is for the business (informational; `init` sets it).
    #[serde(default)]
    pub impact: Option<Impact>,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            rto_seconds: default_rto(),
            rpo_seconds: 0,
            peak_sessions: default_peak_sessions(),
            availability_percent: default_availability(),
            peak_throughput_mbps: None,
            impact: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ssh {
    /// The user sftpha logs into every host as: root (sudo is not supported yet).
    #[serde(default = "default_ssh_user")]
    pub user: String,
    /// The hosts' SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Private key for logging into the hosts; the ssh-agent is used when unset.
    #[serde(default)]
    pub identity: Option<PathBuf>,
    /// OpenSSH known_hosts file for the hosts, relative to cluster.toml.
    #[serde(default = "default_known_hosts")]
    pub known_hosts: PathBuf,
    /// Seconds to connect and log into a host before it counts as unreachable (exit 3).
    #[serde(default = "default_ssh_timeout")]
    pub timeout_seconds: u64,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: default_ssh_user(),
            port: default_ssh_port(),
            identity: None,
            known_hosts: default_known_hosts(),
            timeout_seconds: default_ssh_timeout(),
        }
    }
}

/// What every node shares.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The SFTP port every node listens on (the gateway connects to it).
    #[serde(default = "default_sftp_port")]
    pub port: u16,
    /// The port of each node's /healthz and /metrics (HTTP), which the gateway checks.
    #[serde(default = "default_health_port")]
    pub health_port: u16,
    /// Logged-in sessions one node takes at once; `assess` checks peak_sessions against what is left with a node down.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: u64,
    /// Where `provision` installs the sftpha binary on each host.
    #[serde(default = "default_install_dir")]
    pub install_dir: PathBuf,
    /// Where node.toml, users.toml and the host keys go on each host.
    #[serde(default = "default_config_dir")]
    pub config_dir: PathBuf,
    /// Where pidfiles and state go on each host.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Where logs and the audit log go on each host.
    #[serde(default = "default_log_dir")]
    pub log_dir: PathBuf,
    /// What happens to an upload while it is written (see node.toml's upload_mode).
    #[serde(default = "default_upload_mode")]
    pub upload_mode: UploadMode,
    /// On stop or upgrade, seconds a node waits for open sessions to finish before it closes them.
    #[serde(default = "default_drain")]
    pub drain_timeout_seconds: u64,
    /// The unprivileged user the node runs as (same uid on every host); root when unset.
    #[serde(default)]
    pub service_user: Option<String>,
    /// What one node sustains, in megabits per second (from your own benchmark); lets
    /// `assess` check `objectives.peak_throughput_mbps` with a node down.
    #[serde(default)]
    pub throughput_mbps: Option<f64>,
    /// How `provision` runs the node and the builtin gateway on a host: `systemd` units,
    /// `detached` processes with a pidfile and a log file (containers, hosts without
    /// systemd), or `auto`: systemd where it is running (`/run/systemd/system` exists).
    #[serde(default)]
    pub service_manager: ServiceManager,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceManager {
    /// systemd where it is running (`/run/systemd/system` exists), else detached.
    #[default]
    Auto,
    /// systemd units (`sftpha-node.service`, `sftpha-gateway.service`).
    Systemd,
    /// Processes with a pidfile and a log file (containers, hosts without systemd).
    Detached,
}

impl Default for NodeSettings {
    fn default() -> Self {
        toml::from_str("").expect("every node setting has a default")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// An NFS export every node mounts at `path`.
    Nfs,
    /// An SMB/CIFS share every node mounts at `path`.
    Smb,
    /// CephFS mounted at `path` on every node.
    Cephfs,
    /// GlusterFS mounted at `path` on every node.
    Glusterfs,
    /// Any other file system every node mounts at `path` (a cluster file system, or one
    /// folder on one machine, as in the lab).
    Shared,
    /// Each node's own disk: nothing is shared.
    Local,
}

impl StorageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Nfs => "nfs",
            StorageKind::Smb => "smb",
            StorageKind::Cephfs => "cephfs",
            StorageKind::Glusterfs => "glusterfs",
            StorageKind::Shared => "shared",
            StorageKind::Local => "local",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Replication {
    /// One copy: nothing to replicate.
    None,
    /// A write is done once every replica has it: no loss when one fails.
    Sync,
    /// Replicas follow behind (`replication_lag_seconds`): the last writes can be lost.
    Async,
}

impl Replication {
    pub fn as_str(self) -> &'static str {
        match self {
            Replication::None => "none",
            Replication::Sync => "sync",
            Replication::Async => "async",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// Mounted at the same path on every node.
    pub path: PathBuf,
    /// What the storage is; `assess` judges sharing and single points of failure by it.
    #[serde(default = "default_storage_kind")]
    pub kind: StorageKind,
    /// Copies the storage keeps (1 = one NAS = a single point of failure).
    #[serde(default = "default_one")]
    pub replicas: u32,
    /// How the storage copies data between its replicas; async replication can lose the last writes (RPO).
    #[serde(default = "default_replication")]
    pub replication: Replication,
    /// With async replication: how far a replica may lag behind; the RPO of losing the primary.
    #[serde(default)]
    pub replication_lag_seconds: u64,
    /// How long the storage's own failover to another replica takes.
    #[serde(default = "default_storage_failover")]
    pub failover_seconds: u64,
    /// Seconds between backups of the storage; bounds the loss when the storage is lost.
    #[serde(default)]
    pub backup_interval_seconds: Option<u64>,
    /// Zones holding a copy of the data (optional; lets `assess` judge a zone loss).
    #[serde(default)]
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node's name: 1-32 lowercase letters, digits or `-`; in node.toml, logs and reports.
    pub name: String,
    /// The host's address or DNS name, for SSH and for the gateway.
    pub host: String,
    /// Failure domain: rack, room or availability zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// This node's SFTP port when it differs from `[node] port` (several nodes on one host).
    #[serde(default)]
    pub port: Option<u16>,
    /// This node's health port when it differs from `[node] health_port`.
    #[serde(default)]
    pub health_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    /// `sftpha gateway run` on the gateway hosts.
    Builtin,
    /// HAProxy on the gateway hosts, configured by sftpha.
    Haproxy,
    /// A balancer sftpha does not manage (cloud load balancer, appliance).
    External,
}

impl GatewayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Builtin => "builtin",
            GatewayKind::Haproxy => "haproxy",
            GatewayKind::External => "external",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Which balancer: the bundled gateway, HAProxy configured by sftpha, or one sftpha does not manage.
    #[serde(default = "default_gateway_kind")]
    pub kind: GatewayKind,
    /// Where the gateways run; two or more with a vip avoid a single point of failure.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The port clients connect to on the gateway (and the vip).
    #[serde(default = "default_sftp_port")]
    pub port: u16,
    /// The builtin gateway's /healthz port.
    #[serde(default = "default_gateway_health_port")]
    pub health_port: u16,
    /// keepalived virtual IP, when hosts has two or more (`""` is none, as `init` writes it).
    // Code reads the typed `Cluster::gateway` instead.
    #[serde(
        default,
        deserialize_with = "vip_or_empty",
        serialize_with = "vip_as_text"
    )]
    #[schemars(with = "String")]
    pub vip: Option<IpAddr>,
    /// How new sessions are spread over the healthy nodes.
    #[serde(default = "crate::config::gateway::default_balance")]
    pub balance: crate::config::gateway::Balance,
    /// Milliseconds between health checks of each node.
    #[serde(default = "crate::config::gateway::default_interval")]
    pub health_interval_ms: u64,
    /// Failed checks in a row before a node is taken out of the rotation.
    #[serde(default = "crate::config::gateway::default_fall_rise")]
    pub health_fall: u32,
    /// Passed checks in a row before a node is put back.
    #[serde(default = "crate::config::gateway::default_fall_rise")]
    pub health_rise: u32,
    /// How long one check may take; the interval (at most 2 s) when unset.
    #[serde(default)]
    pub health_timeout_ms: Option<u64>,
    /// Milliseconds to connect to a node before the client is taken to the next one.
    #[serde(default = "crate::config::gateway::default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Milliseconds a node may take to send its SSH banner before the client is taken to the next one (a frozen node accepts TCP but never speaks).
    #[serde(default = "crate::config::gateway::default_banner_timeout")]
    pub banner_timeout_ms: u64,
    /// The gateway hosts' network interface that carries the vip (keepalived).
    #[serde(default = "default_interface")]
    pub interface: String,
    /// keepalived VRRP advertisement interval, a multiple of 10 ms. A backup takes the vip
    /// after 3 missed adverts plus a skew of (256 - priority) / 256 adverts: 300 ms (the
    /// default, VRRPv3) moves the vip within 3 x 300 + 156/256 x 300 = 1083 ms of a holder's
    /// death (1.5 s is the target); 1000 ms (VRRPv2's usual) within 3.6 s. Shorter intervals
    /// move it sooner, and also when a busy gateway host's keepalived is late by 3 adverts.
    #[serde(default = "default_advert_interval")]
    pub advert_interval_ms: u64,
    /// For `kind = "external"`: how long the balancer takes to stop sending new sessions to
    /// a dead node, if you know it better than its health settings above tell.
    #[serde(default)]
    pub failover_seconds: Option<u64>,
}

fn vip_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let text = String::deserialize(d)?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not an IP address (leave it \"\" for none)"
        ))
    })
}

fn vip_as_text<S: serde::Serializer>(vip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&vip.map(|v| v.to_string()).unwrap_or_default())
}

/// The gateway tier as loaded: what kind, and only the fields that kind has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gateway {
    /// `sftpha gateway run` on the gateway hosts.
    Builtin(ManagedGateway),
    /// HAProxy on the gateway hosts, configured by sftpha.
    Haproxy(ManagedGateway),
    /// A balancer sftpha does not manage (cloud load balancer, appliance).
    External(ExternalGateway),
}

/// Gateway hosts sftpha installs and configures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedGateway {
    /// At least one.
    pub hosts: Vec<String>,
    /// keepalived's virtual IP: moved to a live gateway host when one fails.
    pub vip: Option<IpAddr>,
}

/// A balancer sftpha only knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalGateway {
    /// The names clients reach it by (may be empty).
    pub names: Vec<String>,
    /// How long it takes to stop sending new sessions to a dead node, if stated.
    pub failover_seconds: Option<u64>,
}

impl Gateway {
    fn from_settings(g: &GatewaySettings) -> Gateway {
        let managed = || ManagedGateway {
            hosts: g.hosts.clone(),
            vip: g.vip,
        };
        match g.kind {
            GatewayKind::Builtin => Gateway::Builtin(managed()),
            GatewayKind::Haproxy => Gateway::Haproxy(managed()),
            GatewayKind::External => Gateway::External(ExternalGateway {
                names: g.hosts.clone(),
                failover_seconds: g.failover_seconds,
            }),
        }
    }

    pub fn kind(&self) -> GatewayKind {
        match self {
            Gateway::Builtin(_) => GatewayKind::Builtin,
            Gateway::Haproxy(_) => GatewayKind::Haproxy,
            Gateway::External(_) => GatewayKind::External,
        }
    }

    /// The hosts sftpha installs a balancer on; `None` for an external balancer.
    pub fn managed(&self) -> Option<&ManagedGateway> {
        match self {
            Gateway::Builtin(m) | Gateway::Haproxy(m) => Some(m),
            Gateway::External(_) => None,
        }
    }

    /// The managed gateway hosts (none for an external balancer).
    pub fn hosts(&self) -> &[String] {
        self.managed().map(|m| m.hosts.as_slice()).unwrap_or(&[])
    }

    pub fn vip(&self) -> Option<IpAddr> {
        self.managed().and_then(|m| m.vip)
    }

    /// No single gateway host whose loss stops the service: an external balancer (its own
    /// affair), or two or more hosts sharing a vip.
    pub fn redundant(&self) -> bool {
        match self {
            Gateway::External(_) => true,
            Gateway::Builtin(m) | Gateway::Haproxy(m) => m.hosts.len() >= 2 && m.vip.is_some(),
        }
    }

    /// Every address of the gateway tier a client may use: the managed hosts and the vip, or
    /// an external balancer's names.
    pub fn addresses(&self) -> Vec<String> {
        match self {
            Gateway::External(e) => e.names.clone(),
            Gateway::Builtin(m) | Gateway::Haproxy(m) => {
                let vip = m.vip.map(|v| v.to_string());
                m.hosts.iter().cloned().chain(vip).collect()
            }
        }
    }

    /// Where a client reaches the cluster through the gateway tier: the vip, else the first
    /// gateway host, else the first name of an external balancer.
    pub fn entry(&self) -> Option<String> {
        match self {
            Gateway::External(e) => e.names.first().cloned(),
            Gateway::Builtin(m) | Gateway::Haproxy(m) => m
                .vip
                .map(|v| v.to_string())
                .or_else(|| m.hosts.first().cloned()),
        }
    }
}

/// Availability of single components, in percent, for the estimate (see README).
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityFigures {
    /// One node: its host, OS and the sftpha process.
    #[serde(default = "default_node_percent")]
    pub node_percent: f64,
    /// One gateway host with its balancer.
    #[serde(default = "default_gateway_percent")]
    pub gateway_percent: f64,
    /// An external (managed) balancer as a whole.
    #[serde(default = "default_external_percent")]
    pub external_gateway_percent: f64,
    /// One copy of the storage (one NAS, one replica).
    #[serde(default = "default_storage_percent")]
    pub storage_percent: f64,
    /// One zone as a whole (power, network, room).
    #[serde(default = "default_zone_percent")]
    pub zone_percent: f64,
}

impl Default for AvailabilityFigures {
    fn default() -> Self {
        toml::from_str("").expect("every figure has a default")
    }
}

/// Recovery of what cannot fail over by itself.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    /// How long people take to restore a component that has no standby (a dead single
    /// gateway, node or NAS): noticed, diagnosed, replaced.
    #[serde(default = "default_manual_recovery")]
    pub manual_seconds: u64,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            manual_seconds: default_manual_recovery(),
        }
    }
}

fn default_users() -> PathBuf {
    "users.toml".into()
}
fn default_rto() -> u64 {
    60
}
fn default_peak_sessions() -> u64 {
    100
}
fn default_availability() -> f64 {
    99.9
}
fn default_ssh_user() -> String {
    "root".into()
}
fn default_ssh_port() -> u16 {
    22
}
fn default_known_hosts() -> PathBuf {
    "known_hosts".into()
}
fn default_ssh_timeout() -> u64 {
    10
}
fn default_sftp_port() -> u16 {
    2222
}
fn default_advert_interval() -> u64 {
    300
}
fn default_health_port() -> u16 {
    9022
}
fn default_gateway_health_port() -> u16 {
    9023
}
fn default_max_sessions() -> u64 {
    1000
}
fn default_install_dir() -> PathBuf {
    "/opt/sftpha".into()
}
fn default_config_dir() -> PathBuf {
    "/etc/sftpha".into()
}
fn default_state_dir() -> PathBuf {
    "/var/lib/sftpha".into()
}
fn default_log_dir() -> PathBuf {
    "/var/log/sftpha".into()
}
fn default_upload_mode() -> UploadMode {
    UploadMode::Atomic
}
fn default_drain() -> u64 {
    30
}
fn default_storage_kind() -> StorageKind {
    StorageKind::Nfs
}
fn default_one() -> u32 {
    1
}
fn default_replication() -> Replication {
    Replication::None
}
fn default_storage_failover() -> u64 {
    30
}
fn default_gateway_kind() -> GatewayKind {
    GatewayKind::Builtin
}
fn default_interface() -> String {
    "eth0".into()
}
fn default_node_percent() -> f64 {
    99.5
}
fn default_gateway_percent() -> f64 {
    99.9
}
fn default_external_percent() -> f64 {
    99.99
}
fn default_storage_percent() -> f64 {
    99.95
}
fn default_zone_percent() -> f64 {
    99.99
}
fn default_manual_recovery() -> u64 {
    4 * 3600
}

/// A validated cluster definition.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub file: ClusterFile,
    /// `[gateway]` typed: read this, not `file.gateway.kind`, `hosts` or `vip`.
    pub gateway: Gateway,
    pub path: PathBuf,
    /// users.toml, absolute.
    pub users: PathBuf,
    pub known_hosts: PathBuf,
}

/// One node's addresses, with the per-node overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub health_port: u16,
}

impl Cluster {
    pub fn load(path: &Path) -> Result<Cluster> {
        let text = crate::files::read_text(path)?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Cluster> {
        Self::parse_file(path, text).map_err(|e| {
            e.documented_in(path, |key| {
                crate::config::reference::FileFormat::Cluster.hint(key)
            })
        })
    }

    fn parse_file(path: &Path, text: &str) -> Result<Cluster> {
        let file: ClusterFile = crate::files::parse_toml(path, text)?;
        super::validate::cluster(path, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(Cluster {
            gateway: Gateway::from_settings(&file.gateway),
            users: absolute(base, &file.users),
            known_hosts: absolute(base, &file.ssh.known_hosts),
            path: path.to_owned(),
            file,
        })
    }

    /// The directory of cluster.toml: keys, known_hosts and template overrides live there.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub fn node_addrs(&self) -> Vec<NodeAddr> {
        self.file
            .nodes
            .iter()
            .map(|n| NodeAddr {
                name: n.name.clone(),
                host: n.host.clone(),
                port: n.port.unwrap_or(self.file.node.port),
                health_port: n.health_port.unwrap_or(self.file.node.health_port),
            })
            .collect()
    }

    /// Every name a client may reach the cluster by (without ports): `keys.host_names`, the
    /// vip, the gateway hosts, the node hosts; no duplicates.
    pub fn host_names(&self) -> Vec<String> {
        let c = &self.file;
        let mut names: Vec<String> = Vec::new();
        let vip = self.gateway.vip().map(|v| v.to_string());
        let all = c
            .keys
            .host_names
            .iter()
            .chain(vip.as_ref())
            .chain(&c.gateway.hosts)
            .chain(c.nodes.iter().map(|n| &n.host));
        for name in all {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Nodes per zone; nodes without a zone count as one unnamed zone `""`.
    pub fn zones(&self) -> BTreeMap<String, usize> {
        let mut zones = BTreeMap::new();
        for n in &self.file.nodes {
            *zones.entry(n.zone.clone().unwrap_or_default()).or_insert(0) += 1;
        }
        zones
    }

    /// How long one gateway health check may take.
    pub fn health_timeout_ms(&self) -> u64 {
        let g = &self.file.gateway;
        g.health_timeout_ms
            .unwrap_or_else(|| g.health_interval_ms.min(2000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::{edit, parse, CLUSTER};

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn example_parses_with_defaults() {
        let c = parse(CLUSTER).unwrap();
        assert_eq!(c.users, Path::new("/x/users.toml"));
        assert_eq!(c.known_hosts, Path::new("/x/known_hosts"));
        assert_eq!(c.file.node.port, 2222);
        assert_eq!(c.node_addrs()[1].health_port, 9022);
        assert_eq!(c.zones().len(), 3);
        assert_eq!(c.health_timeout_ms(), 1000);
    }

    #[test]
    fn errors_name_the_key() {
        let dup = edit(CLUSTER, "name = \"n2\"", "name = \"n1\"");
        assert!(error(&dup).contains("key `nodes[1].name`: `n1` is also the name of nodes[0]"));
        let same_host = edit(CLUSTER, "198.18.0.12", "198.18.0.11");
        assert!(
            error(&same_host).contains("nodes[1].port"),
            "{}",
            error(&same_host)
        );
        let typo = edit(CLUSTER, "rto_seconds", "rto_secs");
        assert!(error(&typo).contains("unknown field `rto_secs`"));
        assert!(error(&typo).contains("line 4"), "{}", error(&typo));
        let clash = edit(CLUSTER, "\"198.18.0.21\"", "\"198.18.0.11\"");
        assert!(error(&clash).contains("gateway.port"), "{}", error(&clash));
        let avail = edit(CLUSTER, "99.95", "100");
        assert!(error(&avail).contains("objectives.availability_percent"));
        let repl = edit(CLUSTER, "replication = \"sync\"\n", "");
        assert!(error(&repl).contains("storage.replication"));
        let vip = edit(CLUSTER, "\"198.18.0.20\"", "\"nope\"");
        assert!(error(&vip).contains("gateway.vip"));
        let relative = edit(CLUSTER, "/srv/sftpha", "srv");
        assert!(error(&relative).contains("storage.path"));
        let host = edit(CLUSTER, "198.18.0.12", "bad host");
        assert!(error(&host).contains("nodes[1].host"));
    }

    #[test]
    fn several_nodes_on_one_host_need_their_own_ports() {
        let text = edit(
            CLUSTER,
            "host = \"198.18.0.12\"",
            "host = \"198.18.0.11\"\nport = 2223\nhealth_port = 9023",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.node_addrs()[1].port, 2223);
    }
}
