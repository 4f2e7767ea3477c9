//! The assessment for people: tables for a terminal, and a Markdown report with a Mermaid
//! diagram of the cluster for a change ticket. Both are deterministic (no clock, no host
//! names of the machine that ran it), so they can be snapshot-tested and diffed.

use std::fmt::Write;

use super::{Report, Severity, Status};
use crate::config::cluster::Cluster;
use crate::text::table;

fn seconds(s: f64) -> String {
    if s >= 3600.0 && s % 60.0 == 0.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// A percentage with enough decimals to tell it from 100 (99.95, 99.9999).
pub fn percent(p: f64) -> String {
    for decimals in 3..=9 {
        let s = format!("{p:.decimals$}");
        if !s.starts_with("100.") || p >= 100.0 {
            return s;
        }
    }
    format!("{p:.9}")
}

/// `p` with enough decimals to tell it from `other` (99.9499% is not shown as 99.950%
/// when the objective is 99.95%).
pub fn percent_against(p: f64, other: f64) -> String {
    for decimals in 3..=9 {
        let a = format!("{p:.decimals$}");
        if a != format!("{other:.decimals$}") && !(a.starts_with("100.") && p < 100.0) {
            return a;
        }
    }
    percent(p)
}

fn rpo(s: Option<f64>) -> String {
    s.map(seconds).unwrap_or_else(|| "unbounded".into())
}

fn status(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Breached => "BREACHED",
    }
}

fn counts(report: &Report) -> String {
    let n = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} high, {} medium, {} low",
        n(Severity::High),
        n(Severity::Medium),
        n(Severity::Low)
    )
}

fn component_rows(report: &Report, no: &str) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "component".to_string(),
        "redundant".into(),
        "what".into(),
    ]];
    for c in &report.components {
        let redundant = if c.redundant { "yes" } else { no };
        rows.push(vec![c.name.into(), redundant.into(), c.description.clone()]);
    }
    rows
}

fn finding_rows(report: &Report, code: bool) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "severity".to_string(),
        "id".into(),
        "component".into(),
        "title".into(),
    ]];
    for f in &report.findings {
        let id = if code {
            format!("`{}`", f.id)
        } else {
            f.id.into()
        };
        rows.push(vec![
            f.severity.as_str().into(),
            id,
            f.component.clone(),
            f.title.clone(),
        ]);
    }
    rows
}

fn disruption_rows(report: &Report) -> Vec<Vec<String>> {
    let mut rows = vec![vec![
        "disruption".to_string(),
        "RTO est.".into(),
        "RTO target".into(),
        "RPO est.".into(),
        "RPO target".into(),
        "status".into(),
    ]];
    for d in &report.disruptions {
        rows.push(vec![
            d.kind.as_str().into(),
            seconds(d.estimated_rto_seconds),
            seconds(d.target_rto_seconds as f64),
            rpo(d.estimated_rpo_seconds),
            seconds(d.target_rpo_seconds as f64),
            status(d.status).into(),
        ]);
    }
    rows
}

fn availability_line(report: &Report) -> String {
    let a = &report.availability;
    format!(
        "{}% estimated ({:.1} nines, ~{:.1} min/year down) against {}% (~{:.1} min/year): {}",
        percent_against(a.estimated_percent, a.target_percent),
        a.nines,
        a.downtime_minutes_per_year,
        a.target_percent,
        a.target_downtime_minutes_per_year,
        status(a.status)
    )
}

fn capacity_line(report: &Report) -> String {
    let c = &report.capacity;
    let mut line = format!(
        "peak {} sessions needs {} node(s) of {}; {} with all nodes up, {} with one down",
        c.peak_sessions,
        c.nodes_needed_at_peak,
        c.max_sessions_per_node,
        c.sessions_all_nodes_up,
        c.sessions_with_one_node_down
    );
    if let Some(z) = c.sessions_with_largest_zone_down {
        let _ = write!(line, ", {z} with the largest zone down");
    }
    line += if c.ok { ": ok" } else { ": NOT ENOUGH" };
    line
}

/// What `--probe` saw, a row per host.
fn evidence_rows(report: &Report) -> Vec<Vec<String>> {
    let mut rows = vec![[
        "host",
        "role",
        "version",
        "host keys",
        "storage",
        "free",
        "clock",
        "problem",
    ]
    .map(String::from)
    .to_vec()];
    let dash = || "-".to_string();
    for e in &report.evidence {
        let short = |fp: &String| fp.chars().take(19).collect::<String>();
        rows.push(vec![
            e.host.clone(),
            e.role.into(),
            e.version.clone().unwrap_or_else(dash),
            match e.host_keys.as_slice() {
                [] => dash(),
                keys => keys.iter().map(short).collect::<Vec<_>>().join(" "),
            },
            e.storage_id
                .as_ref()
                .map(|s| s.chars().take(12).collect())
                .unwrap_or_else(dash),
            e.storage_free_bytes
                .map(crate::text::human_bytes)
                .unwrap_or_else(dash),
            e.clock_offset_ms
                .map(|ms| format!("{ms:+} ms"))
                .unwrap_or_else(dash),
            e.problem.clone().unwrap_or_default(),
        ]);
    }
    rows
}

/// `spof.gateway: in force until 2027-03-31 (medium: the one gateway host ...): why`.
fn risk_line(r: &super::RiskStatus) -> String {
    let what = match r.findings.first() {
        Some(f) => format!(" ({}: {})", f.severity.as_str(), f.title),
        None => String::new(),
    };
    let state = match r.status {
        super::RiskState::InForce => format!("accepted until {}{what}", r.expires),
        super::RiskState::Expired => format!(
            "EXPIRED on {}: the finding counts again; renew the acceptance or fix it",
            r.expires
        ),
        super::RiskState::Unused => {
            "no such finding (fixed, or a wrong id): remove the entry".to_string()
        }
    };
    format!("{}: {state}; reason: {}", r.id, r.reason)
}

/// Tables for a terminal.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "assessment of `{}`: {} (fails on: {}){}\n",
        report.cluster,
        report.verdict.to_uppercase(),
        report.fail_on,
        if report.probed {
            ", live hosts probed"
        } else {
            ""
        }
    );
    let rows = component_rows(report, "NO");
    let _ = writeln!(out, "{}\n", table(rows, false));

    let _ = writeln!(out, "findings: {}", counts(report));
    if !report.findings.is_empty() {
        let rows = finding_rows(report, false);
        let _ = writeln!(out, "{}", table(rows, false));
        for f in &report.findings {
            let _ = writeln!(
                out,
                "\n{} ({}, {}): {}\n  why: {}\n  fix: {}",
                f.id,
                f.severity.as_str(),
                f.component,
                f.title,
                f.detail,
                f.recommendation
            );
        }
    }
    if !report.evidence.is_empty() {
        let _ = writeln!(
            out,
            "\nlive hosts (--probe):\n{}",
            table(evidence_rows(report), false)
        );
    }
    if !report.accepted_risks.is_empty() {
        let _ = writeln!(out, "\naccepted risks:");
        for r in &report.accepted_risks {
            let _ = writeln!(out, "  {}", risk_line(r));
        }
    }
    let _ = writeln!(
        out,
        "\ndisruptions:\n{}",
        table(disruption_rows(report), false)
    );
    let _ = writeln!(out, "\navailability: {}", availability_line(report));
    for p in &report.availability.parts {
        let _ = writeln!(
            out,
            "  {:<8} {:>10}%  {}",
            p.component,
            percent(p.percent),
            p.basis
        );
    }
    let _ = writeln!(out, "capacity: {}", capacity_line(report));
    let _ = writeln!(out, "\nstrengths:");
    for s in &report.strengths {
        let _ = writeln!(out, "  - {s}");
    }
    let _ = writeln!(out, "assumptions:");
    for s in &report.assumptions {
        let _ = writeln!(out, "  - {s}");
    }
    out
}

fn mermaid_id(prefix: &str, name: &str) -> String {
    if name.is_empty() {
        return format!("{prefix}_unset");
    }
    format!("{prefix}_{}", name.replace('-', "_"))
}

/// A Mermaid flowchart of the cluster: clients, gateways (and vip), nodes by zone, storage.
pub fn diagram(cluster: &Cluster) -> String {
    let c = &cluster.file;
    let g = &c.gateway;
    let mut out = String::from("flowchart LR\n  clients([SFTP clients])\n");
    let gateways: Vec<String> = match cluster.gateway.managed() {
        None => {
            out += "  gw_external[\"external balancer\"]\n  clients --> gw_external\n";
            vec!["gw_external".into()]
        }
        Some(m) => {
            let _ = writeln!(
                out,
                "  subgraph gateways [\"gateway: {}{}\"]",
                cluster.gateway.kind().as_str(),
                match m.vip {
                    None => String::new(),
                    Some(vip) => format!(", vip {vip}"),
                }
            );
            let ids: Vec<String> = (0..m.hosts.len()).map(|i| format!("gw_{i}")).collect();
            for (id, host) in ids.iter().zip(&m.hosts) {
                let _ = writeln!(out, "    {id}[\"{host}:{}\"]", g.port);
            }
            out += "  end\n";
            if m.vip.is_none() {
                let _ = writeln!(out, "  clients --> {}", ids[0]);
            } else {
                out += "  clients --> gateways\n";
            }
            ids
        }
    };
    for (zone, _) in cluster.zones() {
        let label = if zone.is_empty() {
            "zone not set".to_string()
        } else {
            format!("zone {zone}")
        };
        let _ = writeln!(
            out,
            "  subgraph {} [\"{label}\"]",
            mermaid_id("zone", &zone)
        );
        for n in cluster.node_addrs() {
            let node_zone = c
                .nodes
                .iter()
                .find(|e| e.name == n.name)
                .and_then(|e| e.zone.clone())
                .unwrap_or_default();
            if node_zone == zone {
                let _ = writeln!(
                    out,
                    "    {}[\"{} {}:{}\"]",
                    mermaid_id("node", &n.name),
                    n.name,
                    n.host,
                    n.port
                );
            }
        }
        out += "  end\n";
    }
    for gw in &gateways {
        for n in &c.nodes {
            let _ = writeln!(out, "  {gw} --> {}", mermaid_id("node", &n.name));
        }
    }
    let s = &c.storage;
    let _ = writeln!(
        out,
        "  storage[(\"{} {}, {} replica(s), {}\")]",
        s.kind.as_str(),
        s.path.display(),
        s.replicas,
        s.replication.as_str()
    );
    for n in &c.nodes {
        let _ = writeln!(out, "  {} --> storage", mermaid_id("node", &n.name));
    }
    out
}

/// A report to attach to a change ticket.
pub fn markdown(report: &Report, cluster: &Cluster) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Risk assessment: {}\n", report.cluster);
    let _ = writeln!(
        out,
        "**Verdict: {}** (fails on {} findings{}); {}. Made by sftpha {} from `{}`.\n",
        report.verdict.to_uppercase(),
        report.fail_on,
        if report.probed {
            ", live hosts probed"
        } else {
            ", design only"
        },
        counts(report),
        env!("CARGO_PKG_VERSION"),
        cluster
            .path
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    let o = &cluster.file.objectives;
    let _ = writeln!(
        out,
        "Objectives: RTO {}, RPO {}, availability {}%, peak {} sessions{}.\n",
        seconds(o.rto_seconds as f64),
        seconds(o.rpo_seconds as f64),
        o.availability_percent,
        o.peak_sessions,
        o.impact
            .map(|i| format!(", impact of downtime {}", i.as_str()))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "## Cluster\n\n```mermaid\n{}```\n", diagram(cluster));
    let rows = component_rows(report, "**no**");
    let _ = writeln!(out, "{}\n", table(rows, true));

    let _ = writeln!(out, "## Findings\n");
    if report.findings.is_empty() {
        out += "None.\n\n";
    } else {
        let rows = finding_rows(report, true);
        let _ = writeln!(out, "{}\n", table(rows, true));
        for f in &report.findings {
            let _ = writeln!(
                out,
                "### `{}` ({}): {}\n\n{}\n\n**Recommendation:** {}\n",
                f.id,
                f.severity.as_str(),
                f.title,
                f.detail,
                f.recommendation
            );
        }
    }
    if !report.evidence.is_empty() {
        let _ = writeln!(
            out,
            "## Live hosts (--probe)\n\n{}\n",
            table(evidence_rows(report), true)
        );
    }
    if !report.accepted_risks.is_empty() {
        let _ = writeln!(out, "## Accepted risks\n");
        for r in &report.accepted_risks {
            let _ = writeln!(out, "- {}", risk_line(r));
        }
        out += "\n";
    }
    let _ = writeln!(
        out,
        "## Disruptions\n\n{}\n",
        table(disruption_rows(report), true)
    );
    for d in &report.disruptions {
        let _ = writeln!(out, "- **{}**: {}", d.kind.as_str(), d.basis);
    }
    let _ = writeln!(out, "\n## Availability\n\n{}\n", availability_line(report));
    let mut rows = vec![vec![
        "part".to_string(),
        "availability".into(),
        "basis".into(),
    ]];
    for p in &report.availability.parts {
        rows.push(vec![
            p.component.clone(),
            format!("{}%", percent(p.percent)),
            p.basis.clone(),
        ]);
    }
    let _ = writeln!(out, "{}\n", table(rows, true));
    let _ = writeln!(out, "## Capacity\n\n{}\n", capacity_line(report));
    let _ = writeln!(out, "## Strengths\n");
    for s in &report.strengths {
        let _ = writeln!(out, "- {s}");
    }
    let _ = writeln!(out, "\n## Assumptions\n");
    for s in &report.assumptions {
        let _ = writeln!(out, "- {s}");
    }
    out
}
