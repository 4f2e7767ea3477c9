//! What an OpenSSH server does for one account, from `sshd -T` (and `sshd -T -C user=...`,
//! where sshd itself has resolved the `Match` blocks): SFTP-only or not, its chroot and start
//! folder, where its authorized keys are, which key types and methods it may log in with.
//! Pure functions over text, so every rule is unit-tested without a server.

use std::collections::BTreeMap;

/// The lines of `sshd -T`: `keyword value`, keywords in lowercase as sshd prints them.
#[derive(Debug, Clone, Default)]
pub struct SshdConfig {
    entries: Vec<(String, String)>,
}

impl SshdConfig {
    /// Parses `sshd -T` output; an empty output or a line without a keyword is refused with
    /// the line, since the rest would be guesswork.
    pub fn parse(text: &str) -> Result<SshdConfig, String> {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("`{line}` is not a `keyword value` line"));
            }
            entries.push((key.to_ascii_lowercase(), value.trim().to_owned()));
        }
        if !entries.iter().any(|(k, _)| k == "port") {
            return Err("no `port` line: this is not the output of `sshd -T`".into());
        }
        Ok(SshdConfig { entries })
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order (`hostkey`, `subsystem`, ...).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `key` is `yes`.
    pub fn yes(&self, key: &str) -> bool {
        self.get(key) == Some("yes")
    }

    /// `key`'s value, `None` when unset or `none`.
    pub fn set(&self, key: &str) -> Option<&str> {
        self.get(key)
            .filter(|v| !v.eq_ignore_ascii_case("none") && !v.is_empty())
    }

    /// The `sftp` subsystem's command line.
    pub fn sftp_subsystem(&self) -> Option<&str> {
        self.all("subsystem")
            .into_iter()
            .find_map(|s| s.strip_prefix("sftp ").map(str::trim))
    }

    /// PubkeyAcceptedAlgorithms (PubkeyAcceptedKeyTypes before OpenSSH 8.5).
    pub fn pubkey_algorithms(&self) -> Vec<String> {
        self.get("pubkeyacceptedalgorithms")
            .or_else(|| self.get("pubkeyacceptedkeytypes"))
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// One account of the old host, from `getent passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: String,
    pub shell: String,
}

/// Parses `getent passwd`; lines that are not seven fields are skipped.
pub fn parse_passwd(text: &str) -> Vec<Account> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 7 {
                return None;
            }
            Some(Account {
                name: f[0].to_owned(),
                uid: f[2].parse().ok()?,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
            })
        })
        .collect()
}

/// Expands sshd's tokens in `template` for `account`: `%%`, `%h` (home), `%u` (name), `%U`
/// (uid). Any other token is returned as an error, naming it.
pub fn expand(template: &str, account: &Account) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(&account.home),
            Some('u') => out.push_str(&account.name),
            Some('U') => out.push_str(&account.uid.to_string()),
            Some(t) => {
                return Err(format!(
                    "`%{t}` in `{template}` is not a token sftpha expands"
                ))
            }
            None => return Err(format!("`{template}` ends with a lone `%`")),
        }
    }
    Ok(out)
}

/// How sshd serves SFTP to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sftp {
    /// `ForceCommand internal-sftp`: SFTP and nothing else.
    Forced,
    /// `Subsystem sftp internal-sftp` with a shell that refuses logins (nologin, false):
    /// SFTP is all that works.
    NoShell,
    /// The account can log in with a shell too: not an SFTP-only account.
    Shell,
}

/// What sshd does for one account, resolved.
#[derive(Debug, Clone)]
pub struct Effective {
    pub sftp: Sftp,
    /// The internal-sftp command line in force (ForceCommand or the subsystem).
    pub sftp_command: String,
    /// ChrootDirectory, expanded; `None` without one.
    pub chroot: Option<String>,
    /// internal-sftp's `-d`: the folder a session starts in, expanded.
    pub start_dir: Option<String>,
    /// internal-sftp's `-R`.
    pub read_only: bool,
    /// internal-sftp options sftpha does not carry over (`-P`, `-p`, `-u`, ...).
    pub sftp_options_dropped: Vec<String>,
    /// AuthorizedKeysFile entries, expanded and made absolute (relative ones are below the
    /// home).
    pub authorized_keys_files: Vec<String>,
    pub authorized_keys_command: Option<String>,
    pub pubkey_algorithms: Vec<String>,
    pub pubkey: bool,
    /// Password logins (PasswordAuthentication, or keyboard-interactive through PAM).
    pub password: bool,
    /// AuthenticationMethods other than `any` (several methods in a row, or a subset).
    pub authentication_methods: Option<String>,
    /// UseDNS: `from=` host names were looked up.
    pub use_dns: bool,
}

fn is_internal_sftp(command: &str) -> bool {
    command.split_whitespace().next() == Some("internal-sftp")
}

fn no_shell(shell: &str) -> bool {
    let name = shell.rsplit('/').next().unwrap_or(shell);
    matches!(name, "nologin" | "false") || shell.is_empty()
}

/// Resolves `config` (the output of `sshd -T -C user=NAME,...`) for `account`.
pub fn resolve(config: &SshdConfig, account: &Account) -> Result<Effective, String> {
    let force = config.set("forcecommand");
    let subsystem = config.sftp_subsystem().unwrap_or("");
    let (sftp, command) = match force {
        Some(f) if is_internal_sftp(f) => (Sftp::Forced, f),
        Some(f) => (Sftp::Shell, f),
        None if is_internal_sftp(subsystem) && no_shell(&account.shell) => {
            (Sftp::NoShell, subsystem)
        }
        None => (Sftp::Shell, subsystem),
    };
    let mut start_dir = None;
    let mut read_only = false;
    let mut dropped = Vec::new();
    if sftp != Sftp::Shell {
        let mut words = command.split_whitespace().skip(1);
        while let Some(word) = words.next() {
            match word {
                "-d" => start_dir = words.next().map(|d| expand(d, account)).transpose()?,
                "-R" => read_only = true,
                "-e" => {}
                "-f" | "-l" | "-P" | "-p" | "-u" => {
                    let value = words.next().unwrap_or("");
                    // Logging options only change what the old server logged.
                    if !matches!(word, "-f" | "-l") {
                        dropped.push(format!("{word} {value}"));
                    }
                }
                other => dropped.push(other.to_owned()),
            }
        }
    }
    let chroot = config
        .set("chrootdirectory")
        .map(|c| expand(c, account))
        .transpose()?;
    let mut authorized_keys_files = Vec::new();
    if let Some(files) = config.set("authorizedkeysfile") {
        for file in files.split_whitespace() {
            let path = expand(file, account)?;
            authorized_keys_files.push(if path.starts_with('/') {
                path
            } else {
                format!("{}/{path}", account.home.trim_end_matches('/'))
            });
        }
    }
    let methods = config
        .get("authenticationmethods")
        .filter(|m| *m != "any")
        .map(str::to_owned);
    Ok(Effective {
        sftp,
        sftp_command: command.to_owned(),
        chroot,
        start_dir,
        read_only,
        sftp_options_dropped: dropped,
        authorized_keys_files,
        authorized_keys_command: config.set("authorizedkeyscommand").map(str::to_owned),
        pubkey_algorithms: config.pubkey_algorithms(),
        pubkey: config.yes("pubkeyauthentication"),
        password: config.yes("passwordauthentication")
            || (config.yes("kbdinteractiveauthentication") && config.yes("usepam")),
        authentication_methods: methods,
        use_dns: config.yes("usedns"),
    })
}

/// Whether sshd lets `user` (member of `groups`) log in at all, by AllowUsers, DenyUsers,
/// AllowGroups and DenyGroups, evaluated as sshd does (deny first, then allow; `*`/`?`
/// wildcards). `Err` says which rule refuses it; `Ok(Some(hosts))` means an AllowUsers entry
/// admits it from some client hosts only (`user@host` patterns).
pub fn login_allowed(
    config: &SshdConfig,
    user: &str,
    groups: &[String],
) -> Result<Option<String>, String> {
    use crate::config::users::wildcard_match;
    let matches = |pattern: &str, text: &str| wildcard_match(pattern.as_bytes(), text.as_bytes());
    let split = |entry: &str| -> (String, Option<String>) {
        match entry.split_once('@') {
            Some((u, h)) => (u.to_owned(), Some(h.to_owned())),
            None => (entry.to_owned(), None),
        }
    };
    for entry in config.all("denyusers") {
        let (u, host) = split(entry);
        if matches(&u, user) && host.is_none() {
            return Err(format!("DenyUsers {entry}"));
        }
    }
    let allow = config.all("allowusers");
    if !allow.is_empty() {
        let mut hosts = Vec::new();
        let mut anywhere = false;
        for entry in &allow {
            let (u, host) = split(entry);
            if matches(&u, user) {
                match host {
                    Some(h) => hosts.push(h),
                    None => anywhere = true,
                }
            }
        }
        if !anywhere && hosts.is_empty() {
            return Err(format!("AllowUsers {} (it is not listed)", allow.join(" ")));
        }
        if !anywhere {
            return Ok(Some(hosts.join(",")));
        }
    }
    for entry in config.all("denygroups") {
        if let Some(g) = groups.iter().find(|g| matches(entry, g)) {
            return Err(format!("DenyGroups {entry} (member of `{g}`)"));
        }
    }
    let allow = config.all("allowgroups");
    if !allow.is_empty() && !groups.iter().any(|g| allow.iter().any(|p| matches(p, g))) {
        return Err(format!("AllowGroups {} (in none of them)", allow.join(" ")));
    }
    Ok(None)
}

/// Whether the old server accepted keys of `key_type` (`ssh-ed25519`, `ssh-rsa`, ...) for
/// login: RSA keys sign with `rsa-sha2-*` as well as `ssh-rsa`.
pub fn accepts_key_type(algorithms: &[String], key_type: &str) -> bool {
    if algorithms.is_empty() {
        return true;
    }
    let names: &[&str] = match key_type {
        "ssh-rsa" => &["ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"],
        other => &[other][..],
    };
    algorithms.iter().any(|a| names.contains(&a.as_str()))
}

/// Splits the output of a loop that prints `@@@ NAME` before each account's `sshd -T -C`.
pub fn split_sections(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("@@@ ") {
            if let Some((n, t)) = current.take() {
                out.insert(n, t);
            }
            current = Some((name.trim().to_owned(), String::new()));
        } else if let Some((_, t)) = current.as_mut() {
            t.push_str(line);
            t.push('\n');
        }
    }
    if let Some((n, t)) = current {
        out.insert(n, t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sshd -T -C user=acme,...` of a Debian sshd with a `Match Group sftp` block.
    const MATCHED: &str = "port 22\nusepam yes\npubkeyauthentication yes\npasswordauthentication yes\nkbdinteractiveauthentication no\nusedns no\nforcecommand internal-sftp -d /upload -R -l INFO -u 0002\nchrootdirectory /srv/sftp/%u\nauthorizedkeyscommand none\nauthorizedkeysfile .ssh/authorized_keys /etc/ssh/keys/%u %h/k%%\nauthenticationmethods any\nsubsystem sftp internal-sftp\npubkeyacceptedalgorithms ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256\nhostkey /etc/ssh/ssh_host_ed25519_key\nhostkey /etc/ssh/ssh_host_rsa_key\n";

    fn acme() -> Account {
        Account {
            name: "acme".into(),
            uid: 1001,
            home: "/home/acme/".into(),
            shell: "/usr/sbin/nologin".into(),
        }
    }

    #[test]
    fn a_forced_internal_sftp_user_is_resolved() {
        let config = SshdConfig::parse(MATCHED).unwrap();
        let e = resolve(&config, &acme()).unwrap();
        assert_eq!(e.sftp, Sftp::Forced);
        assert_eq!(e.chroot.as_deref(), Some("/srv/sftp/acme"));
        assert_eq!(e.start_dir.as_deref(), Some("/upload"));
        assert!(e.read_only);
        assert_eq!(
            e.sftp_options_dropped,
            ["-u 0002"],
            "logging options are not worth a note"
        );
        assert_eq!(
            e.authorized_keys_files,
            [
                "/home/acme/.ssh/authorized_keys",
                "/etc/ssh/keys/acme",
                "/home/acme//k%"
            ]
        );
        assert!(e.pubkey && e.password && !e.use_dns);
        assert_eq!(e.authentication_methods, None);
        assert_eq!(config.all("hostkey").len(), 2);
        assert!(accepts_key_type(&e.pubkey_algorithms, "ssh-rsa"));
        assert!(!accepts_key_type(
            &e.pubkey_algorithms,
            "ecdsa-sha2-nistp384"
        ));
    }

    #[test]
    fn shells_subsystems_and_methods() {
        let base = "port 22\nforcecommand none\nchrootdirectory none\nsubsystem sftp internal-sftp\nauthorizedkeysfile none\nauthenticationmethods publickey,password\npasswordauthentication no\nkbdinteractiveauthentication yes\nusepam yes\n";
        let config = SshdConfig::parse(base).unwrap();
        let mut a = acme();
        let e = resolve(&config, &a).unwrap();
        assert_eq!(
            e.sftp,
            Sftp::NoShell,
            "nologin with internal-sftp: SFTP only"
        );
        assert!(e.chroot.is_none() && e.authorized_keys_files.is_empty());
        assert!(
            e.password,
            "keyboard-interactive through PAM asks for the password"
        );
        assert_eq!(
            e.authentication_methods.as_deref(),
            Some("publickey,password")
        );
        a.shell = "/bin/bash".into();
        assert_eq!(resolve(&config, &a).unwrap().sftp, Sftp::Shell);
        let server =
            SshdConfig::parse(&base.replace("internal-sftp", "/usr/lib/openssh/sftp-server"))
                .unwrap();
        a.shell = "/usr/sbin/nologin".into();
        assert_eq!(
            resolve(&server, &a).unwrap().sftp,
            Sftp::Shell,
            "sftp-server runs through the shell, which nologin refuses"
        );
    }

    #[test]
    fn allow_and_deny_rules_are_sshds() {
        let config = SshdConfig::parse(
            "port 22\ndenyusers old*\nallowusers acme\nallowusers bank@10.0.0.*\nallowusers olda\nallowgroups sftp\ndenygroups suspended\n",
        )
        .unwrap();
        let sftp = vec!["sftp".to_owned()];
        assert_eq!(login_allowed(&config, "acme", &sftp), Ok(None));
        assert_eq!(
            login_allowed(&config, "bank", &sftp),
            Ok(Some("10.0.0.*".into()))
        );
        assert!(login_allowed(&config, "olda", &sftp)
            .unwrap_err()
            .starts_with("DenyUsers old*"));
        assert!(login_allowed(&config, "zed", &sftp)
            .unwrap_err()
            .contains("not listed"));
        assert!(login_allowed(&config, "acme", &["users".into()])
            .unwrap_err()
            .starts_with("AllowGroups sftp"));
        assert!(
            login_allowed(&config, "acme", &["sftp".into(), "suspended".into()])
                .unwrap_err()
                .starts_with("DenyGroups suspended")
        );
        let open = SshdConfig::parse("port 22\n").unwrap();
        assert_eq!(login_allowed(&open, "anyone", &[]), Ok(None));
    }

    #[test]
    fn bad_output_and_tokens_are_named() {
        assert!(SshdConfig::parse("").unwrap_err().contains("port"));
        assert!(SshdConfig::parse("port 22\n%%% x\n")
            .unwrap_err()
            .contains("`%%% x`"));
        let err = expand("/srv/%d/x", &acme()).unwrap_err();
        assert!(err.contains("`%d`"), "{err}");
        assert_eq!(
            expand("%h/%u-%U%%", &acme()).unwrap(),
            "/home/acme//acme-1001%"
        );
    }

    #[test]
    fn passwd_and_sections() {
        let accounts = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nacme:x:1001:1001::/home/acme:/usr/sbin/nologin\nbroken\n",
        );
        assert_eq!(accounts.len(), 2);
        assert_eq!(
            accounts[1],
            Account {
                name: "acme".into(),
                uid: 1001,
                home: "/home/acme".into(),
                shell: "/usr/sbin/nologin".into()
            }
        );
        let s = split_sections("@@@ a\nport 22\n@@@ b\nport 23\nx y\n");
        assert_eq!(s["a"], "port 22\n");
        assert_eq!(s["b"], "port 23\nx y\n");
    }
}
