//! `sftpha users add|remove|list|set-key`: edit users.toml (comments kept), push it to every
//! node, and verify that every node took it.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::{Cli, Format};
use crate::config::cluster::Cluster;
use crate::config::users::{fingerprint, parse_authorized_key};
use crate::config::users_edit::{hash_password, read_key_file, NewUser, UsersDoc};
use crate::error::{exit, Error, Result};
use crate::provision::{self, KeyCheck, Options, Report};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Adds a user: public keys (and/or a password), home, rights; pushes to every node.
    Add(AddArgs),
    /// Removes a user from every node (their files on the storage are kept).
    Remove(RemoveArgs),
    /// Lists the users with their keys' fingerprints.
    List,
    /// Adds keys to a user or removes them by fingerprint; pushes to every node.
    SetKey(SetKeyArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Only edit users.toml; do not push (`sftpha provision` pushes it later).
    #[arg(long)]
    pub no_push: bool,
    /// Record the SSH host keys of hosts not yet in the cluster's known_hosts.
    #[arg(long)]
    pub accept_new_host_keys: bool,
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
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    #[command(flatten)]
    pub push: PushArgs,
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
}

/// What a users or keys command did.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub change: String,
    pub users_file: String,
    /// `None` when not pushed; `not_pushed` says why.
    pub push: Option<Report>,
    pub not_pushed: Option<String>,
    pub notes: Vec<String>,
}

pub fn run(cli: &Cli, command: &UsersCommand) -> Result<u8> {
    let cluster = Cluster::load(&cli.cluster)?;
    let mut doc = UsersDoc::load(&cluster.users)?;
    let (change, push, checks, homes) = match command {
        UsersCommand::List => return list(cli, &doc),
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
                format!("added user `{}` (home {home})", args.name),
                &args.push,
                checks,
                vec![home],
            )
        }
        UsersCommand::Remove(args) => {
            let keys = doc.keys(&args.name)?;
            doc.remove(&args.name)?;
            (
                format!(
                    "removed user `{}` (the home on the storage is kept)",
                    args.name
                ),
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
                format!(
                    "user `{}`: {} key(s) added, {} removed",
                    args.name,
                    added.len(),
                    removed.len()
                ),
                &args.push,
                checks,
                Vec::new(),
            )
        }
    };
    doc.save()?;
    let report = push_change(cli, &cluster, change, push, checks, homes, Vec::new())?;
    crate::cmd::print_report(cli.format(), &report, human)?;
    Ok(report.exit_code())
}

/// The key checks that prove every node took the change.
pub fn accepted(user: &str, lines: &[String], accepted: bool) -> Vec<KeyCheck> {
    lines
        .iter()
        .filter_map(|l| parse_authorized_key(l).ok())
        .map(|key| KeyCheck {
            user: user.to_owned(),
            key,
            accepted,
        })
        .collect()
}

impl ChangeReport {
    pub fn ok(&self) -> bool {
        self.push.as_ref().is_none_or(|r| r.ok)
    }

    pub fn exit_code(&self) -> u8 {
        match &self.push {
            Some(report) => crate::cmd::provision::exit_code(report),
            None => exit::OK,
        }
    }
}

/// Pushes users.toml (unless --no-push, or the cluster was never provisioned from here) and
/// checks the keys on every node. Never makes the cluster's keys: that is `provision`'s job.
pub fn push_change(
    cli: &Cli,
    cluster: &Cluster,
    change: String,
    push: &PushArgs,
    key_checks: Vec<KeyCheck>,
    homes: Vec<String>,
    notes: Vec<String>,
) -> Result<ChangeReport> {
    let keys = crate::keys::secrets::keys_dir(cluster);
    let (report, not_pushed) = if push.no_push {
        (
            None,
            Some("not pushed (--no-push): `sftpha provision` or the next push sends it".to_owned()),
        )
    } else if !keys.join(crate::keys::secrets::HOST_KEY_FILE).exists() {
        (
            None,
            Some(format!(
                "not pushed: the cluster was never provisioned from here (no keys in {}); `sftpha provision` installs everything, this users.toml included",
                keys.display()
            )),
        )
    } else {
        let report = provision::provision(
            cluster,
            &Options {
                accept_new_host_keys: push.accept_new_host_keys,
                progress: cli.format() == Format::Human && cli.quiet == 0,
                scope: Some(vec!["users.toml"]),
                create_keys: false,
                key_checks,
                homes,
                ..Options::everything()
            },
        )?;
        (Some(report), None)
    };
    Ok(ChangeReport {
        change,
        users_file: cluster.users.display().to_string(),
        push: report,
        not_pushed,
        notes,
    })
}

pub fn human(r: &ChangeReport) -> String {
    let mut s = format!("{}: {}\n", r.users_file, r.change);
    for n in &r.notes {
        s += &format!("{n}\n");
    }
    if let Some(why) = &r.not_pushed {
        s += &format!("{why}\n");
    }
    if let Some(report) = &r.push {
        s += &crate::cmd::provision::human_titled("push of users.toml", report);
    }
    s
}

fn list(cli: &Cli, doc: &UsersDoc) -> Result<u8> {
    let users = doc.list()?;
    crate::cmd::print_report(cli.format(), &users, |users| {
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
                s += &format!("    {} {} {}\n", k.fingerprint, k.algorithm, k.comment);
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

/// `SHA256:...` of a key line, for messages.
pub fn fingerprint_of_line(line: &str) -> String {
    parse_authorized_key(line)
        .map(|k| fingerprint(&k))
        .unwrap_or_else(|_| "?".into())
}
