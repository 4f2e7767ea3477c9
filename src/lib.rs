//! sftpha: builds and runs an active-active, highly available SFTP cluster, and proves that
//! it fails over. The binary is a thin wrapper over [`run::main`].

#![forbid(unsafe_code)]

pub mod assess;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod error;
pub mod failover;
pub mod files;
pub mod gateway;
pub mod gateway_config;
pub mod http;
pub mod init;
pub mod keygen;
pub mod keyscan;
pub mod lab;
pub mod net;
pub mod node;
pub mod node_config;
pub mod provision;
pub mod proxy_protocol;
pub mod remote;
pub mod render;
pub mod run;
pub mod timeouts;
pub mod users;
pub mod users_edit;
