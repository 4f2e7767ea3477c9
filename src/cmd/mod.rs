//! One file per subcommand: its clap arguments and its `run`.

pub mod completions;
pub mod man;
pub mod node;
