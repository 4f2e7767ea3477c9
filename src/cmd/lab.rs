//! `sftpha lab up|down|status`: a whole cluster on 127.0.0.1 in one command.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::cmd::cli::Format;
use crate::cmd::context::Context;
use crate::error::{exit, Result};
use crate::lab::{Lab, Up};
use crate::wire::health::{GatewayHealth, NodeHealth};

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1.
    ///
    /// Writes DIR/lab.json. DIR must be new, empty, or a lab: a folder with other files is
    /// refused (exit 2). On a running lab it says so and starts nothing, except the processes
    /// of the lab that died, which it starts again, and those stopped by SIGSTOP, which it
    /// resumes. If a process does not start, what was started is stopped again (exit 2).
    #[command(
        after_help = "Examples:\n  sftpha lab up --dir /tmp/lab\n  sftpha lab up --dir /tmp/lab --nodes 5 --port 2222"
    )]
    Up(UpArgs),
    /// Stops every process of the lab (by pidfile; drains first). Safe to run twice.
    #[command(after_help = "Examples:\n  sftpha lab down --dir /tmp/lab")]
    Down(DirArgs),
    /// Health of every process of the lab (a process stopped by SIGSTOP is shown as such);
    /// exit 1 if any is not healthy.
    #[command(
        after_help = "Examples:\n  sftpha lab status --dir /tmp/lab\n  sftpha lab status --dir /tmp/lab --format json"
    )]
    Status(DirArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub nodes: u16,
    /// The lab's directory (keys, configs, storage, logs, pidfiles).
    #[arg(long, default_value = "sftpha-lab", value_name = "DIR")]
    pub dir: PathBuf,
    /// Gateway port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[command(flatten)]
    pub format: crate::cmd::cli::FormatOpt,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The lab's directory.
    #[arg(long, default_value = "sftpha-lab", value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub format: crate::cmd::cli::FormatOpt,
}

pub fn run(ctx: &Context, command: &LabCommand) -> Result<u8> {
    match command {
        LabCommand::Up(args) => up(ctx, args),
        LabCommand::Down(args) => down(ctx, args),
        LabCommand::Status(args) => status(ctx, args),
    }
}

fn up(ctx: &Context, args: &UpArgs) -> Result<u8> {
    let lab = Lab::for_up(&args.dir)?;
    let (file, outcome, repaired) = match lab.up(args.nodes as usize, args.port)? {
        Up::Started(f) => (f, "started", Vec::new()),
        Up::AlreadyRunning(f) => (f, "already_running", Vec::new()),
        Up::Repaired(f, what) => (f, "repaired", what),
    };
    let note = match outcome {
        "started" => "started".to_owned(),
        "already_running" => "already running: nothing started".to_owned(),
        _ => format!("existed; repaired: {}", repaired.join(", ")),
    };
    let connect = format!(
        "sftp -P {} -i {} -o UserKnownHostsFile={} {}@127.0.0.1",
        crate::lab::port_of(&file.gateway.addr),
        file.identity.display(),
        file.known_hosts.display(),
        file.user
    );
    let mut out = std::io::stdout().lock();
    match ctx.format() {
        Format::Json => {
            // lab.json's fields, and what this `up` did and how to connect.
            let mut value = serde_json::to_value(&file).expect("serializes");
            if let Some(map) = value.as_object_mut() {
                map.insert("outcome".into(), outcome.into());
                map.insert("repaired".into(), repaired.clone().into());
                map.insert("connect".into(), connect.clone().into());
            }
            writeln!(out, "{value:#}")?
        }
        Format::Human | Format::Markdown => {
            writeln!(out, "lab in {} {note}", file.dir.display())?;
            writeln!(
                out,
                "  gateway   {}   {}",
                file.gateway.addr, file.gateway.health_url
            )?;
            for n in &file.nodes {
                writeln!(out, "  node {:<4} {}   {}", n.name, n.addr, n.health_url)?;
            }
            writeln!(out, "  storage   {}", file.storage.display())?;
            for fp in &file.host_key_fingerprints {
                writeln!(out, "  host key  {fp}")?;
            }
            writeln!(out, "connect:")?;
            writeln!(out, "  {connect}")?;
            writeln!(out, "stop: sftpha lab down --dir {}", file.dir.display())?;
        }
    }
    Ok(exit::OK)
}

fn down(ctx: &Context, args: &DirArgs) -> Result<u8> {
    let lab = match Lab::open(&args.dir) {
        Ok(lab) if lab.is_lab() => lab,
        // Nothing of ours there: nothing to stop, and nothing else is touched.
        _ => {
            let mut out = std::io::stdout().lock();
            match ctx.format() {
                Format::Json => writeln!(
                    out,
                    "{:#}",
                    json!({"dir": args.dir, "lab": false, "stopped": []})
                )?,
                _ => writeln!(out, "no lab in {}", args.dir.display())?,
            }
            return Ok(exit::OK);
        }
    };
    let stopped = lab.down()?;
    let mut out = std::io::stdout().lock();
    match ctx.format() {
        Format::Json => writeln!(
            out,
            "{:#}",
            json!({"dir": lab.dir, "lab": true, "stopped": stopped})
        )?,
        Format::Human | Format::Markdown if stopped.is_empty() => {
            writeln!(out, "nothing was running in {}", lab.dir.display())?
        }
        Format::Human | Format::Markdown => writeln!(
            out,
            "stopped {} in {}",
            stopped.join(", "),
            lab.dir.display()
        )?,
    }
    Ok(exit::OK)
}

/// One process of `lab status`.
#[derive(serde::Serialize)]
struct ProcessRow {
    name: String,
    running: bool,
    pid: Option<u32>,
    healthy: bool,
    stopped: bool,
    status: String,
    sessions: Option<i64>,
}

fn status(ctx: &Context, args: &DirArgs) -> Result<u8> {
    let lab = Lab::open(&args.dir)?;
    let file = lab.load()?;
    let mut rows = Vec::new();
    let targets = std::iter::once(("gateway".to_owned(), file.gateway.health_url.clone())).chain(
        file.nodes
            .iter()
            .map(|n| (n.name.clone(), n.health_url.clone())),
    );
    for (name, url) in targets {
        let pid = lab.running_pid(&name);
        let stopped = lab.stopped(&name);
        let health = match crate::config::gateway::parse_http_url(&url) {
            Ok((addr, path)) => ctx
                .block_on(crate::wire::http::get(addr, &path, Duration::from_secs(2)))?
                .ok(),
            Err(_) => None,
        };
        let (code, body) = health.unwrap_or((0, String::new()));
        // The gateway counts connections, a node logged-in sessions.
        let said = if name == "gateway" {
            serde_json::from_str::<GatewayHealth>(&body)
                .ok()
                .map(|h| (h.status, h.connections))
        } else {
            serde_json::from_str::<NodeHealth>(&body)
                .ok()
                .map(|h| (h.status, h.sessions))
        };
        let status = if stopped {
            "stopped (SIGSTOP): `lab up` resumes it".to_owned()
        } else {
            match &said {
                Some((status, _)) => status.clone(),
                None if pid.is_some() => "no answer".into(),
                None => "not running".into(),
            }
        };
        rows.push(ProcessRow {
            name,
            running: pid.is_some(),
            pid,
            healthy: code == 200,
            stopped,
            status,
            sessions: said.map(|(_, n)| n),
        });
    }
    let ok = rows.iter().all(|r| r.healthy);
    let mut out = std::io::stdout().lock();
    match ctx.format() {
        Format::Json => writeln!(
            out,
            "{:#}",
            json!({"dir": lab.dir, "ok": ok, "processes": rows})
        )?,
        Format::Human | Format::Markdown => {
            writeln!(
                out,
                "{:<8} {:<8} {:<8} {:<38} sessions",
                "process", "pid", "healthy", "status"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<8} {:<8} {:<8} {:<38} {}",
                    r.name,
                    r.pid.map(|p| p.to_string()).unwrap_or("-".into()),
                    if r.healthy { "yes" } else { "NO" },
                    r.status,
                    r.sessions.map(|s| s.to_string()).unwrap_or("-".into()),
                )?;
            }
        }
    }
    Ok(if ok { exit::OK } else { exit::CHECK_FAILED })
}
