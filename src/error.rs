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

    /// A change reached the cluster but could not be verified there (exit 4).
    #[error("{0}")]
    Push(String),

    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The process exit code this error ends the program with.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::HostKey { .. } | Error::ReadFile { .. } => exit::USAGE,
            Error::Bind { .. } | Error::Storage { .. } | Error::Usage { .. } => exit::USAGE,
            Error::WriteFile { .. } | Error::Io(_) | Error::Lab(_) => exit::CHECK_FAILED,
            Error::Push(_) => exit::PROVISION_FAILED,
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
