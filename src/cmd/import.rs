//! `sftpha import openssh`: reads an existing OpenSSH SFTP server into users.toml and the
//! cluster's host keys, and reports what could not be carried over and the data to move.

use clap::{Args, Subcommand};

use crate::cmd::context::Context;
use crate::config::users_edit::UsersDoc;
use crate::error::{exit, Result};
use crate::import::plan::Report;
use crate::ssh::remote::Access;
use crate::text::human_bytes;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub command: ImportCommand,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks
    /// resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into
    /// users.toml and the cluster's host keys. Files are not copied: the report gives the
    /// rsync commands. Exit 2 when something cannot be imported as it is (nothing written).
    #[command(
        after_help = "Examples:\n  sftpha import openssh --host sftp.example.com --dry-run\n  sftpha import openssh --host sftp.example.com --ssh-user ops --skip olduser\n  sftpha import openssh --host sftp.example.com --host-ca old_host_ca --data-root /srv/sftp"
    )]
    Openssh(OpensshArgs),
}

#[derive(Debug, Args)]
pub struct OpensshArgs {
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
    /// The old server, reached over SSH with cluster.toml's [ssh] identity and known_hosts.
    #[arg(long, value_name = "HOST")]
    pub host: String,
    /// Log in as this user (default: [ssh] user): root, or a user with passwordless sudo.
    #[arg(long, value_name = "USER")]
    pub ssh_user: Option<String>,
    /// The old server's SSH port (default: [ssh] port).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// The folder on the old server whose subfolders become homes below the cluster's storage
    /// (default: the parent most SFTP users' folders share).
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<String>,
    /// Leave this account out; repeat for more.
    #[arg(long = "skip", value_name = "USER")]
    pub skip: Vec<String>,
    /// The old server's host CA (private key file): the cluster signs its host certificates
    /// with it, so partners that trust the CA (@cert-authority) keep working.
    #[arg(long, value_name = "FILE")]
    pub host_ca: Option<std::path::PathBuf>,
    /// Replace users users.toml already has, and host keys (and CA) the cluster already has.
    #[arg(long)]
    pub force: bool,
    /// Read and report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Record the old server's SSH host key if the cluster's known_hosts lacks it.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

pub fn run(ctx: &Context, args: &ImportArgs) -> Result<u8> {
    let ImportCommand::Openssh(args) = &args.command;
    let cluster = ctx.cluster()?;
    let mut access = Access::new(cluster, args.accept_new_host_keys, !args.dry_run)?;
    if let Some(user) = &args.ssh_user {
        access.user = user.clone();
    }
    if let Some(port) = args.port {
        access.port = port;
    }
    let mut doc = UsersDoc::load(&cluster.users)?;
    let target = crate::import::target(
        cluster,
        &doc,
        crate::import::Options {
            force: args.force,
            dry_run: args.dry_run,
            data_root: args.data_root.clone(),
            skip: args.skip.clone(),
            host_ca: args.host_ca.clone(),
        },
    )?;
    if ctx.progress() {
        eprintln!("reading the OpenSSH server {} ...", args.host);
    }
    let source = ctx.block_on(crate::import::source::read(
        &access,
        &args.host,
        &args.skip,
        args.data_root.as_deref(),
    ))??;
    let mut plan = crate::import::plan::plan(&source, &target);
    plan.report.notes.extend(access.would_record());
    crate::import::apply(&mut plan, cluster, &mut doc)?;
    ctx.print(&plan.report, human)?;
    Ok(if plan.report.ok {
        exit::OK
    } else {
        exit::USAGE
    })
}

fn kib(k: u64) -> String {
    human_bytes(k.saturating_mul(1024))
}

fn human(r: &Report) -> String {
    let mut s = format!(
        "import of the OpenSSH server {}{}\n",
        r.host,
        if r.dry_run {
            " (dry run: nothing was written)"
        } else {
            ""
        }
    );
    if let Some(root) = &r.data_root {
        s += &format!("data root on the old server: {root}\n");
    }
    s += &format!("\nusers ({}):\n", r.users.len());
    for u in &r.users {
        s += &format!(
            "  {} [{}] home {} (from {}), {} key(s), password {}{}\n",
            u.name,
            u.action,
            u.home,
            u.old_folder,
            u.keys.len(),
            u.password.status.replace('_', " "),
            u.password
                .scheme
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        for k in &u.keys {
            s += &format!(
                "      {} {} {}{}\n",
                k.fingerprint,
                k.algorithm,
                k.comment,
                k.from
                    .as_ref()
                    .map(|f| format!("  from=\"{f}\""))
                    .unwrap_or_default()
            );
        }
        for k in &u.keys_not_imported {
            s += &format!(
                "      not imported: {} line {}: {}\n",
                k.file, k.line, k.reason
            );
        }
        if let Some(reason) = &u.password.reason {
            s += &format!("      password: {reason}\n");
        }
        for n in &u.notes {
            s += &format!("      note: {n}\n");
        }
    }
    if !r.not_imported.is_empty() {
        s += "\naccounts not imported:\n";
        for n in &r.not_imported {
            s += &format!("  {}: {}\n", n.user, n.reason);
        }
    }
    s += "\nhost keys:\n";
    for k in &r.host_keys {
        s += &format!(
            "  {} {} {} -> {} [{}]{}\n",
            k.from,
            k.algorithm,
            k.fingerprint.as_deref().unwrap_or("-"),
            k.to.as_deref().unwrap_or("-"),
            k.action.replace('_', " "),
            k.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    for c in &r.host_certificates {
        s += &format!("  certificate {}: {}\n", c.file, c.reason);
    }
    if !r.data.homes.is_empty() {
        s += &format!(
            "\ndata to move ({} in all; files are not copied):\n",
            kib(r.data.total_kib)
        );
        for h in &r.data.homes {
            s += &format!(
                "  {} {} -> {} ({})\n",
                h.user,
                h.from,
                h.to,
                h.kib.map(kib).unwrap_or_else(|| "size unknown".into())
            );
        }
        s += "  on a node, as root:\n";
        for c in &r.data.commands {
            s += &format!("    {c}\n");
        }
    }
    for n in &r.notes {
        s += &format!("note: {n}\n");
    }
    if !r.problems.is_empty() {
        s += &format!(
            "\nREFUSED: {} problem(s); nothing was written:\n",
            r.problems.len()
        );
        for p in &r.problems {
            let place: Vec<String> = [
                p.user.as_ref().map(|u| format!("user {u}")),
                p.file.clone(),
                p.line.map(|l| format!("line {l}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            s += &format!(
                "  {}: {}\n    fix: {}\n",
                place.join(", "),
                p.message,
                p.fix
            );
        }
    }
    for w in &r.written {
        s += &format!("wrote {w}\n");
    }
    if r.ok && !r.dry_run {
        s += "next: `sftpha provision` installs the imported users and host keys on every node\n";
    }
    s
}
