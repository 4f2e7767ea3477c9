//! The day-zero risk assessment: from a validated [`Cluster`] alone (pure, deterministic) it
//! finds single points of failure, estimates RTO and RPO per disruption from the actual
//! settings, combines component availabilities, checks capacity with a node down, and judges
//! everything against the objectives. `--probe` adds findings from the live hosts
//! ([`probe`]).
//!
//! The JSON wire format is [`Report`] as documented in DESIGN.md; finding ids are stable.

pub mod availability;
mod findings;
use findings::objective_findings;
pub mod probe;
pub mod render;

use serde::Serialize;

use crate::config::cluster::{Cluster, Gateway, GatewayKind, Replication, StorageKind};
use crate::config::node::UploadMode;

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// `--fail-on`: the lowest severity that fails the assessment, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    At(Severity),
    Never,
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::At(s) => s.as_str(),
            FailOn::Never => "never",
        }
    }

    fn fails(self, severity: Severity) -> bool {
        match self {
            FailOn::At(threshold) => severity >= threshold,
            FailOn::Never => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable id, e.g. `spof.gateway`.
    pub id: &'static str,
    pub severity: Severity,
    /// What it is about: `gateway`, `nodes`, `storage`, a disruption kind, or a node name.
    pub component: String,
    pub title: String,
    /// What fails and the impact.
    pub detail: String,
    pub recommendation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisruptionKind {
    NodeDown,
    NodeHung,
    GatewayDown,
    StorageDown,
    ZoneDown,
}

impl DisruptionKind {
    pub const ALL: [DisruptionKind; 5] = [
        DisruptionKind::NodeDown,
        DisruptionKind::NodeHung,
        DisruptionKind::GatewayDown,
        DisruptionKind::StorageDown,
        DisruptionKind::ZoneDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisruptionKind::NodeDown => "node_down",
            DisruptionKind::NodeHung => "node_hung",
            DisruptionKind::GatewayDown => "gateway_down",
            DisruptionKind::StorageDown => "storage_down",
            DisruptionKind::ZoneDown => "zone_down",
        }
    }

    /// The id of the finding "this disruption misses the RTO": one per disruption, so an
    /// accepted risk names exactly one.
    pub fn rto_finding(self) -> &'static str {
        match self {
            DisruptionKind::NodeDown => "rto.breached.node_down",
            DisruptionKind::NodeHung => "rto.breached.node_hung",
            DisruptionKind::GatewayDown => "rto.breached.gateway_down",
            DisruptionKind::StorageDown => "rto.breached.storage_down",
            DisruptionKind::ZoneDown => "rto.breached.zone_down",
        }
    }

    /// The id of the finding "this disruption misses the RPO".
    pub fn rpo_finding(self) -> &'static str {
        match self {
            DisruptionKind::NodeDown => "rpo.breached.node_down",
            DisruptionKind::NodeHung => "rpo.breached.node_hung",
            DisruptionKind::GatewayDown => "rpo.breached.gateway_down",
            DisruptionKind::StorageDown => "rpo.breached.storage_down",
            DisruptionKind::ZoneDown => "rpo.breached.zone_down",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Met,
    Breached,
}

#[derive(Debug, Clone, Serialize)]
pub struct Disruption {
    pub kind: DisruptionKind,
    #[serde(serialize_with = "crate::text::rounded::<1, _>")]
    pub estimated_rto_seconds: f64,
    pub target_rto_seconds: u64,
    /// `null` when nothing bounds the loss (no replica, no backup).
    #[serde(serialize_with = "crate::text::rounded_opt::<1, _>")]
    pub estimated_rpo_seconds: Option<f64>,
    pub target_rpo_seconds: u64,
    pub status: Status,
    /// Where the estimate comes from.
    pub basis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AvailabilityPart {
    pub component: String,
    #[serde(serialize_with = "crate::text::rounded::<6, _>")]
    pub percent: f64,
    pub basis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    #[serde(serialize_with = "crate::text::rounded::<6, _>")]
    pub estimated_percent: f64,
    pub target_percent: f64,
    #[serde(serialize_with = "crate::text::rounded::<1, _>")]
    pub downtime_minutes_per_year: f64,
    #[serde(serialize_with = "crate::text::rounded::<1, _>")]
    pub target_downtime_minutes_per_year: f64,
    #[serde(serialize_with = "crate::text::rounded::<2, _>")]
    pub nines: f64,
    pub status: Status,
    pub parts: Vec<AvailabilityPart>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Capacity {
    pub peak_sessions: u64,
    pub max_sessions_per_node: u64,
    pub nodes_needed_at_peak: u64,
    pub sessions_all_nodes_up: u64,
    pub sessions_with_one_node_down: u64,
    /// With the zone of the most nodes down; `null` when the nodes are in one zone.
    pub sessions_with_largest_zone_down: Option<u64>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub name: &'static str,
    pub description: String,
    pub redundant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub verdict: &'static str,
    pub fail_on: &'static str,
    pub findings: Vec<Finding>,
    pub disruptions: Vec<Disruption>,
    pub availability: Availability,
    pub capacity: Capacity,
    pub components: Vec<Component>,
    pub strengths: Vec<String>,
    /// What the estimate takes for granted; each can be made explicit in cluster.toml.
    pub assumptions: Vec<String>,
    /// Whether the live hosts were checked (`--probe`).
    pub probed: bool,
    /// Every `[[accepted_risks]]` of cluster.toml and what became of it.
    pub accepted_risks: Vec<RiskStatus>,
    /// With `--probe`: what was seen on every host (empty without).
    pub evidence: Vec<probe::Evidence>,
}

/// An accepted risk as this assessment found it.
#[derive(Debug, Clone, Serialize)]
pub struct RiskStatus {
    pub id: String,
    pub reason: String,
    pub expires: crate::date::Date,
    pub status: RiskState,
    /// The findings it accepts while in force, left out of `findings` and of the verdict.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskState {
    /// Accepted until `expires`: the finding does not count.
    InForce,
    /// Past `expires`: the finding counts again.
    Expired,
    /// No such finding: fixed, or the id is wrong; remove the entry.
    Unused,
}

impl RiskState {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskState::InForce => "in force",
            RiskState::Expired => "expired",
            RiskState::Unused => "unused",
        }
    }
}

/// Assesses the design; `extra` are findings from elsewhere (the live probe); `today` decides
/// which accepted risks are in force.
pub fn assess(
    cluster: &Cluster,
    extra: Vec<Finding>,
    fail_on: FailOn,
    probed: bool,
    today: crate::date::Date,
) -> Report {
    let model = Model::new(cluster);
    let disruptions: Vec<Disruption> = DisruptionKind::ALL
        .iter()
        .map(|&k| model.disruption(k))
        .collect();
    let availability = model.availability();
    let capacity = model.capacity();

    let mut findings = model.design_findings();
    findings.extend(objective_findings(&disruptions, &availability));
    findings.extend(model.capacity_findings(&capacity));
    findings.extend(extra);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.component.cmp(&b.component))
    });
    let mut accepted_risks = Vec::new();
    for risk in &cluster.file.accepted_risks {
        let (status, accepted) = if !findings.iter().any(|f| f.id == risk.id) {
            (RiskState::Unused, Vec::new())
        } else if today > risk.expires {
            (RiskState::Expired, Vec::new())
        } else {
            let (accepted, rest) = findings.into_iter().partition(|f| f.id == risk.id);
            findings = rest;
            (RiskState::InForce, accepted)
        };
        accepted_risks.push(RiskStatus {
            id: risk.id.clone(),
            reason: risk.reason.clone(),
            expires: risk.expires,
            status,
            findings: accepted,
        });
    }
    let verdict = if findings.iter().any(|f| fail_on.fails(f.severity)) {
        "fail"
    } else {
        "pass"
    };
    Report {
        cluster: cluster.file.name.clone(),
        verdict,
        fail_on: fail_on.as_str(),
        components: model.components(),
        strengths: model.strengths(),
        assumptions: model.assumptions(),
        findings,
        disruptions,
        availability,
        capacity,
        probed,
        accepted_risks,
        evidence: Vec::new(),
    }
}

/// The cluster with the figures the estimates need, computed once.
struct Model<'a> {
    c: &'a Cluster,
    nodes: usize,
    /// Nodes per zone (one unnamed zone when none is set).
    zones: Vec<(String, usize)>,
    zones_named: bool,
    /// Milliseconds from a node's death to its removal by the active health checks.
    detect_ms: u64,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Rounds for display and JSON: tenths of a second.
fn tenths(s: f64) -> f64 {
    (s * 10.0).round() / 10.0
}

impl<'a> Model<'a> {
    fn new(c: &'a Cluster) -> Self {
        let g = &c.file.gateway;
        let detect_ms = g.health_fall as u64 * g.health_interval_ms + c.health_timeout_ms();
        let zones: Vec<(String, usize)> = c.zones().into_iter().collect();
        let zones_named = c.file.nodes.iter().all(|n| n.zone.is_some());
        Model {
            c,
            nodes: c.file.nodes.len(),
            zones,
            zones_named,
            detect_ms,
        }
    }

    fn gateway_redundant(&self) -> bool {
        self.c.gateway.redundant()
    }

    fn storage_redundant(&self) -> bool {
        let s = &self.c.file.storage;
        s.kind != StorageKind::Local && s.replicas >= 2
    }

    fn manual(&self) -> f64 {
        self.c.file.recovery.manual_seconds as f64
    }

    /// The loss when the storage (or a local disk) is gone for good.
    fn storage_loss_rpo(&self) -> (Option<f64>, String) {
        let s = &self.c.file.storage;
        if self.storage_redundant() {
            return match s.replication {
                Replication::Sync => (
                    Some(0.0),
                    "synchronous replicas: nothing acknowledged is lost".into(),
                ),
                _ => (
                    Some(s.replication_lag_seconds as f64),
                    format!(
                        "asynchronous replicas lag up to {} s (storage.replication_lag_seconds)",
                        s.replication_lag_seconds
                    ),
                ),
            };
        }
        match s.backup_interval_seconds {
            Some(b) => (Some(b as f64), format!("one copy: everything since the last backup, up to {b} s (storage.backup_interval_seconds)")),
            None => (None, "one copy and no backup interval stated: the loss is unbounded".into()),
        }
    }

    fn node_failover(&self, hung: bool) -> (f64, String) {
        let g = &self.c.file.gateway;
        let detect = format!(
            "health checks remove it after {} x {} ms + {} ms timeout = {:.1} s",
            g.health_fall,
            g.health_interval_ms,
            self.c.health_timeout_ms(),
            secs(self.detect_ms)
        );
        match (&self.c.gateway, hung) {
            (Gateway::Builtin(_), false) => (
                secs(g.connect_timeout_ms).min(secs(self.detect_ms)),
                format!("the gateway retries a failed connect on the next node at once (at most {} ms for a dead host); {detect}", g.connect_timeout_ms),
            ),
            (Gateway::Builtin(_), true) => (
                secs(g.banner_timeout_ms).min(secs(self.detect_ms)),
                format!("the gateway waits {} ms for the SSH banner, then takes the session to the next node; {detect}", g.banner_timeout_ms),
            ),
            (Gateway::Haproxy(_), false) => (
                secs(g.connect_timeout_ms).min(secs(self.detect_ms)),
                format!("HAProxy redispatches a failed connect to another node (option redispatch, timeout connect {} ms); {detect}", g.connect_timeout_ms),
            ),
            (Gateway::Haproxy(_), true) => (
                secs(self.detect_ms),
                format!("HAProxy forwards TCP: sessions sent to a hung node hang until {detect}"),
            ),
            (Gateway::External(e), _) => match e.failover_seconds {
                Some(s) => (s as f64, format!("the external balancer's stated failover time (gateway.failover_seconds = {s})")),
                None => (secs(self.detect_ms), format!("the external balancer's checks as stated in [gateway]: {detect}")),
            },
        }
    }

    fn disruption(&self, kind: DisruptionKind) -> Disruption {
        let (rto, rpo, basis) = match kind {
            DisruptionKind::NodeDown | DisruptionKind::NodeHung => {
                let hung = kind == DisruptionKind::NodeHung;
                let (rto, mut basis) = if self.nodes < 2 {
                    (
                        self.manual(),
                        "the only node: back when someone restores it (recovery.manual_seconds)"
                            .to_string(),
                    )
                } else {
                    self.node_failover(hung)
                };
                let rpo = if self.c.file.storage.kind == StorageKind::Local
                    && self.nodes >= 2
                    && !hung
                {
                    let (rpo, why) = self.storage_loss_rpo();
                    basis += &format!("; files on the node's local disk: {why}");
                    rpo
                } else {
                    basis += "; completed uploads are on the storage (RPO 0), uploads in flight fail and must be retried";
                    Some(0.0)
                };
                (rto, rpo, basis)
            }
            DisruptionKind::GatewayDown => {
                let g = &self.c.file.gateway;
                let hosts = self.c.gateway.hosts().len();
                let (rto, basis) = match &self.c.gateway {
                    Gateway::External(e) => (
                        e.failover_seconds.unwrap_or(0) as f64,
                        "an external balancer is taken to be redundant by its provider".to_string(),
                    ),
                    _ if self.c.gateway.redundant() => {
                        // keepalived: a backup takes over after 3 advertisements are missed,
                        // plus its skew time (256 - priority) / 256 advertisements (priority 100).
                        let advert = secs(g.advert_interval_ms);
                        (
                            3.0 * advert + (256.0 - 100.0) / 256.0 * advert,
                            format!("keepalived moves the vip after 3 missed adverts + skew ({} ms adverts)", g.advert_interval_ms),
                        )
                    }
                    _ if hosts >= 2 => (
                        self.manual(),
                        "several gateway hosts but no vip: clients must be pointed at another host by hand (recovery.manual_seconds)".to_string(),
                    ),
                    _ => (
                        self.manual(),
                        "the only gateway host: back when someone restores it (recovery.manual_seconds)".to_string(),
                    ),
                };
                (
                    rto,
                    Some(0.0),
                    basis + "; sessions through the dead gateway are cut and must reconnect",
                )
            }
            DisruptionKind::StorageDown => {
                let (rpo, why) = self.storage_loss_rpo();
                let s = &self.c.file.storage;
                let (rto, basis) = if self.storage_redundant() {
                    (s.failover_seconds as f64, format!("the storage fails over to another replica in {} s (storage.failover_seconds)", s.failover_seconds))
                } else {
                    (
                        self.manual(),
                        "one copy: back when it is restored (recovery.manual_seconds)".to_string(),
                    )
                };
                (rto, rpo, format!("{basis}; {why}"))
            }
            DisruptionKind::ZoneDown => self.zone_down(),
        };
        let target_rto = self.c.file.objectives.rto_seconds;
        let target_rpo = self.c.file.objectives.rpo_seconds;
        let met = rto <= target_rto as f64 && rpo.is_some_and(|r| r <= target_rpo as f64);
        Disruption {
            kind,
            estimated_rto_seconds: tenths(rto),
            target_rto_seconds: target_rto,
            estimated_rpo_seconds: rpo.map(tenths),
            target_rpo_seconds: target_rpo,
            status: if met { Status::Met } else { Status::Breached },
            basis,
        }
    }

    /// The worst single zone lost: its nodes, and the storage if its copies are all there.
    fn zone_down(&self) -> (f64, Option<f64>, String) {
        if self.zones.len() < 2 {
            let basis = if self.zones_named {
                format!("every node is in zone `{}`: the whole service waits for the zone (recovery.manual_seconds)", self.zones[0].0)
            } else {
                "no zones are set: the nodes are taken to share one failure domain (recovery.manual_seconds)".to_string()
            };
            return (self.manual(), Some(0.0), basis);
        }
        let (node_rto, node_basis) = self.node_failover(false);
        let s = &self.c.file.storage;
        let storage_zones: std::collections::BTreeSet<&str> =
            s.zones.iter().map(String::as_str).collect();
        if storage_zones.is_empty() {
            return (
                node_rto,
                Some(0.0),
                format!("the other zones' nodes take over: {node_basis}; the storage is taken to survive (set storage.zones to judge it)"),
            );
        }
        if storage_zones.len() >= 2 && self.storage_redundant() {
            let (rpo, why) = self.storage_loss_rpo();
            let rto = node_rto.max(s.failover_seconds as f64);
            return (rto, rpo, format!("the other zones' nodes take over: {node_basis}; the storage fails over to a replica in another zone in {} s: {why}", s.failover_seconds));
        }
        let zone = storage_zones.iter().next().copied().unwrap_or_default();
        let (rpo, why) = self.storage_loss_rpo();
        (
            self.manual(),
            rpo,
            format!("every copy of the storage is in zone `{zone}`: losing it stops the service (recovery.manual_seconds); {why}"),
        )
    }

    /// Nodes needed to carry the peak.
    fn nodes_needed(&self) -> u64 {
        let o = &self.c.file.objectives;
        o.peak_sessions
            .div_ceil(self.c.file.node.max_sessions)
            .max(1)
    }

    fn availability(&self) -> Availability {
        let f = &self.c.file.availability;
        let pct = |p: f64| p / 100.0;
        let mut parts = Vec::new();

        let hosts = self.c.gateway.hosts().len();
        let gateway = match &self.c.gateway {
            Gateway::External(_) => {
                let a = pct(f.external_gateway_percent);
                (
                    a,
                    format!(
                        "external balancer, {}% (availability.external_gateway_percent)",
                        f.external_gateway_percent
                    ),
                )
            }
            _ if self.c.gateway.redundant() => {
                let a = availability::parallel(pct(f.gateway_percent), hosts as u32);
                (
                    a,
                    format!(
                        "{hosts} hosts behind a vip, one is enough: 1 - (1 - {}%)^{hosts}",
                        f.gateway_percent,
                    ),
                )
            }
            _ => {
                let a = pct(f.gateway_percent);
                (
                    a,
                    format!(
                        "one gateway address ({}% a host, availability.gateway_percent)",
                        f.gateway_percent
                    ),
                )
            }
        };
        parts.push(AvailabilityPart {
            component: "gateway".into(),
            percent: gateway.0 * 100.0,
            basis: gateway.1,
        });

        let k = self.nodes_needed().min(self.nodes as u64) as usize;
        let counts: Vec<usize> = self.zones.iter().map(|(_, n)| *n).collect();
        let nodes =
            availability::nodes_with_zones(&counts, k, pct(f.node_percent), pct(f.zone_percent));
        parts.push(AvailabilityPart {
            component: "nodes".into(),
            percent: nodes * 100.0,
            basis: format!(
                "at least {k} of {} nodes up (peak {} / max_sessions {}), {}% a node, in {} zone(s) of {}% each",
                self.nodes,
                self.c.file.objectives.peak_sessions,
                self.c.file.node.max_sessions,
                f.node_percent,
                self.zones.len(),
                f.zone_percent
            ),
        });

        let s = &self.c.file.storage;
        let storage = if self.storage_redundant() {
            (
                availability::parallel(pct(f.storage_percent), s.replicas),
                format!(
                    "{} replicas, one is enough: 1 - (1 - {}%)^{}",
                    s.replicas, f.storage_percent, s.replicas
                ),
            )
        } else if s.kind == StorageKind::Local && self.nodes >= 2 {
            (
                availability::series(&vec![pct(f.storage_percent); self.nodes]),
                format!(
                    "local disks: every node's files are needed, {}% each",
                    f.storage_percent
                ),
            )
        } else {
            (
                pct(f.storage_percent),
                format!(
                    "one copy, {}% (availability.storage_percent)",
                    f.storage_percent
                ),
            )
        };
        parts.push(AvailabilityPart {
            component: "storage".into(),
            percent: storage.0 * 100.0,
            basis: storage.1,
        });

        let total = availability::series(&[gateway.0, nodes, storage.0]);
        let target = self.c.file.objectives.availability_percent;
        Availability {
            estimated_percent: total * 100.0,
            target_percent: target,
            downtime_minutes_per_year: availability::downtime_minutes_per_year(total),
            target_downtime_minutes_per_year: availability::downtime_minutes_per_year(pct(target)),
            nines: availability::nines(total),
            status: if total * 100.0 >= target {
                Status::Met
            } else {
                Status::Breached
            },
            parts,
        }
    }

    fn capacity(&self) -> Capacity {
        let max = self.c.file.node.max_sessions;
        let n = self.nodes as u64;
        let peak = self.c.file.objectives.peak_sessions;
        let largest_zone = self.zones.iter().map(|(_, c)| *c as u64).max().unwrap_or(0);
        let one_down = (n - 1) * max;
        Capacity {
            peak_sessions: peak,
            max_sessions_per_node: max,
            nodes_needed_at_peak: self.nodes_needed(),
            sessions_all_nodes_up: n * max,
            sessions_with_one_node_down: one_down,
            sessions_with_largest_zone_down: (self.zones.len() >= 2)
                .then(|| (n - largest_zone) * max),
            ok: one_down >= peak,
        }
    }

    fn components(&self) -> Vec<Component> {
        let c = &self.c.file;
        let s = &c.storage;
        let zones = if self.zones_named {
            self.zones
                .iter()
                .map(|(z, n)| format!("{z}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "zones not set".into()
        };
        vec![
            Component {
                name: "gateway",
                description: match self.c.gateway.managed() {
                    None => "external balancer".into(),
                    Some(m) => format!(
                        "{} on {} host(s){}",
                        self.c.gateway.kind().as_str(),
                        m.hosts.len(),
                        match m.vip {
                            None => String::from(", no vip"),
                            Some(vip) => format!(", vip {vip}"),
                        }
                    ),
                },
                redundant: self.gateway_redundant(),
            },
            Component {
                name: "nodes",
                description: format!(
                    "{} x sftpha node, {} sessions each ({zones})",
                    self.nodes, c.node.max_sessions
                ),
                redundant: self.nodes >= 2,
            },
            Component {
                name: "storage",
                description: format!(
                    "{} at {}, {} replica(s), replication {}{}",
                    s.kind.as_str(),
                    s.path.display(),
                    s.replicas,
                    s.replication.as_str(),
                    if s.replication == Replication::Async {
                        format!(" (lag {} s)", s.replication_lag_seconds)
                    } else {
                        String::new()
                    }
                ),
                redundant: self.storage_redundant(),
            },
            Component {
                name: "control",
                description: format!(
                    "sftpha over SSH as `{}` (operator time only, not on the session path)",
                    c.ssh.user
                ),
                redundant: true,
            },
        ]
    }

    fn strengths(&self) -> Vec<String> {
        let c = &self.c.file;
        let mut out = vec![
            "no runtime datastore: users and keys are pushed to every node, so no database or directory server can fail at runtime".to_string(),
            "one host key set for every node (`sftpha provision` installs it; `assess --probe` checks it): clients never see a changed host key when the gateway moves them".to_string(),
        ];
        if c.node.upload_mode == UploadMode::Atomic {
            out.push("atomic uploads: a file appears under its name only when complete, so a failover never leaves a partial file for downstream jobs".into());
        }
        match self.c.gateway.kind() {
            GatewayKind::Builtin => out.push("builtin gateway: waits for the SSH banner, so a hung node costs a new session at most the banner timeout, never a failed login".into()),
            GatewayKind::Haproxy => out.push("HAProxy with active /healthz checks and PROXY v2: nodes see the real client address".into()),
            GatewayKind::External => {}
        }
        if self.nodes >= 2 && self.zones.len() >= 2 {
            out.push(format!("nodes in {} zones", self.zones.len()));
        }
        out
    }

    fn assumptions(&self) -> Vec<String> {
        let c = &self.c.file;
        let f = &c.availability;
        let mut out = vec![format!(
            "component availability: node {}%, gateway host {}%, storage copy {}%, zone {}% (set [availability] from your own records)",
            f.node_percent, f.gateway_percent, f.storage_percent, f.zone_percent
        )];
        out.push(format!(
            "manual recovery of a component without a standby takes {} s (recovery.manual_seconds)",
            c.recovery.manual_seconds
        ));
        out.push("failures are independent, except that a zone takes its nodes with it; gateway hosts are not placed in zones".into());
        if c.storage.zones.is_empty() && self.zones.len() >= 2 {
            out.push(
                "the storage survives the loss of any one zone (set storage.zones to judge it)"
                    .into(),
            );
        }
        if self.c.gateway.kind() == GatewayKind::External {
            out.push("the external balancer is redundant and its health checks are as stated in [gateway]".into());
        }
        if c.objectives.peak_throughput_mbps.is_some() && c.node.throughput_mbps.is_none() {
            out.push("peak throughput is not judged: set node.throughput_mbps from a benchmark of your hosts (see BENCHMARKS.md)".into());
        }
        out
    }
}

#[cfg(test)]
mod tests;
