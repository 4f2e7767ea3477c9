//! Edits users.toml in place for `sftpha users` and `sftpha keys rotate user`: the operator's
//! comments, order and layout survive (toml_edit), and every edit is checked by the same
//! parser the nodes use before the file is written.

use std::path::{Path, PathBuf};

use toml_edit::{value, Array, ArrayOfTables, DocumentMut, Item, Table};

use crate::config::users::{fingerprint, parse_authorized_key, valid_user_name, Users, PROBE_USER};
use crate::error::{Error, Result};

pub struct UsersDoc {
    pub path: PathBuf,
    doc: DocumentMut,
}

/// A user as `users list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    pub name: String,
    pub home: String,
    pub keys: Vec<KeySummary>,
    pub password: bool,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    pub fingerprint: String,
    pub algorithm: String,
    pub comment: String,
    /// The key's `from="..."` patterns, when it has them.
    pub from: Option<String>,
}

/// What a new user gets.
pub struct NewUser {
    pub name: String,
    pub keys: Vec<String>,
    pub password_hash: Option<String>,
    pub home: Option<String>,
    pub permissions: Option<Vec<String>>,
}

fn invalid(path: &Path, key: &str, msg: String) -> Error {
    Error::config(path, Some(key), msg)
}

/// Reads public keys from `file`: one per line, as in authorized_keys (blank lines and `#`
/// comments skipped); each must be a key the nodes accept.
pub fn read_key_file(file: &Path) -> Result<Vec<String>> {
    let text = crate::files::read_text(file)?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        parse_authorized_key(line).map_err(|m| {
            Error::usage(
                format!("{} line {}: {m}", file.display(), n + 1),
                Some("give an OpenSSH public key file (`ssh-keygen -t ed25519` makes KEY.pub)"),
            )
        })?;
        keys.push(line.to_owned());
    }
    if keys.is_empty() {
        return Err(Error::usage(
            format!("{} holds no public key", file.display()),
            Some("give an OpenSSH public key file such as ~/.ssh/id_ed25519.pub"),
        ));
    }
    Ok(keys)
}

/// An argon2id hash of `password` with a fresh random salt, as the nodes verify it.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.is_empty() {
        return Err(Error::usage("the password is empty", None));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::usage(format!("no randomness: {e}"), None))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::usage(format!("cannot encode the salt: {e}"), None))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::usage(format!("cannot hash the password: {e}"), None))?;
    Ok(hash.to_string())
}

impl UsersDoc {
    pub fn load(path: &Path) -> Result<UsersDoc> {
        let text = crate::files::read_text(path)?;
        Users::parse(path, &text)?;
        let doc: DocumentMut = text
            .parse()
            .map_err(|e| invalid(path, "users", format!("not TOML: {e}")))?;
        Ok(UsersDoc {
            path: path.to_owned(),
            doc,
        })
    }

    fn tables(&self) -> Option<&ArrayOfTables> {
        self.doc.get("users").and_then(Item::as_array_of_tables)
    }

    fn find(&mut self, name: &str) -> Result<&mut Table> {
        let path = self.path.clone();
        self.doc
            .get_mut("users")
            .and_then(Item::as_array_of_tables_mut)
            .and_then(|t| {
                t.iter_mut()
                    .find(|u| u.get("name").and_then(Item::as_str) == Some(name))
            })
            .ok_or_else(|| {
                Error::usage(
                    format!("{}: there is no user `{name}`", path.display()),
                    Some("`sftpha users list` shows the users"),
                )
            })
    }

    pub fn names(&self) -> Vec<String> {
        self.tables()
            .map(|t| {
                t.iter()
                    .filter_map(|u| u.get("name").and_then(Item::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The user's key lines as written.
    pub fn keys(&mut self, name: &str) -> Result<Vec<String>> {
        let user = self.find(name)?;
        Ok(key_lines(user))
    }

    pub fn list(&self) -> Result<Vec<UserSummary>> {
        let users = Users::parse(&self.path, &self.to_string())?;
        let mut out = Vec::new();
        for name in self.names() {
            let Some(u) = users.get(&name) else { continue };
            out.push(UserSummary {
                name: u.name.clone(),
                home: u.home.display().to_string(),
                keys: u
                    .keys
                    .iter()
                    .zip(&u.key_sources)
                    .map(|(k, from)| KeySummary {
                        fingerprint: fingerprint(k),
                        algorithm: k.algorithm().as_str().to_owned(),
                        comment: k.comment().to_string(),
                        from: from.as_ref().map(|f| f.text.clone()),
                    })
                    .collect(),
                password: u.password_hash.is_some(),
                permissions: crate::config::users::Permission::ALL
                    .iter()
                    .filter(|p| u.permissions.allows(**p))
                    .map(|p| p.name().to_owned())
                    .collect(),
            });
        }
        Ok(out)
    }

    fn add_inner(&mut self, user: NewUser) -> Result<()> {
        if !valid_user_name(&user.name) || user.name == PROBE_USER {
            return Err(Error::usage(
                format!("`{}` is not a valid user name", user.name),
                Some("use 1-32 lowercase letters, digits, `_`, `.` or `-`, starting with a letter or `_` (and not `sftpha-probe`)"),
            ));
        }
        if self.names().contains(&user.name) {
            return Err(Error::usage(
                format!(
                    "{}: user `{}` already exists",
                    self.path.display(),
                    user.name
                ),
                Some("`sftpha users set-key` changes an existing user's keys"),
            ));
        }
        if user.keys.is_empty() && user.password_hash.is_none() {
            return Err(Error::usage(
                format!("user `{}` would have no way to log in", user.name),
                Some("give --key FILE (or --password)"),
            ));
        }
        // The flags are checked as flags: users.toml is not where the mistake is.
        if let Some(perms) = &user.permissions {
            let valid: Vec<&str> = crate::config::users::Permission::ALL
                .iter()
                .map(|p| p.name())
                .collect();
            if let Some(bad) = perms.iter().find(|p| !valid.contains(&p.as_str())) {
                return Err(Error::usage(
                    format!("--permissions: `{bad}` is not a right"),
                    Some(&format!("rights are {}, comma-separated", valid.join(", "))),
                ));
            }
        }
        if let Some(home) = &user.home {
            crate::config::users::check_home(home).map_err(|m| {
                Error::usage(
                    format!("--home: {m}"),
                    Some("a home is a relative path below the storage, e.g. `partners/bank`"),
                )
            })?;
        }
        let mut table = Table::new();
        table.insert("name", value(&user.name));
        let mut keys = Array::new();
        for k in &user.keys {
            keys.push(k.as_str());
        }
        if !keys.is_empty() {
            table.insert("keys", value(keys));
        }
        if let Some(hash) = &user.password_hash {
            table.insert("password_hash", value(hash));
        }
        if let Some(home) = &user.home {
            table.insert("home", value(home));
        }
        if let Some(perms) = &user.permissions {
            let mut a = Array::new();
            for p in perms {
                a.push(p.as_str());
            }
            table.insert("permissions", value(a));
        }
        match self.doc.get_mut("users") {
            Some(Item::ArrayOfTables(t)) => t.push(table),
            None => {
                // The first user: comments with no table yet (init's header) are the
                // document's trailing text, printed after every table; keep them on top.
                let trailing = self.doc.trailing().as_str().unwrap_or("").to_owned();
                if !trailing.trim().is_empty() {
                    let gap = if trailing.ends_with("\n\n") { "" } else { "\n" };
                    table.decor_mut().set_prefix(format!("{trailing}{gap}"));
                    self.doc.set_trailing("");
                }
                let mut t = ArrayOfTables::new();
                t.push(table);
                self.doc.insert("users", Item::ArrayOfTables(t));
            }
            Some(_) => {
                return Err(invalid(
                    &self.path,
                    "users",
                    "must be written as [[users]] tables to be edited by sftpha".into(),
                ))
            }
        }
        self.check()
    }

    fn remove_inner(&mut self, name: &str) -> Result<()> {
        self.find(name)?;
        if let Some(t) = self
            .doc
            .get_mut("users")
            .and_then(Item::as_array_of_tables_mut)
        {
            let first = t.get(0).and_then(|u| u.get("name")).and_then(Item::as_str) == Some(name);
            // The comments above the first user are the file's header as much as that
            // user's: they stay, above the next user or at the end of an empty file.
            let header = match (first, t.get(0)) {
                (true, Some(u)) => u
                    .decor()
                    .prefix()
                    .and_then(|p| p.as_str())
                    .map(str::to_owned),
                _ => None,
            };
            t.retain(|u| u.get("name").and_then(Item::as_str) != Some(name));
            if let Some(header) = header.filter(|h| !h.trim().is_empty()) {
                match t.get_mut(0) {
                    Some(next) => {
                        let own = next
                            .decor()
                            .prefix()
                            .and_then(|p| p.as_str())
                            .unwrap_or("")
                            .to_owned();
                        next.decor_mut().set_prefix(format!("{header}{own}"));
                    }
                    None => {
                        let header = header.trim_end_matches('\n').to_owned() + "\n";
                        self.doc.set_trailing(header);
                    }
                }
            }
        }
        if self
            .doc
            .get("users")
            .and_then(Item::as_array_of_tables)
            .is_some_and(|t| t.is_empty())
        {
            // No `[[users]]` left to print the header after.
            self.doc.remove("users");
        }
        self.check()
    }

    fn add_key_inner(&mut self, name: &str, line: &str) -> Result<bool> {
        let new = parse_authorized_key(line).map_err(|m| Error::usage(m, None))?;
        let user = self.find(name)?;
        let present = key_lines(user)
            .iter()
            .any(|l| parse_authorized_key(l).is_ok_and(|k| k.key_data() == new.key_data()));
        if present {
            return Ok(false);
        }
        match user.get_mut("keys").and_then(Item::as_array_mut) {
            Some(a) => a.push(line),
            None => {
                let mut a = Array::new();
                a.push(line);
                user.insert("keys", value(a));
            }
        }
        self.check()?;
        Ok(true)
    }

    fn remove_key_inner(&mut self, name: &str, fingerprint: &str) -> Result<String> {
        let path = self.path.clone();
        let user = self.find(name)?;
        let Some(a) = user.get_mut("keys").and_then(Item::as_array_mut) else {
            return Err(no_key(&path, name, fingerprint));
        };
        let index = a.iter().position(|v| {
            v.as_str()
                .and_then(|l| parse_authorized_key(l).ok())
                .is_some_and(|k| crate::config::users::fingerprint(&k) == fingerprint)
        });
        let Some(index) = index else {
            return Err(no_key(&path, name, fingerprint));
        };
        let line = a
            .get(index)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        a.remove(index);
        let left = a.len();
        let password = user.contains_key("password_hash");
        if left == 0 && !password {
            return Err(Error::usage(
                format!("removing {fingerprint} would leave `{name}` with no way to log in"),
                Some("add the new key first (`sftpha keys rotate user`), or remove the user"),
            ));
        }
        self.check()?;
        Ok(line)
    }

    /// Runs one edit; a failed edit leaves the document as it was.
    fn edit<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let before = self.doc.clone();
        let result = f(self);
        if result.is_err() {
            self.doc = before;
        }
        result
    }

    pub fn add(&mut self, user: NewUser) -> Result<()> {
        self.edit(|d| d.add_inner(user))
    }

    pub fn remove(&mut self, name: &str) -> Result<()> {
        self.edit(|d| d.remove_inner(name))
    }

    /// Adds `line` to the user's keys; false when an equal key is already there.
    pub fn add_key(&mut self, name: &str, line: &str) -> Result<bool> {
        self.edit(|d| d.add_key_inner(name, line))
    }

    /// Removes the user's key with `fingerprint` (`SHA256:...`); returns its line.
    pub fn remove_key(&mut self, name: &str, fingerprint: &str) -> Result<String> {
        self.edit(|d| d.remove_key_inner(name, fingerprint))
    }

    /// The edited file must still be one the nodes accept.
    fn check(&self) -> Result<()> {
        Users::parse(&self.path, &self.to_string()).map(|_| ())
    }

    /// Writes the file back. It holds password hashes: it is never left readable by others
    /// (the owner's and group's read rights it had are kept, at most 0640; a new file is 0600).
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.check()?;
        let mode = std::fs::metadata(&self.path)
            .map(|m| m.permissions().mode() & 0o640 | 0o600)
            .unwrap_or(0o600);
        crate::files::write_atomically(&self.path, self.to_string().as_bytes(), mode)
    }
}

impl std::fmt::Display for UsersDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.doc)
    }
}

fn no_key(path: &Path, name: &str, fingerprint: &str) -> Error {
    Error::usage(
        format!("{}: user `{name}` has no key {fingerprint}", path.display()),
        Some("`sftpha users list` shows each key's fingerprint"),
    )
}

fn key_lines(user: &Table) -> Vec<String> {
    user.get("keys")
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7 a@b";
    const FILE: &str = "# Partners of the night batch.\n\n[[users]]\n# The bank.\nname = \"bank\"   # do not rename\nkeys = []\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$2a0X9ZqB7zM3n0hYzv8kQ6mXkz6V0b3sQm8l5r0k9vA\"\n\n# Lab results.\n[[users]]\nname = \"lab\"\nkeys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7 a@b\"]\n";

    fn doc() -> (tempfile::TempDir, UsersDoc) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, FILE).unwrap();
        let doc = UsersDoc::load(&path).unwrap();
        (dir, doc)
    }

    #[test]
    fn comments_and_order_survive_edits() {
        let (_dir, mut d) = doc();
        d.add(NewUser {
            name: "shop".into(),
            keys: vec![ED1.into()],
            password_hash: None,
            home: Some("retail/shop".into()),
            permissions: Some(vec!["list".into(), "read".into()]),
        })
        .unwrap();
        let text = d.to_string();
        assert!(
            text.starts_with("# Partners of the night batch.\n"),
            "{text}"
        );
        assert!(
            text.contains("# The bank.\nname = \"bank\"   # do not rename"),
            "{text}"
        );
        assert!(text.contains("# Lab results."), "{text}");
        assert_eq!(d.names(), ["bank", "lab", "shop"]);
        d.remove("lab").unwrap();
        assert!(d.remove("lab").is_err());
        let text = d.to_string();
        assert_eq!(d.names(), ["bank", "shop"]);
        assert!(text.contains("# do not rename"), "{text}");
    }

    #[test]
    fn invalid_input_is_refused() {
        let (_dir, mut d) = doc();
        let new = |name: &str, keys: Vec<String>| NewUser {
            name: name.into(),
            keys,
            password_hash: None,
            home: None,
            permissions: None,
        };
        assert!(d.add(new("Bad Name", vec![ED1.into()])).is_err());
        assert!(d.add(new("bank", vec![ED1.into()])).is_err());
        assert!(d.add(new("sftpha-probe", vec![ED1.into()])).is_err());
        assert!(d.add(new("nokey", vec![])).is_err());
        let mut bad_home = new("x", vec![ED1.into()]);
        bad_home.home = Some("../etc".into());
        assert!(d.add(bad_home).is_err());
        assert!(d
            .add_key("lab", "ssh-dss AAAAB3NzaC1kc3MAAACBAP== x")
            .is_err());
        // A failed edit leaves nothing half done.
        assert_eq!(d.names(), ["bank", "lab"]);
    }

    #[test]
    fn keys_are_added_once_and_removed_by_fingerprint() {
        let (_dir, mut d) = doc();
        assert!(!d.add_key("lab", ED1).unwrap());
        let fp = fingerprint(&parse_authorized_key(ED1).unwrap());
        // The only way in: refused.
        assert!(d.remove_key("lab", &fp).is_err());
        assert!(d.add_key("bank", ED1).unwrap());
        assert_eq!(d.remove_key("bank", &fp).unwrap(), ED1);
        assert!(d.remove_key("bank", &fp).is_err());
        assert!(hash_password("secret").unwrap().starts_with("$argon2id$"));
    }
}
