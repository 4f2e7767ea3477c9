//! `sftpha provision`: plan, apply, verify; a table per host or JSON.

use std::path::PathBuf;

use clap::Args;

use crate::assess::render::table;
use crate::cli::{Cli, Format};
use crate::config::cluster::Cluster;
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
    print(format, "provision", &report)
}

/// Prints a provision-shaped report under `title`; its exit code.
pub fn print(format: Format, title: &str, report: &Report) -> Result<u8> {
    crate::cmd::print_report(format, report, |r| human_titled(title, r))?;
    Ok(exit_code(report))
}

/// 0 when all went well; 3 when every failure is a host that could not be reached or logged
/// into over SSH; 4 when anything else failed (hosts may also be unreachable).
pub fn exit_code(report: &Report) -> u8 {
    if report.ok {
        exit::OK
    } else if report.only_unreachable() {
        exit::UNREACHABLE
    } else {
        exit::PROVISION_FAILED
    }
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Planned => "would change",
        Outcome::Unchanged => "unchanged",
        Outcome::Changed => "changed",
        Outcome::Failed => "FAILED",
    }
}

/// The report as a table, titled by the command that made it (`provision`, `upgrade`, the
/// push of a users or keys command).
pub fn human_titled(title: &str, report: &Report) -> String {
    let mut s = String::new();
    if report.dry_run {
        s += &format!(
            "{title} plan (dry run: nothing was changed): cluster {}\n",
            report.cluster
        );
    } else {
        s += &format!("{title}: cluster {}\n", report.cluster);
    }
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
    for line in &report.would_record {
        s += &format!("{line}\n");
    }
    let fingerprints = if report.host_key_fingerprints.is_empty() {
        "not generated yet (the first real run makes them, beside cluster.toml)".to_owned()
    } else {
        report.host_key_fingerprints.join(", ")
    };
    s += &format!(
        "cluster host keys: {fingerprints}\n{} in {:.1}s\n",
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
