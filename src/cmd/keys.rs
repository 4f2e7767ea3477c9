//! `sftpha keys`: the cluster's keys. `init` makes the missing ones (and renews host
//! certificates), `known-hosts` prints what clients trust, `rotate user` replaces a user's
//! key with no failed login, `rotate host` rotates the host keys clients pin (all three
//! types together), refusing to retire the old ones before every node presents the new.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cmd::cli::Format;
use crate::cmd::cli::PushArgs;
use crate::cmd::context::Context;
use crate::cmd::output::human_titled;
use crate::config::cluster::Cluster;
use crate::config::users::parse_authorized_key;
use crate::config::users_edit::UsersDoc;
use crate::error::{exit, Error, Result};
use crate::keys::secrets::HOST_KEY_FILE;
use crate::keys::secrets::{
    host_key_file, keys_dir, unix_now, Secrets, CERT_SUFFIX, NEXT_SUFFIX, PRESENTING_NEXT,
};
use crate::keys::KeyKind;
use crate::provision::push::{
    accepted, fingerprint_of_line, push_change, Action, Change, ChangeReport,
};
use crate::provision::rotate::{
    describe, load_pending, login_through_gateway, next_keys, nodes_presenting_new_keys, rename,
    retire_current, save_pending, PendingUserRotation,
};
use crate::provision::{self, Options, Scope};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Makes the cluster's missing keys beside cluster.toml (host key, host CA, probe key)
    /// and issues or renews host certificates; what `provision` does first.
    #[command(
        after_help = "Examples:\n  sftpha keys init\n  sftpha -c prod/cluster.toml keys init"
    )]
    Init(crate::cmd::cli::Common),
    /// Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once,
    /// survives every rotation) and the host keys for clients that pin plain keys.
    #[command(
        after_help = "Examples:\n  sftpha keys known-hosts --ca >> ~/.ssh/known_hosts      trust the host CA once\n  sftpha keys known-hosts --plain > partner_known_hosts"
    )]
    KnownHosts(KnownHostsArgs),
    /// Key rotations with no failed login: a user's key, or the cluster's host keys.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  sftpha keys rotate user bank --key new.pub --grace 10m\n  sftpha keys rotate host\n  sftpha keys rotate host --finish"
    )]
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
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// Replaces a user's key: adds the new one on every node (checked), then retires the old
    /// one(s) at once, after --grace, or with --finish.
    #[command(
        after_help = "Examples:\n  sftpha keys rotate user bank --key new.pub --grace 10m\n  sftpha keys rotate user bank --key new.pub --grace 7d   then, a week later:\n  sftpha keys rotate user bank --finish"
    )]
    User(RotateUserArgs),
    /// Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside
    /// the old ones on every node (the old ones still presented), published by `keys
    /// known-hosts`. --finish: every node presents the new keys, and only once every node
    /// is seen doing so in the SSH handshake are the old ones retired. Clients that trust the
    /// host CA never notice; clients that pin keys add the new lines between the phases.
    #[command(
        after_help = "Examples:\n  sftpha keys rotate host                 phase 1; publish `sftpha keys known-hosts`\n  sftpha keys rotate host --finish        phase 2, once clients have the new lines\n  sftpha keys rotate host --now           clients that all trust the host CA"
    )]
    Host(RotateHostArgs),
}

#[derive(Debug, Args)]
pub struct RotateUserArgs {
    pub name: String,
    /// The new key: a public key file, or a private key file (then a login through the
    /// gateway with it is checked before the old key goes).
    #[arg(long, value_name = "FILE", required_unless_present = "finish")]
    pub key: Option<PathBuf>,
    /// Keep the old key(s) this long (`30s`, `10m`, `12h`, `7d`; a plain number is seconds); up to 10 minutes the
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
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

#[derive(Debug, Args)]
pub struct RotateHostArgs {
    /// Phase 2: present the new keys, then retire the old ones, which is refused unless every
    /// node is seen presenting the new keys (and their certificates) in the SSH handshake.
    #[arg(long, conflicts_with = "now")]
    pub finish: bool,
    /// With --finish: retire the old keys even though some nodes were not seen presenting
    /// the new ones (clients that pin plain keys and reach those nodes are refused).
    #[arg(long, requires = "finish")]
    pub force: bool,
    /// Both phases at once: for clusters whose clients all trust the host CA (clients that
    /// pin the plain key would see a changed key).
    #[arg(long)]
    pub now: bool,
    /// Record the SSH host keys of hosts not yet in the cluster's known_hosts.
    #[arg(long)]
    pub accept_new_host_keys: bool,
    #[command(flatten)]
    pub common: crate::cmd::cli::Common,
}

pub fn run(ctx: &Context, args: &KeysArgs) -> Result<u8> {
    let command = &args.command;
    let cluster = ctx.cluster()?;
    match command {
        KeysCommand::Init(_) => init(ctx, cluster),
        KeysCommand::KnownHosts(args) => known_hosts(ctx, cluster, args),
        KeysCommand::Rotate(RotateCommand::User(args)) => rotate_user(ctx, cluster, args),
        KeysCommand::Rotate(RotateCommand::Host(args)) => rotate_host(ctx, cluster, args),
    }
}

fn init(ctx: &Context, cluster: &Cluster) -> Result<u8> {
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
    ctx.print(&report, |_| {
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
        if !node_hosts.contains(&&name) || cluster.gateway.addresses().contains(&name) {
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

/// known_hosts lines are an artifact: printed raw, unless `--format json` is asked for.
fn known_hosts(ctx: &Context, cluster: &Cluster, args: &KnownHostsArgs) -> Result<u8> {
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
    if !args.ca && !secrets.stand_ins.is_empty() {
        eprintln!(
            "note: {} not made yet (`sftpha keys init` makes them, `sftpha provision` installs them); printed: the keys that exist",
            secrets.stand_ins.join(", ")
        );
    }
    let patterns = patterns(cluster).join(",");
    let public = |k: &russh::keys::PrivateKey| {
        k.public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))
    };
    let cert_authority = format!("@cert-authority {patterns} {}", public(&secrets.ca)?);
    let mut host_keys = Vec::new();
    for k in secrets.on_disk() {
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
    // Lines to paste by default, even into a pipe: JSON only when asked.
    let json = ctx.format_asked() == Some(Format::Json);
    ctx.print_as(json, &report, |r| {
        let mut s = String::new();
        for l in &r.lines {
            s += &format!("{l}\n");
        }
        s
    })?;
    Ok(exit::OK)
}

/// Grace periods up to this long are waited out by the command itself.
const WAIT_AT_MOST: Duration = Duration::from_secs(600);

/// The new key: a public key line, and the private key when a private key file was given.
fn read_new_key(path: &Path) -> Result<(String, Option<russh::keys::PrivateKey>)> {
    let text = crate::files::read_text(path)?;
    if text.contains("PRIVATE KEY") {
        let key = crate::keys::generate::load(path)?;
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| Error::usage(format!("cannot encode a key: {e}"), None))?;
        parse_authorized_key(&line)
            .map_err(|m| Error::usage(format!("{}: {m}", path.display()), None))?;
        return Ok((line, Some(key)));
    }
    let lines = crate::config::users_edit::read_key_file(path)?;
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
    ctx: &Context,
    user: &str,
    steps: Vec<ChangeReport>,
    notes: Vec<String>,
) -> Result<u8> {
    let ok = steps.iter().all(ChangeReport::ok);
    let code = steps
        .iter()
        .map(ChangeReport::exit_code)
        .find(|c| *c != exit::OK)
        .unwrap_or(exit::OK);
    let report = UserRotation {
        user: user.to_owned(),
        steps,
        notes,
        ok,
    };
    ctx.print(&report, |r| {
        let mut s = String::new();
        for step in &r.steps {
            s += &crate::cmd::output::change(step);
        }
        for n in &r.notes {
            s += &format!("{n}\n");
        }
        s
    })?;
    Ok(code)
}

/// How long the old and the new key are both in force, at least, when a rotation retires the
/// old key at once. A client that holds both offers them one round trip apart; a login that
/// offered the new key just before the nodes took it and the old one just after they retired
/// it would be refused. With pushes taking a fraction of a second, that happened (1 login in
/// ~350 of a client looping through the rotation).
const MIN_OVERLAP: Duration = Duration::from_secs(2);

fn rotate_user(ctx: &Context, cluster: &Cluster, args: &RotateUserArgs) -> Result<u8> {
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
        let step = retire(ctx, cluster, &args.name, &rotation.retire, &args.push)?;
        if step.ok() {
            pending.remove(&args.name);
            save_pending(cluster, &pending)?;
        }
        return print_rotation(ctx, &args.name, vec![step], Vec::new());
    }
    let path = args
        .key
        .as_ref()
        .expect("clap requires --key without --finish");
    let (line, private) = read_new_key(path)?;
    let new_fp = fingerprint_of_line(&line);
    let mut doc = UsersDoc::load(&cluster.users)?;
    let old: Vec<String> = doc
        .keys(&args.name)?
        .iter()
        .map(|l| fingerprint_of_line(l))
        .filter(|fp| *fp != new_fp)
        .collect();
    let grace = match &args.grace {
        Some(g) => crate::text::parse_duration(g).map_err(|e| {
            Error::usage(
                format!("--grace: {e}"),
                Some("e.g. `--grace 7d`: the old key stays a week"),
            )
        })?,
        None => Duration::ZERO,
    };
    // Step 1: the new key beside the old, on every node, checked.
    doc.add_key(&args.name, &line)?;
    doc.save()?;
    let mut notes = Vec::new();
    let first = ctx.block_on(push_change(
        cluster,
        Change {
            action: Action::AddKey,
            user: args.name.clone(),
            summary: format!("user `{}`: new key {new_fp} added", args.name),
        },
        args.push.push(ctx.progress()),
        accepted(&args.name, std::slice::from_ref(&line), true),
        Vec::new(),
        Vec::new(),
    ))??;
    if !first.ok() {
        notes.push("the old key(s) stay: fix what is reported and run the rotation again".into());
        return print_rotation(ctx, &args.name, vec![first], notes);
    }
    if let (Some(key), false) = (&private, args.push.no_push) {
        ctx.block_on(login_through_gateway(cluster, &args.name, key))??;
        notes.push(format!(
            "logged in through the gateway as `{}` with the new key",
            args.name
        ));
    }
    if old.is_empty() {
        return print_rotation(ctx, &args.name, vec![first], notes);
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
            "the old key(s) {} stay for {}; then run `sftpha keys rotate user {} --finish`",
            old.join(", "),
            crate::text::human_duration(grace.as_secs_f64()),
            args.name
        ));
        return print_rotation(ctx, &args.name, vec![first], notes);
    }
    if !grace.is_zero() {
        eprintln!(
            "keeping the old key(s) for {}",
            crate::text::human_duration(grace.as_secs_f64())
        );
    }
    std::thread::sleep(grace.max(MIN_OVERLAP));
    let second = retire(ctx, cluster, &args.name, &old, &args.push)?;
    print_rotation(ctx, &args.name, vec![first, second], notes)
}

/// The last step of a user rotation: the old keys leave users.toml and every node refuses
/// them.
fn retire(
    ctx: &Context,
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
            .any(|l| fingerprint_of_line(l) == *fp);
        // A key already removed by hand has nothing left to retire.
        if present {
            removed.push(doc.remove_key(name, fp)?);
        }
    }
    doc.save()?;
    let push = push.push(ctx.progress());
    ctx.block_on(push_change(
        cluster,
        Change {
            action: Action::RetireKeys,
            user: name.to_owned(),
            summary: format!(
                "user `{name}`: old key(s) retired: {}",
                fingerprints.join(", ")
            ),
        },
        push,
        accepted(name, &removed, false),
        Vec::new(),
        Vec::new(),
    ))?
}

/// Pushes node.toml and the host key files, one node at a time.
fn push_host_keys(
    ctx: &Context,
    cluster: &Cluster,
    args: &RotateHostArgs,
) -> Result<provision::Report> {
    ctx.block_on(provision::provision(
        cluster,
        &Options {
            accept_new_host_keys: args.accept_new_host_keys,
            progress: ctx.progress(),
            scope: Scope::HOST_KEYS,
            rolling: true,
            ..Options::everything()
        },
    ))?
}

/// Phase 2, first half: every node presents the new keys (the old still held), and is seen
/// doing so in the SSH handshake; otherwise nothing is retired (unless `--force`).
fn present_new_keys(
    ctx: &Context,
    cluster: &Cluster,
    args: &RotateHostArgs,
    notes: &mut Vec<String>,
) -> Result<provision::Report> {
    let dir = keys_dir(cluster);
    crate::files::write_atomically(
        &dir.join(PRESENTING_NEXT),
        b"phase 2 of `sftpha keys rotate host --finish` has begun: the new keys are presented\n",
        0o600,
    )?;
    let report = push_host_keys(ctx, cluster, args)?;
    let secrets = Secrets::load_or_create(cluster, false)?;
    let seen = ctx.block_on(nodes_presenting_new_keys(cluster, &secrets))??;
    let lacking = seen.iter().filter(|(_, p)| p.is_some()).count();
    if lacking == 0 {
        notes.push(format!(
            "every node presented the new keys before the old ones were retired: {}",
            seen.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Ok(report);
    }
    if !args.force {
        let unreachable = seen
            .iter()
            .filter_map(|(_, p)| p.as_deref())
            .all(|p| p.starts_with("not reached"));
        return Err(Error::Refused {
            message: format!(
                "not retiring the old host keys: {lacking} of {} nodes were not seen presenting the new ones: {}",
                seen.len(),
                describe(&seen)
            ),
            hint: "the nodes that were reached present the new keys and still hold the old ones; bring the others up and run `sftpha keys rotate host --finish` again (`--force` retires the old keys anyway)".into(),
            code: if unreachable {
                exit::UNREACHABLE
            } else {
                exit::PROVISION_FAILED
            },
        });
    }
    let warning = format!(
        "--force: retiring the old host keys although {} did not present the new ones; clients that pin plain keys are refused there until `sftpha provision` brings them in line",
        describe(&seen)
    );
    eprintln!("WARNING: {warning}");
    notes.push(format!("WARNING: {warning}"));
    Ok(report)
}

fn rotate_host(ctx: &Context, cluster: &Cluster, args: &RotateHostArgs) -> Result<u8> {
    let dir = keys_dir(cluster);
    let current = dir.join(HOST_KEY_FILE);
    if !current.exists() {
        return Err(Error::usage(
            format!("the cluster has no host key yet ({})", current.display()),
            Some("run `sftpha provision` first"),
        ));
    }
    let comment = format!("sftpha cluster {} host key", cluster.file.name);
    let nexts = next_keys(&dir);
    let mut notes = Vec::new();
    let mut presenting = None;
    let change;
    if args.finish {
        if nexts.is_empty() {
            return Err(Error::usage(
                "no host key rotation is under way",
                Some("start one with `sftpha keys rotate host`"),
            ));
        }
        // Nothing is retired before every node is seen presenting the new keys.
        presenting = Some(present_new_keys(ctx, cluster, args, &mut notes)?);
        let names: Vec<String> = nexts.iter().map(|(kind, _)| host_key_file(*kind)).collect();
        retire_current(&dir, &names)?;
        for name in &names {
            for suffix in ["", ".pub", CERT_SUFFIX] {
                rename(
                    &dir,
                    &format!("{name}{NEXT_SUFFIX}{suffix}"),
                    &format!("{name}{suffix}"),
                )?;
            }
        }
        let _ = std::fs::remove_file(dir.join(PRESENTING_NEXT));
        change = "phase 2: the new host keys are presented; the old ones are retired (kept in keys/retired)"
            .to_owned();
    } else if args.now {
        if !nexts.is_empty() {
            return Err(under_way());
        }
        let names: Vec<String> = KeyKind::ALL.iter().map(|k| host_key_file(*k)).collect();
        retire_current(&dir, &names)?;
        for kind in KeyKind::ALL {
            crate::keys::generate::generate(kind, &dir.join(host_key_file(kind)), &comment)?;
        }
        change = "host keys replaced at once (clients that trust the host CA do not notice; clients that pin the old keys will)".to_owned();
    } else {
        if !nexts.is_empty() {
            return Err(under_way());
        }
        for kind in KeyKind::ALL {
            let path = dir.join(format!("{}{NEXT_SUFFIX}", host_key_file(kind)));
            crate::keys::generate::generate(kind, &path, &comment)?;
        }
        change = "phase 1: new host keys are installed beside the old ones (the old ones are still presented)".to_owned();
    }
    let report = push_host_keys(ctx, cluster, args)?;
    if !args.finish && !args.now {
        // Which nodes took the new keys (each was checked to hold exactly the expected keys)
        // before anyone is told to publish them.
        let (took, missed): (Vec<&provision::HostReport>, Vec<&provision::HostReport>) = report
            .hosts
            .iter()
            .filter(|h| h.roles.iter().any(|r| r.starts_with("node")))
            .partition(|h| h.result != provision::Outcome::Failed);
        let name = |h: &provision::HostReport| {
            h.roles
                .iter()
                .find_map(|r| r.strip_prefix("node "))
                .unwrap_or(&h.host)
                .to_owned()
        };
        let names = |hosts: &[&provision::HostReport]| {
            hosts.iter().map(|h| name(h)).collect::<Vec<_>>().join(", ")
        };
        if !missed.is_empty() {
            let failed: Vec<String> = missed
                .iter()
                .map(|h| format!("{} ({})", name(h), h.error.as_deref().unwrap_or("failed")))
                .collect();
            notes.push(format!(
                "took the new keys: {}; did not: {}",
                if took.is_empty() {
                    "none".to_owned()
                } else {
                    names(&took)
                },
                failed.join("; ")
            ));
            notes.push("do not publish the new keys yet: bring those nodes in line (`sftpha provision`); `--finish` is refused until every node presents the new keys".to_owned());
        } else {
            notes.push(format!("every node holds the new keys: {}", names(&took)));
            notes.push("clients that pin plain keys: add the new lines of `sftpha keys known-hosts --plain` now; then run `sftpha keys rotate host --finish`".to_owned());
        }
    }
    if !report.ok {
        notes.push("not every node took it: fix what is reported, then `sftpha provision` brings the rest in line".to_owned());
    }
    let code = report.exit_code();
    let report = HostRotation {
        change,
        host_key_fingerprints: report.host_key_fingerprints.clone(),
        presenting,
        push: report,
        notes,
    };
    ctx.print(&report, |r| {
        let mut s = format!("{}\n", r.change);
        s += &format!("host keys: {}\n", r.host_key_fingerprints.join(", "));
        for n in &r.notes {
            s += &format!("{n}\n");
        }
        if let Some(p) = &r.presenting {
            s += &human_titled("push presenting the new keys", p);
        }
        s + &human_titled("push of the host keys", &r.push)
    })?;
    Ok(code)
}

#[derive(Serialize)]
struct HostRotation {
    change: String,
    host_key_fingerprints: Vec<String>,
    /// `--finish`: the push that had every node present the new keys before the old ones
    /// were retired.
    presenting: Option<provision::Report>,
    push: provision::Report,
    notes: Vec<String>,
}

fn under_way() -> Error {
    Error::usage(
        "a host key rotation is under way",
        Some("finish it first: `sftpha keys rotate host --finish`"),
    )
}
