//! The day-zero questionnaire: the answers a team gives before it builds an SFTP cluster,
//! their defaults, and the commented cluster.toml and users.toml they become. Pure: the
//! prompting lives in `cmd::init`.

use std::fmt::Write;

use crate::config::cluster::{GatewayKind, Impact, Replication, StorageKind};

/// Everything `init` asks. Defaults describe a design that passes `assess`.
#[derive(Debug, Clone)]
pub struct Answers {
    pub name: String,
    pub impact: Impact,
    pub rto_seconds: u64,
    pub rpo_seconds: u64,
    pub availability_percent: f64,
    pub peak_sessions: u64,
    pub peak_throughput_mbps: Option<f64>,
    pub max_sessions: u64,
    /// Node hosts; nodes are named n1, n2, ...
    pub nodes: Vec<String>,
    /// One zone per node.
    pub zones: Vec<String>,
    pub storage_kind: StorageKind,
    pub storage_path: String,
    pub replicas: u32,
    pub replication: Replication,
    pub replication_lag_seconds: u64,
    pub backup_interval_seconds: Option<u64>,
    pub gateway_kind: GatewayKind,
    pub gateway_hosts: Vec<String>,
    pub vip: String,
    pub ssh_user: String,
    pub identity: String,
}

impl Answers {
    /// The addresses that are still the defaults' placeholders (in 198.18.0.0/15, the range
    /// RFC 2544 keeps for tests: no real host has one), by the key they stand in.
    pub fn placeholders(&self) -> Vec<String> {
        let placeholder = |h: &str| {
            h.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.octets()[0] == 198 && (ip.octets()[1] & 0xfe) == 18)
        };
        let mut out = Vec::new();
        for (i, h) in self.nodes.iter().enumerate() {
            if placeholder(h) {
                out.push(format!("nodes[{i}].host = {h}"));
            }
        }
        for (i, h) in self.gateway_hosts.iter().enumerate() {
            if placeholder(h) {
                out.push(format!("gateway.hosts[{i}] = {h}"));
            }
        }
        if placeholder(&self.vip) {
            out.push(format!("gateway.vip = {}", self.vip));
        }
        out
    }
}

impl Default for Answers {
    fn default() -> Self {
        let impact = Impact::High;
        let (rto, rpo, availability) = impact.objectives();
        Answers {
            name: "sftp-cluster".into(),
            impact,
            rto_seconds: rto,
            rpo_seconds: rpo,
            availability_percent: availability,
            peak_sessions: 200,
            peak_throughput_mbps: None,
            max_sessions: 500,
            nodes: vec![
                "198.18.0.11".into(),
                "198.18.0.12".into(),
                "198.18.0.13".into(),
            ],
            zones: vec!["a".into(), "b".into(), "c".into()],
            storage_kind: StorageKind::Nfs,
            storage_path: "/srv/sftpha".into(),
            replicas: 2,
            replication: Replication::Sync,
            replication_lag_seconds: 0,
            backup_interval_seconds: Some(86400),
            gateway_kind: GatewayKind::Builtin,
            gateway_hosts: vec!["198.18.0.21".into(), "198.18.0.22".into()],
            vip: "198.18.0.20".into(),
            ssh_user: "root".into(),
            identity: "~/.ssh/id_ed25519".into(),
        }
    }
}

/// Zones for `nodes` hosts from what was given: one each, cycled when fewer, or a, b, c...
pub fn zones_for(nodes: usize, given: &[String]) -> Vec<String> {
    if given.is_empty() {
        return (0..nodes)
            .map(|i| ((b'a' + (i % 26) as u8) as char).to_string())
            .collect();
    }
    (0..nodes).map(|i| given[i % given.len()].clone()).collect()
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// cluster.toml for these answers, with a comment on every choice.
pub fn cluster_toml(a: &Answers) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"# cluster.toml: the desired state of the SFTP cluster `{name}`, written by `sftpha init`.
# Keep it in git. `sftpha assess` judges it, `sftpha provision` builds it.
# Every key, its type, default and meaning: `sftpha man cluster.toml` (sftpha-cluster.toml(5)).

name = "{name}"
users = "users.toml"                  # who may log in, relative to this file

[objectives]                          # what the business needs; assess compares against it
impact = "{impact}"                       # impact of downtime: critical | high | moderate | low
rto_seconds = {rto}                      # longest tolerable outage for new sessions
rpo_seconds = {rpo}                       # longest tolerable loss window for completed uploads
availability_percent = {avail}          # 99.9 is ~8.8 h down a year, 99.95 ~4.4 h, 99.99 ~53 min
peak_sessions = {peak}                   # concurrent SFTP sessions at the busiest hour"#,
        name = a.name,
        impact = a.impact.as_str(),
        rto = a.rto_seconds,
        rpo = a.rpo_seconds,
        avail = a.availability_percent,
        peak = a.peak_sessions,
    );
    match a.peak_throughput_mbps {
        Some(t) => {
            let _ = writeln!(
                out,
                "peak_throughput_mbps = {t}              # aggregate transfer rate at peak"
            );
        }
        None => out +=
            "# peak_throughput_mbps = 800            # aggregate transfer rate at peak, if known\n",
    }
    let _ = writeln!(
        out,
        r#"
[ssh]                                 # how sftpha reaches the hosts (operator time only)
user = "{user}"
port = 22
identity = "{identity}"            # or leave out to use the ssh-agent
known_hosts = "known_hosts"           # the hosts' SSH keys; unknown keys are refused

[node]                                # the same on every node
port = 2222                           # SFTP
health_port = 9022                    # HTTP /healthz and /metrics for the gateway
max_sessions = {max}                   # per node; with one node down the rest must carry the peak
upload_mode = "atomic"                # a file appears only when complete; "resumable" allows resume

[storage]                             # mounted at the same path on every node
path = "{path}"
kind = "{kind}"                          # nfs | smb | cephfs | glusterfs | shared | local
replicas = {replicas}                          # copies the storage keeps (1 = one NAS = a single point of failure)
replication = "{replication}"                  # none | sync | async"#,
        user = a.ssh_user,
        identity = a.identity,
        max = a.max_sessions,
        path = a.storage_path,
        kind = a.storage_kind.as_str(),
        replicas = a.replicas,
        replication = a.replication.as_str(),
    );
    if a.replication == Replication::Async {
        let _ = writeln!(
            out,
            "replication_lag_seconds = {}          # how far the replica may be behind",
            a.replication_lag_seconds
        );
    }
    match a.backup_interval_seconds {
        Some(b) => {
            let _ = writeln!(
                out,
                "backup_interval_seconds = {b}        # bounds the loss if the storage is lost"
            );
        }
        None => {
            out +=
                "# backup_interval_seconds = 86400      # bounds the loss if the storage is lost\n"
        }
    }
    out += "\n# The nodes: the bundled SFTP server runs on each. `zone` is the failure domain\n# (rack, room or availability zone); spread nodes over two or more.\n";
    for (i, host) in a.nodes.iter().enumerate() {
        let _ = writeln!(
            out,
            "[[nodes]]\nname = \"n{}\"\nhost = \"{host}\"\nzone = \"{}\"\n",
            i + 1,
            a.zones.get(i).map(String::as_str).unwrap_or("a")
        );
    }
    let _ = writeln!(
        out,
        r#"[gateway]                             # what clients connect to
kind = "{kind}"                      # builtin (sftpha gateway) | haproxy | external
hosts = [{hosts}]
port = 2222
vip = "{vip}"                # keepalived virtual IP when there are two or more hosts
balance = "leastconn"                 # roundrobin | leastconn | source
health_interval_ms = 1000             # a dead node is out after interval x fall + timeout
health_fall = 2
health_rise = 2"#,
        kind = a.gateway_kind.as_str(),
        hosts = quoted_list(&a.gateway_hosts),
        vip = a.vip,
    );
    out += r#"
# Figures for the availability estimate; replace them with your own records.
# [availability]
# node_percent = 99.5
# gateway_percent = 99.9
# storage_percent = 99.95
# zone_percent = 99.99

# [recovery]
# manual_seconds = 14400              # restoring something without a standby, by hand
"#;
    out
}

/// users.toml with no user yet and an example.
pub fn users_toml() -> String {
    r#"# users.toml: who may log in. `sftpha users add NAME --key FILE` edits it and pushes it to
# every node; nodes reload it without a restart. Every key: `sftpha man users.toml`.
#
# [[users]]
# name = "alice"
# keys = ["ssh-ed25519 AAAA... alice@laptop"]      # OpenSSH public keys
# home = "alice"                                   # under the storage path: the user's jail
# permissions = ["list", "read", "write", "delete", "mkdir", "rename"]
"#
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_valid_cluster() {
        let text = cluster_toml(&Answers::default());
        let c =
            crate::config::cluster::Cluster::parse(std::path::Path::new("/x/cluster.toml"), &text)
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.file.nodes.len(), 3);
        assert_eq!(c.gateway.vip(), Some("198.18.0.20".parse().unwrap()));
        crate::config::users::Users::parse(std::path::Path::new("/x/users.toml"), &users_toml())
            .unwrap();
    }

    #[test]
    fn placeholders_are_the_test_range_only() {
        let defaults = Answers::default();
        assert_eq!(
            defaults.placeholders().len(),
            6,
            "{:?}",
            defaults.placeholders()
        );
        let mine = Answers {
            nodes: vec!["10.0.1.11".into(), "sftp2.example.com".into()],
            gateway_hosts: vec!["198.19.0.1".into()],
            vip: String::new(),
            ..Answers::default()
        };
        assert_eq!(mine.placeholders(), ["gateway.hosts[0] = 198.19.0.1"]);
    }

    #[test]
    fn zones_cycle() {
        assert_eq!(zones_for(3, &[]), ["a", "b", "c"]);
        assert_eq!(zones_for(3, &["x".into(), "y".into()]), ["x", "y", "x"]);
    }
}
