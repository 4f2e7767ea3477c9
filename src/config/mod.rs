//! The files the operator writes, parsed once into typed, validated values: cluster.toml,
//! node.toml, gateway.toml and users.toml (with an editor that keeps comments). Every error
//! names the file, the key and the line. Nothing here knows runtimes, SSH or the network.

pub mod cluster;
pub mod gateway;
pub mod node;
pub mod reference;
pub mod users;
pub mod users_edit;
mod validate;

#[cfg(test)]
pub mod fixture;
