//! `sftpha import openssh`: an OpenSSH SFTP server, as it stands, into a cluster's users.toml
//! and host keys, so partners keep their known_hosts entries and their keys.
//!
//! Three steps: [`source::read`] reads the old host over SSH (nothing is written there),
//! [`plan::plan`] decides what each account, key and host key becomes and what cannot be
//! carried over, and [`apply`] writes users.toml (with the comment-keeping editor) and the
//! host keys beside cluster.toml, unless it is a dry run or the plan found a problem.

pub mod plan;
pub mod source;
pub mod sshd;

use std::collections::BTreeMap;

use crate::config::cluster::Cluster;
use crate::config::users_edit::UsersDoc;
use crate::error::Result;
use crate::keys::secrets::{ensure_dir, host_key_file, host_key_slots, keys_dir, CERT_SUFFIX};
use crate::keys::KeyKind;
use plan::{Plan, Problem, Target};

/// What the cluster has now, for [`plan::plan`].
pub fn target(cluster: &Cluster, doc: &UsersDoc, options: Options) -> Result<Target> {
    let Options {
        force,
        dry_run,
        data_root,
        skip,
        host_ca,
    } = options;
    let dir = keys_dir(cluster);
    let mut existing_keys = BTreeMap::new();
    for kind in KeyKind::ALL {
        let name = host_key_file(kind);
        let path = dir.join(&name);
        if path.exists() {
            let key = crate::keys::generate::load(&path)?;
            existing_keys.insert(name, crate::config::users::fingerprint(key.public_key()));
        }
    }
    let ca_path = dir.join(crate::keys::secrets::HOST_CA);
    let existing_ca = match ca_path.exists() {
        true => Some(crate::config::users::fingerprint(
            crate::keys::generate::load(&ca_path)?.public_key(),
        )),
        false => None,
    };
    let host_ca = match host_ca {
        Some(path) => {
            let key = crate::keys::generate::load(&path)?;
            let bytes = std::fs::read(&path).map_err(|source| crate::error::Error::ReadFile {
                path: path.clone(),
                source,
            })?;
            Some((key, bytes))
        }
        None => None,
    };
    let rotation_under_way = host_key_slots()
        .iter()
        .any(|(_, next, name)| *next && dir.join(name).exists());
    Ok(Target {
        storage: cluster.file.storage.path.display().to_string(),
        existing_users: doc.names(),
        existing_keys,
        rotation_under_way,
        force,
        data_root,
        skip,
        dry_run,
        host_ca,
        existing_ca,
        host_names: cluster.host_names(),
    })
}

/// What the operator asked for, beside the old host's address.
pub struct Options {
    pub force: bool,
    pub dry_run: bool,
    pub data_root: Option<String>,
    pub skip: Vec<String>,
    /// The old server's host CA private key file.
    pub host_ca: Option<std::path::PathBuf>,
}

/// Edits users.toml in memory (an edit the nodes would refuse, such as a home nested in
/// another user's, becomes a problem), then, when the plan is clean and this is no dry run,
/// writes the host keys (0600) and users.toml. `report.written` lists the files.
pub fn apply(plan: &mut Plan, cluster: &Cluster, doc: &mut UsersDoc) -> Result<()> {
    for name in &plan.replace {
        doc.remove(name)?;
    }
    for user in std::mem::take(&mut plan.users) {
        let name = user.name.clone();
        if let Err(e) = doc.add(user) {
            plan.report.problems.push(Problem {
                user: Some(name),
                file: Some(doc.path.display().to_string()),
                line: None,
                value: None,
                message: e.to_string(),
                fix: e
                    .hint()
                    .unwrap_or_else(|| "leave the account out with --skip NAME".into()),
            });
        }
    }
    plan.report.ok = plan.report.problems.is_empty();
    if !plan.report.ok || plan.report.dry_run {
        return Ok(());
    }
    let dir = keys_dir(cluster);
    if !plan.host_keys.is_empty() || plan.host_ca.is_some() {
        ensure_dir(&dir)?;
    }
    for key in plan.host_keys.iter().chain(&plan.host_ca) {
        let path = dir.join(&key.name);
        crate::files::write_atomically(&path, &key.private, 0o600)?;
        let public = dir.join(format!("{}.pub", key.name));
        crate::files::write_atomically(&public, key.public.as_bytes(), 0o644)?;
        // The certificate of the key replaced: the next provision issues one for this key.
        let cert = dir.join(format!("{}{CERT_SUFFIX}", key.name));
        if cert.exists() {
            std::fs::remove_file(&cert).map_err(|source| crate::error::Error::WriteFile {
                path: cert.clone(),
                source,
            })?;
        }
        plan.report.written.push(path.display().to_string());
        plan.report.written.push(public.display().to_string());
    }
    if !plan.report.users.is_empty() {
        doc.save()?;
        plan.report.written.push(doc.path.display().to_string());
    }
    Ok(())
}
