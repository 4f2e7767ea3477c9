//! How the reports several commands print look to a person: a provision-shaped report (from
//! `provision`, `upgrade`, and the push of a users or keys command), a users change, and an
//! assessment (`assess`, `init`).
//! Commands print through [`Context::print`]; what only one command prints stays in it.

use crate::assess;
use crate::cmd::cli::Format;
use crate::cmd::context::Context;
use crate::config::cluster::Cluster;
use crate::error::Result;
use crate::provision::push::ChangeReport;
use crate::provision::{Outcome, Report};
use crate::text::{table, wrap};

/// Prints a provision-shaped report under `title`; its exit code.
pub fn print_provision(ctx: &Context, title: &str, report: &Report) -> Result<u8> {
    ctx.print(report, |r| human_titled(title, r))?;
    Ok(report.exit_code())
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

/// A users.toml change and its push.
pub fn change(r: &ChangeReport) -> String {
    let mut s = format!("{}: {}\n", r.users_file, r.change);
    for n in &r.notes {
        s += &format!("{n}\n");
    }
    if let Some(why) = &r.not_pushed {
        s += &format!("{why}\n");
    }
    if let Some(report) = &r.push {
        s += &human_titled("push of users.toml", report);
    }
    s
}

/// An assessment in the command's format, markdown included (`assess`, `init`).
pub fn print_assessment(ctx: &Context, report: &assess::Report, cluster: &Cluster) -> Result<()> {
    let text = match ctx.format() {
        Format::Json => serde_json::to_string_pretty(report).expect("report serializes") + "\n",
        Format::Human => assess::render::human(report),
        Format::Markdown => assess::render::markdown(report, cluster),
    };
    ctx.print_text(&text)
}
