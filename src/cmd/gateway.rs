//! `sftpha gateway run`: the bundled TCP gateway in the foreground.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cmd::context::Context;
use crate::config::gateway::Gateway;
use crate::error::Result;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Runs the gateway in the foreground; logs go to stderr.
    ///
    /// Once it accepts connections it prints one JSON line on stdout:
    /// {"event":"ready","gateway":...,"listen":"ADDR","health":"ADDR","pid":...}.
    /// SIGTERM stops accepting and waits for open connections (drain_timeout_seconds).
    /// SIGHUP is ignored (a supervised gateway is reloaded through its supervisor).
    #[command(
        after_help = "Examples:\n  sftpha gateway run --config /etc/sftpha/gateway.toml\n  sftpha gateway run --config gateway.toml --ready-file /run/sftpha/gateway.ready"
    )]
    Run(RunArgs),
    /// Holds the gateway's listening sockets and runs `gateway run` on them, so that no login
    /// is refused while the gateway restarts.
    ///
    /// The sockets are bound once (or inherited from systemd's socket activation) and passed to
    /// each gateway process (LISTEN_FDS); a gateway process that dies is started again at once
    /// while connections wait in the listen backlog. SIGHUP replaces the gateway process
    /// seamlessly (the new one is ready before the old one drains), reading gateway.toml and
    /// the installed binary anew. SIGTERM drains every gateway process and stops. After 5
    /// failed starts in a row it gives up and exits 1, closing the sockets, so that keepalived
    /// moves the vip. `sftpha provision` runs the gateway this way.
    #[command(
        after_help = "Examples:\n  sftpha gateway supervise --config /etc/sftpha/gateway.toml --worker-pidfile /var/lib/sftpha/gateway-worker.pid\n  kill -HUP $(cat /var/lib/sftpha/gateway.pid)   # a hand-over (provision keeps the supervisor's pid there)\n  systemctl reload sftpha-gateway                 # the same under systemd\n\nSIGHUP goes to the supervisor: a gateway process ignores it. `ps` shows the gateway processes as\n`sftpha gateway run --config /dev/stdin` (the supervisor passes them the gateway.toml it checked)."
    )]
    Supervise(SuperviseArgs),
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The gateway's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Keep the serving gateway process's pid in this file (rewritten at every restart and
    /// reload).
    #[arg(long, value_name = "FILE")]
    pub worker_pidfile: Option<PathBuf>,
    /// Also write the first gateway process's ready line to this file (atomically).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The gateway's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Also write the ready line to this file (atomically) once the gateway accepts connections.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

pub fn run(ctx: &Context, command: &GatewayCommand) -> Result<u8> {
    let args = match command {
        GatewayCommand::Run(args) => args,
        GatewayCommand::Supervise(args) => return supervise(args),
    };
    let config = Gateway::load(&args.config)?;
    let name = config.file.name.clone();
    let ready_file = args.ready_file.clone();
    ctx.serve(
        "sftpha-gateway",
        crate::gateway::run(config, move |ready| {
            let line = crate::wire::ready::ReadyLine::gateway(
                &name,
                ready.listen.to_string(),
                ready.health.to_string(),
            )
            .to_line();
            Context::announce(&line, ready_file.as_deref());
        }),
    )
}

/// The supervisor runs on one thread: its children's parent-death signal follows the thread
/// that started them, which must live as long as the supervisor.
fn supervise(args: &SuperviseArgs) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = crate::gateway::supervise::Options {
        config: args.config.clone(),
        worker_pidfile: args.worker_pidfile.clone(),
    };
    let ready_file = args.ready_file.clone();
    runtime.block_on(crate::gateway::supervise::supervise(options, |line| {
        Context::announce(line, ready_file.as_deref())
    }))?;
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(crate::error::exit::OK)
}
