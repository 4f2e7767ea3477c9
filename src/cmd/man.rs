//! `sftpha man`: the man page, rendered from the clap tree.

use std::io::Write;

use clap::CommandFactory;

use crate::cmd::cli::Cli;
use crate::error::{exit, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    out.write_all(&render())?;
    out.flush()?;
    Ok(exit::OK)
}

/// The man page in roff, as `sftpha man` prints it.
pub fn render() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
}
