//! The whole program: parse, set up logging, run the command, print an error once, exit.

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::cmd;
use crate::error::{exit, Error};

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(cli.verbose, cli.quiet);
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Error::Io(io) = &e {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::from(exit::OK);
                }
            }
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(cli: &Cli) -> Result<u8, Error> {
    if cli.format == Some(crate::cli::Format::Markdown)
        && !matches!(cli.command, Command::Assess(_) | Command::Init(_))
    {
        return Err(Error::usage(
            "`--format markdown` is only for `assess` and `init`",
            Some("use `--format human` or `--format json`"),
        ));
    }
    match &cli.command {
        Command::Init(args) => cmd::init::run(cli, args),
        Command::Assess(args) => cmd::assess::run(cli, args),
        Command::Provision(args) => cmd::provision::run(cli, args),
        Command::Status(args) => cmd::status::run(cli, args),
        Command::Users(command) => cmd::users::run(cli, command),
        Command::Keys(command) => cmd::keys::run(cli, command),
        Command::Upgrade(args) => cmd::upgrade::run(cli, args),
        Command::Inventory(args) => cmd::inventory::run(cli, args),
        Command::Node(command) => cmd::node::run(cli, command),
        Command::Gateway(command) => cmd::gateway::run(command),
        Command::Lab(command) => cmd::lab::run(cli, command),
        Command::TestFailover(args) => cmd::test_failover::run(cli, args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
    }
}

fn init_logging(verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    // Our own crate at the chosen level; the SSH libraries only say something when it matters.
    let default = format!("warn,sftpha={level}");
    let filter = tracing_subscriber::EnvFilter::try_from_env("SFTPHA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
