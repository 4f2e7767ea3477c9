//! Reads the old OpenSSH server over SSH, with the provisioning client and its known_hosts
//! rules: `sshd -T` once, `sshd -T -C user=...` for every login account, then for the
//! SFTP-only accounts their authorized keys, shadow entries, chroot folders and sizes, and the
//! server's host keys and certificates. Nothing is written on the old host. What is read
//! stays in memory: private keys and password hashes are never logged.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ImportError;
use crate::import::sshd::{
    parse_passwd, resolve, split_sections, Account, Effective, Sftp, SshdConfig,
};
use crate::ssh::remote::{quote, Access, Output, Remote};

/// The client `sshd -T -C` resolves `Match` blocks for: no real client, so `Match Address`
/// and `Match Host` blocks for partners' addresses do not apply (the report says so).
pub const RESOLVED_HOST: &str = "import.invalid";
pub const RESOLVED_ADDR: &str = "198.51.100.1";

/// A file read on the old host.
pub enum Read {
    Text(String),
    Missing,
    Unreadable(String),
}

/// A user's folder on the old host: its real path (symlinks resolved) and size.
pub struct Folder {
    pub real: Result<String, String>,
    pub kib: Option<u64>,
}

/// Everything the import needs from the old host.
pub struct Source {
    /// The sshd_config the serving sshd was started with (`-f`), when not the default.
    pub config_file: Option<String>,
    pub host: String,
    /// `user@host`, for the rsync commands.
    pub ssh_user: String,
    /// The SSH port the old host was read through.
    pub port: u16,
    /// Reads went through `sudo -n` (the login was not root).
    pub sudo: bool,
    pub global: SshdConfig,
    pub accounts: Vec<Account>,
    /// Every login account (UID_MIN and up), resolved by sshd.
    pub effective: BTreeMap<String, Result<Effective, String>>,
    /// Authorized keys files of the SFTP-only accounts, by path.
    pub files: BTreeMap<String, Read>,
    /// Shadow password field by account (`None`: no entry).
    pub shadow: Result<BTreeMap<String, String>, String>,
    /// The groups of the SFTP-only accounts (read when AllowGroups or DenyGroups is set).
    pub groups: BTreeMap<String, Vec<String>>,
    /// `HostKey` files, in sshd's order.
    pub host_keys: Vec<(String, Read)>,
    pub host_certificates: Vec<(String, Read)>,
    /// The SFTP-only accounts' folders (chroot, else home), and the data root's candidates.
    pub folders: BTreeMap<String, Folder>,
}

impl Source {
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The SFTP-only accounts not skipped, by name.
    pub fn sftp_accounts(&self) -> Vec<(&Account, &Effective)> {
        self.accounts
            .iter()
            .filter_map(|a| match self.effective.get(&a.name) {
                Some(Ok(e)) if e.sftp != Sftp::Shell => Some((a, e)),
                _ => None,
            })
            .collect()
    }
}

/// The `-f FILE` of the first sshd command line in `listing` (each process's arguments one a
/// line, processes ended by `@@@`, the login's own first). The listener shows its arguments
/// in its title (`sshd: /usr/sbin/sshd -D -f FILE [listener] ...`), one line.
pub fn sshd_config_of(listing: &str) -> Option<String> {
    listing.split("@@@").find_map(|process| {
        let args: Vec<&str> = process.split_whitespace().collect();
        let at = args.iter().position(|a| *a == "-f")?;
        args.get(at + 1).map(|f| (*f).to_owned())
    })
}

/// The folder that holds an account's files on the old host: the chroot, else the home.
pub fn jail_of(account: &Account, effective: &Effective) -> String {
    effective
        .chroot
        .clone()
        .unwrap_or_else(|| account.home.clone())
        .trim_end_matches('/')
        .to_owned()
}

/// The parent folder of `path` (`/` for a top-level one).
pub fn parent(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".into(),
        Some((p, _)) => p.to_owned(),
    }
}

struct Session<'a> {
    remote: &'a Remote,
    host: String,
    sudo: &'static str,
}

impl Session<'_> {
    async fn exec(&self, what: &str, command: &str) -> Result<Output, ImportError> {
        self.remote
            .exec(what, command, None, None)
            .await
            .map_err(|e| ImportError::Command {
                host: self.host.clone(),
                command: what.to_owned(),
                message: e.to_string(),
            })
    }

    /// Runs `command`; a non-zero exit is an error naming it.
    async fn ok(&self, what: &str, command: &str) -> Result<String, ImportError> {
        let out = self.exec(what, command).await?;
        if out.status != 0 {
            return Err(ImportError::Command {
                host: self.host.clone(),
                command: what.to_owned(),
                message: out.complaint(),
            });
        }
        Ok(out.stdout_text())
    }

    /// Reads a file as root (or through sudo): missing and unreadable told apart.
    async fn read(&self, path: &str) -> Result<Read, ImportError> {
        const MISSING: u32 = 44;
        let command = format!(
            "{}sh -c 'if [ -e \"$1\" ] || [ -L \"$1\" ]; then exec cat -- \"$1\"; else exit {MISSING}; fi' sh {}",
            self.sudo,
            quote(path)
        );
        let out = self.exec(&format!("reading {path}"), &command).await?;
        Ok(match out.status {
            0 => match String::from_utf8(out.stdout) {
                Ok(text) => Read::Text(text),
                Err(_) => Read::Unreadable("not UTF-8 text".into()),
            },
            MISSING => Read::Missing,
            _ => Read::Unreadable(out.complaint()),
        })
    }
}

/// Reads the old host. `skip`: accounts not to read; `data_root`: the operator's choice of
/// the folder the homes are mapped from (its real path is read too).
pub async fn read(
    access: &Access,
    host: &str,
    skip: &[String],
    data_root: Option<&str>,
) -> Result<Source, ImportError> {
    let remote = access.connect(host).await.map_err(|e| {
        if e.is_unreachable() {
            ImportError::Unreachable(e.to_string())
        } else {
            ImportError::Command {
                host: host.to_owned(),
                command: "logging in".into(),
                message: e.to_string(),
            }
        }
    })?;
    let result = read_with(&remote, access, host, skip, data_root).await;
    remote.close().await;
    result
}

async fn read_with(
    remote: &Remote,
    access: &Access,
    host: &str,
    skip: &[String],
    data_root: Option<&str>,
) -> Result<Source, ImportError> {
    let mut s = Session {
        remote,
        host: host.to_owned(),
        sudo: "",
    };
    let uid = s.ok("id -u", "id -u").await?;
    let sudo = uid.trim() != "0";
    if sudo {
        s.sudo = "sudo -n ";
    }
    let sshd = s
        .ok(
            "finding sshd",
            "command -v sshd || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; }",
        )
        .await?;
    let sshd = sshd.trim().to_owned();
    if sshd.is_empty() {
        return Err(ImportError::Command {
            host: host.to_owned(),
            command: "finding sshd".into(),
            message: "no sshd on the host's PATH nor in /usr/sbin".into(),
        });
    }
    // The configuration of the sshd that serves this very login (`-f` of the listener up
    // the process tree), else sshd's default.
    let listener = s
        .exec(
            "finding the sshd configuration",
            "pid=$$; while [ \"$pid\" -gt 1 ] 2>/dev/null; do args=$(tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null); case \"$args\" in *sshd*) printf '%s\\n@@@\\n' \"$args\";; esac; pid=$(awk '/^PPid:/ { print $2 }' /proc/$pid/status 2>/dev/null); done",
        )
        .await?
        .stdout_text();
    let config_file = sshd_config_of(&listener);
    let sshd = match &config_file {
        Some(file) => format!("{} -f {}", quote(&sshd), quote(file)),
        None => quote(&sshd),
    };
    let text = s.ok("sshd -T", &format!("{}{sshd} -T", s.sudo)).await?;
    let global = SshdConfig::parse(&text).map_err(|message| ImportError::Output {
        host: host.to_owned(),
        command: "sshd -T".into(),
        message,
    })?;
    let accounts = parse_passwd(&s.ok("getent passwd", "getent passwd").await?);
    let uid_min: u32 = s
        .exec(
            "UID_MIN",
            "awk '$1 == \"UID_MIN\" { print $2 }' /etc/login.defs 2>/dev/null",
        )
        .await?
        .stdout_text()
        .trim()
        .parse()
        .unwrap_or(1000);
    let candidates: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.uid >= uid_min && a.uid < 60000 && !skip.contains(&a.name))
        .collect();
    let mut script = String::new();
    for a in &candidates {
        let spec = format!("user={},host={RESOLVED_HOST},addr={RESOLVED_ADDR}", a.name);
        script += &format!(
            "echo {}; {}{sshd} -T -C {} 2>/dev/null || echo 'sshd-failed'\n",
            quote(&format!("@@@ {}", a.name)),
            s.sudo,
            quote(&spec)
        );
    }
    let mut effective = BTreeMap::new();
    if !script.is_empty() {
        let sections = split_sections(&s.ok("sshd -T -C user=...", &script).await?);
        for a in &candidates {
            let resolved = match sections.get(&a.name) {
                Some(text) if !text.contains("sshd-failed") => {
                    SshdConfig::parse(text).and_then(|c| resolve(&c, a))
                }
                Some(_) => Err(format!(
                    "`sshd -T -C user={}` failed (run it on the host to see why)",
                    a.name
                )),
                None => Err("sshd printed nothing for this account".into()),
            };
            effective.insert(a.name.clone(), resolved);
        }
    }
    let mut source = Source {
        config_file,
        host: host.to_owned(),
        ssh_user: format!("{}@{}", access.user, crate::net::bracket(host)),
        port: access.port,
        sudo,
        global,
        accounts: accounts.clone(),
        effective,
        files: BTreeMap::new(),
        shadow: Ok(BTreeMap::new()),
        groups: BTreeMap::new(),
        host_keys: Vec::new(),
        host_certificates: Vec::new(),
        folders: BTreeMap::new(),
    };
    let sftp: Vec<(Account, Effective)> = source
        .sftp_accounts()
        .into_iter()
        .map(|(a, e)| (a.clone(), e.clone()))
        .collect();
    let files: BTreeSet<String> = sftp
        .iter()
        .flat_map(|(_, e)| e.authorized_keys_files.clone())
        .collect();
    for file in files {
        let read = s.read(&file).await?;
        source.files.insert(file, read);
    }
    source.shadow = read_shadow(&s, &sftp).await?;
    if !source.global.all("allowgroups").is_empty() || !source.global.all("denygroups").is_empty() {
        let mut script = String::new();
        for (a, _) in &sftp {
            script += &format!(
                "echo {}; id -Gn -- {} 2>/dev/null\n",
                quote(&format!("@@@ {}", a.name)),
                quote(&a.name)
            );
        }
        let sections = split_sections(&s.ok("id -Gn", &script).await?);
        source.groups = sections
            .into_iter()
            .map(|(name, text)| (name, text.split_whitespace().map(str::to_owned).collect()))
            .collect();
    }
    for path in source.global.all("hostkey") {
        let read = s.read(path).await?;
        source.host_keys.push((path.to_owned(), read));
    }
    for path in source.global.all("hostcertificate") {
        let read = s.read(path).await?;
        source.host_certificates.push((path.to_owned(), read));
    }
    let mut folders: BTreeSet<String> = BTreeSet::new();
    for (a, e) in &sftp {
        let jail = jail_of(a, e);
        folders.insert(parent(&jail));
        folders.insert(jail);
    }
    if let Some(root) = data_root {
        folders.insert(root.trim_end_matches('/').to_owned());
    }
    for folder in folders {
        let real = s
            .exec(
                &format!("realpath {folder}"),
                &format!("{}realpath -e -- {}", s.sudo, quote(&folder)),
            )
            .await?;
        let real = match real.status {
            0 => Ok(real.stdout_text().trim().to_owned()),
            _ => Err(real.complaint()),
        };
        let kib = match &real {
            Ok(_) => s
                .exec(
                    &format!("du {folder}"),
                    &format!("{}du -sk -- {} 2>/dev/null", s.sudo, quote(&folder)),
                )
                .await?
                .stdout_text()
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok()),
            Err(_) => None,
        };
        source.folders.insert(folder, Folder { real, kib });
    }
    Ok(source)
}

/// The shadow entries of the SFTP accounts that may log in with a password.
async fn read_shadow(
    s: &Session<'_>,
    sftp: &[(Account, Effective)],
) -> Result<Result<BTreeMap<String, String>, String>, ImportError> {
    let names: Vec<&str> = sftp
        .iter()
        .filter(|(_, e)| e.password)
        .map(|(a, _)| a.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(Ok(BTreeMap::new()));
    }
    let readable = s
        .exec(
            "is /etc/shadow readable",
            &format!("{}test -r /etc/shadow", s.sudo),
        )
        .await?;
    if readable.status != 0 {
        return Ok(Err(format!(
            "/etc/shadow is not readable{}",
            if s.sudo.is_empty() {
                ""
            } else {
                " (through sudo -n)"
            }
        )));
    }
    let command = format!(
        "{}getent shadow {}",
        s.sudo,
        names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(" ")
    );
    // Exit 2: some names have no entry; the others are printed.
    let out = s.exec("getent shadow", &command).await?;
    if out.status != 0 && out.status != 2 {
        return Ok(Err(format!("`getent shadow` failed: {}", out.complaint())));
    }
    Ok(Ok(out
        .stdout_text()
        .lines()
        .filter_map(|line| {
            let mut f = line.split(':');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_of_the_serving_sshd() {
        let listing =
            "sshd: root@notty\n@@@\n/usr/sbin/sshd\n-D\n-f\n/srv/old/sshd_config\n-R\n@@@\n";
        assert_eq!(
            sshd_config_of(listing).as_deref(),
            Some("/srv/old/sshd_config")
        );
        assert_eq!(sshd_config_of("/usr/sbin/sshd\n-D\n@@@\n"), None);
        let titled = "bash\n-c\nx\n@@@\nsshd: root@notty\n@@@\nsshd: /usr/sbin/sshd -D -f /etc/ssh/alt_config -E /x [listener] 0 of 10-100 startups\n@@@\n";
        assert_eq!(
            sshd_config_of(titled).as_deref(),
            Some("/etc/ssh/alt_config")
        );
    }

    #[test]
    fn parents() {
        assert_eq!(parent("/srv/sftp/acme"), "/srv/sftp");
        assert_eq!(parent("/srv/sftp/acme/"), "/srv/sftp");
        assert_eq!(parent("/srv"), "/");
        assert_eq!(parent("/"), "/");
    }
}
