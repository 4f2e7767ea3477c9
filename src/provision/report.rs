//! What a provision run reports: per host, what was (or would be) done to every file and
//! service, and the checks from outside.

use serde::Serialize;

use super::host::{FileAction, FileChange, ServiceAction, ServiceChange};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Dry run: what would happen.
    Planned,
    Unchanged,
    Changed,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub roles: Vec<String>,
    /// Every managed file and what was (or would be) done to it.
    pub files: Vec<FileChange>,
    pub services: Vec<ServiceChange>,
    pub result: Outcome,
    pub error: Option<String>,
    /// The host failed because it could not be reached or logged into over SSH (exit 3 when
    /// every failure is of this kind).
    pub unreachable: bool,
    pub elapsed_ms: u64,
}

impl HostReport {
    /// The changed items, for the table: `node.toml (change), node (restart)`.
    pub fn changed_items(&self) -> Vec<String> {
        let files = self
            .files
            .iter()
            .filter(|f| f.action != FileAction::Unchanged)
            .map(|f| format!("{} ({})", f.item, action_name(f.action)));
        let services = self
            .services
            .iter()
            .filter(|s| s.action != ServiceAction::Unchanged)
            .map(|s| format!("{} ({})", s.service.name(), service_action_name(s.action)));
        files.chain(services).collect()
    }
}

pub fn action_name(a: FileAction) -> &'static str {
    match a {
        FileAction::Create => "create",
        FileAction::Change => "change",
        FileAction::Mode => "mode",
        FileAction::Remove => "remove",
        FileAction::Unchanged => "unchanged",
    }
}

pub fn service_action_name(a: ServiceAction) -> &'static str {
    match a {
        ServiceAction::Stop => "stop",
        ServiceAction::Start => "start",
        ServiceAction::Restart => "restart",
        ServiceAction::Reload => "reload",
        ServiceAction::Unchanged => "unchanged",
    }
}

/// One verification, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    /// Failed only because no node was reachable to run it on.
    #[serde(skip)]
    pub blocked: bool,
}

impl Report {
    /// 0 when all went well; 3 when every failure is a host that could not be reached or
    /// logged into over SSH; 4 when anything else failed (hosts may also be unreachable).
    pub fn exit_code(&self) -> u8 {
        use crate::error::exit;
        if self.ok {
            exit::OK
        } else if self.only_unreachable() {
            exit::UNREACHABLE
        } else {
            exit::PROVISION_FAILED
        }
    }

    /// Every failure is a host that could not be reached or logged into (or a check left
    /// with no node to run on): what exit code 3 means.
    pub fn only_unreachable(&self) -> bool {
        let failed: Vec<&HostReport> = self
            .hosts
            .iter()
            .filter(|h| h.result == Outcome::Failed)
            .collect();
        !failed.is_empty()
            && failed.iter().all(|h| h.unreachable)
            && self.checks.iter().all(|c| c.ok || c.blocked)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub dry_run: bool,
    /// Empty in a dry run before the first real run (the key does not exist yet).
    pub host_key_fingerprint: String,
    /// Every host key the nodes hold, the presented one first (two during a rotation).
    pub host_key_fingerprints: Vec<String>,
    /// Keys this run generated beside cluster.toml (back them up).
    pub generated_keys: Vec<String>,
    /// Host keys a real run with `--accept-new-host-keys` would record in known_hosts (a
    /// dry run records nothing).
    pub would_record: Vec<String>,
    /// Host certificates this run issued or renewed.
    pub issued_certificates: Vec<String>,
    pub hosts: Vec<HostReport>,
    pub checks: Vec<Check>,
    pub ok: bool,
    pub elapsed_ms: u64,
}
