//! `sftpha completions SHELL`: shell completion scripts, generated from the clap tree.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cmd::cli::Cli;
use crate::error::{exit, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Rendered in memory first: clap_complete panics when its writer fails, and a reader that
/// stops early (`| head -1`) is no error.
pub fn run(args: &Args) -> Result<u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(&render(args.shell))?;
    out.flush()?;
    Ok(exit::OK)
}

/// The completion script for `shell`, as `sftpha completions` prints it.
pub fn render(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sftpha", &mut out);
    out
}
