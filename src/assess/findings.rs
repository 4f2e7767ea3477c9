//! The findings: what in the design is a single point of failure or a risk (design), what
//! cannot carry the peak (capacity), and which objectives a disruption misses (objectives),
//! each with a severity and a recommendation.

use super::*;

impl Model<'_> {
    pub(super) fn design_findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        let c = &self.c.file;
        let g = &c.gateway;
        if let (Some(m), false) = (self.c.gateway.managed(), self.gateway_redundant()) {
            let (detail, recommendation) = if m.hosts.len() >= 2 {
                (
                    format!("{} gateway hosts but no vip: clients connect to one of them, and when it dies they fail until DNS or every client is changed", m.hosts.len()),
                    "set `gateway.vip` to a free address on the gateways' network; keepalived moves it to a live gateway in ~1.1 s".to_string(),
                )
            } else {
                (
                    format!("every session passes the one gateway host `{}`: when it dies, no client can connect, however many nodes are up", m.hosts[0]),
                    "add a second gateway host and a `gateway.vip`; keepalived moves the vip in ~1.1 s (3 missed 300 ms adverts + skew)".to_string(),
                )
            };
            out.push(Finding {
                id: "spof.gateway",
                severity: Severity::High,
                component: "gateway".into(),
                title: "the gateway is a single point of failure".into(),
                detail,
                recommendation,
            });
        }
        if self.nodes < 2 {
            out.push(Finding {
                id: "spof.node",
                severity: Severity::High,
                component: "nodes".into(),
                title: "one node serves every session".into(),
                detail: format!("when node `{}` dies or hangs, the service is down until it is restored", c.nodes[0].name),
                recommendation: "add a second node on another host (and zone); the gateway moves new sessions in about a second".into(),
            });
        } else if self.zones.len() < 2 {
            let detail = if self.zones_named {
                format!("all {} nodes are in zone `{}`: a power, network or room failure there takes every node at once", self.nodes, self.zones[0].0)
            } else {
                format!("no node has a `zone`: the {} nodes may share a rack, room or availability zone, and one failure there takes them all", self.nodes)
            };
            out.push(Finding {
                id: "spof.zone",
                severity: Severity::Medium,
                component: "nodes".into(),
                title: "the nodes share one failure domain".into(),
                detail,
                recommendation:
                    "place nodes in two or more zones and set `zone` on every `[[nodes]]` entry"
                        .into(),
            });
        } else if let [only] = c.storage.zones.as_slice() {
            out.push(Finding {
                id: "spof.zone",
                severity: Severity::Medium,
                component: "storage".into(),
                title: "the nodes span zones, the storage does not".into(),
                detail: format!("every copy of the storage is in zone `{only}`: losing that zone stops every node"),
                recommendation: "replicate the storage into a second zone, or accept the zone as a single point of failure".into(),
            });
        }
        let s = &c.storage;
        if s.kind == StorageKind::Local && self.nodes >= 2 {
            out.push(Finding {
                id: "storage.local",
                severity: Severity::High,
                component: "storage".into(),
                title: "the nodes do not share their files".into(),
                detail: "with `kind = \"local\"` each node writes its own disk: a file uploaded through one node is missing on the others, and a node's loss loses its files".into(),
                recommendation: "mount one shared file system (NFS, CephFS, GlusterFS) at `storage.path` on every node".into(),
            });
        } else if !self.storage_redundant() {
            out.push(Finding {
                id: "spof.storage",
                severity: Severity::High,
                component: "storage".into(),
                title: "the storage is a single point of failure".into(),
                detail: format!(
                    "one copy of the data (`{}`, replicas = 1): when it fails every node stops serving files{}",
                    s.kind.as_str(),
                    if s.backup_interval_seconds.is_none() { ", and if it is lost no backup is stated" } else { "" }
                ),
                recommendation: "use storage with a synchronous replica (an HA NAS pair, CephFS, GlusterFS replica 3) and set `replicas` and `replication`".into(),
            });
        }
        if c.node.upload_mode == UploadMode::Resumable {
            out.push(Finding {
                id: "uploads.partial_visible",
                severity: Severity::Low,
                component: "nodes".into(),
                title: "partial uploads are visible under their final name".into(),
                detail: "with `upload_mode = \"resumable\"` a downstream job can pick up a file that is still being written or was cut off by a failover".into(),
                recommendation: "use `upload_mode = \"atomic\"` unless clients rely on resuming".into(),
            });
        }
        if self
            .c
            .gateway
            .managed()
            .is_some_and(|m| m.vip.is_some() && m.hosts.len() < 2)
        {
            out.push(Finding {
                id: "gateway.vip_without_backup",
                severity: Severity::Low,
                component: "gateway".into(),
                title: "a vip with one gateway host".into(),
                detail: "keepalived has no other host to move the vip to".into(),
                recommendation: "add a second gateway host".into(),
            });
        }
        if g.health_fall == 1 {
            out.push(Finding {
                id: "gateway.flapping",
                severity: Severity::Low,
                component: "gateway".into(),
                title: "one failed health check takes a node out".into(),
                detail: "a single slow answer (a busy NFS server, a GC pause) removes a healthy node and moves its new sessions".into(),
                recommendation: "set `gateway.health_fall` to 2 or more and shorten `health_interval_ms` instead".into(),
            });
        }
        out
    }

    pub(super) fn capacity_findings(&self, cap: &Capacity) -> Vec<Finding> {
        let mut out = Vec::new();
        let peak = cap.peak_sessions;
        if cap.sessions_all_nodes_up < peak {
            out.push(Finding {
                id: "capacity.peak",
                severity: Severity::High,
                component: "nodes".into(),
                title: "the cluster cannot carry the peak".into(),
                detail: format!(
                    "{} nodes x {} sessions = {} < peak {}: sessions over the limit are refused",
                    self.nodes, cap.max_sessions_per_node, cap.sessions_all_nodes_up, peak
                ),
                recommendation: format!(
                    "run at least {} nodes, or raise `node.max_sessions` if the hosts can take it",
                    cap.nodes_needed_at_peak + 1
                ),
            });
        }
        if !cap.ok {
            out.push(Finding {
                id: "capacity.n_minus_1",
                severity: Severity::High,
                component: "nodes".into(),
                title: "with one node down the cluster cannot carry the peak".into(),
                detail: format!("{} nodes x {} sessions = {} < peak {}: during a failure or a rolling upgrade sessions are refused", self.nodes.saturating_sub(1), cap.max_sessions_per_node, cap.sessions_with_one_node_down, peak),
                recommendation: format!("run at least {} nodes (peak needs {}, plus one spare)", cap.nodes_needed_at_peak + 1, cap.nodes_needed_at_peak),
            });
        }
        if let Some(zone_down) = cap.sessions_with_largest_zone_down {
            if zone_down < peak && cap.ok {
                out.push(Finding {
                    id: "capacity.zone_down",
                    severity: Severity::Medium,
                    component: "nodes".into(),
                    title: "with the largest zone down the cluster cannot carry the peak".into(),
                    detail: format!("the other zones carry {zone_down} sessions < peak {peak}"),
                    recommendation:
                        "spread the nodes evenly over the zones, or add a node to the smaller zones"
                            .into(),
                });
            }
        }
        let c = &self.c.file;
        if let (Some(need), Some(per_node)) =
            (c.objectives.peak_throughput_mbps, c.node.throughput_mbps)
        {
            let left = per_node * self.nodes.saturating_sub(1) as f64;
            if left < need {
                out.push(Finding {
                    id: "capacity.throughput",
                    severity: Severity::High,
                    component: "nodes".into(),
                    title: "with one node down the cluster cannot move the peak throughput".into(),
                    detail: format!(
                        "{} nodes x {per_node} Mbit/s = {left} Mbit/s < peak {need} Mbit/s",
                        self.nodes.saturating_sub(1)
                    ),
                    recommendation: format!(
                        "run at least {} nodes",
                        (need / per_node).ceil() as u64 + 1
                    ),
                });
            }
        }
        out
    }
}

pub(super) fn objective_findings(
    disruptions: &[Disruption],
    availability: &Availability,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for d in disruptions {
        if d.estimated_rto_seconds > d.target_rto_seconds as f64 {
            out.push(Finding {
                id: d.kind.rto_finding(),
                severity: Severity::High,
                component: d.kind.as_str().into(),
                title: format!(
                    "{}: recovery takes {}, the objective is {}",
                    d.kind.as_str(),
                    crate::text::human_duration(d.estimated_rto_seconds),
                    crate::text::human_duration(d.target_rto_seconds as f64)
                ),
                detail: d.basis.clone(),
                recommendation: rto_advice(d.kind),
            });
        }
        let rpo_ok = d
            .estimated_rpo_seconds
            .is_some_and(|r| r <= d.target_rpo_seconds as f64);
        if !rpo_ok {
            let loss = match d.estimated_rpo_seconds {
                Some(r) => format!(
                    "up to {} of completed uploads lost",
                    crate::text::human_duration(r)
                ),
                None => "no bound on the loss of completed uploads".into(),
            };
            out.push(Finding {
                id: d.kind.rpo_finding(),
                severity: Severity::High,
                component: d.kind.as_str().into(),
                title: format!(
                    "{}: {loss}, the objective is {}",
                    d.kind.as_str(),
                    crate::text::human_duration(d.target_rpo_seconds as f64)
                ),
                detail: d.basis.clone(),
                recommendation: "keep a synchronous replica of the storage (RPO 0), or back it up at least every `objectives.rpo_seconds` and set `storage.backup_interval_seconds`".into(),
            });
        }
    }
    if availability.status == Status::Breached {
        out.push(Finding {
            id: "availability.breached",
            severity: Severity::High,
            component: "cluster".into(),
            title: format!(
                "estimated availability {}% is below the objective {}%",
                render::percent_against(availability.estimated_percent, availability.target_percent), availability.target_percent
            ),
            detail: format!(
                "~{:.0} minutes of downtime a year against {:.1} allowed; the weakest part is the {}",
                availability.downtime_minutes_per_year,
                availability.target_downtime_minutes_per_year,
                availability
                    .parts
                    .iter()
                    .min_by(|a, b| a.percent.total_cmp(&b.percent))
                    .map(|p| p.component.as_str())
                    .unwrap_or("cluster")
            ),
            recommendation: "make the weakest part redundant (see the single points of failure above)".into(),
        });
    }
    out
}

fn rto_advice(kind: DisruptionKind) -> String {
    match kind {
        DisruptionKind::NodeDown | DisruptionKind::NodeHung => "run two or more nodes, and shorten `gateway.health_interval_ms` x `health_fall` (the builtin gateway also moves sessions off hung nodes after `banner_timeout_ms`)".into(),
        DisruptionKind::GatewayDown => "run two gateway hosts with a `gateway.vip` (keepalived)".into(),
        DisruptionKind::StorageDown => "use replicated storage with automatic failover and set `storage.failover_seconds`".into(),
        DisruptionKind::ZoneDown => "spread nodes and storage replicas over two or more zones".into(),
    }
}
