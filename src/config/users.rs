//! `users.toml`: the SFTP users of a cluster, their keys, password hashes, homes and rights.
//!
//! Parsed into a validated, immutable [`Users`] table that the node swaps atomically on reload.

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use russh::keys::{Algorithm, HashAlg, PublicKey};
use serde::Deserialize;

use crate::checksum::sha256_hex;
use crate::error::{Error, Result};

/// What a user may do; each right gates a set of SFTP operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Open and read directories.
    List,
    /// Download files and read symlinks.
    Read,
    /// Upload and overwrite files, set times and modes, make links.
    Write,
    /// Remove files and empty directories.
    Delete,
    /// Make directories.
    Mkdir,
    /// Rename files and directories.
    Rename,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::List,
        Permission::Read,
        Permission::Write,
        Permission::Delete,
        Permission::Mkdir,
        Permission::Rename,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Delete => "delete",
            Permission::Mkdir => "mkdir",
            Permission::Rename => "rename",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Permission`]s.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub fn all() -> Self {
        Permission::ALL.iter().fold(Self(0), |s, p| s.with(*p))
    }
    pub fn with(self, p: Permission) -> Self {
        Self(self.0 | p.bit())
    }
    pub fn allows(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Permission::ALL
            .iter()
            .filter(|p| self.allows(**p))
            .map(|p| p.name())
            .collect();
        write!(f, "{names:?}")
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersFile {
    /// The users, one table each.
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    /// The login name: 1-32 lowercase letters, digits, `_`, `.` or `-`.
    name: String,
    /// OpenSSH public keys (`ssh-ed25519 AAAA... comment`), one per entry; any of them logs in. Add and remove them with `sftpha users set-key`. An entry may start with options as in authorized_keys: `from="10.0.0.0/8,!10.0.0.9"` (enforced against the client's address), and `restrict`, `no-pty`, `no-port-forwarding`, `no-agent-forwarding`, `no-x11-forwarding`, `no-user-rc`, `command="internal-sftp"` (always true on the node); any other option is refused.
    #[serde(default)]
    keys: Vec<String>,
    /// An argon2id hash (`$argon2id$...`) for password logins, as `sftpha users add --password` writes it; yescrypt (`$y$...`), sha512-crypt (`$6$...`) and sha256-crypt (`$5$...`) hashes from /etc/shadow, as `sftpha import openssh` copies them, are verified too. Unset: keys only.
    #[serde(default)]
    password_hash: Option<String>,
    /// The user's home below the storage, where they are jailed (no `..`, not absolute); made at first login. Default: the name.
    #[serde(default)]
    home: Option<String>,
    /// What the user may do: any of list, read, write, delete, mkdir, rename. Default: all.
    #[serde(default)]
    permissions: Option<Vec<String>>,
}

/// One validated user.
#[derive(Debug)]
pub struct User {
    pub name: String,
    pub keys: Vec<PublicKey>,
    /// The `from="..."` option of each key, in `keys` order (`None`: any source).
    pub key_sources: Vec<Option<Arc<SourcePatterns>>>,
    pub password_hash: Option<Arc<str>>,
    /// The jail, relative to the storage path; never empty, absolute or with `..`.
    pub home: PathBuf,
    pub permissions: Permissions,
}

impl User {
    /// Whether `key` is one of the user's and may log in from `source` (its `from=` option).
    pub fn accepts_key(&self, key: &PublicKey, source: std::net::IpAddr) -> bool {
        self.keys.iter().zip(&self.key_sources).any(|(k, from)| {
            k.key_data() == key.key_data() && from.as_ref().is_none_or(|f| f.allows(source))
        })
    }

    /// Whether `key` is one of the user's, from wherever it comes.
    pub fn has_key(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| k.key_data() == key.key_data())
    }
}

/// All users, keyed by name.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, Arc<User>>,
    /// SHA-256 of the file's bytes: equal on every node that has the same file.
    pub checksum: String,
}

impl Users {
    pub fn load(path: &Path) -> Result<Users> {
        let text = crate::files::read_text(path)?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Users> {
        Self::parse_file(path, text).map_err(|e| {
            e.documented_in(path, |key| {
                crate::config::reference::FileFormat::Users.hint(key)
            })
        })
    }

    fn parse_file(path: &Path, text: &str) -> Result<Users> {
        let file: UsersFile = crate::files::parse_toml(path, text)?;
        let mut by_name = HashMap::new();
        for (index, entry) in file.users.into_iter().enumerate() {
            let user = validate(entry, index).map_err(|(key, msg)| {
                Error::config(path, Some(&format!("users[{index}].{key}")), msg)
            })?;
            if by_name.contains_key(&user.name) {
                return Err(Error::config(
                    path,
                    Some(&format!("users[{index}].name")),
                    format!("user `{}` is defined twice", user.name),
                ));
            }
            by_name.insert(user.name.clone(), Arc::new(user));
        }
        check_nesting(path, &by_name)?;
        Ok(Users {
            by_name,
            checksum: sha256_hex(text.as_bytes()),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.by_name.get(name).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Refuses a home inside another user's home: the outer user could reach the inner user's
/// files, and plant links or folders in the inner user's way. Users that share one home (a
/// drop folder for a team) are equals in it, and allowed.
fn check_nesting(path: &Path, users: &HashMap<String, Arc<User>>) -> Result<()> {
    let mut homes: Vec<(&Path, &str)> = users
        .values()
        .map(|u| (u.home.as_path(), u.name.as_str()))
        .collect();
    homes.sort();
    // The first user of each home (in name order): who is named when another home is in it.
    let mut owner: HashMap<&Path, &str> = HashMap::with_capacity(homes.len());
    for (home, user) in &homes {
        owner.entry(home).or_insert(user);
    }
    // Each home's folders above it are looked up, not every other home compared: 10,000
    // users take milliseconds, not seconds, on every start and reload.
    for (inner, inner_user) in &homes {
        let outer = inner
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .filter_map(|a| owner.get_key_value(a))
            .last();
        if let Some((outer, outer_user)) = outer {
            return Err(Error::config(
                path,
                Some(&format!("users.{inner_user}.home")),
                format!(
                    "`{}` is inside the home of user `{outer_user}` (`{}`): nested homes let one user reach another's files; give each user a home of its own (users may share one home as equals)",
                    inner.display(),
                    outer.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The operator's verification login: exists only on nodes with `probe_key` set, jailed in
/// [`PROBE_HOME`], and never defined in users.toml.
pub const PROBE_USER: &str = "sftpha-probe";
/// The probe user's home below the storage, inside sftpha's own state folder.
pub const PROBE_HOME: &str = ".sftpha/probe";

impl User {
    /// The verification login for `key` (see [`PROBE_USER`]).
    pub fn probe(key: PublicKey) -> User {
        User {
            name: PROBE_USER.to_owned(),
            keys: vec![key],
            key_sources: vec![None],
            password_hash: None,
            home: PathBuf::from(PROBE_HOME),
            permissions: Permissions::all(),
        }
    }
}

pub fn valid_user_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && name.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
}

fn validate(entry: UserEntry, _index: usize) -> Result<User, (&'static str, String)> {
    if entry.name == PROBE_USER {
        return Err((
            "name",
            format!("`{PROBE_USER}` is reserved for sftpha's own verification login"),
        ));
    }
    if !valid_user_name(&entry.name) {
        return Err((
            "name",
            format!(
                "`{}` is not a valid user name: start with a lowercase letter or `_`, then up to 31 of a-z, 0-9, `_`, `.`, `-`",
                entry.name
            ),
        ));
    }
    let mut keys = Vec::new();
    let mut key_sources = Vec::new();
    for line in &entry.keys {
        let (key, options) = parse_key_entry(line).map_err(|m| ("keys", m))?;
        keys.push(key);
        key_sources.push(options.from.map(Arc::new));
    }
    if let Some(hash) = &entry.password_hash {
        check_password_hash(hash).map_err(|m| ("password_hash", m))?;
    }
    if keys.is_empty() && entry.password_hash.is_none() {
        return Err((
            "keys",
            format!(
                "user `{}` has neither keys nor a password_hash, so nobody could log in",
                entry.name
            ),
        ));
    }
    let home = entry.home.unwrap_or_else(|| entry.name.clone());
    let home = check_home(&home).map_err(|m| ("home", m))?;
    let permissions = match entry.permissions {
        None => Permissions::all(),
        Some(list) => {
            let mut set = Permissions::default();
            for name in list {
                let p = Permission::ALL
                    .iter()
                    .find(|p| p.name() == name)
                    .ok_or_else(|| {
                        (
                            "permissions",
                            format!(
                                "unknown permission `{name}`: use list, read, write, delete, mkdir, rename"
                            ),
                        )
                    })?;
                set = set.with(*p);
            }
            set
        }
    };
    Ok(User {
        name: entry.name,
        keys,
        key_sources,
        password_hash: entry.password_hash.map(Arc::from),
        home,
        permissions,
    })
}

/// Parses one `authorized_keys`-style line (`[OPTIONS] TYPE BASE64 [COMMENT]`) and applies the
/// policy: no DSA, RSA of at least 2048 bits, options the node honours (see
/// [`parse_key_entry`]).
pub fn parse_authorized_key(line: &str) -> Result<PublicKey, String> {
    parse_key_entry(line).map(|(key, _)| key)
}

/// What the options before a key allow, as the node enforces them.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `from="pattern,..."`: the source addresses the key may log in from.
    pub from: Option<SourcePatterns>,
}

/// Options the node honours by what it is: it offers the `sftp` subsystem and nothing else
/// (no shell, no pty, no forwarding, no rc file), so these restrictions always hold.
pub const HONOURED_BY_DESIGN: [&str; 6] = [
    "restrict",
    "no-pty",
    "no-port-forwarding",
    "no-agent-forwarding",
    "no-x11-forwarding",
    "no-user-rc",
];

/// A key line with its options: `from="..."` is enforced, the restrictions of
/// [`HONOURED_BY_DESIGN`] and `command="internal-sftp"` always hold; any other option is
/// refused, because the node could not keep the promise it makes.
pub fn parse_key_entry(line: &str) -> Result<(PublicKey, KeyOptions), String> {
    let line = line.trim();
    let (options, key_text) = match PublicKey::from_openssh(line) {
        Ok(_) => (None, line),
        Err(_) => match split_key_options(line) {
            Some((options, rest)) => (Some(options), rest),
            None => (None, line),
        },
    };
    let mut parsed = KeyOptions::default();
    if let Some(options) = options {
        for (name, value) in parse_key_options(options)? {
            let lower = name.to_ascii_lowercase();
            match (lower.as_str(), value) {
                ("from", Some(v)) => parsed.from = Some(SourcePatterns::parse(&v)?),
                ("command", Some(v)) if v.trim() == "internal-sftp" => {}
                (n, None) if HONOURED_BY_DESIGN.contains(&n) => {}
                _ => {
                    return Err(format!(
                        "key option `{name}` cannot be honoured by the node: it supports `from=\"...\"`, `command=\"internal-sftp\"` and the restrictions {}; remove the option or the key",
                        HONOURED_BY_DESIGN.join(", ")
                    ))
                }
            }
        }
    }
    let key = parse_plain_key(key_text)?;
    Ok((key, parsed))
}

/// Splits `OPTIONS KEY...` at the first blank outside double quotes; `None` when the line
/// has no blank or an unterminated quote.
pub fn split_key_options(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Some((&line[..i], line[i..].trim_start())),
            _ => {}
        }
    }
    None
}

/// `name[="value"]` options, comma-separated, as sshd reads them (`\"` inside a value is a
/// quote).
pub fn parse_key_options(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(format!("`{text}` is not a list of key options (at `{c}`)"));
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return Err(format!(
                "`{text}` is not a list of key options (an empty option)"
            ));
        }
        let value = if chars.peek() == Some(&'=') {
            chars.next();
            if chars.next() != Some('"') {
                return Err(format!(
                    "key option `{name}`: the value must be in double quotes"
                ));
            }
            let mut v = String::new();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!("key option `{name}`: the closing quote is missing"))
                    }
                    Some('\\') if chars.peek() == Some(&'"') => {
                        v.push('"');
                        chars.next();
                    }
                    Some('"') => break,
                    Some(c) => v.push(c),
                }
            }
            Some(v)
        } else {
            None
        };
        out.push((name, value));
        match chars.next() {
            None => return Ok(out),
            Some(',') => continue,
            Some(c) => return Err(format!("`{text}` is not a list of key options (at `{c}`)")),
        }
    }
}

/// One `from=` pattern list, matched as sshd matches it with `UseDNS no`: each entry is an
/// address or CIDR block, or a `*`/`?` wildcard matched against the address as text; `!`
/// negates, and a negated match refuses whatever else matches.
#[derive(Debug, Clone)]
pub struct SourcePatterns {
    /// As written, for messages.
    pub text: String,
    entries: Vec<(bool, SourcePattern)>,
}

#[derive(Debug, Clone)]
enum SourcePattern {
    Net(ipnet::IpNet),
    Glob(String),
}

impl SourcePatterns {
    pub fn parse(text: &str) -> Result<SourcePatterns, String> {
        let mut entries = Vec::new();
        for raw in text.split(',') {
            let raw = raw.trim();
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, raw),
            };
            if pattern.is_empty() {
                return Err(format!("from=\"{text}\": an empty pattern"));
            }
            let entry = if let Ok(net) = pattern.parse::<ipnet::IpNet>() {
                SourcePattern::Net(net.trunc())
            } else if let Ok(ip) = pattern.parse::<std::net::IpAddr>() {
                SourcePattern::Net(ipnet::IpNet::from(ip))
            } else if pattern.contains('/') {
                return Err(format!(
                    "from=\"{text}\": `{pattern}` is not an address block"
                ));
            } else {
                SourcePattern::Glob(pattern.to_ascii_lowercase())
            };
            entries.push((negated, entry));
        }
        Ok(SourcePatterns {
            text: text.to_owned(),
            entries,
        })
    }

    /// Whether a client at `ip` matches: a negated entry that matches refuses it, else any
    /// entry that matches admits it.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let text = ip.to_string();
        let mut admitted = false;
        for (negated, pattern) in &self.entries {
            let hit = match pattern {
                SourcePattern::Net(net) => net.contains(&ip),
                SourcePattern::Glob(glob) => wildcard_match(glob.as_bytes(), text.as_bytes()),
            };
            if hit && *negated {
                return false;
            }
            admitted |= hit;
        }
        admitted
    }

    /// Entries that name hosts rather than addresses (sshd matches those only with
    /// `UseDNS yes`; the node never looks names up).
    pub fn host_names(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|(_, p)| match p {
                // Addresses as text have no letters, or (IPv6) have colons.
                SourcePattern::Glob(g)
                    if g.chars().any(|c| c.is_ascii_alphabetic()) && !g.contains(':') =>
                {
                    Some(g.clone())
                }
                _ => None,
            })
            .collect()
    }
}

/// `*` (any run) and `?` (one character) wildcards, as OpenSSH's match_pattern.
pub fn wildcard_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard_match(&pattern[1..], text)
                || (!text.is_empty() && wildcard_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

fn parse_plain_key(line: &str) -> Result<PublicKey, String> {
    let key = PublicKey::from_openssh(line.trim()).map_err(|e| {
        format!(
            "`{}` is not an OpenSSH public key ({e}); expected `ssh-ed25519 AAAA... comment`",
            abbreviate(line)
        )
    })?;
    match key.algorithm() {
        Algorithm::Dsa => Err("DSA keys are refused: they are limited to 1024 bits and deprecated by OpenSSH; use ed25519".into()),
        Algorithm::Rsa { .. } => {
            let bits = rsa_bits(&key);
            if bits < 2048 {
                Err(format!(
                    "RSA key of {bits} bits is refused: use at least 2048 bits, or ed25519"
                ))
            } else {
                Ok(key)
            }
        }
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        other => Err(format!(
            "key type `{}` is not supported: use ed25519, ecdsa or rsa",
            other.as_str()
        )),
    }
}

/// The modulus size of an RSA key, in bits (0 for other keys).
pub fn rsa_bits(key: &PublicKey) -> usize {
    key.key_data()
        .rsa()
        .and_then(|rsa| rsa.n().as_positive_bytes())
        .map(|n| n.len() * 8)
        .unwrap_or(0)
}

fn abbreviate(line: &str) -> String {
    let line = line.trim();
    if line.len() > 40 {
        format!("{}...", &line[..line.floor_char_boundary(40)])
    } else {
        line.to_owned()
    }
}

/// The password hash schemes a node verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// `$argon2id$`: what sftpha writes.
    Argon2id,
    /// `$6$`: sha512-crypt, glibc's default before yescrypt (an imported /etc/shadow).
    Sha512Crypt,
    /// `$5$`: sha256-crypt.
    Sha256Crypt,
    /// `$y$`: yescrypt, Debian's and Fedora's default since 2021 (an imported /etc/shadow).
    Yescrypt,
}

impl HashScheme {
    /// The scheme of `hash` by its prefix, `None` for one the node cannot verify.
    pub fn of(hash: &str) -> Option<HashScheme> {
        [
            ("$argon2id$", HashScheme::Argon2id),
            ("$6$", HashScheme::Sha512Crypt),
            ("$5$", HashScheme::Sha256Crypt),
            ("$y$", HashScheme::Yescrypt),
        ]
        .into_iter()
        .find(|(prefix, _)| hash.starts_with(prefix))
        .map(|(_, scheme)| scheme)
    }

    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Argon2id => "argon2id",
            HashScheme::Sha512Crypt => "sha512-crypt",
            HashScheme::Sha256Crypt => "sha256-crypt",
            HashScheme::Yescrypt => "yescrypt",
        }
    }
}

/// sha-crypt rounds above this are refused (glibc's default is 5000): one hash must not take
/// a core for long.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 500_000;
/// yescrypt memory (128 x r x N x p bytes) above this is refused, as argon2's.
pub const MAX_YESCRYPT_BYTES: u64 = MAX_MEMORY_KIB as u64 * 1024;

/// Checks that `hash` is of a scheme the node verifies and within its cost limits.
pub fn check_password_hash(hash: &str) -> Result<HashScheme, String> {
    let scheme = HashScheme::of(hash).ok_or_else(|| {
        "the node verifies argon2id (`$argon2id$...`), sha512-crypt (`$6$...`), sha256-crypt (`$5$...`) and yescrypt (`$y$...`) hashes only".to_owned()
    })?;
    match scheme {
        HashScheme::Argon2id => argon2_parameters(hash)
            .map(|_| ())
            .map_err(|e| format!("not a usable argon2id hash: {e}"))?,
        HashScheme::Sha512Crypt | HashScheme::Sha256Crypt => {
            let fields: Vec<&str> = hash.split('$').collect();
            // "", "6", ["rounds=N",] salt, hash
            let (rounds, rest) = match fields.get(2).and_then(|f| f.strip_prefix("rounds=")) {
                Some(r) => (
                    r.parse::<u32>()
                        .map_err(|_| format!("`rounds={r}` is not a number"))?,
                    &fields[3..],
                ),
                None => (5000, &fields[2..]),
            };
            if rounds > MAX_SHA_CRYPT_ROUNDS {
                return Err(format!(
                    "rounds={rounds} is over the limit of {MAX_SHA_CRYPT_ROUNDS}"
                ));
            }
            let length = if scheme == HashScheme::Sha512Crypt {
                86
            } else {
                43
            };
            let crypt64 = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
            if rest.len() != 2 || rest[1].len() != length || !rest[1].chars().all(crypt64) {
                return Err(format!(
                    "not a usable {} hash: `${}$[rounds=N$]SALT$HASH` with a {length}-character hash expected",
                    scheme.name(),
                    fields[1]
                ));
            }
        }
        HashScheme::Yescrypt => {
            let params = yescrypt_parameters(hash)?;
            let bytes = 128 * u64::from(params.r()) * params.n() * u64::from(params.p());
            if bytes > MAX_YESCRYPT_BYTES {
                return Err(format!(
                    "yescrypt needs {} MiB, over the limit of {} MiB",
                    bytes >> 20,
                    MAX_YESCRYPT_BYTES >> 20
                ));
            }
        }
    }
    Ok(scheme)
}

/// The parameters of a `$y$PARAMS$SALT$HASH` string.
pub fn yescrypt_parameters(hash: &str) -> Result<yescrypt::Params, String> {
    let fields: Vec<&str> = hash.split('$').collect();
    if fields.len() != 5 || fields[3].is_empty() || fields[4].is_empty() {
        return Err("not a usable yescrypt hash: `$y$PARAMS$SALT$HASH` expected".into());
    }
    fields[2].parse::<yescrypt::Params>().map_err(|e| {
        format!(
            "not a usable yescrypt hash: parameters `{}`: {e}",
            fields[2]
        )
    })
}

/// A home is a relative path below the storage root, without `.` or `..` components.
pub fn check_home(home: &str) -> Result<PathBuf, String> {
    let path = Path::new(home);
    let clean = path.components().all(|c| matches!(c, Component::Normal(_)));
    let reserved = path
        .components()
        .next()
        .is_some_and(|c| c.as_os_str() == crate::config::node::STATE_DIR);
    if reserved {
        return Err(format!("`{home}` is reserved for sftpha's own state"));
    }
    if home.is_empty() || !clean || home.contains('\0') {
        return Err(format!(
            "`{home}` is not a plain relative path below the storage (no `/` at the start, no `.` or `..`)"
        ));
    }
    Ok(path.to_owned())
}

/// argon2 parameters above these are refused in users.toml: one hash must not be able to take
/// a node's memory or a core for seconds.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
pub const MAX_TIME_COST: u32 = 16;
pub const MAX_LANES: u32 = 16;

/// The argon2 parameters of a PHC string, checked against the limits above.
pub fn argon2_parameters(
    hash: &str,
) -> std::result::Result<(argon2::Algorithm, argon2::Version, argon2::Params), String> {
    let parsed = argon2::password_hash::PasswordHash::new(hash).map_err(|e| e.to_string())?;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
    if algorithm != argon2::Algorithm::Argon2id {
        return Err("only argon2id is accepted".into());
    }
    let version = parsed
        .version
        .map(argon2::Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let params = argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(format!(
            "m={} KiB is over the limit of {MAX_MEMORY_KIB} KiB (256 MiB)",
            params.m_cost()
        ));
    }
    if params.t_cost() > MAX_TIME_COST {
        return Err(format!(
            "t={} is over the limit of {MAX_TIME_COST}",
            params.t_cost()
        ));
    }
    if params.p_cost() > MAX_LANES {
        return Err(format!(
            "p={} is over the limit of {MAX_LANES}",
            params.p_cost()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the hash or the salt is missing".into());
    }
    Ok((algorithm, version, params))
}

/// The `SHA256:...` fingerprint OpenSSH prints for a key.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7 a@b";

    #[test]
    fn defaults_home_and_permissions() {
        let users = Users::parse(
            Path::new("users.toml"),
            &format!("[[users]]\nname = \"alice\"\nkeys = [\"{ED}\"]\n"),
        )
        .unwrap();
        let alice = users.get("alice").unwrap();
        assert_eq!(alice.home, Path::new("alice"));
        assert_eq!(alice.permissions, Permissions::all());
        assert!(alice.accepts_key(
            &parse_authorized_key(ED).unwrap(),
            "198.51.100.1".parse().unwrap()
        ));
    }

    #[test]
    fn rejects_escaping_homes() {
        for home in ["../x", "/abs", "a/../b", "", "."] {
            let err = Users::parse(
                Path::new("u.toml"),
                &format!("[[users]]\nname = \"a\"\nkeys = [\"{ED}\"]\nhome = \"{home}\"\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("users[0].home"), "{home}: {err}");
        }
    }

    #[test]
    fn rejects_bad_keys_names_and_permissions() {
        let cases = [
            ("name = \"Bob\"\nkeys = [\"K\"]", "users[0].name"),
            (
                "name = \"bob\"\nkeys = [\"ssh-ed25519 notbase64\"]",
                "users[0].keys",
            ),
            ("name = \"bob\"", "neither keys nor a password_hash"),
            (
                "name = \"bob\"\npassword_hash = \"$6$salt$hash\"",
                "users[0].password_hash",
            ),
        ];
        for (body, expect) in cases {
            let text = format!(
                "[[users]]\n{}\n",
                body.replace("\"K\"", &format!("\"{ED}\""))
            );
            let err = Users::parse(Path::new("u.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{body}: {err}");
        }
        let text = format!(
            "[[users]]\nname = \"bob\"\nkeys = [\"{ED}\"]\npermissions = [\"read\", \"chown\"]\n"
        );
        let err = Users::parse(Path::new("u.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("chown"), "{err}");
    }

    #[test]
    fn rejects_nested_homes_but_allows_shared_ones() {
        let user = |name: &str, home: &str| {
            format!("[[users]]\nname = \"{name}\"\nkeys = [\"{ED}\"]\nhome = \"{home}\"\n")
        };
        let err = Users::parse(
            Path::new("u.toml"),
            &format!(
                "{}{}",
                user("outer", "partners"),
                user("inner", "partners/acme")
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("users.inner.home"), "{err}");
        assert!(err.contains("inside the home of user `outer`"), "{err}");
        // A sibling whose name merely starts the same is not nested.
        Users::parse(
            Path::new("u.toml"),
            &format!("{}{}", user("a", "acme"), user("b", "acme-eu")),
        )
        .unwrap();
        Users::parse(
            Path::new("u.toml"),
            &format!("{}{}", user("a", "drop"), user("b", "drop")),
        )
        .unwrap();
    }

    #[test]
    fn from_option_is_enforced_as_sshd_does() {
        let line = format!("from=\"198.18.0.0/15,10.1.2.*,!198.18.9.9\",no-pty,restrict {ED}");
        let (key, options) = parse_key_entry(&line).unwrap();
        assert_eq!(key, parse_authorized_key(ED).unwrap());
        let from = options.from.unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(from.allows(ip("198.19.4.5")));
        assert!(from.allows(ip("10.1.2.77")));
        assert!(
            from.allows(ip("::ffff:198.18.0.1")),
            "a v4-mapped client is its v4 address"
        );
        assert!(!from.allows(ip("198.18.9.9")), "a negated entry refuses");
        assert!(!from.allows(ip("10.1.3.1")));
        assert!(!from.allows(ip("2001:db8::1")));
        assert_eq!(
            SourcePatterns::parse("*.example.com,10.?.0.1")
                .unwrap()
                .host_names(),
            ["*.example.com"]
        );
        // users.toml: the key works from its addresses only.
        let users = Users::parse(
            Path::new("u.toml"),
            &format!("[[users]]\nname = \"a\"\nkeys = ['{line}']\n"),
        )
        .unwrap();
        let a = users.get("a").unwrap();
        assert!(a.accepts_key(&key, ip("198.18.0.7")));
        assert!(!a.accepts_key(&key, ip("203.0.113.1")) && a.has_key(&key));
        // Options the node cannot keep are refused, naming them.
        for bad in [
            format!("command=\"/bin/backup\" {ED}"),
            format!("permitopen=\"host:1\" {ED}"),
            format!("expiry-time=\"20300101\" {ED}"),
            format!("from=\"10.0.0.0/33\" {ED}"),
            format!("from=\"10.0.0.1 {ED}"),
        ] {
            let err = parse_key_entry(&bad).unwrap_err();
            assert!(
                err.contains("cannot be honoured")
                    || err.contains("from=")
                    || err.contains("not an OpenSSH public key"),
                "{bad}: {err}"
            );
        }
        assert!(parse_key_entry(&format!("command=\"internal-sftp\" {ED}")).is_ok());
    }

    #[test]
    fn rejects_duplicates() {
        let one = format!("[[users]]\nname = \"a\"\nkeys = [\"{ED}\"]\n");
        let err = Users::parse(Path::new("u.toml"), &format!("{one}{one}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("defined twice"), "{err}");
    }
}
