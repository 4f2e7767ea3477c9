//! `sftpha test-failover`: the failover smoke test for CI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::cmd::cli::Format;
use crate::cmd::context::Context;
use crate::error::{exit, Error, Result};
use crate::failover::{self, report, Fault, FaultSlot, LabInjector, Plan, Under};
use crate::lab::Lab;

/// Runs a workload through the gateway, injects a fault on one node, measures detection and
/// recovery, verifies every completed upload, and restores the node. Against a lab (`--lab`)
/// or a provisioned cluster (`-c`, the default when there is no `--lab`): there the workload
/// goes through the public address (the vip, else the gateway), faults are injected over SSH
/// with a dead-man timer on the host that undoes them by itself, and on a terminal it asks
/// first (`--yes` does not). Exit 1 when an objective is missed (RTO, failed logins, data
/// loss, corrupt or partial files); 3 when the lab is not running. SIGINT, SIGTERM or SIGHUP
/// undo the fault first, say what was restored, and exit 128 + the signal's number.
#[derive(Debug, Args)]
pub struct TestFailoverArgs {
    /// The lab to test (see `sftpha lab up`); without it, the cluster of `-c`.
    #[arg(long, value_name = "DIR")]
    pub lab: Option<PathBuf>,
    /// The fault to inject.
    #[arg(long, value_enum, default_value = "kill")]
    pub fault: Fault,
    /// The node to fault (default: the one with the most sessions).
    #[arg(long, conflicts_with = "gateway")]
    pub node: Option<String>,
    /// With a gateway fault: the gateway host to fault (default: the vip holder, else the
    /// first gateway host).
    #[arg(long, value_name = "HOST")]
    pub gateway: Option<String>,
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
    /// RTO objective (`30s`, `2m`; a number is seconds; default: the cluster's
    /// objectives.rto_seconds, 30 s on a lab).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration, conflicts_with = "rto_ms")]
    pub rto: Option<Duration>,
    /// RTO objective in milliseconds (the older spelling of --rto).
    #[arg(long, value_name = "MS", hide = true)]
    pub rto_ms: Option<u64>,
    /// Failed logins tolerated.
    #[arg(long, default_value_t = 0)]
    pub max_failed_logins: u64,
    /// On a cluster: the fault's host undoes it by itself this long after it was injected,
    /// even if test-failover dies or loses its SSH connection (default: --duration + 90 s).
    #[arg(long, value_name = "DURATION", value_parser = undo_after)]
    pub undo_after: Option<Duration>,
    /// Also write the result as JUnit XML.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
    #[command(flatten)]
    pub yes: crate::cmd::cli::YesOpt,
}

/// The checked plan: the lab, running, or the provisioned cluster, and the node and fault it
/// can take.
fn plan(ctx: &Context, args: &TestFailoverArgs) -> Result<Plan> {
    let Some(dir) = &args.lab else {
        return cluster_plan(ctx, args);
    };
    if args.undo_after.is_some() {
        return Err(Error::usage(
            "--undo-after is for a provisioned cluster; on a lab the fault is undone by test-failover itself",
            Some("leave --undo-after out with --lab"),
        ));
    }
    if args.fault.on_gateway() || args.gateway.is_some() {
        return Err(Error::usage(
            "gateway faults need a provisioned cluster with gateway hosts: a lab has one gateway and no vip",
            Some("on a lab, use --fault kill, freeze or drain"),
        ));
    }
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
    let injector = Box::new(LabInjector::new(lab.clone()));
    Ok(args.plan(ctx, Under::Lab(lab), injector, Duration::from_secs(30)))
}

/// A provisioned cluster: provisioned from here (its keys beside cluster.toml), two nodes or
/// more, the node asked for one of them; confirmed on a terminal.
fn cluster_plan(ctx: &Context, args: &TestFailoverArgs) -> Result<Plan> {
    if !ctx.cluster_path().exists() {
        return Err(Error::usage(
            format!(
                "test-failover needs `--lab DIR`, or a provisioned cluster: `{}` does not exist",
                ctx.cluster_path().display()
            ),
            Some("start a lab with `sftpha lab up --dir DIR` and pass `--lab DIR`, or point -c (or SFTPHA_CLUSTER) at the cluster.toml `sftpha provision` used"),
        ));
    }
    let cluster = ctx.cluster()?;
    let keys = crate::keys::secrets::keys_dir(cluster);
    if !keys.join(crate::keys::secrets::HOST_KEY_FILE).exists() {
        return Err(Error::usage(
            format!(
                "`{}`: this cluster was never provisioned from here (no keys in `{}`)",
                ctx.cluster_path().display(),
                keys.display()
            ),
            Some("run `sftpha provision` first, or test a lab with `--lab DIR`"),
        ));
    }
    if args.fault.on_gateway() {
        let hosts = cluster.gateway.hosts();
        if hosts.is_empty() {
            return Err(Error::usage(
                format!("--fault {}: the cluster's gateway is not one sftpha runs (an external balancer)", args.fault.name()),
                Some("gateway faults need [gateway] kind = \"builtin\" or \"haproxy\" with hosts"),
            ));
        }
        if let Some(host) = &args.gateway {
            if !hosts.contains(host) {
                return Err(Error::usage(
                    format!(
                        "--gateway: `{host}` is not a gateway host of {}",
                        ctx.cluster_path().display()
                    ),
                    Some(&format!("its gateway hosts: {}", hosts.join(", "))),
                ));
            }
        }
    } else if args.gateway.is_some() {
        return Err(Error::usage(
            "--gateway picks the target of a gateway fault",
            Some(
                "use --fault gateway-kill or gateway-partition with it, or --node for a node fault",
            ),
        ));
    }
    let names: Vec<String> = cluster.file.nodes.iter().map(|n| n.name.clone()).collect();
    if let Some(node) = &args.node {
        if !names.contains(node) {
            return Err(Error::usage(
                format!(
                    "--node: `{node}` is not a node of {}",
                    ctx.cluster_path().display()
                ),
                Some(&format!("its nodes: {}", names.join(", "))),
            ));
        }
    }
    if names.len() < 2 {
        return Err(Error::usage(
            format!(
                "`{}` has {} node; a failover needs at least two",
                ctx.cluster_path().display(),
                names.len()
            ),
            None,
        ));
    }
    if let Some(path) = &args.junit {
        check_writable(path)?;
    }
    confirm(ctx, cluster, args)?;
    let access = std::sync::Arc::new(crate::ssh::remote::Access::new(cluster, false, false)?);
    // The host undoes the fault by itself once the run should long be over: the rest of the
    // workload, the restore's own deadline, and a margin.
    let window = args
        .undo_after
        .unwrap_or(args.duration + Duration::from_secs(90));
    let start_node = start_script(cluster, "node")?;
    let start_gateway = match cluster.gateway {
        crate::config::cluster::Gateway::Haproxy(_) => {
            format!(
                "if [ -d /run/systemd/system ]; then systemctl start haproxy; else haproxy -D -f {} -p {}; fi",
                crate::provision::desired::HAPROXY_CFG,
                crate::ssh::remote::quote(&cluster.file.node.state_dir.join("haproxy.pid").display().to_string())
            )
        }
        _ => start_script(cluster, "gateway")?,
    };
    let injector = ctx.block_on(async {
        failover::remote::RemoteInjector::new(
            cluster,
            access.clone(),
            window,
            start_node,
            start_gateway,
        )
    })?;
    let under = Under::Cluster {
        cluster: Box::new(cluster.clone()),
        access,
    };
    let rto = Duration::from_secs(cluster.file.objectives.rto_seconds);
    Ok(args.plan(ctx, under, Box::new(injector), rto))
}

impl TestFailoverArgs {
    /// The plan these flags ask for on `under`; `rto` unless --rto says otherwise.
    fn plan(
        &self,
        ctx: &Context,
        under: Under,
        injector: Box<dyn failover::Injector>,
        rto: Duration,
    ) -> Plan {
        Plan {
            progress: ctx.progress(),
            injector,
            under,
            fault: self.fault,
            node: self.node.clone().or_else(|| self.gateway.clone()),
            clients: self.clients as usize,
            duration: self.duration,
            file_size: (self.file_kib * 1024) as usize,
            rto: self
                .rto
                .or(self.rto_ms.map(Duration::from_millis))
                .unwrap_or(rto),
            max_failed_logins: self.max_failed_logins,
        }
    }
}

/// The script that starts `service` (node or gateway) on a host if it is not running, as
/// `provision` does: systemd's unit or the detached process, or whichever the host has for
/// `auto`.
fn start_script(cluster: &crate::config::cluster::Cluster, service: &str) -> Result<String> {
    use crate::config::cluster::ServiceManager;
    let renderer = crate::render::Renderer::new(cluster)?;
    let script = |systemd| renderer.service_script(service, "ensure", systemd);
    Ok(match cluster.file.node.service_manager {
        ServiceManager::Systemd => script(true)?,
        ServiceManager::Detached => script(false)?,
        ServiceManager::Auto => format!(
            "if [ -d /run/systemd/system ]; then\n{}\nelse\n{}\nfi",
            script(true)?,
            script(false)?
        ),
    })
}

/// On a terminal, asks before faulting a real cluster (`--yes`, or no terminal, does not).
fn confirm(
    ctx: &Context,
    cluster: &crate::config::cluster::Cluster,
    args: &TestFailoverArgs,
) -> Result<()> {
    use std::io::IsTerminal;
    if ctx.yes || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(());
    }
    let target = args.node.as_deref().unwrap_or("the busiest node");
    let prompt = format!(
        "{} a node of `{}` ({target}) for real, under a {}-client workload through {}?",
        args.fault.name(),
        cluster.file.name,
        args.clients,
        cluster.gateway.entry().unwrap_or_default()
    );
    let yes = dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| Error::usage(format!("no answer: {e}"), None))?;
    if yes {
        Ok(())
    } else {
        Err(Error::usage(
            "not confirmed: nothing was done",
            Some("`--yes` answers yes (for CI)"),
        ))
    }
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

/// `--rto`: more than nothing (no failover is instant).
fn positive_duration(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::text::parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("`{text}`: an RTO of zero can never be met; give the longest tolerable outage, e.g. `30s`"));
    }
    Ok(d)
}

/// `--undo-after`: 5 s to 2 h.
fn undo_after(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::text::parse_duration(text)?;
    if !(Duration::from_secs(5)..=Duration::from_secs(7200)).contains(&d) {
        return Err(format!("`{text}` is outside 5s..2h"));
    }
    Ok(d)
}

/// `--duration`: a duration from 3 s to 1 h.
fn workload_duration(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::text::parse_duration(text)?;
    if !(Duration::from_secs(3)..=Duration::from_secs(3600)).contains(&d) {
        return Err(format!("`{text}` is outside 3s..1h"));
    }
    Ok(d)
}
