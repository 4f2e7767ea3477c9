//! `sftpha node run` and `sftpha node check`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cmd::cli::Format;
use crate::cmd::context::Context;
use crate::config::node::Node;
use crate::config::users::Users;
use crate::error::{exit, Error, Result};

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Runs the SFTP server in the foreground; logs go to stderr.
    ///
    /// Once it accepts connections it prints one JSON line on stdout:
    /// {"event":"ready","node":...,"sftp":"ADDR","health":"ADDR","pid":...}.
    /// SIGHUP reloads users.toml and reopens the audit log; SIGTERM drains and exits 0.
    #[command(
        after_help = "Examples:\n  sftpha node run --config /etc/sftpha/node.toml\n  sftpha node run --config node.toml --ready-file /run/sftpha/node.ready"
    )]
    Run(RunArgs),
    /// Validates node.toml, users.toml and the host keys, and prints what the node would serve.
    #[command(after_help = "Examples:\n  sftpha node check --config /etc/sftpha/node.toml")]
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The node's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Also write the ready line to this file (atomically) once the node accepts connections.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The node's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub format: crate::cmd::cli::FormatOpt,
}

pub fn run(ctx: &Context, command: &NodeCommand) -> Result<u8> {
    match command {
        NodeCommand::Run(args) => run_node(ctx, args),
        NodeCommand::Check(args) => check(ctx, args),
    }
}

fn run_node(ctx: &Context, args: &RunArgs) -> Result<u8> {
    let config = Node::load(&args.config)?;
    let name = config.file.name.clone();
    let ready_file = args.ready_file.clone();
    ctx.serve(
        "sftpha-node",
        crate::node::run(config, move |ready| {
            let line = crate::wire::ready::ReadyLine::node(
                &name,
                ready.sftp.to_string(),
                ready.health.to_string(),
            )
            .to_line();
            Context::announce(&line, ready_file.as_deref());
        }),
    )
}

fn check(ctx: &Context, args: &CheckArgs) -> Result<u8> {
    let config = Node::load(&args.config)?;
    let users = Users::load(&config.file.users)?;
    let identity = crate::node::Identity::load(&config)?;
    let fingerprints = &identity.fingerprints;
    if !config.file.storage.is_dir() {
        return Err(Error::config(
            &config.path,
            Some("storage"),
            format!("`{}` is not a directory", config.file.storage.display()),
        ));
    }
    let report = json!({
        "node": config.file.name,
        "config_checksum": config.checksum,
        "users_checksum": users.checksum,
        "users": users.len(),
        "host_key_fingerprints": fingerprints,
        "host_certificates": identity.certificates,
        "listen": config.listen.to_string(),
        "health_listen": config.health_listen.to_string(),
        "storage": config.file.storage,
        "upload_mode": config.file.upload_mode,
        "proxy_protocol": config.file.proxy_protocol,
    });
    let mut out = std::io::stdout().lock();
    match ctx.format() {
        Format::Json => writeln!(out, "{report:#}")?,
        Format::Human | Format::Markdown => {
            writeln!(out, "{} is valid", config.path.display())?;
            writeln!(out, "  node             {}", config.file.name)?;
            writeln!(out, "  sftp             {}", config.listen)?;
            writeln!(out, "  health           {}", config.health_listen)?;
            writeln!(out, "  storage          {}", config.file.storage.display())?;
            writeln!(
                out,
                "  users            {} ({})",
                users.len(),
                config.file.users.display()
            )?;
            for fp in fingerprints {
                writeln!(out, "  host key         {fp}")?;
            }
            for c in &identity.certificates {
                writeln!(
                    out,
                    "  certificate      {} signed by {} for {}",
                    c.key_fingerprint,
                    c.ca_fingerprint,
                    c.principals.join(",")
                )?;
            }
            writeln!(out, "  config checksum  {}", config.checksum)?;
        }
    }
    Ok(exit::OK)
}
