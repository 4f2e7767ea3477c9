//! `sftpha test-failover`: the failover smoke test for CI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::cmd::cli::Format;
use crate::cmd::context::Context;
use crate::error::{exit, Error, Result};
use crate::failover::{self, report, Fault, FaultSlot, LabInjector, Plan};
use crate::lab::Lab;

/// Runs a workload through the gateway, injects a fault on one node, measures detection and
/// recovery, verifies every completed upload, and restores the node. Exit 1 when an
/// objective is missed (RTO, failed logins, data loss, corrupt or partial files); 3 when the
/// lab is not running. SIGINT, SIGTERM or SIGHUP undo the fault first, say what was
/// restored, and exit 128 + the signal's number.
#[derive(Debug, Args)]
pub struct TestFailoverArgs {
    /// The lab to test (see `sftpha lab up`); this release tests labs only.
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
    /// How long the workload runs (`15`, `15s`, `2m`; 3 s to 1 h); the fault comes a third of
    /// the way in.
    #[arg(long, default_value = "15s", value_parser = workload_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// Size of every uploaded file, in KiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1048576))]
    pub file_kib: u64,
    /// RTO objective (`30s`, `2m`; a number is seconds; default 30 s, the cluster.toml
    /// default).
    #[arg(long, value_name = "DURATION", value_parser = crate::text::parse_duration, conflicts_with = "rto_ms")]
    pub rto: Option<Duration>,
    /// RTO objective in milliseconds (the older spelling of --rto).
    #[arg(long, value_name = "MS", hide = true)]
    pub rto_ms: Option<u64>,
    /// Failed logins tolerated.
    #[arg(long, default_value_t = 0)]
    pub max_failed_logins: u64,
    /// Also write the result as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

/// Why this release runs test-failover against a lab only, said where it is refused.
const LAB_ONLY: &str = "this release runs test-failover against a lab only (`--lab DIR`): on provisioned hosts a fault must be undone even if sftpha itself dies mid-test, which needs an undo that runs on each host by itself (a dead-man timer), and this release has none";

/// The checked plan: the lab, running, and the node and fault it can take.
fn plan(ctx: &Context, args: &TestFailoverArgs) -> Result<Plan> {
    let Some(dir) = &args.lab else {
        return Err(if ctx.cluster_path().exists() {
            Error::usage(
                format!("`{}`: {LAB_ONLY}", ctx.cluster_path().display()),
                Some("start a lab with `sftpha lab up --dir DIR` and pass `--lab DIR`"),
            )
        } else {
            Error::usage(
                "test-failover needs `--lab DIR`, the lab to test",
                Some("start one with `sftpha lab up --dir DIR`"),
            )
        });
    };
    if args.fault == Fault::Partition {
        return Err(Error::usage(
            "--fault partition needs nodes on separate hosts: a lab runs every node on 127.0.0.1, where no partition can be made",
            Some("on a lab, use --fault kill, freeze or drain"),
        ));
    }
    if !dir.is_dir() {
        return Err(Error::usage(
            format!("--lab: `{}` is not a folder", dir.display()),
            Some("start a lab with `sftpha lab up --dir DIR`"),
        ));
    }
    let lab = Lab::open(dir)?;
    let file = lab.load()?;
    let names: Vec<&str> = file.nodes.iter().map(|n| n.name.as_str()).collect();
    let running = names
        .iter()
        .copied()
        .chain(["gateway"])
        .any(|n| lab.running_pid(n).is_some());
    if !running {
        return Err(Error::LabStopped {
            dir: lab.dir.clone(),
        });
    }
    if let Some(node) = &args.node {
        if !names.contains(&node.as_str()) {
            return Err(Error::usage(
                format!(
                    "--node: `{node}` is not a node of the lab in `{}`",
                    lab.dir.display()
                ),
                Some(&format!("its nodes: {}", names.join(", "))),
            ));
        }
    }
    if names.len() < 2 {
        return Err(Error::usage(
            format!(
                "--lab: the lab in `{}` has {} node; a failover needs at least two",
                lab.dir.display(),
                names.len()
            ),
            Some("start a bigger lab: `sftpha lab up --nodes 3 --dir NEW_DIR`"),
        ));
    }
    if let Some(path) = &args.junit {
        check_writable(path)?;
    }
    Ok(Plan {
        progress: ctx.progress(),
        injector: Box::new(LabInjector::new(lab.clone())),
        lab,
        fault: args.fault,
        node: args.node.clone(),
        clients: args.clients as usize,
        duration: args.duration,
        file_size: (args.file_kib * 1024) as usize,
        rto: args
            .rto
            .or(args.rto_ms.map(Duration::from_millis))
            .unwrap_or(Duration::from_secs(30)),
        max_failed_logins: args.max_failed_logins,
    })
}

/// `--junit PATH` must be writable before the run, not found unwritable after it.
fn check_writable(path: &Path) -> Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| {
            Error::usage(
                format!("--junit: cannot write `{}`: {e}", path.display()),
                Some("give a path in a folder that exists and that you may write to"),
            )
        })?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// The first SIGINT, SIGTERM or SIGHUP. Registered before the run starts, so none of them
/// ends the process while a fault is in force: they are acted on here, after the undo.
async fn interrupted(
    mut int: tokio::signal::unix::Signal,
    mut term: tokio::signal::unix::Signal,
    mut hup: tokio::signal::unix::Signal,
) -> &'static str {
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

pub fn run(ctx: &Context, args: &TestFailoverArgs) -> Result<u8> {
    let plan = plan(ctx, args)?;
    let slot = FaultSlot::default();
    // Whatever way this function is left, a fault in force is undone.
    let _guard = slot.guard();
    let result = ctx.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt())?;
        let term = signal(SignalKind::terminate())?;
        let hup = signal(SignalKind::hangup())?;
        tokio::select! {
            outcome = failover::run(plan, slot.clone()) => outcome.map(Ok),
            signal = interrupted(int, term, hup) => Ok(Err(signal)),
        }
    })?;
    let outcome = match result? {
        Ok(outcome) => outcome,
        Err(signal) => {
            // The run was dropped at an await; a restore under way on a blocking thread
            // is waited for by `undo`.
            let restored = match slot.undo() {
                Some(Ok(what)) => vec![what],
                Some(Err(e)) => vec![e],
                None => vec!["nothing: no fault was in force".to_owned()],
            };
            return Err(Error::Interrupted { signal, restored });
        }
    };
    let code = if outcome.ok {
        exit::OK
    } else {
        exit::CHECK_FAILED
    };
    ctx.print_text(&match ctx.format() {
        Format::Json => format!("{}\n", report::json(&outcome)),
        Format::Human | Format::Markdown => report::human(&outcome),
    })?;
    if let Some(path) = &args.junit {
        // The report is printed already: a failed write loses nothing.
        if let Err(source) = std::fs::write(path, report::junit(&outcome)) {
            let e = Error::WriteFile {
                path: path.clone(),
                source,
            };
            eprintln!("error: {e}");
            eprintln!("hint: the report above is the whole result; the JUnit file was not written");
            return Ok(code.max(exit::CHECK_FAILED));
        }
    }
    Ok(code)
}

/// `--duration`: a duration from 3 s to 1 h.
fn workload_duration(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::text::parse_duration(text)?;
    if !(Duration::from_secs(3)..=Duration::from_secs(3600)).contains(&d) {
        return Err(format!("`{text}` is outside 3s..1h"));
    }
    Ok(d)
}
