//! The cluster every unit test starts from: one cluster.toml that passes the assessment (3
//! nodes in 3 zones, 2 gateway hosts with a vip, a synchronous replica), and the ways tests
//! load it. A test that needs another design edits it with [`edit`], which fails loudly when
//! the text to replace is not there (an edit that silently did nothing would test nothing).

use std::path::Path;

use super::cluster::Cluster;

pub const CLUSTER: &str = r#"
name = "acme-sftp"
[objectives]
rto_seconds = 30
rpo_seconds = 0
peak_sessions = 200
availability_percent = 99.95
[storage]
path = "/srv/sftpha"
replicas = 2
replication = "sync"
[[nodes]]
name = "n1"
host = "198.18.0.11"
zone = "a"
[[nodes]]
name = "n2"
host = "198.18.0.12"
zone = "b"
[[nodes]]
name = "n3"
host = "198.18.0.13"
zone = "c"
[gateway]
hosts = ["198.18.0.21", "198.18.0.22"]
vip = "198.18.0.20"
"#;

/// `text` with `from` replaced by `to`; panics when `from` is not in it.
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the fixture has no `{from}` to edit");
    text.replace(from, to)
}

/// Parses `text` as `/x/cluster.toml` (nothing is read from disk but what it names).
pub fn parse(text: &str) -> crate::error::Result<Cluster> {
    Cluster::parse(Path::new("/x/cluster.toml"), text)
}

/// [`parse`], for a text that must be valid.
pub fn cluster(text: &str) -> Cluster {
    parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Writes `text` as `dir/cluster.toml` and loads it (for what reads files beside it).
pub fn cluster_in(dir: &Path, text: &str) -> Cluster {
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    Cluster::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
