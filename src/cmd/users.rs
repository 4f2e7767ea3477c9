//! `sftpha users add|remove|list|set-key`: edit users.toml (comments kept), push it to every
//! node, and verify that every node took it.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cmd::cli::PushArgs;
use crate::cmd::context::Context;
use crate::config::users_edit::{hash_password, read_key_file, NewUser, UsersDoc};
use crate::error::{exit, Error, Result};
use crate::provision::push::{accepted, push_change, Action, Change};

#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Adds a user: public keys (and/or a password), home, rights; pushes to every node.
    #[command(
        after_help = "Examples:\n  sftpha users add bank --key bank.pub --home partners/bank --permissions list,read,write\n  sftpha users add lab --password < password.txt\n  sftpha users add bank --key bank.pub --no-push     edit users.toml only"
    )]
    Add(AddArgs),
    /// Removes a user from every node (their files on the storage are kept).
    #[command(
        after_help = "Examples:\n  sftpha users remove bank\n  sftpha users remove bank --no-push"
    )]
    Remove(RemoveArgs),
    /// Lists the users with their keys' fingerprints.
    #[command(
        after_help = "Examples:\n  sftpha users list\n  sftpha users list --format json | jq -r '.[].name'"
    )]
    List(crate::cmd::cli::Common),
    /// Adds keys to a user or removes them by fingerprint; pushes to every node.
    #[command(
        after_help = "Examples:\n  sftpha users set-key bank --key new.pub\n  sftpha users set-key bank --remove-key SHA256:..."
    )]
    SetKey(SetKeyArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// 1-32 lowercase letters, digits, `_`, `.` or `-`.
    pub name: String,
    /// OpenSSH public key file (one key per line); repeat for more.
    #[arg(long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
    /// Ask for a password (a prompt on a terminal, else one line from stdin); stored as an
    /// argon2id hash, never shown.
    #[arg(long)]
    pub password: bool,
    /// Home below the storage (default: the name).
    #[arg(long, value_name = "DIR")]
    pub home: Option<String>,
    /// Rights, comma-separated: list, read, write, delete, mkdir, rename (default: all).
    #[arg(long, value_delimiter = ',', value_name = "RIGHTS")]
    pub permissions: Option<Vec<String>>,
    #[command(flatten)]
    pub push: PushArgs,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    #[command(flatten)]
    pub push: PushArgs,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Args)]
pub struct SetKeyArgs {
    pub name: String,
    /// Public key file to add (one key per line); repeat for more.
    #[arg(long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
    /// Fingerprint (`SHA256:...`, as `users list` shows) of a key to remove; repeat for more.
    #[arg(long = "remove-key", value_name = "FINGERPRINT")]
    pub remove: Vec<String>,
    #[command(flatten)]
    pub push: PushArgs,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

pub fn run(ctx: &Context, args: &UsersArgs) -> Result<u8> {
    let command = &args.command;
    let cluster = ctx.cluster()?;
    let mut doc = UsersDoc::load(&cluster.users)?;
    let (change, push, checks, homes) = match command {
        UsersCommand::List(_) => return list(ctx, &doc),
        UsersCommand::Add(args) => {
            let mut keys = Vec::new();
            for file in &args.keys {
                keys.extend(read_key_file(file)?);
            }
            let password_hash = if args.password {
                Some(hash_password(&read_password(&args.name)?)?)
            } else {
                None
            };
            let checks = accepted(&args.name, &keys, true);
            doc.add(NewUser {
                name: args.name.clone(),
                keys,
                password_hash,
                home: args.home.clone(),
                permissions: args.permissions.clone(),
            })?;
            let home = args.home.clone().unwrap_or_else(|| args.name.clone());
            (
                Change {
                    action: Action::AddUser,
                    user: args.name.clone(),
                    summary: format!("added user `{}` (home {home})", args.name),
                },
                &args.push,
                checks,
                vec![home],
            )
        }
        UsersCommand::Remove(args) => {
            let keys = doc.keys(&args.name)?;
            doc.remove(&args.name)?;
            (
                Change {
                    action: Action::RemoveUser,
                    user: args.name.clone(),
                    summary: format!(
                        "removed user `{}` (the home on the storage is kept)",
                        args.name
                    ),
                },
                &args.push,
                accepted(&args.name, &keys, false),
                Vec::new(),
            )
        }
        UsersCommand::SetKey(args) => {
            if args.keys.is_empty() && args.remove.is_empty() {
                return Err(Error::usage(
                    "set-key needs --key FILE or --remove-key FINGERPRINT",
                    None,
                ));
            }
            let mut added = Vec::new();
            for file in &args.keys {
                for line in read_key_file(file)? {
                    if doc.add_key(&args.name, &line)? {
                        added.push(line);
                    }
                }
            }
            let mut removed = Vec::new();
            for fp in &args.remove {
                removed.push(doc.remove_key(&args.name, fp)?);
            }
            let mut checks = accepted(&args.name, &added, true);
            checks.extend(accepted(&args.name, &removed, false));
            (
                Change {
                    action: Action::SetKeys,
                    user: args.name.clone(),
                    summary: format!(
                        "user `{}`: {} key(s) added, {} removed",
                        args.name,
                        added.len(),
                        removed.len()
                    ),
                },
                &args.push,
                checks,
                Vec::new(),
            )
        }
    };
    doc.save()?;
    let report = ctx.block_on(push_change(
        cluster,
        change,
        push.push(ctx.progress()),
        checks,
        homes,
        Vec::new(),
    ))??;
    ctx.print(&report, crate::cmd::output::change)?;
    Ok(report.exit_code())
}

fn list(ctx: &Context, doc: &UsersDoc) -> Result<u8> {
    let users = doc.list()?;
    ctx.print(&users, |users| {
        let mut s = String::new();
        for u in users {
            s += &format!(
                "{}  home {}  rights {}{}\n",
                u.name,
                u.home,
                u.permissions.join(","),
                if u.password { "  password" } else { "" }
            );
            for k in &u.keys {
                s += &format!("    {} {} {}", k.fingerprint, k.algorithm, k.comment);
                if let Some(from) = &k.from {
                    s += &format!("  from=\"{from}\"");
                }
                s += "\n";
            }
        }
        if users.is_empty() {
            s += "no users\n";
        }
        s
    })?;
    Ok(exit::OK)
}

/// A password from a prompt (twice, not echoed) or, when stdin is not a terminal, its first
/// line.
fn read_password(user: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        dialoguer::Password::new()
            .with_prompt(format!("Password for {user}"))
            .with_confirmation("Again", "the passwords differ")
            .interact()
            .map_err(|e| Error::usage(format!("no password read: {e}"), None))
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            return Err(Error::usage(
                "--password: stdin gave an empty line",
                Some("pipe the password in, e.g. `printf '%s\\n' \"$PW\" | sftpha users add NAME --password`"),
            ));
        }
        Ok(password)
    }
}
