//! The whole program: parse, set up logging, run the command, print an error once, exit.
//!
//! Errors go to stderr as `error: ...` and `hint: ...` lines; with `--format json` they are
//! also printed on stdout as `{"error": {"kind", "message", "hint"}}`, so a program reading
//! stdout gets JSON on every path. A closed stdout (`| head -1`) is success, as in ripgrep.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cmd;
use crate::cmd::cli::{Cli, Command, Format, Resolved};
use crate::cmd::context::Context;
use crate::error::{exit, Error};

pub fn main() -> ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            if e.use_stderr()
                && json_asked(std::env::args_os().map(|a| a.to_string_lossy().into_owned()))
            {
                let message = e.render().to_string();
                let message = message.trim().trim_start_matches("error: ");
                print_json_error("usage", message, None);
            }
            return ExitCode::from(code);
        }
    };
    let opts = Resolved::new(&cli, &matches);
    init_logging(cli.verbose, cli.quiet, opts.color);
    match dispatch(&cli, &opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Error::Io(io) = &e {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::from(exit::OK);
                }
            }
            eprintln!("error: {e}");
            let hint = e.hint();
            if let Some(hint) = &hint {
                eprintln!("hint: {hint}");
            }
            if opts.format == Some(Format::Json) {
                print_json_error(e.kind(), &e.to_string(), hint.as_deref());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// Whether the command line asks for `--format json` (for errors found before it is parsed).
fn json_asked(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

/// The error as JSON on stdout (a failed write there is ignored: stderr has the error too).
fn print_json_error(kind: &str, message: &str, hint: Option<&str>) {
    use std::io::Write;
    // Pretty and in this key order, as every other JSON document sftpha prints.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        kind: &'a str,
        message: &'a str,
        hint: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Document<'a> {
        error: Body<'a>,
    }
    let error = Document {
        error: Body {
            kind,
            message,
            hint,
        },
    };
    let text = serde_json::to_string_pretty(&error).expect("an error serializes");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn dispatch(cli: &Cli, opts: &Resolved) -> Result<u8, Error> {
    if opts.format == Some(Format::Markdown)
        && !matches!(cli.command, Command::Assess(_) | Command::Init(_))
    {
        return Err(Error::usage(
            "`--format markdown` is only for `assess` and `init`",
            Some("use `--format human` or `--format json`"),
        ));
    }
    let ctx = Context::new(opts);
    let code = match &cli.command {
        Command::Init(args) => cmd::init::run(&ctx, args),
        Command::Assess(args) => cmd::assess::run(&ctx, args),
        Command::Provision(args) => cmd::provision::run(&ctx, args),
        Command::Status(args) => cmd::status::run(&ctx, args),
        Command::Users(command) => cmd::users::run(&ctx, command),
        Command::Keys(command) => cmd::keys::run(&ctx, command),
        Command::Import(command) => cmd::import::run(&ctx, command),
        Command::Upgrade(args) => cmd::upgrade::run(&ctx, args),
        Command::Inventory(args) => cmd::inventory::run(&ctx, args),
        Command::Node(command) => cmd::node::run(&ctx, command),
        Command::Gateway(command) => cmd::gateway::run(&ctx, command),
        Command::Lab(command) => cmd::lab::run(&ctx, command),
        Command::TestFailover(args) => cmd::test_failover::run(&ctx, args),
        Command::Completions(args) => cmd::completions::run(args),
        Command::Man(args) => cmd::man::run(args),
    };
    ctx.finish();
    code
}

fn init_logging(verbose: u8, quiet: u8, color: bool) {
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
