//! `sftpha status`: health and drift of every node and gateway; exit 1 if anything is off.

use std::path::PathBuf;

use clap::Args;

use crate::cmd::context::Context;
use crate::error::{exit, Result};
use crate::provision::short;
use crate::provision::status::{status, StatusReport};
use crate::text::{table, wrap};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The sftpha binary the hosts should run (default: what `provision` or `upgrade` last
    /// installed on each host, else this one).
    #[arg(long, value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

pub fn run(ctx: &Context, args: &StatusArgs) -> Result<u8> {
    let cluster = ctx.cluster()?;
    let report = ctx.block_on(status(cluster, args.node_binary.as_ref(), ctx.progress()))??;
    ctx.print(&report, human)?;
    Ok(if report.ok {
        exit::OK
    } else if report.only_unreachable() {
        exit::UNREACHABLE
    } else {
        exit::CHECK_FAILED
    })
}

fn yes(b: bool) -> String {
    if b { "yes" } else { "NO" }.into()
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

/// Everything wrong with one host: its problems, then what drifted.
fn notes(drift: &[String], problems: &[String]) -> Vec<String> {
    problems
        .iter()
        .cloned()
        .chain(drift.iter().map(|d| format!("drift: {d}")))
        .collect()
}

/// The table's column: how many, listed under the tables (a narrow terminal keeps them whole).
fn count(notes: &[String]) -> String {
    match notes.len() {
        0 => "-".into(),
        n => format!("{n} (below)"),
    }
}

/// The presented keys, shortened: one line per key.
fn keys_column(keys: &[String]) -> String {
    if keys.is_empty() {
        return "-".into();
    }
    keys.iter()
        .map(|k| k.chars().take(20).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn human(r: &StatusReport) -> String {
    let mut rows = vec![vec![
        "node".to_string(),
        "host".into(),
        "reachable".into(),
        "healthy".into(),
        "version".into(),
        "config".into(),
        "host keys".into(),
        "sessions".into(),
        "problems".into(),
    ]];
    let mut listed = Vec::new();
    for n in &r.nodes {
        let notes = notes(&n.drift, &n.problems);
        rows.push(vec![
            n.name.clone(),
            n.host.clone(),
            yes(n.reachable),
            yes(n.healthy),
            or_dash(&n.version),
            n.config_checksum
                .as_deref()
                .map(|c| short(c).to_owned())
                .unwrap_or_else(|| "-".into()),
            keys_column(&n.presented_host_keys),
            n.sessions
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            count(&notes),
        ]);
        listed.extend(
            notes
                .into_iter()
                .map(|t| (n.name.clone(), n.host.clone(), t)),
        );
    }
    let mut s = format!("status: cluster {}\n", r.cluster);
    s += &table(rows, false);
    s += "\n";
    if !r.gateways.is_empty() {
        let mut rows = vec![vec![
            "gateway".to_string(),
            "host".into(),
            "kind".into(),
            "reachable".into(),
            "healthy".into(),
            "host key".into(),
            "problems".into(),
        ]];
        for g in &r.gateways {
            let notes = notes(&g.drift, &g.problems);
            rows.push(vec![
                g.name.clone(),
                g.host.clone(),
                g.kind.clone(),
                yes(g.reachable),
                yes(g.healthy),
                keys_column(&g.presented_host_keys),
                count(&notes),
            ]);
            listed.extend(
                notes
                    .into_iter()
                    .map(|t| (g.name.clone(), g.host.clone(), t)),
            );
        }
        s += &table(rows, false);
        s += "\n";
    }
    if let Some(vip) = &r.vip {
        s += &format!("{}\n\n", vip.describe());
    }
    if !listed.is_empty() {
        s += "problems:\n";
        let width = crate::text::output_width().saturating_sub(4);
        for (name, host, text) in listed {
            let item = wrap(&format!("{name} ({host}): {text}"), width);
            s += &format!("  - {}\n", item.replace('\n', "\n    "));
        }
        s += "\n";
    }
    s += &format!(
        "cluster host keys: {}\n{} in {:.1}s\n",
        r.host_key_fingerprints.join(", "),
        if r.ok {
            "all healthy, no drift"
        } else {
            "UNHEALTHY or DRIFTED"
        },
        r.elapsed_ms as f64 / 1000.0
    );
    s
}
