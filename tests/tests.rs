//! The one integration-test binary: real `sftpha` processes driven by real clients.

mod assess;
mod cli;
mod contracts;
mod fakehosts;
mod harness;
mod keys;
mod lab_failover;
mod node_clients;
mod node_ops;
mod node_security;
mod provision;
