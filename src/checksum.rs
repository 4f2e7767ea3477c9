//! Checksums: what nodes, provision and status compare (`config_checksum`, `users_checksum`,
//! the sha256 of every file a host receives).

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes` in lowercase hex: the checksums /healthz, status and provision compare.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
