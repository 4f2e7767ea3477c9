//! `sftpha man [COMMAND...|FILE]`: the man pages, rendered from the clap tree: sftpha(1), and one
//! page per command (`sftpha man users add` is sftpha-users-add(1)), which sftpha(1) refers to;
//! and one per file format, rendered from the structs that parse it (`sftpha man cluster.toml`
//! is sftpha-cluster.toml(5)).

use std::io::Write;

use clap::CommandFactory;

use crate::cmd::cli::Cli;
use crate::config::reference::FileFormat;
use crate::error::{exit, Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command whose page to print (`users add`), or a file format (`cluster.toml`,
    /// `node.toml`, `gateway.toml`, `users.toml`); none: sftpha(1).
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
    /// List every page's command, one per line (what `scripts/gen` writes to man/).
    #[arg(long, conflicts_with = "command")]
    pub list: bool,
}

pub fn run(args: &Args) -> Result<u8> {
    let page = if args.list {
        None
    } else if let [file] = args.command.as_slice() {
        match FileFormat::from_file(file) {
            Some(format) => Some(format.roff().into_bytes()),
            None if file.ends_with(".toml") => {
                return Err(Error::usage(
                    format!("`{file}` has no page"),
                    Some("the file formats: cluster.toml, node.toml, gateway.toml, users.toml"),
                ))
            }
            None => Some(render(&args.command)?),
        }
    } else {
        Some(render(&args.command)?)
    };
    // On a terminal the page is shown as man shows it, not as roff.
    if let Some(page) = &page {
        if show_on_terminal(page) {
            return Ok(exit::OK);
        }
    }
    let mut out = std::io::stdout().lock();
    if args.list {
        for path in pages() {
            writeln!(out, "{}", path.join(" "))?;
        }
        for format in FileFormat::ALL {
            writeln!(out, "{}", format.file())?;
        }
    } else if let Some(page) = page {
        out.write_all(&page)?;
    }
    out.flush()?;
    Ok(exit::OK)
}

/// Shows `page` with `man -l -` when stdout is a terminal and man is there; false otherwise
/// (then the roff is printed, for a file or a pipe).
fn show_on_terminal(page: &[u8]) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return false;
    }
    let child = std::process::Command::new("man")
        .args(["-l", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(page);
    }
    child.wait().is_ok_and(|s| s.success())
}

/// The command tree with globals propagated and names set as the pages show them.
fn tree() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    cli
}

/// Every command path that has a page of its own (`["users", "add"]`), in tree order.
pub fn pages() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&tree(), &mut Vec::new(), &mut out);
    out
}

/// The page of `path` in roff (sftpha(1) for an empty path).
pub fn render(path: &[String]) -> Result<Vec<u8>> {
    let mut cmd = tree();
    for (depth, name) in path.iter().enumerate() {
        let found = cmd.find_subcommand(name).cloned().ok_or_else(|| {
            Error::usage(
                format!("`sftpha {}` is not a command", path[..=depth].join(" ")),
                Some("`sftpha man --list` lists every page"),
            )
        })?;
        cmd = found;
    }
    if !path.is_empty() {
        let title = format!("sftpha-{}", path.join("-"));
        cmd = cmd.name(title);
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    Ok(out)
}
