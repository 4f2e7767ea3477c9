//! `sftpha keys`: the cluster's keys. `init` makes the missing ones (and renews host
//! certificates), `known-hosts` prints what clients trust, `rotate user` replaces a user's
//! key with no failed login, `rotate host` rotates the host key clients pin.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, Format};
use crate::cluster::Cluster;
use crate::cmd::users::{accepted, push_change, ChangeReport, PushArgs};
use crate::error::{exit, Error, Result};
use crate::net::bracket;
use crate::provision::desired::HOST_KEY_ITEMS;
use crate::provision::secrets::{
    keys_dir, unix_now, Secrets, CERT_SUFFIX, NEXT_SUFFIX, RETIRED_DIR,
};
use crate::provision::{self, Options};
use crate::render::HOST_KEY_FILE;
use crate::users::parse_authorized_key;
use crate::users_edit::UsersDoc;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Makes the cluster's missing keys beside cluster.toml (host key, host CA, probe key)
    /// and issues or renews host certificates; what `provision` does first.
    Init,
    /// Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once,
    /// survives every rotation) and the host keys for clients that pin plain keys.
    KnownHosts(KnownHostsArgs),
    #[command(subcommand)]
    Rotate(RotateCommand),
}

#[derive(Debug, Args)]
pub struct KnownHostsArgs {
    /// Only the plain host key lines (no `@cert-authority`).
    #[arg(long, conflicts_with = "ca")]
    pub plain: bool,
    /// Only the `@cert-authority` line.
    #[arg(long)]
    pub ca: bool,
}

#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Replaces a user's key: adds the new one on every node (checked), then retires the old
    /// one(s) at once, after --grace, or with --finish.
    User(RotateUserArgs),
    /// Rotates the cluster host key. Phase 1: a new key beside the old one on every node,
    /// published by `keys known-hosts`. --finish: the new key is presented, the old one
    /// retired. Clients that trust the host CA never notice; clients that pin keys add the
    /// new line between the phases.
    Host(RotateHostArgs),
}

#[derive(Debug, Args)]
pub struct RotateUserArgs {
    pub name: String,
    /// The new key: a public key file, or a private key file (then a login through the
    /// gateway with it is checked before the old key goes).
    #[arg(long, value_name = "FILE", required_unless_present = "finish")]
    pub key: Option<PathBuf>,
    /// Keep the old key(s) this long (`30s`, `10m`, `12h`, `7d`); up to 10 minutes the
    /// command waits, longer ones end with `--finish`.
    #[arg(long, value_name = "DURATION", conflicts_with = "finish")]
    pub grace: Option<String>,
    /// Retire the old key(s) of a rotation started with a long --grace.
    #[arg(long)]
    pub finish: bool,
    /// With --finish: retire before the grace has run out.
    #[arg(long, requires = "finish")]
    pub force: bool,
    #[command(flatten)]
    pub push: PushArgs,
}

#[derive(Debug, Args)]
pub struct RotateHostArgs {
    /// Phase 2: present the new key, retire the old one.
    #[arg(long, conflicts_with = "now")]
    pub finish: bool,
    /// Both phases at once: for clusters whose clients all trust the host CA (clients that
    /// pin the plain key would see a changed key).
    #[arg(long)]
    pub now: bool,
    /// Record the SSH host keys of hosts not yet in the cluster's known_hosts.
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

pub fn run(cli: &Cli, command: &KeysCommand) -> Result<u8> {
    let cluster = Cluster::load(&cli.cluster)?;
    match command {
        KeysCommand::Init => init(cli, &cluster),
        KeysCommand::KnownHosts(args) => known_hosts(cli, &cluster, args),
        KeysCommand::Rotate(RotateCommand::User(args)) => rotate_user(cli, &cluster, args),
        KeysCommand::Rotate(RotateCommand::Host(args)) => rotate_host(cli, &cluster, args),
    }
}

fn init(cli: &Cli, cluster: &Cluster) -> Result<u8> {
    let secrets = Secrets::load_or_create(cluster, true)?;
    let made: Vec<String> = secrets
        .generated
        .iter()
        .map(|p| format!("generated {}", p.display()))
        .chain(
            secrets
                .issued
                .iter()
                .map(|p| format!("issued {}", p.display())),
        )
        .collect();
    let report = serde_json::json!({
        "keys_dir": keys_dir(cluster).display().to_string(),
        "made": made,
        "host_key_fingerprints": secrets.fingerprints(),
        "host_ca_fingerprint": secrets.ca_fingerprint(),
    });
    crate::cmd::print_report(cli.format(), &report, |_| {
        let mut s = String::new();
        for line in &made {
            s += &format!("{line}\n");
        }
        if made.is_empty() {
            s += "every key is there; no certificate is due\n";
        }
        s
    })?;
    Ok(exit::OK)
}

/// `host` or `[host]:port` as known_hosts writes it.
fn pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The names clients use: the gateway's names on its port, each node on its own port.
pub fn patterns(cluster: &Cluster) -> Vec<String> {
    let c = &cluster.file;
    let node_hosts: Vec<&String> = c.nodes.iter().map(|n| &n.host).collect();
    let mut out: Vec<String> = Vec::new();
    let mut push = |p: String| {
        if !out.contains(&p) {
            out.push(p)
        }
    };
    for name in cluster.host_names() {
        if !node_hosts.contains(&&name) || c.gateway.hosts.contains(&name) {
            push(pattern(&name, c.gateway.port));
        }
    }
    for node in cluster.node_addrs() {
        push(pattern(&node.host, node.port));
    }
    out
}

#[derive(Serialize)]
struct KnownHosts {
    patterns: Vec<String>,
    cert_authority: String,
    host_keys: Vec<String>,
    lines: Vec<String>,
}

fn known_hosts(cli: &Cli, cluster: &Cluster, args: &KnownHostsArgs) -> Result<u8> {
    let secrets = Secrets::load_or_create(cluster, false)?;
    if secrets.pending {
        return Err(Error::usage(
            format!(
                "the cluster has no keys yet in {}",
                keys_dir(cluster).display()
            ),
            Some("run `sftpha provision` (or `sftpha keys init`) first"),
        ));
    }
    let patterns = patterns(cluster).join(",");
    let public = |k: &russh::keys::PrivateKey| {
        k.public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))
    };
    let cert_authority = format!("@cert-authority {patterns} {}", public(&secrets.ca)?);
    let mut host_keys = Vec::new();
    for k in &secrets.host_keys {
        host_keys.push(format!("{patterns} {}", public(&k.key)?));
    }
    let mut lines = Vec::new();
    if !args.plain {
        lines.push(cert_authority.clone());
    }
    if !args.ca {
        lines.extend(host_keys.iter().cloned());
    }
    let report = KnownHosts {
        patterns: patterns.split(',').map(str::to_owned).collect(),
        cert_authority,
        host_keys,
        lines,
    };
    crate::cmd::print_report(cli.format(), &report, |r| {
        let mut s = String::new();
        for l in &r.lines {
            s += &format!("{l}\n");
        }
        s
    })?;
    Ok(exit::OK)
}

/// A user key rotation waiting for its --finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingUserRotation {
    /// Fingerprints of the keys to retire.
    retire: Vec<String>,
    /// The key that replaces them.
    new: String,
    /// Unix seconds when the grace runs out.
    not_before: u64,
}

type Pending = std::collections::BTreeMap<String, PendingUserRotation>;

const USER_ROTATIONS: &str = "user-rotations.json";

fn load_pending(cluster: &Cluster) -> Result<Pending> {
    let path = keys_dir(cluster).join(USER_ROTATIONS);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| Error::config(&path, None, format!("not a rotation record: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pending::new()),
        Err(source) => Err(Error::ReadFile { path, source }),
    }
}

fn save_pending(cluster: &Cluster, pending: &Pending) -> Result<()> {
    let dir = keys_dir(cluster);
    crate::provision::secrets::ensure_dir(&dir)?;
    let text = serde_json::to_string_pretty(pending).expect("serializes");
    crate::files::write_atomically(&dir.join(USER_ROTATIONS), text.as_bytes(), 0o600)
}

/// `30s`, `10m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::usage(
            format!("--grace: `{text}` is not a duration"),
            Some("use a number with s, m, h or d: `30s`, `10m`, `12h`, `7d`"),
        )
    };
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(seconds))
}

/// Grace periods up to this long are waited out by the command itself.
const WAIT_AT_MOST: Duration = Duration::from_secs(600);

/// The new key: a public key line, and the private key when a private key file was given.
fn read_new_key(path: &Path) -> Result<(String, Option<russh::keys::PrivateKey>)> {
    let text = crate::files::read_text(path)?;
    if text.contains("PRIVATE KEY") {
        let key = crate::lab::load_key(path)?;
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))?;
        parse_authorized_key(&line)
            .map_err(|m| Error::usage(format!("{}: {m}", path.display()), None))?;
        return Ok((line, Some(key)));
    }
    let lines = crate::users_edit::read_key_file(path)?;
    if lines.len() != 1 {
        return Err(Error::usage(
            format!(
                "{} holds {} keys; a rotation takes one",
                path.display(),
                lines.len()
            ),
            None,
        ));
    }
    Ok((lines[0].clone(), None))
}

/// A user key rotation's steps (the new key in, the old one out), printed as one report.
#[derive(Serialize)]
struct UserRotation {
    user: String,
    steps: Vec<ChangeReport>,
    notes: Vec<String>,
    ok: bool,
}

fn print_rotation(
    cli: &Cli,
    user: &str,
    steps: Vec<ChangeReport>,
    notes: Vec<String>,
) -> Result<u8> {
    let ok = steps.iter().all(ChangeReport::ok);
    let report = UserRotation {
        user: user.to_owned(),
        steps,
        notes,
        ok,
    };
    crate::cmd::print_report(cli.format(), &report, |r| {
        let mut s = String::new();
        for step in &r.steps {
            s += &crate::cmd::users::human(step);
        }
        for n in &r.notes {
            s += &format!("{n}\n");
        }
        s
    })?;
    Ok(if ok { exit::OK } else { exit::PROVISION_FAILED })
}

fn rotate_user(cli: &Cli, cluster: &Cluster, args: &RotateUserArgs) -> Result<u8> {
    let mut pending = load_pending(cluster)?;
    if args.finish {
        let Some(rotation) = pending.get(&args.name).cloned() else {
            return Err(Error::usage(
                format!("no key rotation of `{}` is waiting", args.name),
                Some("start one with `sftpha keys rotate user NAME --key FILE --grace DURATION`"),
            ));
        };
        let now = unix_now();
        if now < rotation.not_before && !args.force {
            return Err(Error::usage(
                format!(
                    "the grace of `{}`'s rotation runs {} more seconds",
                    args.name,
                    rotation.not_before - now
                ),
                Some("wait, or add --force to retire the old key now"),
            ));
        }
        let step = retire(cli, cluster, &args.name, &rotation.retire, &args.push)?;
        if step.ok() {
            pending.remove(&args.name);
            save_pending(cluster, &pending)?;
        }
        return print_rotation(cli, &args.name, vec![step], Vec::new());
    }
    let path = args
        .key
        .as_ref()
        .expect("clap requires --key without --finish");
    let (line, private) = read_new_key(path)?;
    let new_fp = crate::cmd::users::fingerprint_of_line(&line);
    let mut doc = UsersDoc::load(&cluster.users)?;
    let old: Vec<String> = doc
        .keys(&args.name)?
        .iter()
        .map(|l| crate::cmd::users::fingerprint_of_line(l))
        .filter(|fp| *fp != new_fp)
        .collect();
    let grace = match &args.grace {
        Some(g) => parse_duration(g)?,
        None => Duration::ZERO,
    };
    // Step 1: the new key beside the old, on every node, checked.
    doc.add_key(&args.name, &line)?;
    doc.save()?;
    let mut notes = Vec::new();
    let first = push_change(
        cli,
        cluster,
        format!("user `{}`: new key {new_fp} added", args.name),
        &args.push,
        accepted(&args.name, std::slice::from_ref(&line), true),
        Vec::new(),
        Vec::new(),
    )?;
    if !first.ok() {
        notes.push("the old key(s) stay: fix what is reported and run the rotation again".into());
        return print_rotation(cli, &args.name, vec![first], notes);
    }
    if let (Some(key), false) = (&private, args.push.no_push) {
        login_through_gateway(cluster, &args.name, key)?;
        notes.push(format!(
            "logged in through the gateway as `{}` with the new key",
            args.name
        ));
    }
    if old.is_empty() {
        return print_rotation(cli, &args.name, vec![first], notes);
    }
    if grace > WAIT_AT_MOST {
        let not_before = unix_now() + grace.as_secs();
        pending.insert(
            args.name.clone(),
            PendingUserRotation {
                retire: old.clone(),
                new: new_fp,
                not_before,
            },
        );
        save_pending(cluster, &pending)?;
        notes.push(format!(
            "the old key(s) {} stay for {}s; then run `sftpha keys rotate user {} --finish`",
            old.join(", "),
            grace.as_secs(),
            args.name
        ));
        return print_rotation(cli, &args.name, vec![first], notes);
    }
    if !grace.is_zero() {
        eprintln!("keeping the old key(s) for {}s", grace.as_secs());
        std::thread::sleep(grace);
    }
    let second = retire(cli, cluster, &args.name, &old, &args.push)?;
    print_rotation(cli, &args.name, vec![first, second], notes)
}

/// The last step of a user rotation: the old keys leave users.toml and every node refuses
/// them.
fn retire(
    cli: &Cli,
    cluster: &Cluster,
    name: &str,
    fingerprints: &[String],
    push: &PushArgs,
) -> Result<ChangeReport> {
    let mut doc = UsersDoc::load(&cluster.users)?;
    let mut removed = Vec::new();
    for fp in fingerprints {
        let present = doc
            .keys(name)?
            .iter()
            .any(|l| crate::cmd::users::fingerprint_of_line(l) == *fp);
        // A key already removed by hand has nothing left to retire.
        if present {
            removed.push(doc.remove_key(name, fp)?);
        }
    }
    doc.save()?;
    push_change(
        cli,
        cluster,
        format!(
            "user `{name}`: old key(s) retired: {}",
            fingerprints.join(", ")
        ),
        push,
        accepted(name, &removed, false),
        Vec::new(),
        Vec::new(),
    )
}

/// Logs in through the first gateway (or the vip) with `key`, host key pinned.
fn login_through_gateway(
    cluster: &Cluster,
    user: &str,
    key: &russh::keys::PrivateKey,
) -> Result<()> {
    let c = &cluster.file;
    let host = match (c.gateway.vip.as_str(), c.gateway.hosts.first()) {
        ("", None) => return Ok(()),
        ("", Some(h)) => h.as_str(),
        (vip, _) => vip,
    };
    let addr = format!("{}:{}", bracket(host), c.gateway.port);
    let fingerprint = Secrets::load_or_create(cluster, false)?.fingerprint();
    let key = std::sync::Arc::new(key.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(provision::gateway_login(&addr, user, key, &fingerprint))
        .map(|_| ())
        .map_err(|e| {
            Error::Push(format!(
                "no login through the gateway {addr} as `{user}` with the new key: {e}"
            ))
        })
}

fn rotate_host(cli: &Cli, cluster: &Cluster, args: &RotateHostArgs) -> Result<u8> {
    let dir = keys_dir(cluster);
    let current = dir.join(HOST_KEY_FILE);
    let next = dir.join(format!("{HOST_KEY_FILE}{NEXT_SUFFIX}"));
    if !current.exists() {
        return Err(Error::usage(
            format!("the cluster has no host key yet ({})", current.display()),
            Some("run `sftpha provision` first"),
        ));
    }
    let mut notes = Vec::new();
    let change;
    if args.finish {
        if !next.exists() {
            return Err(Error::usage(
                "no host key rotation is under way",
                Some("start one with `sftpha keys rotate host`"),
            ));
        }
        retire_current(&dir)?;
        for suffix in ["", ".pub", CERT_SUFFIX] {
            rename(
                &dir,
                &format!("{HOST_KEY_FILE}{NEXT_SUFFIX}{suffix}"),
                &format!("{HOST_KEY_FILE}{suffix}"),
            )?;
        }
        change =
            "phase 2: the new host key is presented; the old one is retired (kept in keys/retired)"
                .to_owned();
    } else if args.now {
        if next.exists() {
            return Err(under_way());
        }
        retire_current(&dir)?;
        crate::lab::generate_key(
            &current,
            &format!("sftpha cluster {} host key", cluster.file.name),
        )?;
        change = "host key replaced at once (clients that trust the host CA do not notice; clients that pin the old key will)".to_owned();
    } else {
        if next.exists() {
            return Err(under_way());
        }
        crate::lab::generate_key(
            &next,
            &format!("sftpha cluster {} host key", cluster.file.name),
        )?;
        change = "phase 1: a new host key is installed beside the old one (the old one is still presented)".to_owned();
        notes.push("clients that pin plain keys: add the new line of `sftpha keys known-hosts --plain` now; then run `sftpha keys rotate host --finish`".to_owned());
    }
    let report = provision::provision(
        cluster,
        &Options {
            accept_new_host_keys: args.accept_new_host_keys,
            progress: cli.format() == Format::Human && cli.quiet == 0,
            scope: Some(
                std::iter::once("node.toml")
                    .chain(HOST_KEY_ITEMS.iter().flatten().copied())
                    .collect(),
            ),
            rolling: true,
            ..Options::everything()
        },
    )?;
    let ok = report.ok;
    if !ok {
        notes.push("not every node took it: fix what is reported, then `sftpha provision` brings the rest in line".to_owned());
    }
    let report = HostRotation {
        change,
        host_key_fingerprints: report.host_key_fingerprints.clone(),
        push: report,
        notes,
    };
    crate::cmd::print_report(cli.format(), &report, |r| {
        let mut s = format!("{}\n", r.change);
        s += &format!("host keys: {}\n", r.host_key_fingerprints.join(", "));
        for n in &r.notes {
            s += &format!("{n}\n");
        }
        s + &crate::cmd::provision::human(&r.push)
    })?;
    Ok(if ok { exit::OK } else { exit::PROVISION_FAILED })
}

#[derive(Serialize)]
struct HostRotation {
    change: String,
    host_key_fingerprints: Vec<String>,
    push: provision::Report,
    notes: Vec<String>,
}

fn under_way() -> Error {
    Error::usage(
        "a host key rotation is under way",
        Some("finish it first: `sftpha keys rotate host --finish`"),
    )
}

/// Moves the key in force (and its certificate and public key) to keys/retired/.
fn retire_current(dir: &Path) -> Result<()> {
    let retired = dir.join(RETIRED_DIR);
    std::fs::create_dir_all(&retired).map_err(|source| Error::WriteFile {
        path: retired.clone(),
        source,
    })?;
    crate::provision::secrets::set_mode(&retired, 0o700)?;
    let stamp = unix_now();
    for suffix in ["", ".pub", CERT_SUFFIX] {
        let from = format!("{HOST_KEY_FILE}{suffix}");
        if dir.join(&from).exists() {
            rename(
                dir,
                &from,
                &format!("{RETIRED_DIR}/{HOST_KEY_FILE}.{stamp}{suffix}"),
            )?;
        }
    }
    Ok(())
}

fn rename(dir: &Path, from: &str, to: &str) -> Result<()> {
    let (from, to) = (dir.join(from), dir.join(to));
    if !from.exists() {
        return Ok(());
    }
    std::fs::rename(&from, &to).map_err(|source| Error::WriteFile { path: to, source })
}
