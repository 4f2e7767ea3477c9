//! What `provision` and `upgrade` last installed on each host, kept beside cluster.toml in
//! `keys/installed.json` (`{"binary": {"HOST": "SHA256"}}`): `status` compares a host's
//! binary against what it was given (an `upgrade --node-binary` is not drift), not against
//! whichever sftpha happens to run `status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::cluster::Cluster;
use crate::error::Result;
use crate::keys::secrets::{ensure_dir, keys_dir};

const FILE: &str = "installed.json";

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Installed {
    /// The sha256 of the sftpha binary each host was last given.
    #[serde(default)]
    pub binary: BTreeMap<String, String>,
}

impl Installed {
    /// The record; none yet is an empty one.
    pub fn load(cluster: &Cluster) -> Result<Installed> {
        crate::files::read_record(&keys_dir(cluster).join(FILE), "an install record")
    }

    /// Records that `hosts` now run the binary `sha256`.
    pub fn record_binary(cluster: &Cluster, hosts: &[String], sha256: &str) -> Result<()> {
        if hosts.is_empty() {
            return Ok(());
        }
        let mut installed = Installed::load(cluster)?;
        for host in hosts {
            installed.binary.insert(host.clone(), sha256.to_owned());
        }
        let dir = keys_dir(cluster);
        ensure_dir(&dir)?;
        let text = serde_json::to_string_pretty(&installed).expect("serializes") + "\n";
        crate::files::write_atomically(&dir.join(FILE), text.as_bytes(), 0o644)
    }
}
