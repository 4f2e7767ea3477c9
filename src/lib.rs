//! sftpha: builds and runs an active-active, highly available SFTP cluster, and proves that
//! it fails over. The binary is a thin wrapper over [`run::main`].

#![forbid(unsafe_code)]

pub mod assess;
pub mod checksum;
pub mod cmd;
pub mod config;
pub mod error;
pub mod failover;
pub mod files;
pub mod gateway;
pub mod init;
pub mod keys;
pub mod lab;
pub mod net;
pub mod node;
pub mod provision;
pub mod render;
pub mod run;
pub mod ssh;
pub mod text;
pub mod timeouts;
pub mod wire;
