//! `sftpha assess`: the risk assessment of cluster.toml, optionally with a live probe.

use clap::{Args, ValueEnum};

use crate::assess::{self, FailOn, Severity};
use crate::cmd::context::Context;
use crate::cmd::output::print_assessment;
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
    #[command(flatten)]
    pub common: crate::cmd::cli::ReportCommon,
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

pub fn run(ctx: &Context, args: &AssessArgs) -> Result<u8> {
    let cluster = ctx.cluster()?;
    let (extra, evidence) = if args.probe {
        let (findings, evidence, took) =
            ctx.block_on(assess::probe::run(cluster, ctx.progress()))?;
        tracing::debug!(?took, "probed the live hosts");
        (findings, evidence)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut report = assess::assess(
        cluster,
        extra,
        args.fail_on.into(),
        args.probe,
        crate::date::Date::today(),
    );
    report.evidence = evidence;
    print_assessment(ctx, &report, cluster)?;
    Ok(if report.verdict == "pass" {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
