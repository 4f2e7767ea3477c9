//! From what the old server does to what the cluster will do: each SFTP-only account becomes
//! a users.toml entry (keys with the options the node keeps, an imported password hash, a home
//! below the storage), each host key a cluster host key, and everything that cannot be carried
//! over is listed with the reason. Pure: [`plan`] reads a [`Source`] and decides; the report
//! it returns is what `sftpha import openssh` prints.

use std::collections::BTreeMap;

use russh::keys::PrivateKey;
use serde::Serialize;

use crate::config::users::{
    check_home, check_password_hash, fingerprint, parse_authorized_key, parse_key_options,
    valid_user_name, SourcePatterns, HONOURED_BY_DESIGN,
};
use crate::config::users_edit::NewUser;
use crate::import::source::{jail_of, parent, Read, Source, RESOLVED_ADDR, RESOLVED_HOST};
use crate::import::sshd::{accepts_key_type, login_allowed, Account, Effective, Sftp};
use crate::keys::secrets::host_key_file;
use crate::keys::KeyKind;

/// What the cluster already has, and what the operator allowed.
pub struct Target {
    /// The cluster's storage path (`[storage] path`).
    pub storage: String,
    /// users.toml's users.
    pub existing_users: Vec<String>,
    /// The cluster's host key files in force and their fingerprints.
    pub existing_keys: BTreeMap<String, String>,
    /// A host key rotation is under way (`.next` keys).
    pub rotation_under_way: bool,
    pub force: bool,
    pub data_root: Option<String>,
    pub skip: Vec<String>,
    pub dry_run: bool,
    /// `--host-ca`: the old server's host CA (its private key and file bytes).
    pub host_ca: Option<(PrivateKey, Vec<u8>)>,
    /// The fingerprint of the cluster's host CA, if it has one.
    pub existing_ca: Option<String>,
    /// The names the cluster's host certificates will carry (`Cluster::host_names`).
    pub host_names: Vec<String>,
}

/// The report of `sftpha import openssh` (JSON as documented in the README).
#[derive(Debug, Serialize)]
pub struct Report {
    pub host: String,
    pub dry_run: bool,
    /// Nothing stands in the way: the import was (or, in a dry run, would be) written.
    pub ok: bool,
    pub server: Server,
    /// The old host's folder the homes are mapped from (`--data-root`, else the parent most
    /// homes share).
    pub data_root: Option<String>,
    pub users: Vec<UserImport>,
    pub not_imported: Vec<NotImported>,
    pub host_keys: Vec<HostKeyImport>,
    pub host_certificates: Vec<CertificateNote>,
    /// Why the import was refused: each names the user, file, line or value at fault and
    /// what to do. Nothing is written while there is one.
    pub problems: Vec<Problem>,
    pub data: DataToMove,
    pub notes: Vec<String>,
    /// Files written (empty in a dry run or when refused).
    pub written: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Server {
    /// The sshd_config read (`-f` of the serving sshd), `null` for sshd's default.
    pub config_file: Option<String>,
    pub sshd_user_spec: String,
    pub sftp_subsystem: String,
    pub pubkey_authentication: bool,
    pub password_authentication: bool,
    pub authorized_keys_files: Vec<String>,
    pub pubkey_accepted_algorithms: Vec<String>,
    pub read_through_sudo: bool,
}

#[derive(Debug, Serialize)]
pub struct UserImport {
    pub name: String,
    /// `add`, or `replace` (with --force, a user users.toml had).
    pub action: &'static str,
    /// Below the cluster's storage.
    pub home: String,
    /// The folder on the old host (chroot, else home).
    pub old_folder: String,
    /// How sshd served SFTP: `ForceCommand` or `Subsystem`.
    pub sftp: &'static str,
    pub permissions: Vec<String>,
    pub keys: Vec<KeyImport>,
    pub keys_not_imported: Vec<KeyNotImported>,
    pub password: PasswordImport,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct KeyImport {
    pub fingerprint: String,
    pub algorithm: String,
    pub comment: String,
    pub file: String,
    pub line: usize,
    /// The `from=` patterns kept (the node enforces them).
    pub from: Option<String>,
    /// Options that hold by design on an SFTP-only node, so not written.
    pub options_honoured: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct KeyNotImported {
    pub file: String,
    pub line: usize,
    pub fingerprint: Option<String>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PasswordImport {
    /// `imported`, `none`, or `needs_new_password`.
    pub status: &'static str,
    pub scheme: Option<&'static str>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NotImported {
    pub user: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct HostKeyImport {
    pub algorithm: String,
    pub fingerprint: Option<String>,
    /// The file on the old host.
    pub from: String,
    /// The file beside cluster.toml (`keys/...`).
    pub to: Option<String>,
    /// `import`, `unchanged`, `replace`, or `not_imported`.
    pub action: &'static str,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CertificateNote {
    pub file: String,
    pub key_fingerprint: Option<String>,
    pub ca_fingerprint: Option<String>,
    pub principals: Vec<String>,
    pub carried_over: bool,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub user: Option<String>,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub value: Option<String>,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Serialize)]
pub struct DataToMove {
    pub total_kib: u64,
    pub homes: Vec<HomeData>,
    /// rsync commands to run on a node (which mounts the storage), as root; files are not
    /// copied by the import.
    pub commands: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct HomeData {
    pub user: String,
    pub from: String,
    pub to: String,
    pub kib: Option<u64>,
}

/// A host key to write beside cluster.toml.
pub struct HostKeyFile {
    pub name: String,
    pub private: Vec<u8>,
    pub public: String,
}

/// What [`plan`] decided.
pub struct Plan {
    pub report: Report,
    /// Users to add, in the old host's order; `replace` names those to remove first.
    pub users: Vec<NewUser>,
    pub replace: Vec<String>,
    pub host_keys: Vec<HostKeyFile>,
    /// The host CA to write as the cluster's (`--host-ca`, when it signed the old
    /// certificates): its file bytes and public line.
    pub host_ca: Option<HostKeyFile>,
}

fn problem(user: Option<&str>, message: String, fix: &str) -> Problem {
    Problem {
        user: user.map(str::to_owned),
        file: None,
        line: None,
        value: None,
        message,
        fix: fix.to_owned(),
    }
}

/// Decides the import of `source` into `target`.
pub fn plan(source: &Source, target: &Target) -> Plan {
    let global = &source.global;
    let mut report = Report {
        host: source.host.clone(),
        dry_run: target.dry_run,
        ok: false,
        server: Server {
            config_file: source.config_file.clone(),
            sshd_user_spec: format!("host={RESOLVED_HOST},addr={RESOLVED_ADDR}"),
            sftp_subsystem: global.sftp_subsystem().unwrap_or("").to_owned(),
            pubkey_authentication: global.yes("pubkeyauthentication"),
            password_authentication: global.yes("passwordauthentication"),
            authorized_keys_files: global
                .set("authorizedkeysfile")
                .map(|f| f.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            pubkey_accepted_algorithms: global.pubkey_algorithms(),
            read_through_sudo: source.sudo,
        },
        data_root: None,
        users: Vec::new(),
        not_imported: Vec::new(),
        host_keys: Vec::new(),
        host_certificates: Vec::new(),
        problems: Vec::new(),
        data: DataToMove {
            total_kib: 0,
            homes: Vec::new(),
            commands: Vec::new(),
        },
        notes: vec![format!(
            "Match blocks were resolved by sshd for a client at {RESOLVED_ADDR} ({RESOLVED_HOST}): blocks that match partners' addresses or host names (Match Address, Match Host) did not apply"
        )],
        written: Vec::new(),
    };
    let mut users = Vec::new();
    let mut replace = Vec::new();
    for name in &target.skip {
        report.not_imported.push(NotImported {
            user: name.clone(),
            reason: "left out with --skip".into(),
        });
    }
    for account in &source.accounts {
        match source.effective.get(&account.name) {
            Some(Err(e)) => report.problems.push(problem(
                Some(&account.name),
                format!("what sshd does for `{}` is unknown: {e}", account.name),
                "fix the old server's sshd_config, or leave the account out with --skip NAME",
            )),
            Some(Ok(e)) if e.sftp == Sftp::Shell => report.not_imported.push(NotImported {
                user: account.name.clone(),
                reason: format!(
                    "not SFTP-only: logs in with the shell `{}` (no ForceCommand internal-sftp)",
                    account.shell
                ),
            }),
            _ => {}
        }
    }
    let sftp = source.sftp_accounts();
    let data_root = target
        .data_root
        .clone()
        .map(|r| r.trim_end_matches('/').to_owned())
        .or_else(|| common_parent(&sftp));
    report.data_root = data_root.clone();
    let real_root = data_root
        .as_ref()
        .and_then(|r| source.folders.get(r))
        .and_then(|f| f.real.as_ref().ok())
        .cloned();
    if let (Some(root), None) = (&data_root, &real_root) {
        if !sftp.is_empty() {
            report.problems.push(Problem {
                value: Some(root.clone()),
                ..problem(
                    None,
                    format!("the data root `{root}` does not exist on the old host"),
                    "give --data-root the folder that holds the users' folders",
                )
            });
        }
    }
    for (account, effective) in sftp {
        let before = report.problems.len();
        let (user, new) = plan_user(
            source,
            target,
            account,
            effective,
            real_root.as_deref(),
            &mut report,
        );
        if report.problems.len() > before {
            continue;
        }
        let (Some(user), Some(new)) = (user, new) else {
            continue;
        };
        if user.action == "replace" {
            replace.push(user.name.clone());
        }
        let kib = source.folders.get(&user.old_folder).and_then(|f| f.kib);
        report.data.total_kib += kib.unwrap_or(0);
        let to = format!("{}/{}", target.storage.trim_end_matches('/'), user.home);
        let ssh = match source.port {
            22 => String::new(),
            port => format!("-e 'ssh -p {port}' "),
        };
        report.data.commands.push(format!(
            "rsync -aHAX --numeric-ids {ssh}{}:{}/ {to}/",
            source.ssh_user, user.old_folder
        ));
        report.data.homes.push(HomeData {
            user: user.name.clone(),
            from: user.old_folder.clone(),
            to,
            kib,
        });
        report.users.push(user);
        users.push(new);
    }
    let host_keys = plan_host_keys(source, target, &mut report);
    let host_ca = plan_certificates(source, target, &mut report);
    report.ok = report.problems.is_empty();
    Plan {
        report,
        users,
        replace,
        host_keys,
        host_ca,
    }
}

/// The parent folder most of the accounts' folders share (ties: the shorter path).
fn common_parent(sftp: &[(&Account, &Effective)]) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (a, e) in sftp {
        *counts.entry(parent(&jail_of(a, e))).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(pa, a), (pb, b)| a.cmp(b).then(pb.len().cmp(&pa.len())))
        .map(|(p, _)| p)
}

fn plan_user(
    source: &Source,
    target: &Target,
    account: &Account,
    e: &Effective,
    real_root: Option<&str>,
    report: &mut Report,
) -> (Option<UserImport>, Option<NewUser>) {
    let name = account.name.as_str();
    let fail = |report: &mut Report, p: Problem| report.problems.push(p);
    let groups = source.groups.get(name).cloned().unwrap_or_default();
    match login_allowed(&source.global, name, &groups) {
        Err(rule) => {
            report.not_imported.push(NotImported {
                user: name.to_owned(),
                reason: format!("the old server refuses its logins ({rule})"),
            });
            return (None, None);
        }
        Ok(Some(hosts)) => fail(
            report,
            Problem {
                value: Some(hosts.clone()),
                ..problem(
                    Some(name),
                    format!("AllowUsers admits `{name}` only from `{hosts}`; the node would admit it from anywhere"),
                    "put the hosts in a from=\"...\" option of each of its keys on the old server (the import keeps it), or leave the account out with --skip NAME",
                )
            },
        ),
        Ok(None) => {}
    }
    if !valid_user_name(name) {
        fail(
            report,
            Problem {
                value: Some(name.to_owned()),
                ..problem(
                    Some(name),
                    format!("`{name}` is not a user name users.toml accepts (1-32 of a-z, 0-9, `_`, `.`, `-`, starting with a letter or `_`)"),
                    "rename the account on the old server, or leave it out with --skip NAME and add it with `sftpha users add`",
                )
            },
        );
    }
    let exists = target.existing_users.iter().any(|u| u == name);
    if exists && !target.force {
        fail(
            report,
            problem(
                Some(name),
                format!("users.toml already has a user `{name}`"),
                "--force replaces it with the imported one; --skip NAME keeps it as it is",
            ),
        );
    }
    if let Some(methods) = &e.authentication_methods {
        fail(
            report,
            Problem {
                value: Some(methods.clone()),
                ..problem(
                    Some(name),
                    format!("the old server required `AuthenticationMethods {methods}` of `{name}`; the node accepts any one method, which would let in less"),
                    "leave the account out with --skip NAME, or drop the requirement on the old server first",
                )
            },
        );
    }
    let folder = jail_of(account, e);
    let real = source.folders.get(&folder).map(|f| f.real.clone());
    let home = match (real_root, real) {
        (_, Some(Err(why))) => {
            fail(
                report,
                Problem {
                    file: Some(folder.clone()),
                    ..problem(
                        Some(name),
                        format!("the folder of `{name}` cannot be resolved on the old host: {why}"),
                        "create it on the old host, or leave the account out with --skip NAME",
                    )
                },
            );
            None
        }
        (Some(root), Some(Ok(real))) => match mapped_home(root, &real) {
            Ok(home) => Some(home),
            Err(why) => {
                fail(
                    report,
                    Problem {
                        file: Some(folder.clone()),
                        value: Some(real.clone()),
                        ..problem(
                            Some(name),
                            format!(
                                "the folder of `{name}` (`{folder}`, really `{real}`) escapes the storage: {why}"
                            ),
                            &format!("every home must be a folder below the data root `{root}`, which becomes the cluster's storage: move it there on the old host, pick another root with --data-root, or leave the account out with --skip NAME"),
                        )
                    },
                );
                None
            }
        },
        _ => None,
    };

    let mut keys = Vec::new();
    let mut entries = Vec::new();
    let mut not_imported = Vec::new();
    let mut notes = Vec::new();
    if e.pubkey {
        for file in &e.authorized_keys_files {
            match source.files.get(file) {
                Some(Read::Text(text)) => {
                    for (i, line) in text.lines().enumerate() {
                        let line_no = i + 1;
                        let trimmed = line.trim();
                        if trimmed.is_empty() || trimmed.starts_with('#') {
                            continue;
                        }
                        match key_entry(trimmed, e) {
                            Ok((entry, key)) => {
                                if keys.iter().any(|k: &KeyImport| k.fingerprint == key.fingerprint)
                                {
                                    continue;
                                }
                                entries.push(entry);
                                keys.push(KeyImport {
                                    file: file.clone(),
                                    line: line_no,
                                    ..key
                                });
                            }
                            Err((fp, reason)) => not_imported.push(KeyNotImported {
                                file: file.clone(),
                                line: line_no,
                                fingerprint: fp,
                                reason,
                            }),
                        }
                    }
                }
                Some(Read::Missing) | None => {}
                Some(Read::Unreadable(why)) => fail(
                    report,
                    Problem {
                        file: Some(file.clone()),
                        ..problem(
                            Some(name),
                            format!("the authorized keys file `{file}` of `{name}` cannot be read: {why}"),
                            "make it readable to the import's login (root; on NFS with root_squash read it as the user), or leave the account out with --skip NAME",
                        )
                    },
                ),
            }
        }
        if let Some(command) = &e.authorized_keys_command {
            notes.push(format!(
                "keys that `AuthorizedKeysCommand {command}` supplies are not imported: add them with `sftpha users set-key`"
            ));
        }
    } else {
        notes.push("public key logins were off for this account on the old server".into());
    }

    let password = password_of(source, name, e);
    let hash = match &password {
        PasswordImport {
            status: "imported", ..
        } => shadow_field(source, name),
        _ => None,
    };
    if e.chroot.is_none() {
        notes.push(format!(
            "not chrooted on the old server (it could reach the whole file system); in the cluster it is jailed in its home `{folder}`"
        ));
    }
    if let Some(dir) = e.start_dir.as_deref().filter(|d| *d != "/") {
        notes.push(format!(
            "sessions started in `{dir}` on the old server (internal-sftp -d); the node starts them at `/` of the home, so clients that use relative paths must prefix `{}/`",
            dir.trim_matches('/')
        ));
    }
    for option in &e.sftp_options_dropped {
        notes.push(format!(
            "internal-sftp option `{option}` is not carried over: the node has no equivalent"
        ));
    }
    let permissions: Vec<String> = if e.read_only {
        vec!["list".into(), "read".into()]
    } else {
        crate::config::users::Permission::ALL
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    };
    let Some(home) = home else {
        return (None, None);
    };
    if entries.is_empty() && hash.is_none() {
        let why = match (&password.reason, not_imported.is_empty()) {
            (Some(reason), _) => format!("no key, and the password {reason}"),
            (None, false) => {
                "none of its keys can be used by the node (see the keys not imported)".into()
            }
            (None, true) => "it has no authorized key and no password".into(),
        };
        report.not_imported.push(NotImported {
            user: name.to_owned(),
            reason: format!(
                "{why}: nobody could log in; add it with `sftpha users add {name} --home {home} --key FILE` (or --password)"
            ),
        });
        return (None, None);
    }
    let user = UserImport {
        name: name.to_owned(),
        action: if exists { "replace" } else { "add" },
        home: home.clone(),
        old_folder: folder,
        sftp: if e.sftp == Sftp::Forced {
            "ForceCommand"
        } else {
            "Subsystem"
        },
        permissions: permissions.clone(),
        keys,
        keys_not_imported: not_imported,
        password,
        notes,
    };
    let new = NewUser {
        name: name.to_owned(),
        keys: entries,
        password_hash: hash,
        home: Some(home),
        permissions: e.read_only.then_some(permissions),
    };
    (Some(user), Some(new))
}

/// `real` below `root`, as users.toml's `home`.
fn mapped_home(root: &str, real: &str) -> Result<String, String> {
    let root = root.trim_end_matches('/');
    let rest = real
        .strip_prefix(root)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.is_empty());
    let Some(rest) = rest else {
        return Err(format!("it is not below `{root}`"));
    };
    check_home(rest).map(|p| p.display().to_string())
}

fn shadow_field(source: &Source, name: &str) -> Option<String> {
    source.shadow.as_ref().ok()?.get(name).cloned()
}

fn password_of(source: &Source, name: &str, e: &Effective) -> PasswordImport {
    let none = |reason: Option<String>| PasswordImport {
        status: "none",
        scheme: None,
        reason,
    };
    let renew = |reason: String| PasswordImport {
        status: "needs_new_password",
        scheme: None,
        reason: Some(reason),
    };
    if !e.password {
        return none(None);
    }
    let shadow = match &source.shadow {
        Ok(map) => map,
        Err(why) => {
            return renew(format!(
                "could not be read: {why}; set one with `sftpha users add {name} --password`"
            ))
        }
    };
    let Some(field) = shadow.get(name) else {
        return none(None);
    };
    if field.is_empty() || field == "*" || field == "!" || field == "!*" {
        return none(None);
    }
    if field.starts_with('!') || field.starts_with('*') {
        return none(Some("is locked on the old server".into()));
    }
    match check_password_hash(field) {
        Ok(scheme) => PasswordImport {
            status: "imported",
            scheme: Some(scheme.name()),
            reason: None,
        },
        Err(why) => renew(format!(
            "hash (`{}`) cannot be verified by the node ({why}); set a new one with `sftpha users add {name} --password`",
            field.split('$').nth(1).map(|s| format!("${s}$...")).unwrap_or_else(|| "?".into())
        )),
    }
}

/// Options that only restrict what an SFTP-only node never offers, or that only grant what it
/// never offers: nothing to enforce.
const MOOT_OPTIONS: [&str; 9] = [
    "permitopen",
    "permitlisten",
    "tunnel",
    "environment",
    "pty",
    "user-rc",
    "x11-forwarding",
    "agent-forwarding",
    "port-forwarding",
];

/// One authorized_keys line as a users.toml key entry (the key, and `from=` if it had one);
/// `Err((fingerprint, reason))` when the node could not keep what the line promised.
fn key_entry(line: &str, e: &Effective) -> Result<(String, KeyImport), (Option<String>, String)> {
    let parsed = openssh_keys::PublicKey::parse(line)
        .map_err(|err| (None, format!("not an OpenSSH public key: {err}")))?;
    let fp = Some(format!("SHA256:{}", parsed.fingerprint()));
    let key_type = parsed.keytype();
    if !accepts_key_type(&e.pubkey_algorithms, key_type) {
        return Err((
            fp,
            format!("the old server did not accept `{key_type}` keys (PubkeyAcceptedAlgorithms), so it never logged in with this one"),
        ));
    }
    let mut from = None;
    let mut honoured = Vec::new();
    if let Some(options) = &parsed.options {
        let options = parse_key_options(options).map_err(|m| (fp.clone(), m))?;
        for (name, value) in options {
            let lower = name.to_ascii_lowercase();
            match (lower.as_str(), value) {
                ("from", Some(v)) => {
                    let patterns = SourcePatterns::parse(&v).map_err(|m| (fp.clone(), m))?;
                    let names = patterns.host_names();
                    if e.use_dns && !names.is_empty() {
                        return Err((
                            fp,
                            format!("from=\"{v}\" names hosts ({}), which the old server looked up (UseDNS yes); the node matches addresses only", names.join(", ")),
                        ));
                    }
                    from = Some(v);
                }
                ("command", Some(v)) => {
                    if v.split_whitespace().next() != Some("internal-sftp")
                        && e.sftp != Sftp::Forced
                    {
                        return Err((
                            fp,
                            format!("command=\"{v}\" ran that command instead of SFTP on the old server; the node would give this key SFTP"),
                        ));
                    }
                    honoured.push(format!("command=\"{v}\""));
                }
                (n, _) if HONOURED_BY_DESIGN.contains(&n) || MOOT_OPTIONS.contains(&n) => {
                    honoured.push(name.clone());
                }
                _ => {
                    return Err((
                        fp,
                        format!("option `{name}` cannot be honoured by the node"),
                    ))
                }
            }
        }
    }
    let mut plain = parsed.clone();
    plain.options = None;
    let plain = plain.to_key_format().trim().to_owned();
    let entry = match &from {
        Some(v) => format!("from=\"{}\" {plain}", v.replace('"', "\\\"")),
        None => plain,
    };
    let key = parse_authorized_key(&entry).map_err(|m| (fp.clone(), m))?;
    Ok((
        entry,
        KeyImport {
            fingerprint: fingerprint(&key),
            algorithm: key.algorithm().as_str().to_owned(),
            comment: key.comment().to_string(),
            file: String::new(),
            line: 0,
            from,
            options_honoured: honoured,
        },
    ))
}

fn kind_of(key: &PrivateKey) -> Option<KeyKind> {
    KeyKind::ALL.into_iter().find(|k| k.matches(key))
}

fn plan_host_keys(source: &Source, target: &Target, report: &mut Report) -> Vec<HostKeyFile> {
    let mut out: Vec<HostKeyFile> = Vec::new();
    for (path, read) in &source.host_keys {
        let not = |algorithm: String, fp: Option<String>, reason: String| HostKeyImport {
            algorithm,
            fingerprint: fp,
            from: path.clone(),
            to: None,
            action: "not_imported",
            reason: Some(reason),
        };
        let text = match read {
            Read::Text(t) => t,
            Read::Missing => {
                report.host_keys.push(not(
                    "?".into(),
                    None,
                    "the file does not exist: sshd does not present it either".into(),
                ));
                continue;
            }
            Read::Unreadable(why) => {
                report.problems.push(Problem {
                    file: Some(path.clone()),
                    ..problem(
                        None,
                        format!("the host key `{path}` cannot be read: {why}"),
                        "log in as root (--ssh-user root) or through passwordless sudo: the host keys are what partners pinned",
                    )
                });
                continue;
            }
        };
        let key = match PrivateKey::from_openssh(text.trim()) {
            Ok(k) if k.is_encrypted() => {
                report.host_keys.push(not(
                    k.algorithm().as_str().to_owned(),
                    Some(fingerprint(k.public_key())),
                    "the key is passphrase-protected".into(),
                ));
                continue;
            }
            Ok(k) => k,
            Err(e) => {
                report.problems.push(Problem {
                    file: Some(path.clone()),
                    ..problem(
                        None,
                        format!("the host key `{path}` is not an OpenSSH private key the node can load ({e})"),
                        "convert it with `ssh-keygen -p -N '' -f FILE` on the old host (it rewrites it in the OpenSSH format) and run again",
                    )
                });
                continue;
            }
        };
        let fp = fingerprint(key.public_key());
        let algorithm = key.algorithm().as_str().to_owned();
        let Some(kind) = kind_of(&key) else {
            report.host_keys.push(not(
                algorithm,
                Some(fp),
                "the node presents ed25519, ECDSA and RSA host keys only".into(),
            ));
            continue;
        };
        let name = host_key_file(kind);
        if out.iter().any(|k| k.name == name) {
            report.host_keys.push(not(
                algorithm,
                Some(fp),
                format!("a second {} key: the cluster presents one per type (the first in sshd's order is kept)", kind.word()),
            ));
            continue;
        }
        let action = match target.existing_keys.get(&name) {
            Some(existing) if *existing == fp => "unchanged",
            Some(existing) if !target.force => {
                report.problems.push(Problem {
                    file: Some(format!("keys/{name}")),
                    value: Some(existing.clone()),
                    ..problem(
                        None,
                        format!("the cluster already has a {} host key ({existing}), not the old server's ({fp})", kind.word()),
                        "--force replaces the cluster's key with the old server's (clients that pinned the cluster's key would see it change)",
                    )
                });
                continue;
            }
            Some(_) => "replace",
            None => "import",
        };
        if action != "unchanged" && target.rotation_under_way {
            report.problems.push(problem(
                None,
                "a host key rotation is under way (keys/*.next)".into(),
                "finish it (`sftpha keys rotate host --finish`) before importing host keys",
            ));
            continue;
        }
        let public = key
            .public_key()
            .to_openssh()
            .map(|p| format!("{p}\n"))
            .unwrap_or_default();
        report.host_keys.push(HostKeyImport {
            algorithm,
            fingerprint: Some(fp),
            from: path.clone(),
            to: Some(format!("keys/{name}")),
            action,
            reason: None,
        });
        if action != "unchanged" {
            out.push(HostKeyFile {
                name,
                private: text.as_bytes().to_vec(),
                public,
            });
        }
    }
    let imported: Vec<&str> = report
        .host_keys
        .iter()
        .filter_map(|k| k.to.as_deref())
        .collect();
    for kind in KeyKind::ALL {
        let file = format!("keys/{}", host_key_file(kind));
        if !imported.contains(&file.as_str()) {
            report.notes.push(format!(
                "the old server had no {} host key: the cluster makes its own, which clients that pinned the old keys are not shown (they ask for the types they know)",
                kind.word()
            ));
        }
    }
    out
}

/// The old server's host certificates: carried over when `--host-ca` is the CA that signed
/// them (the cluster then signs its own certificates with it, for the names it lists), else
/// listed as not carried over.
fn plan_certificates(source: &Source, target: &Target, report: &mut Report) -> Option<HostKeyFile> {
    let ca_fp = target
        .host_ca
        .as_ref()
        .map(|(ca, _)| fingerprint(ca.public_key()));
    let mut signed_by_ca = false;
    for (path, read) in &source.host_certificates {
        let cert = match read {
            Read::Text(t) => russh::keys::Certificate::from_openssh(t.trim()).ok(),
            _ => None,
        };
        let signer = cert
            .as_ref()
            .map(|c| fingerprint(&russh::keys::PublicKey::from(c.signature_key().clone())));
        let principals: Vec<String> = cert
            .as_ref()
            .map(|c| c.valid_principals().to_vec())
            .unwrap_or_default();
        let carried_over = signer.is_some() && signer == ca_fp;
        let reason = if carried_over {
            signed_by_ca = true;
            let missing: Vec<&String> = principals
                .iter()
                .filter(|p| !target.host_names.contains(p))
                .collect();
            if !missing.is_empty() {
                report.problems.push(Problem {
                    file: Some(path.clone()),
                    value: Some(missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")),
                    ..problem(
                        None,
                        format!(
                            "the old host certificate `{path}` names {}, which the cluster's certificates would not",
                            missing.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
                        ),
                        "add the names to `host_names` in cluster.toml's [keys], so partners that trust the CA for them are shown a valid certificate",
                    )
                });
            }
            "signed by --host-ca: the cluster signs its host certificates with that CA, for the names in [keys] host_names and the cluster's addresses".to_owned()
        } else {
            "the cluster signs its own host certificates (keys/host_ca): partners that trust the old CA with @cert-authority need it, given with --host-ca FILE; those that pinned the host keys keep working".to_owned()
        };
        report.host_certificates.push(CertificateNote {
            file: path.clone(),
            key_fingerprint: cert
                .as_ref()
                .map(|c| fingerprint(&russh::keys::PublicKey::from(c.public_key().clone()))),
            ca_fingerprint: signer,
            principals,
            carried_over,
            reason,
        });
    }
    let (ca, bytes) = target.host_ca.as_ref()?;
    let ca_fp = fingerprint(ca.public_key());
    if !signed_by_ca {
        report.problems.push(Problem {
            value: Some(ca_fp),
            ..problem(
                None,
                "the --host-ca key signed none of the old server's host certificates".into(),
                "give the CA that signed them (`ssh-keygen -L -f CERT` shows its fingerprint as `Signing CA`), or leave --host-ca out",
            )
        });
        return None;
    }
    match &target.existing_ca {
        Some(existing) if *existing == ca_fp => return None,
        Some(existing) if !target.force => {
            report.problems.push(Problem {
                file: Some("keys/host_ca".into()),
                value: Some(existing.clone()),
                ..problem(
                    None,
                    format!("the cluster already has another host CA ({existing})"),
                    "--force replaces it with --host-ca (clients that trust the cluster's CA would need the new `sftpha keys known-hosts --ca` line)",
                )
            });
            return None;
        }
        _ => {}
    }
    Some(HostKeyFile {
        name: crate::keys::secrets::HOST_CA.to_owned(),
        private: bytes.clone(),
        public: ca
            .public_key()
            .to_openssh()
            .map(|p| format!("{p}\n"))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::sshd::{resolve, SshdConfig};

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7 a@b";

    fn acme(shell: &str) -> Account {
        Account {
            name: "acme".into(),
            uid: 1001,
            home: "/home/acme".into(),
            shell: shell.into(),
        }
    }

    fn effective(extra: &str) -> Effective {
        let config = SshdConfig::parse(&format!(
            "port 22\nforcecommand internal-sftp\nsubsystem sftp internal-sftp\npubkeyauthentication yes\npubkeyacceptedalgorithms ssh-ed25519,rsa-sha2-512\n{extra}"
        ))
        .unwrap();
        let account = acme("/usr/sbin/nologin");
        resolve(&config, &account).unwrap()
    }

    /// What each authorized_keys line becomes: the key and its `from=`, options that hold on
    /// an SFTP-only node dropped and listed, and the lines the node could not honour refused
    /// with the reason.
    #[test]
    fn key_lines_keep_what_the_node_honours() {
        let e = effective("usedns no\n");
        let (entry, key) = key_entry(
            &format!("from=\"10.0.0.0/8,*.example.com\",restrict,command=\"/bin/true\",permitopen=\"h:1\" {ED}"),
            &e,
        )
        .unwrap();
        assert_eq!(entry, format!("from=\"10.0.0.0/8,*.example.com\" {ED}"));
        assert_eq!(key.from.as_deref(), Some("10.0.0.0/8,*.example.com"));
        assert_eq!(
            key.options_honoured,
            ["restrict", "command=\"/bin/true\"", "permitopen"],
            "ForceCommand overrides command="
        );
        let (entry, _) = key_entry(ED, &e).unwrap();
        assert_eq!(entry, ED);
        let refused = |line: String, e: &Effective| key_entry(&line, e).unwrap_err().1;
        assert!(refused(format!("expiry-time=\"20300101\" {ED}"), &e).contains("expiry-time"));
        assert!(refused(format!("cert-authority {ED}"), &e).contains("cert-authority"));
        assert!(
            refused("ssh-ed25519 AAAA-not-base64".into(), &e).contains("not an OpenSSH public key")
        );
        let dns = effective("usedns yes\n");
        assert!(refused(format!("from=\"*.example.com\" {ED}"), &dns).contains("UseDNS yes"));
        let mut rsa_only = effective("usedns no\n");
        rsa_only.pubkey_algorithms = vec!["rsa-sha2-512".into()];
        assert!(refused(ED.into(), &rsa_only).contains("PubkeyAcceptedAlgorithms"));
        let subsystem = resolve(
            &SshdConfig::parse("port 22\nforcecommand none\nsubsystem sftp internal-sftp\n")
                .unwrap(),
            &acme("/bin/false"),
        )
        .unwrap();
        assert!(refused(format!("command=\"/bin/backup\" {ED}"), &subsystem)
            .contains("instead of SFTP"));
    }

    /// An old host with one password-only SFTP account `acme` (chroot /srv/sftp/acme) whose
    /// shadow entry is `shadow`.
    fn password_host(shadow: Result<&str, &str>) -> Source {
        use crate::import::source::Folder;
        let config = SshdConfig::parse(
            "port 22\nforcecommand internal-sftp\nchrootdirectory /srv/sftp/%u\nsubsystem sftp internal-sftp\npasswordauthentication yes\npubkeyauthentication yes\nauthorizedkeysfile .ssh/authorized_keys\n",
        )
        .unwrap();
        let account = acme("/usr/sbin/nologin");
        let folder = |p: &str| Folder {
            real: Ok(p.to_owned()),
            kib: Some(4),
        };
        Source {
            config_file: None,
            host: "old".into(),
            ssh_user: "root@old".into(),
            port: 22,
            sudo: false,
            effective: [("acme".to_owned(), resolve(&config, &account))].into(),
            accounts: vec![account],
            global: config,
            files: BTreeMap::new(),
            shadow: shadow
                .map(|h| [("acme".to_owned(), h.to_owned())].into())
                .map_err(str::to_owned),
            groups: BTreeMap::new(),
            host_keys: Vec::new(),
            host_certificates: Vec::new(),
            folders: [
                ("/srv/sftp/acme".to_owned(), folder("/srv/sftp/acme")),
                ("/srv/sftp".to_owned(), folder("/srv/sftp")),
            ]
            .into(),
        }
    }

    fn target() -> Target {
        Target {
            storage: "/srv/sftpha".into(),
            existing_users: Vec::new(),
            existing_keys: BTreeMap::new(),
            rotation_under_way: false,
            force: false,
            data_root: None,
            skip: Vec::new(),
            dry_run: true,
            host_ca: None,
            existing_ca: None,
            host_names: Vec::new(),
        }
    }

    /// A password the node can verify is imported; one it cannot, a locked one, or a shadow
    /// that cannot be read leaves the account out as needing a new password, never as a
    /// refusal.
    #[test]
    fn passwords_are_imported_or_reported_as_needing_a_new_one() {
        let yescrypt = "$y$j9T$WiTwPnDJuDPgkAgPCia1z0$qLudBv6lBcNA/eMq7BjoY8Gq87jCQ4af5OXYD2gs4IC";
        let plan_of = |shadow| plan(&password_host(shadow), &target());
        let imported = plan_of(Ok(yescrypt));
        assert!(imported.report.ok, "{:?}", imported.report.problems);
        assert_eq!(imported.report.users[0].password.status, "imported");
        assert_eq!(imported.report.users[0].password.scheme, Some("yescrypt"));
        assert_eq!(imported.users[0].password_hash.as_deref(), Some(yescrypt));
        assert_eq!(imported.users[0].home.as_deref(), Some("acme"));
        assert_eq!(
            imported.report.data.commands,
            ["rsync -aHAX --numeric-ids root@old:/srv/sftp/acme/ /srv/sftpha/acme/"]
        );
        for (shadow, why) in [
            (
                Ok("$1$salt$md5md5md5md5md5md5md5md5"),
                "cannot be verified by the node",
            ),
            (
                Err("/etc/shadow is not readable"),
                "/etc/shadow is not readable",
            ),
            (Ok("!$6$locked"), "is locked"),
        ] {
            let p = plan_of(shadow);
            assert!(p.report.ok, "{why}: {:?}", p.report.problems);
            assert!(p.users.is_empty() && p.report.users.is_empty(), "{why}");
            let left = &p.report.not_imported[0];
            assert_eq!(left.user, "acme");
            assert!(
                left.reason.contains(why) && left.reason.contains("sftpha users add acme"),
                "{why}: {}",
                left.reason
            );
        }
    }

    #[test]
    fn homes_map_below_the_data_root_only() {
        assert_eq!(mapped_home("/srv/sftp", "/srv/sftp/acme").unwrap(), "acme");
        assert_eq!(mapped_home("/srv/sftp/", "/srv/sftp/a/b").unwrap(), "a/b");
        for escaping in ["/srv/sftp", "/srv/sftpx/a", "/etc", "/"] {
            assert!(mapped_home("/srv/sftp", escaping).is_err(), "{escaping}");
        }
    }
}
