//! Keys: host keys of the three types OpenSSH makes (ed25519, ECDSA P-256, RSA 3072), login
//! keys, and the cluster's key folder beside cluster.toml (host keys in force and next, the
//! host CA and its certificates, the probe login's key). Files only: nothing here reaches a
//! host.

pub mod generate;
pub mod secrets;

pub use generate::KeyKind;
