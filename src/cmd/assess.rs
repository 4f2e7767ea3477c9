//! `sftpha assess`: the risk assessment of cluster.toml, optionally with a live probe.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::assess::{self, render, FailOn, Severity};
use crate::cli::{Cli, Format};
use crate::config::cluster::Cluster;
use crate::error::{exit, Result};

#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Also check the live hosts: every node answers, the same host key everywhere, the
    /// storage really shared, the same config and users, clocks, free space.
    #[arg(long)]
    pub probe: bool,
    /// The lowest severity that fails the assessment (exit 1).
    #[arg(long, value_enum, default_value = "high", value_name = "SEVERITY")]
    pub fail_on: FailOnArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FailOnArg {
    High,
    Medium,
    Low,
    Never,
}

impl From<FailOnArg> for FailOn {
    fn from(arg: FailOnArg) -> Self {
        match arg {
            FailOnArg::High => FailOn::At(Severity::High),
            FailOnArg::Medium => FailOn::At(Severity::Medium),
            FailOnArg::Low => FailOn::At(Severity::Low),
            FailOnArg::Never => FailOn::Never,
        }
    }
}

pub fn run(cli: &Cli, args: &AssessArgs) -> Result<u8> {
    let cluster = Cluster::load(&cli.cluster)?;
    let extra = if args.probe {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (findings, took) = runtime.block_on(assess::probe::run(&cluster));
        tracing::debug!(?took, "probed the live hosts");
        findings
    } else {
        Vec::new()
    };
    let report = assess::assess(&cluster, extra, args.fail_on.into(), args.probe);
    print(cli.format(), &report, &cluster)?;
    Ok(if report.verdict == "pass" {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}

/// Prints the report on stdout in `format` (also used by `init`).
pub fn print(format: Format, report: &assess::Report, cluster: &Cluster) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(report).expect("report serializes")
        )?,
        Format::Human => write!(out, "{}", render::human(report))?,
        Format::Markdown => write!(out, "{}", render::markdown(report, cluster))?,
    }
    out.flush()?;
    Ok(())
}
