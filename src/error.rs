//! Errors in two tiers. The domain modules return their own typed errors, whose variants
//! carry data, not sentences: [`KeyError`] (making and encoding keys), [`LabError`] (the lab's
//! processes), [`FailoverError`] (the failover test), [`ClientError`] (our SFTP client) and
//! `ssh::remote::RemoteError` (commands on hosts, reported per host). [`Error`] is what a command returns: every domain error
//! converts into it, and it alone maps errors to the documented exit codes, to the `kind`
//! of JSON output and to a hint, in one place.

use std::io;
use std::path::{Path, PathBuf};

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

    /// cluster.toml is not where `-c` (or SFTPHA_CLUSTER, or the default) says.
    #[error("could not read `{}`: {source}", path.display())]
    NoCluster {
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
        /// The hint that names the format's reference page and the key in it.
        doc: Option<String>,
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

    #[error("{0}")]
    Key(#[from] KeyError),

    #[error("lab: {0}")]
    Lab(#[from] LabError),

    #[error("{0}")]
    Failover(#[from] FailoverError),

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

    /// A change reached the cluster, but a login with the new user key through the gateway
    /// failed (exit 4).
    #[error("no login through the gateway {addr} as `{user}` with the new key: {source}")]
    NewKeyLogin {
        addr: String,
        user: String,
        #[source]
        source: Box<ClientError>,
    },

    /// A step that would be unsafe in the cluster's present state was not taken; `code` says
    /// why (3: hosts not reached, 4: hosts not in the state the step needs).
    #[error("{message}")]
    Refused {
        message: String,
        hint: String,
        code: u8,
    },

    #[error("{0}")]
    Import(#[from] ImportError),

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
            Error::NoCluster { .. } => exit::USAGE,
            Error::Bind { .. } | Error::Storage { .. } | Error::Usage { .. } => exit::USAGE,
            Error::LabStart { .. } => exit::USAGE,
            Error::WriteFile { .. } | Error::Io(_) | Error::Lab(_) => exit::CHECK_FAILED,
            Error::Key(_) | Error::Failover(_) => exit::CHECK_FAILED,
            Error::Import(ImportError::Unreachable(_)) => exit::UNREACHABLE,
            Error::Import(_) => exit::USAGE,
            Error::LabStopped { .. } => exit::UNREACHABLE,
            Error::NewKeyLogin { .. } => exit::PROVISION_FAILED,
            Error::Refused { code, .. } => *code,
            Error::Interrupted { signal, .. } => exit::interrupted(signal),
        }
    }

    /// The `kind` of the error in JSON output: stable, snake_case.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ReadFile { .. } | Error::NoCluster { .. } => "read_file",
            Error::WriteFile { .. } => "write_file",
            Error::Config { .. } => "config",
            Error::Bind { .. } => "bind",
            Error::HostKey { .. } => "host_key",
            Error::Storage { .. } => "storage",
            Error::Usage { .. } => "usage",
            Error::Key(_) => "key",
            Error::Lab(_) => "lab",
            Error::Failover(_) => "failover",
            Error::LabStart { .. } => "lab_start",
            Error::LabStopped { .. } => "lab_stopped",
            Error::Interrupted { .. } => "interrupted",
            Error::NewKeyLogin { .. } => "push",
            Error::Refused { .. } => "refused",
            Error::Import(ImportError::Unreachable(_)) => "unreachable",
            Error::Import(_) => "import",
            Error::Io(_) => "io",
        }
    }

    /// A line of advice printed under the error, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config { doc: Some(doc), .. } => Some(doc.clone()),
            Error::Config { .. } => Some("fix the file and run again".into()),
            Error::HostKey { .. } => Some(
                "host keys are OpenSSH private key files, e.g. made with `ssh-keygen -t ed25519 -N '' -f FILE`".into(),
            ),
            Error::Bind { .. } => Some("is another process using the port?".into()),
            Error::NoCluster { .. } => Some(
                "`sftpha init` writes a cluster.toml (and users.toml) there; or point -c, or SFTPHA_CLUSTER, at yours".into(),
            ),
            Error::Usage { hint, .. } => hint.clone(),
            Error::Refused { hint, .. } => Some(hint.clone()),
            Error::Import(e) => Some(e.hint()),
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
            doc: None,
        }
    }

    /// Sets the hint of an error about `file` to `doc(key)`, the words that name the format's
    /// reference page (an error about another file, read on the way, keeps its own).
    pub fn documented_in(mut self, file: &Path, hint: impl FnOnce(Option<&str>) -> String) -> Self {
        if let Error::Config { path, key, doc, .. } = &mut self {
            if path == file && doc.is_none() {
                *doc = Some(hint(key.as_deref()));
            }
        }
        self
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key could not be made or encoded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no randomness for a new key: {0}")]
    Randomness(String),
    #[error("cannot make a key: {0}")]
    Generate(russh::keys::ssh_key::Error),
    #[error("cannot encode a key: {0}")]
    Encode(russh::keys::ssh_key::Error),
}

/// The old OpenSSH server could not be read (`sftpha import openssh`).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not reached or not logged into (exit 3); the message is the SSH client's.
    #[error("{0}")]
    Unreachable(String),
    /// A command on the old host failed (exit 2).
    #[error("{host}: {command} failed: {message}")]
    Command {
        host: String,
        command: String,
        message: String,
    },
    /// A command printed what OpenSSH does not print (exit 2).
    #[error("{host}: the output of `{command}` is not understood: {message}")]
    Output {
        host: String,
        command: String,
        message: String,
    },
}

impl ImportError {
    pub fn hint(&self) -> String {
        match self {
            ImportError::Unreachable(_) => "the old host must be in the cluster's known_hosts (or run with --accept-new-host-keys after checking its fingerprint), and the login of --ssh-user (default: `[ssh] user`) must accept `[ssh] identity` or the ssh-agent's keys".into(),
            ImportError::Command { .. } => "the import reads `sshd -T`, /etc/shadow and the host keys: log in as root (--ssh-user root) or as a user with passwordless sudo".into(),
            ImportError::Output { .. } => "is `sshd` on the old host OpenSSH's? `sshd -T` must print its effective configuration".into(),
        }
    }
}

/// A lab process could not be found or signalled, or the lab's state is not as expected.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("{0} is not running")]
    NotRunning(String),
    #[error("{name} has no valid pid ({pid})")]
    BadPid { name: String, pid: u32 },
    #[error("signal {name} ({pid}): {source}")]
    Signal {
        name: String,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("the gateway has never been ready")]
    GatewayNeverReady,
    #[error("{node} (pid {pid}) still runs {seconds}s after the fault")]
    StillRunning {
        node: String,
        pid: u32,
        seconds: u64,
    },
    #[error("`{value}` in lab.json is not {what}")]
    BadLabFile { value: String, what: &'static str },
}

/// The failover test could not set up or undo what it needs.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("could not log in through the gateway to set up: {0}")]
    SetupLogin(Box<ClientError>),
    #[error("could not make the workload's folders: {0}")]
    SetupFolders(String),
    #[error("no fault was in force")]
    NoFault,
    #[error("the fault could not be undone: {0}")]
    Restore(String),
    #[error("the fault could not be injected: {0}")]
    Inject(String),
}

/// An SFTP login or operation of our client (test-failover, provision's checks) failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("timed out")]
    Timeout,
    #[error("host key {seen} is not the cluster's {expected}")]
    HostKey { seen: String, expected: String },
    #[error("authentication refused")]
    AuthRefused,
    #[error("ssh: {0}")]
    Ssh(#[from] russh::Error),
    #[error("sftp: {0}")]
    Sftp(#[from] russh_sftp::client::error::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The address could not be resolved or reached.
    #[error("{0}")]
    Unreachable(String),
}
