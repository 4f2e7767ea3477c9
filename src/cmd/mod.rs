//! The command layer: the command line ([`cli`]), what every command is given ([`context`]),
//! how shared reports look ([`output`]), then one file per subcommand with its clap
//! arguments and its `run`. A command calls the domain modules below it, never another
//! command.

pub mod cli;
pub mod context;
pub mod output;

pub mod assess;
pub mod completions;
pub mod gateway;
pub mod import;
pub mod init;
pub mod inventory;
pub mod keys;
pub mod lab;
pub mod man;
pub mod node;
pub mod provision;
pub mod status;
pub mod test_failover;
pub mod upgrade;
pub mod users;
