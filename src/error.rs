//! The crate's error type: one enum whose variants carry raw data, each knowing its exit code.

use std::io;
use std::path::PathBuf;

/// Process exit codes, as documented in the README and ../shared/DESIGN.md.
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// A check failed (assessment over threshold, objectives missed, unhealthy cluster).
    pub const CHECK_FAILED: u8 = 1;
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
    /// Could not reach or log into a host.
    pub const UNREACHABLE: u8 = 3;
    /// Provisioning failed on at least one host.
    pub const PROVISION_FAILED: u8 = 4;

    /// A command ended by a signal exits as shells report it: 128 + the signal's number.
    pub fn interrupted(signal: &str) -> u8 {
        match signal {
            "SIGHUP" => 129,
            "SIGINT" => 130,
            "SIGTERM" => 143,
            _ => 128,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read `{}`: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("could not write `{}`: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A configuration file is syntactically or semantically invalid.
    #[error("invalid `{}`: {}{message}", path.display(), key.as_deref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Config {
        path: PathBuf,
        key: Option<String>,
        message: String,
    },

    #[error("could not listen on `{addr}`: {source}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },

    #[error("could not load host key `{}`: {message}", path.display())]
    HostKey { path: PathBuf, message: String },

    #[error("storage `{}` is not usable: {source}", path.display())]
    Storage {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The command line asks for something that cannot be done as asked.
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },

    /// A lab process could not be started, found or stopped.
    #[error("lab: {0}")]
    Lab(String),

    /// A lab process did not start; `stopped` are the processes `lab up` stopped again.
    #[error("lab: {process} did not start: {cause}{}", stopped_note(stopped))]
    LabStart {
        process: String,
        cause: String,
        log: PathBuf,
        stopped: Vec<String>,
    },

    /// None of the lab's processes runs.
    #[error("the lab in `{}` is not running: none of its processes runs", dir.display())]
    LabStopped { dir: PathBuf },

    /// SIGINT or SIGTERM ended the command; `restored` says what was undone first.
    #[error("interrupted by {signal}{}", if restored.is_empty() { String::new() } else { format!("; restored first: {}", restored.join("; ")) })]
    Interrupted {
        signal: &'static str,
        restored: Vec<String>,
    },

    /// A change reached the cluster but could not be verified there (exit 4).
    #[error("{0}")]
    Push(String),

    /// A step that would be unsafe in the cluster's present state was not taken; `code` says
    /// why (3: hosts not reached, 4: hosts not in the state the step needs).
    #[error("{message}")]
    Refused {
        message: String,
        hint: String,
        code: u8,
    },

    #[error("{0}")]
    Io(#[from] io::Error),
}

fn stopped_note(stopped: &[String]) -> String {
    if stopped.is_empty() {
        String::new()
    } else {
        format!(
            "; stopped what this `lab up` had started ({})",
            stopped.join(", ")
        )
    }
}

impl Error {
    /// The process exit code this error ends the program with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::HostKey { .. } | Error::ReadFile { .. } => exit::USAGE,
            Error::Bind { .. } | Error::Storage { .. } | Error::Usage { .. } => exit::USAGE,
            Error::LabStart { .. } => exit::USAGE,
            Error::WriteFile { .. } | Error::Io(_) | Error::Lab(_) => exit::CHECK_FAILED,
            Error::LabStopped { .. } => exit::UNREACHABLE,
            Error::Push(_) => exit::PROVISION_FAILED,
            Error::Refused { code, .. } => *code,
            Error::Interrupted { signal, .. } => exit::interrupted(signal),
        }
    }

    /// The `kind` of the error in JSON output: stable, snake_case.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ReadFile { .. } => "read_file",
            Error::WriteFile { .. } => "write_file",
            Error::Config { .. } => "config",
            Error::Bind { .. } => "bind",
            Error::HostKey { .. } => "host_key",
            Error::Storage { .. } => "storage",
            Error::Usage { .. } => "usage",
            Error::Lab(_) => "lab",
            Error::LabStart { .. } => "lab_start",
            Error::LabStopped { .. } => "lab_stopped",
            Error::Interrupted { .. } => "interrupted",
            Error::Push(_) => "push",
            Error::Refused { .. } => "refused",
            Error::Io(_) => "io",
        }
    }

    /// A line of advice printed under the error, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config { .. } => {
                Some("fix the file and run again; `sftpha man` documents every key".into())
            }
            Error::HostKey { .. } => Some(
                "host keys are OpenSSH private key files, e.g. made with `ssh-keygen -t ed25519 -N '' -f FILE`".into(),
            ),
            Error::Bind { .. } => Some("is another process using the port?".into()),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Refused { hint, .. } => Some(hint.clone()),
            Error::LabStart { cause, log, .. } if cause.contains("could not listen") => Some(format!(
                "a port is taken: `--port` sets the gateway's (0, the default, takes a free one); the whole log is {}",
                log.display()
            )),
            Error::LabStart { log, .. } => Some(format!("the whole log is {}", log.display())),
            Error::LabStopped { dir } => Some(format!(
                "start it with `sftpha lab up --dir {}`",
                dir.display()
            )),
            _ => None,
        }
    }

    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }

    pub fn config(path: impl Into<PathBuf>, key: Option<&str>, message: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            key: key.map(str::to_owned),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
