//! The one integration-test binary: real `sftpha` processes driven by real clients.

mod assess;
mod attack;
mod cli;
mod cluster_failover;
mod contracts;
mod fakehosts;
mod fuzz_regressions;
mod harness;
mod import;
mod keys;
mod lab_failover;
mod layers;
mod node_attacks;
mod node_clients;
mod node_ops;
mod node_security;
mod provision;
mod systemd;
