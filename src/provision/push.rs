//! A users.toml change pushed to every node (`users`, `keys rotate user`), with the key
//! checks that prove every node took it.

use serde::Serialize;

use super::{KeyCheck, Options, Report, Scope};
use crate::config::cluster::Cluster;
use crate::config::users::{fingerprint, parse_authorized_key};
use crate::error::Result;

/// How to push: `--no-push`, `--accept-new-host-keys`, progress lines.
#[derive(Debug, Clone, Copy)]
pub struct Push {
    pub no_push: bool,
    pub accept_new_host_keys: bool,
    pub progress: bool,
}

/// What a users or keys command did.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    /// What was done, as data.
    pub action: Action,
    pub user: String,
    /// Fingerprints of the keys that now log in, and of those that no longer do.
    pub keys_added: Vec<String>,
    pub keys_removed: Vec<String>,
    /// The same in a sentence, for people.
    pub change: String,
    pub users_file: String,
    /// `None` when not pushed; `not_pushed` says why.
    pub push: Option<Report>,
    pub not_pushed: Option<String>,
    pub notes: Vec<String>,
}

/// What a users or keys command changes in users.toml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    AddUser,
    RemoveUser,
    /// `users set-key`: keys added and/or removed.
    SetKeys,
    /// `keys rotate user`, step 1: the new key beside the old.
    AddKey,
    /// `keys rotate user`, last step: the old keys out.
    RetireKeys,
}

/// A change to push: what, whose, and the sentence that says it.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: Action,
    pub user: String,
    pub summary: String,
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
            Some(report) => report.exit_code(),
            None => crate::error::exit::OK,
        }
    }
}

/// Pushes users.toml (unless --no-push, or the cluster was never provisioned from here) and
/// checks the keys on every node. Never makes the cluster's keys: that is `provision`'s job.
pub async fn push_change(
    cluster: &Cluster,
    change: Change,
    push: Push,
    key_checks: Vec<KeyCheck>,
    homes: Vec<String>,
    notes: Vec<String>,
) -> Result<ChangeReport> {
    let fingerprints = |accepted: bool| -> Vec<String> {
        key_checks
            .iter()
            .filter(|c| c.accepted == accepted)
            .map(|c| fingerprint(&c.key))
            .collect()
    };
    let (keys_added, keys_removed) = (fingerprints(true), fingerprints(false));
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
        let report = super::provision(
            cluster,
            &Options {
                accept_new_host_keys: push.accept_new_host_keys,
                progress: push.progress,
                scope: Scope::USERS,
                create_keys: false,
                key_checks,
                homes,
                ..Options::everything()
            },
        )
        .await?;
        (Some(report), None)
    };
    Ok(ChangeReport {
        action: change.action,
        user: change.user,
        keys_added,
        keys_removed,
        change: change.summary,
        users_file: cluster.users.display().to_string(),
        push: report,
        not_pushed,
        notes,
    })
}

/// `SHA256:...` of a key line, for messages.
pub fn fingerprint_of_line(line: &str) -> String {
    parse_authorized_key(line)
        .map(|k| fingerprint(&k))
        .unwrap_or_else(|_| "?".into())
}
