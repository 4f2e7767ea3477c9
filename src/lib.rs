//! sftpha: builds and runs an active-active, highly available SFTP cluster, and proves that
//! it fails over. The binary is a thin wrapper over [`run::main`].
//!
//! Layers, bottom first; a module uses its own layer or below, never above, and no two
//! modules use each other (`tests/layers.rs` checks it):
//!
//! 1. base: [`error`], [`files`], [`checksum`], [`date`], [`net`], [`text`], [`timeouts`]
//! 2. [`config`]: the operator's files, typed and validated once loaded
//! 3. [`keys`] and [`wire`]: key material; PROXY, HTTP, health bodies, metrics
//! 4. [`ssh`]: SSH out (commands on hosts, known_hosts, the SFTP client, keyscan)
//! 5. domain: [`node`], [`gateway`], [`render`], [`provision`], [`assess`], [`failover`],
//!    [`lab`], [`init`], [`import`]
//! 6. [`cmd`]: the command line, the command context, one file per command (no command
//!    uses another)
//! 7. [`run`]: parse, build the context, dispatch, print the error once

#![forbid(unsafe_code)]

// base
pub mod checksum;
pub mod date;
pub mod error;
pub mod files;
pub mod net;
pub mod text;
pub mod timeouts;
// files the operator writes
pub mod config;
// keys, and bytes on the wire
pub mod keys;
pub mod wire;
// SSH as a client
pub mod ssh;
// domain
pub mod assess;
pub mod failover;
pub mod gateway;
pub mod import;
pub mod init;
pub mod lab;
pub mod node;
pub mod provision;
pub mod render;
// commands
pub mod cmd;
pub mod run;
