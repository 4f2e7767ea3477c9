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
    /// OpenSSH public keys (`ssh-ed25519 AAAA... comment`), one per entry; any of them logs in. Add and remove them with `sftpha users set-key`.
    #[serde(default)]
    keys: Vec<String>,
    /// An argon2id hash (`$argon2id$...`) for password logins, as `sftpha users add --password` writes it; unset: keys only.
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
    pub password_hash: Option<Arc<str>>,
    /// The jail, relative to the storage path; never empty, absolute or with `..`.
    pub home: PathBuf,
    pub permissions: Permissions,
}

impl User {
    pub fn accepts_key(&self, key: &PublicKey) -> bool {
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
    for (i, (outer, outer_user)) in homes.iter().enumerate() {
        for (inner, inner_user) in &homes[i + 1..] {
            if inner != outer && inner.starts_with(outer) {
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
    for line in &entry.keys {
        keys.push(parse_authorized_key(line).map_err(|m| ("keys", m))?);
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
        password_hash: entry.password_hash.map(Arc::from),
        home,
        permissions,
    })
}

/// Parses one `authorized_keys`-style line (`TYPE BASE64 [COMMENT]`) and applies the policy:
/// no DSA, RSA of at least 2048 bits.
pub fn parse_authorized_key(line: &str) -> Result<PublicKey, String> {
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

fn check_password_hash(hash: &str) -> Result<(), String> {
    if !hash.starts_with("$argon2id$") {
        return Err("only argon2id hashes (`$argon2id$...`) are accepted".into());
    }
    argon2_parameters(hash)
        .map(|_| ())
        .map_err(|e| format!("not a usable argon2id hash: {e}"))
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
        assert!(alice.accepts_key(&parse_authorized_key(ED).unwrap()));
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
    fn rejects_duplicates() {
        let one = format!("[[users]]\nname = \"a\"\nkeys = [\"{ED}\"]\n");
        let err = Users::parse(Path::new("u.toml"), &format!("{one}{one}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("defined twice"), "{err}");
    }
}
