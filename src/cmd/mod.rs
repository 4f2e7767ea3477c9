//! One file per subcommand: its clap arguments and its `run`.

pub mod completions;
pub mod gateway;
pub mod lab;
pub mod man;
pub mod node;
pub mod test_failover;
