//! What every command is given: built once in [`crate::run`] from the global options.
//!
//! The output format, whether progress is shown, the cluster (loaded on first use, so the
//! commands that need none, `node run` or `lab up`, never read cluster.toml), one tokio
//! runtime (built on first use, shared by every async step of the command), and one way to
//! print a report or a server's ready line.

use std::cell::OnceCell;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cmd::cli::{Format, Resolved};
use crate::config::cluster::Cluster;
use crate::error::{Error, Result};

pub struct Context {
    format: Format,
    /// `--format` as given, `None` when left to the terminal.
    format_asked: Option<Format>,
    /// `-q` count; `-v` is only for logging, set up before the context.
    quiet: u8,
    /// `--yes`: never prompt.
    pub yes: bool,
    cluster_path: PathBuf,
    cluster: OnceCell<Cluster>,
    runtime: OnceCell<tokio::runtime::Runtime>,
}

impl Context {
    pub fn new(opts: &Resolved) -> Context {
        Context {
            format: opts.format(),
            format_asked: opts.format,
            quiet: opts.quiet,
            yes: opts.yes,
            cluster_path: opts.cluster.clone(),
            cluster: OnceCell::new(),
            runtime: OnceCell::new(),
        }
    }

    /// The resolved `--format` (human on a terminal, JSON otherwise unless asked).
    pub fn format(&self) -> Format {
        self.format
    }

    /// `--format` as given (`None`: chosen by whether stdout is a terminal).
    pub fn format_asked(&self) -> Option<Format> {
        self.format_asked
    }

    /// Progress lines on stderr: human output and not `-q`.
    pub fn progress(&self) -> bool {
        self.format == Format::Human && self.quiet == 0
    }

    /// Guidance on stderr (next steps, notes): not with `-q`.
    pub fn chatty(&self) -> bool {
        self.quiet == 0
    }

    /// `-c PATH` as given.
    pub fn cluster_path(&self) -> &Path {
        &self.cluster_path
    }

    /// The cluster, loaded and validated on first use.
    pub fn cluster(&self) -> Result<&Cluster> {
        if let Some(c) = self.cluster.get() {
            return Ok(c);
        }
        let loaded = Cluster::load(&self.cluster_path).map_err(|e| match e {
            Error::ReadFile { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::NoCluster { path, source }
            }
            e => e,
        })?;
        Ok(self.cluster.get_or_init(|| loaded))
    }

    /// The command's runtime: multi-threaded, built on first use.
    pub fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        if let Some(r) = self.runtime.get() {
            return Ok(r);
        }
        let built = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .thread_name("sftpha")
            .build()?;
        Ok(self.runtime.get_or_init(|| built))
    }

    /// Ends the command: work still running on the runtime's threads (a restore on a
    /// blocking thread, a session being closed) gets two seconds, then the process exits.
    pub fn finish(self) {
        if let Some(runtime) = self.runtime.into_inner() {
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }

    /// Runs one async step of the command to its end.
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        Ok(self.runtime()?.block_on(future))
    }

    /// Prints a command's report on stdout: pretty JSON, or the human text.
    pub fn print<T: Serialize>(&self, report: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
        self.print_as(self.format == Format::Json, report, human)
    }

    /// [`Context::print`] with the choice of JSON made by the command.
    pub fn print_as<T: Serialize>(
        &self,
        json: bool,
        report: &T,
        human: impl FnOnce(&T) -> String,
    ) -> Result<()> {
        let text = match json {
            true => serde_json::to_string_pretty(report).expect("reports serialize") + "\n",
            false => human(report),
        };
        self.print_text(&text)
    }

    /// Writes `text` on stdout as it is. A reader that stopped early (`| head`) is no error,
    /// and the command's verdict still decides the exit code: `assess | head` under
    /// pipefail fails a failing design.
    pub fn print_text(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    /// Prints a server's ready line on stdout and, if asked, writes it to a file atomically.
    /// (Called from the server's threads: takes no `self`.)
    pub fn announce(line: &str, file: Option<&Path>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        if let Some(path) = file {
            if let Err(e) =
                crate::files::write_atomically(path, format!("{line}\n").as_bytes(), 0o644)
            {
                tracing::error!("could not write the ready file: {e}");
            }
        }
    }

    /// Runs a server (node or gateway) on its own multi-threaded runtime, its threads named
    /// for it, until it returns; work still running on worker threads afterwards gets a
    /// second to finish before the process exits. The command's runtime is not used: a
    /// server sizes its runtime to the machine.
    pub fn serve<F>(&self, thread_name: &str, server: F) -> Result<u8>
    where
        F: Future<Output = Result<()>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(thread_name)
            .build()?;
        runtime.block_on(server)?;
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        Ok(crate::error::exit::OK)
    }
}
