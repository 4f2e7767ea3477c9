//! `sftpha provision`: plan, apply, verify; a table per host or JSON.

use std::path::PathBuf;

use clap::Args;

use crate::assess::render::table;
use crate::cli::{Cli, Format};
use crate::cluster::Cluster;
use crate::error::{exit, Result};
use crate::provision::{self, Options, Outcome, Report};

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// Only these nodes, gateways (gw1, gw2, ...) or hosts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,
    /// Print what would change on every host (create / change / unchanged) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Record the host keys of hosts not yet in the cluster's known_hosts (check the printed
    /// fingerprints). A key that CHANGED is refused all the same.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    /// The sftpha binary to install on the hosts (default: this one).
    #[arg(long, value_name = "PATH")]
    pub node_binary: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &ProvisionArgs) -> Result<u8> {
    let cluster = Cluster::load(&cli.cluster)?;
    let format = cli.format();
    let report = provision::provision(
        &cluster,
        &Options {
            only: args.only.clone(),
            dry_run: args.dry_run,
            accept_new_host_keys: args.accept_new_host_keys,
            node_binary: args.node_binary.clone(),
            progress: format == Format::Human && cli.quiet == 0,
            ..Options::everything()
        },
    )?;
    print(format, &report)
}

/// Prints a provision-shaped report; exit 4 unless it is ok.
pub fn print(format: Format, report: &Report) -> Result<u8> {
    crate::cmd::print_report(format, report, human)?;
    Ok(if report.ok {
        exit::OK
    } else {
        exit::PROVISION_FAILED
    })
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Planned => "would change",
        Outcome::Unchanged => "unchanged",
        Outcome::Changed => "changed",
        Outcome::Failed => "FAILED",
    }
}

pub fn human(report: &Report) -> String {
    let mut s = String::new();
    let title = if report.dry_run {
        "provision plan (dry run: nothing was changed)"
    } else {
        "provision"
    };
    s += &format!("{title}: cluster {}\n", report.cluster);
    let mut rows = vec![vec![
        "host".to_string(),
        "role".into(),
        "changes".into(),
        "result".into(),
    ]];
    for h in &report.hosts {
        let mut changes = h.changed_items().join(", ");
        if changes.is_empty() {
            changes = "-".into();
        }
        if let Some(e) = &h.error {
            changes = if changes == "-" {
                e.clone()
            } else {
                format!("{changes}\n{e}")
            };
        }
        rows.push(vec![
            h.host.clone(),
            h.roles.join(", "),
            wrap(&changes, 70),
            format!(
                "{} ({:.1}s)",
                outcome(h.result),
                h.elapsed_ms as f64 / 1000.0
            ),
        ]);
    }
    s += &table(rows, false);
    s += "\n";
    for c in &report.checks {
        s += &format!(
            "{} {}: {}\n",
            if c.ok { "ok  " } else { "FAIL" },
            c.check,
            c.detail
        );
    }
    for key in &report.generated_keys {
        s += &format!("generated {key} (0600): back it up; it is the cluster's identity\n");
    }
    let fingerprint = if report.host_key_fingerprint.is_empty() {
        "not generated yet (the first real run makes it, beside cluster.toml)"
    } else {
        &report.host_key_fingerprint
    };
    s += &format!(
        "cluster host key: {fingerprint}\n{} in {:.1}s\n",
        if report.ok {
            if report.dry_run {
                "planned"
            } else {
                "done"
            }
        } else {
            "FAILED"
        },
        report.elapsed_ms as f64 / 1000.0
    );
    s
}

/// Wraps `text` at word boundaries to `width` columns (tables stay readable).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for para in text.split('\n') {
        let mut line = 0;
        if !out.is_empty() {
            out.push('\n');
        }
        for word in para.split(' ') {
            if line > 0 && line + word.len() + 1 > width {
                out.push('\n');
                line = 0;
            } else if line > 0 {
                out.push(' ');
                line += 1;
            }
            out += word;
            line += word.len();
        }
    }
    out
}
