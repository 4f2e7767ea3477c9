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
    #[command(
        after_help = "Examples:\n  sftpha gateway run --config /etc/sftpha/gateway.toml\n  sftpha gateway run --config gateway.toml --ready-file /run/sftpha/gateway.ready"
    )]
    Run(RunArgs),
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
    let GatewayCommand::Run(args) = command;
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
