//! `sftpha test-failover`: the failover smoke test for CI.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::{Cli, Format};
use crate::error::{exit, Error, Result};
use crate::failover::{self, report, Fault, Plan};
use crate::lab::Lab;

/// Runs a workload through the gateway, injects a fault on one node, measures detection and
/// recovery, verifies every completed upload, and restores the node. Exit 1 when an
/// objective is missed (RTO, failed logins, data loss, corrupt or partial files).
#[derive(Debug, Args)]
pub struct TestFailoverArgs {
    /// The lab to test (see `sftpha lab up`); provisioned clusters come with `provision`.
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
    /// The fault to inject.
    #[arg(long, value_enum, default_value = "kill")]
    pub fault: Fault,
    /// The node to fault (default: the one with the most sessions).
    #[arg(long)]
    pub node: Option<String>,
    /// Concurrent SFTP clients.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub clients: u16,
    /// Seconds the workload runs; the fault comes a third of the way in.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub duration: u64,
    /// Size of every uploaded file, in KiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1048576))]
    pub file_kib: u64,
    /// RTO objective in milliseconds (default: 30000, the cluster.toml default).
    #[arg(long)]
    pub rto_ms: Option<u64>,
    /// Failed logins tolerated.
    #[arg(long, default_value_t = 0)]
    pub max_failed_logins: u64,
    /// Also write the result as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &TestFailoverArgs) -> Result<u8> {
    let Some(dir) = &args.lab else {
        return Err(Error::config(
            &cli.cluster,
            None,
            "test-failover runs against a lab for now: pass `--lab DIR` (start one with `sftpha lab up`); provisioned clusters need `sftpha provision`, which is not built yet",
        ));
    };
    let plan = Plan {
        lab: Lab::new(dir)?,
        fault: args.fault,
        node: args.node.clone(),
        clients: args.clients as usize,
        duration: Duration::from_secs(args.duration),
        file_size: (args.file_kib * 1024) as usize,
        rto: Duration::from_millis(args.rto_ms.unwrap_or(30_000)),
        max_failed_logins: args.max_failed_logins,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(failover::run(plan))?;
    runtime.shutdown_timeout(Duration::from_secs(2));
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&outcome)).map_err(|source| Error::WriteFile {
            path: path.clone(),
            source,
        })?;
    }
    let mut out = std::io::stdout().lock();
    match cli.format() {
        Format::Json => writeln!(out, "{}", report::json(&outcome))?,
        Format::Human | Format::Markdown => write!(out, "{}", report::human(&outcome))?,
    }
    Ok(if outcome.ok {
        exit::OK
    } else {
        exit::CHECK_FAILED
    })
}
