//! Key rotations' state and checks, for `keys rotate user` and `keys rotate host`: user
//! rotations waiting out their grace, the host key files moved between the slots in force,
//! next and retired, which nodes present the new keys in the handshake, and a login through
//! the gateway with a new user key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::cluster::Cluster;
use crate::error::{Error, Result};
use crate::keys::secrets::{host_key_slots, keys_dir, unix_now, Secrets, CERT_SUFFIX, RETIRED_DIR};
use crate::keys::KeyKind;
use crate::net::bracket;

/// A user key rotation waiting for its --finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingUserRotation {
    /// Fingerprints of the keys to retire.
    pub retire: Vec<String>,
    /// The key that replaces them.
    pub new: String,
    /// Unix seconds when the grace runs out.
    pub not_before: u64,
}

pub type Pending = std::collections::BTreeMap<String, PendingUserRotation>;

const USER_ROTATIONS: &str = "user-rotations.json";

pub fn load_pending(cluster: &Cluster) -> Result<Pending> {
    crate::files::read_record(&keys_dir(cluster).join(USER_ROTATIONS), "a rotation record")
}

pub fn save_pending(cluster: &Cluster, pending: &Pending) -> Result<()> {
    let dir = keys_dir(cluster);
    crate::keys::secrets::ensure_dir(&dir)?;
    let text = serde_json::to_string_pretty(pending).expect("serializes");
    crate::files::write_atomically(&dir.join(USER_ROTATIONS), text.as_bytes(), 0o600)
}

/// Logs in through the first gateway (or the vip) with `key`, host key pinned.
pub async fn login_through_gateway(
    cluster: &Cluster,
    user: &str,
    key: &russh::keys::PrivateKey,
) -> Result<()> {
    let c = &cluster.file;
    let Some(host) = cluster.gateway.entry() else {
        return Ok(());
    };
    let addr = format!("{}:{}", bracket(&host), c.gateway.port);
    let fingerprint = Secrets::load_or_create(cluster, false)?.fingerprint();
    let key = std::sync::Arc::new(key.clone());
    super::gateway_login(&addr, user, key, &fingerprint)
        .await
        .map(|_| ())
        .map_err(|source| Error::NewKeyLogin {
            addr,
            user: user.to_owned(),
            source: Box::new(source),
        })
}

/// The new keys of a rotation under way: `(kind, file name)` of every `.next` key.
pub fn next_keys(dir: &Path) -> Vec<(KeyKind, String)> {
    host_key_slots()
        .into_iter()
        .filter(|(_, next, name)| *next && dir.join(name).exists())
        .map(|(kind, _, name)| (kind, name))
        .collect()
}

/// Per node, whether it presents every new key of the rotation in the SSH handshake, as a
/// plain key and as a certificate signed by the cluster's CA: `(node, None)` when it does,
/// else why not.
pub async fn nodes_presenting_new_keys(
    cluster: &Cluster,
    secrets: &Secrets,
) -> Result<Vec<(String, Option<String>)>> {
    let wanted: Vec<(KeyKind, String)> = secrets
        .host_keys
        .iter()
        .filter(|k| k.next)
        .map(|k| (k.kind, k.fingerprint()))
        .collect();
    let ca = secrets.ca_fingerprint();
    let nodes = cluster.node_addrs();
    let scans = futures::future::join_all(nodes.iter().map(|n| async {
        let addr = format!("{}:{}", bracket(&n.host), n.port);
        let sock = crate::net::resolve(&addr, crate::timeouts::PROBE).await?;
        crate::ssh::keyscan::scan(sock, true).await
    }))
    .await;
    Ok(nodes
        .iter()
        .zip(scans)
        .map(|(node, scan)| {
            let problem = match scan {
                Err(e) => Some(format!("not reached: {e}")),
                Ok(seen) => {
                    let lacking: Vec<&str> = wanted
                        .iter()
                        .filter(|(kind, fp)| {
                            let key = seen.keys.contains(&(*kind, fp.clone()));
                            let certificate = seen.certificates.iter().any(|c| {
                                c.kind == *kind
                                    && c.key_fingerprint == *fp
                                    && c.ca_fingerprint == ca
                            });
                            !(key && certificate)
                        })
                        .map(|(kind, _)| kind.word())
                        .collect();
                    (!lacking.is_empty()).then(|| {
                        format!(
                            "presents the old {} key(s), not the new",
                            lacking.join(", ")
                        )
                    })
                }
            };
            (node.name.clone(), problem)
        })
        .collect())
}

pub fn describe(nodes: &[(String, Option<String>)]) -> String {
    nodes
        .iter()
        .filter_map(|(n, p)| p.as_ref().map(|p| format!("{n} ({p})")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Moves the keys in force named `names` (and their certificates and public keys) to
/// keys/retired/.
pub fn retire_current(dir: &Path, names: &[String]) -> Result<()> {
    let retired = dir.join(RETIRED_DIR);
    std::fs::create_dir_all(&retired).map_err(|source| Error::WriteFile {
        path: retired.clone(),
        source,
    })?;
    crate::keys::secrets::set_mode(&retired, 0o700)?;
    // When it was retired, as people read dates (RFC 3339, UTC).
    let stamp = crate::date::rfc3339(unix_now());
    for name in names {
        for suffix in ["", ".pub", CERT_SUFFIX] {
            let from = format!("{name}{suffix}");
            if dir.join(&from).exists() {
                rename(dir, &from, &format!("{RETIRED_DIR}/{name}.{stamp}{suffix}"))?;
            }
        }
    }
    Ok(())
}

pub fn rename(dir: &Path, from: &str, to: &str) -> Result<()> {
    let (from, to) = (dir.join(from), dir.join(to));
    if !from.exists() {
        return Ok(());
    }
    std::fs::rename(&from, &to).map_err(|source| Error::WriteFile { path: to, source })
}
