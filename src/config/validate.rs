//! The rules of cluster.toml beyond its types: names, hosts and ports that must not clash,
//! ranges, and settings that only make sense together. Every error names the key and says
//! what to do.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use super::cluster::*;
use crate::config::node::valid_name;
use crate::error::{Error, Result};

pub(super) fn cluster(path: &Path, file: &ClusterFile) -> Result<()> {
    let invalid = |key: &str, msg: String| Error::config(path, Some(key), msg);
    if !(1..=3650).contains(&file.keys.certificate_days) {
        return Err(invalid(
            "keys.certificate_days",
            format!(
                "{} is not between 1 and 3650 days",
                file.keys.certificate_days
            ),
        ));
    }
    for (i, name) in file.keys.host_names.iter().enumerate() {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || ",*?!@[]".contains(c)) {
            return Err(invalid(
                &format!("keys.host_names[{i}]"),
                format!("`{name}` is not a host name (no spaces, commas, brackets or wildcards)"),
            ));
        }
    }
    if !valid_name(&file.name) {
        return Err(invalid(
            "name",
            format!(
                "`{}` is not a valid cluster name: use 1-63 letters, digits, `-` or `_`",
                file.name
            ),
        ));
    }

    let o = &file.objectives;
    if !(o.availability_percent > 0.0 && o.availability_percent < 100.0) {
        return Err(invalid(
            "objectives.availability_percent",
            format!(
                "`{}` must be above 0 and below 100, like `99.95`",
                o.availability_percent
            ),
        ));
    }
    if let Some(t) = o.peak_throughput_mbps {
        if !(t >= 0.0 && t.is_finite()) {
            return Err(invalid(
                "objectives.peak_throughput_mbps",
                format!("`{t}` must be a number of megabits per second, 0 or more"),
            ));
        }
    }

    if file.ssh.port == 0 {
        return Err(invalid("ssh.port", "must be a port from 1 to 65535".into()));
    }
    if file.ssh.timeout_seconds == 0 {
        return Err(invalid("ssh.timeout_seconds", "must be at least 1".into()));
    }
    if file.ssh.user.is_empty() {
        return Err(invalid("ssh.user", "must not be empty".into()));
    }

    let n = &file.node;
    for (key, value) in [("node.port", n.port), ("node.health_port", n.health_port)] {
        if value == 0 {
            return Err(invalid(key, "must be a port from 1 to 65535".into()));
        }
    }
    if n.port == n.health_port {
        return Err(invalid(
            "node.health_port",
            format!("`{}` is the same port as `node.port`", n.health_port),
        ));
    }
    if n.max_sessions == 0 {
        return Err(invalid("node.max_sessions", "must be at least 1".into()));
    }
    for (key, dir) in [
        ("node.install_dir", &n.install_dir),
        ("node.config_dir", &n.config_dir),
        ("node.state_dir", &n.state_dir),
        ("node.log_dir", &n.log_dir),
    ] {
        if !dir.is_absolute() {
            return Err(invalid(
                key,
                format!("`{}` must be an absolute path on the hosts", dir.display()),
            ));
        }
    }
    if let Some(user) = &n.service_user {
        if !crate::config::users::valid_user_name(user) {
            return Err(invalid(
                "node.service_user",
                format!("`{user}` is not a valid user name"),
            ));
        }
    }
    if let Some(t) = n.throughput_mbps {
        if !(t > 0.0 && t.is_finite()) {
            return Err(invalid(
                "node.throughput_mbps",
                format!("`{t}` must be a positive number of megabits per second"),
            ));
        }
    }

    let s = &file.storage;
    if !s.path.is_absolute() {
        return Err(invalid(
            "storage.path",
            format!(
                "`{}` must be an absolute path, the same on every node",
                s.path.display()
            ),
        ));
    }
    if s.replicas == 0 {
        return Err(invalid("storage.replicas", "must be at least 1".into()));
    }
    if s.replicas > 1 && s.replication == Replication::None {
        return Err(invalid(
            "storage.replication",
            format!(
                "`none` with `replicas = {}`: say how the copies are kept, `sync` or `async`",
                s.replicas
            ),
        ));
    }
    if s.replicas == 1 && s.replication != Replication::None {
        return Err(invalid(
            "storage.replicas",
            format!(
                "`replication = \"{}\"` needs `replicas` of 2 or more",
                s.replication.as_str()
            ),
        ));
    }
    if s.kind == StorageKind::Local && s.replicas > 1 {
        return Err(invalid(
            "storage.replicas",
            "`kind = \"local\"` keeps one copy on each node's own disk; use a shared kind to replicate".into(),
        ));
    }
    if s.replication != Replication::Async && s.replication_lag_seconds > 0 {
        return Err(invalid(
            "storage.replication_lag_seconds",
            "only `replication = \"async\"` has a lag".into(),
        ));
    }

    if file.nodes.is_empty() {
        return Err(invalid(
            "nodes",
            "define at least one `[[nodes]]` with `name` and `host`".into(),
        ));
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addrs: HashMap<(String, u16), String> = HashMap::new();
    for (i, node) in file.nodes.iter().enumerate() {
        let key = |k: &str| format!("nodes[{i}].{k}");
        if !valid_name(&node.name) {
            return Err(invalid(
                &key("name"),
                format!(
                    "`{}` is not a valid node name: use 1-63 letters, digits, `-` or `_`",
                    node.name
                ),
            ));
        }
        if let Some(first) = names.insert(&node.name, i) {
            return Err(invalid(
                &key("name"),
                format!("`{}` is also the name of nodes[{first}]", node.name),
            ));
        }
        check_host(&node.host).map_err(|m| invalid(&key("host"), m))?;
        if let Some(zone) = &node.zone {
            if !valid_name(zone) {
                return Err(invalid(
                    &key("zone"),
                    format!("`{zone}` is not a valid zone name: use letters, digits, `-` or `_`"),
                ));
            }
        }
        let port = node.port.unwrap_or(n.port);
        let health_port = node.health_port.unwrap_or(n.health_port);
        if port == 0 || health_port == 0 {
            return Err(invalid(
                &key(if port == 0 { "port" } else { "health_port" }),
                "must be a port from 1 to 65535".into(),
            ));
        }
        if port == health_port {
            return Err(invalid(
                &key("health_port"),
                format!("`{health_port}` is also this node's SFTP port"),
            ));
        }
        for (p, what) in [(port, "port"), (health_port, "health_port")] {
            let host = normal_host(&node.host);
            if let Some(other) = addrs.insert((host, p), format!("nodes[{i}].{what}")) {
                return Err(invalid(
                    &key(what),
                    format!(
                        "`{}:{p}` is already used by {other}: give each node its own host or port",
                        node.host
                    ),
                ));
            }
        }
    }
    for (i, zone) in s.zones.iter().enumerate() {
        if !valid_name(zone) {
            return Err(invalid(
                &format!("storage.zones[{i}]"),
                format!("`{zone}` is not a valid zone name"),
            ));
        }
    }

    let g = &file.gateway;
    if g.kind != GatewayKind::External && g.hosts.is_empty() {
        return Err(invalid(
            "gateway.hosts",
            format!(
                "list at least one host for the `{}` gateway (or set `kind = \"external\"`)",
                g.kind.as_str()
            ),
        ));
    }
    let mut seen = HashMap::new();
    for (i, host) in g.hosts.iter().enumerate() {
        let key = format!("gateway.hosts[{i}]");
        check_host(host).map_err(|m| invalid(&key, m))?;
        if let Some(first) = seen.insert(normal_host(host), i) {
            return Err(invalid(
                &key,
                format!("`{host}` is also gateway.hosts[{first}]"),
            ));
        }
        if g.kind == GatewayKind::External {
            continue;
        }
        for (p, what) in [(g.port, "port"), (g.health_port, "health_port")] {
            if let Some(other) = addrs.get(&(normal_host(host), p)) {
                return Err(invalid(
                    &format!("gateway.{what}"),
                    format!("`{host}:{p}` is also {other}: a gateway and a node on one host need different ports"),
                ));
            }
        }
    }
    if g.port == 0 {
        return Err(invalid(
            "gateway.port",
            "must be a port from 1 to 65535".into(),
        ));
    }
    if g.kind == GatewayKind::Builtin && g.health_port == g.port {
        return Err(invalid(
            "gateway.health_port",
            format!("`{}` is the same port as `gateway.port`", g.port),
        ));
    }
    if g.vip.is_some() && g.kind == GatewayKind::External {
        return Err(invalid(
                "gateway.vip",
                "an external balancer brings its own address; keepalived runs only with `builtin` or `haproxy`".into(),
            ));
    }
    if g.health_interval_ms < 100 {
        return Err(invalid(
            "gateway.health_interval_ms",
            format!("`{}` is below 100 ms", g.health_interval_ms),
        ));
    }
    for (key, value) in [
        ("gateway.health_fall", g.health_fall as u64),
        ("gateway.health_rise", g.health_rise as u64),
        ("gateway.connect_timeout_ms", g.connect_timeout_ms),
        ("gateway.banner_timeout_ms", g.banner_timeout_ms),
        ("gateway.advert_interval_ms", g.advert_interval_ms),
    ] {
        if value == 0 {
            return Err(invalid(key, "must be at least 1".into()));
        }
    }
    // VRRP counts the interval in centiseconds (version 3, which sub-second intervals need),
    // up to 40.95 s.
    if !g.advert_interval_ms.is_multiple_of(10) || !(10..=40_950).contains(&g.advert_interval_ms) {
        return Err(invalid(
            "gateway.advert_interval_ms",
            format!(
                "`{}` is not a VRRP advertisement interval: use a multiple of 10 ms from 10 to 40950 (e.g. 300: a dead vip holder is replaced in about 3 x 300 ms)",
                g.advert_interval_ms
            ),
        ));
    }
    if g.health_timeout_ms == Some(0) {
        return Err(invalid(
            "gateway.health_timeout_ms",
            "must be at least 1".into(),
        ));
    }

    let a = &file.availability;
    for (key, value) in [
        ("availability.node_percent", a.node_percent),
        ("availability.gateway_percent", a.gateway_percent),
        (
            "availability.external_gateway_percent",
            a.external_gateway_percent,
        ),
        ("availability.storage_percent", a.storage_percent),
        ("availability.zone_percent", a.zone_percent),
    ] {
        if !(value > 0.0 && value <= 100.0) {
            return Err(invalid(
                key,
                format!("`{value}` must be a percentage above 0 and at most 100"),
            ));
        }
    }
    let mut ids = HashMap::new();
    for (i, risk) in file.accepted_risks.iter().enumerate() {
        let key = |k: &str| format!("accepted_risks[{i}].{k}");
        let id_ok = !risk.id.is_empty()
            && risk
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_'));
        if !id_ok {
            return Err(invalid(
                &key("id"),
                format!(
                    "`{}` is not a finding id: copy it from `sftpha assess` (e.g. `spof.gateway`)",
                    risk.id
                ),
            ));
        }
        if risk.reason.trim().is_empty() {
            return Err(invalid(
                &key("reason"),
                "say why the risk is accepted (a decision, a ticket)".into(),
            ));
        }
        if let Some(first) = ids.insert(risk.id.as_str(), i) {
            return Err(invalid(
                &key("id"),
                format!("`{}` is also accepted_risks[{first}]", risk.id),
            ));
        }
    }
    Ok(())
}

/// A host name or IP address we can connect to.
fn check_host(host: &str) -> Result<(), String> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{host}` is neither an IP address nor a host name"))
    }
}

fn normal_host(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => crate::config::node::canonical_ip(ip).to_string(),
        Err(_) => host.to_ascii_lowercase(),
    }
}
