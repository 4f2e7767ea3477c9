//! Counters and gauges of one node, exported in Prometheus text format on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct Metrics {
    pub connections_total: AtomicU64,
    pub connections_rejected_total: AtomicU64,
    pub connections: AtomicI64,
    pub sessions: AtomicI64,
    pub logins_ok_total: AtomicU64,
    pub logins_failed_total: AtomicU64,
    pub throttled_total: AtomicU64,
    pub bytes_in_total: AtomicU64,
    pub bytes_out_total: AtomicU64,
    pub operations_total: AtomicU64,
    pub errors_total: AtomicU64,
    pub uploads_total: AtomicU64,
    pub uploads_aborted_total: AtomicU64,
    pub downloads_total: AtomicU64,
    pub open_files: AtomicI64,
    pub users_reloads_total: AtomicU64,
    pub users_reload_errors_total: AtomicU64,
    pub audit_dropped_total: AtomicU64,
    pub startups_refused_total: AtomicU64,
}

/// Figures kept elsewhere than in [`Metrics`] (the startup table, the open-file budget).
pub struct Extra {
    pub startups: i64,
    pub startups_evicted_total: u64,
    pub fds_used: i64,
    pub fds_budget: i64,
    pub password_checks_waiting: i64,
    pub password_checks_total: u64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(
        &self,
        node: &str,
        storage_writable: bool,
        draining: bool,
        extra: &Extra,
    ) -> String {
        let evicted = AtomicU64::new(extra.startups_evicted_total);
        let checked = AtomicU64::new(extra.password_checks_total);
        let counters: [(&str, &AtomicU64, &str); 18] = [
            (
                "connections_total",
                &self.connections_total,
                "TCP connections accepted",
            ),
            (
                "connections_rejected_total",
                &self.connections_rejected_total,
                "connections closed before the SSH banner (limits, drain, PROXY errors)",
            ),
            (
                "logins_ok_total",
                &self.logins_ok_total,
                "successful logins",
            ),
            (
                "logins_failed_total",
                &self.logins_failed_total,
                "failed logins",
            ),
            (
                "throttled_total",
                &self.throttled_total,
                "connections refused because their source had too many failed logins",
            ),
            (
                "bytes_in_total",
                &self.bytes_in_total,
                "file bytes written by clients",
            ),
            (
                "bytes_out_total",
                &self.bytes_out_total,
                "file bytes read by clients",
            ),
            (
                "operations_total",
                &self.operations_total,
                "SFTP requests handled",
            ),
            (
                "errors_total",
                &self.errors_total,
                "SFTP requests answered with an error",
            ),
            ("uploads_total", &self.uploads_total, "uploads completed"),
            (
                "uploads_aborted_total",
                &self.uploads_aborted_total,
                "uploads abandoned before close (temporary file removed)",
            ),
            (
                "downloads_total",
                &self.downloads_total,
                "files read and closed",
            ),
            (
                "users_reloads_total",
                &self.users_reloads_total,
                "users.toml reloads that took effect",
            ),
            (
                "users_reload_errors_total",
                &self.users_reload_errors_total,
                "users.toml reloads refused as invalid",
            ),
            (
                "audit_dropped_total",
                &self.audit_dropped_total,
                "audit events lost because the audit writer fell behind",
            ),
            (
                "startups_refused_total",
                &self.startups_refused_total,
                "unauthenticated connections refused (per-source limit, max_startups)",
            ),
            (
                "password_checks_total",
                &checked,
                "passwords verified (argon2id computed)",
            ),
            (
                "startups_evicted_total",
                &evicted,
                "unauthenticated connections closed to make room for newcomers (max_startups)",
            ),
        ];
        let gauges: [(&str, i64, &str); 9] = [
            (
                "connections",
                self.connections.load(Relaxed),
                "open TCP connections",
            ),
            (
                "sessions",
                self.sessions.load(Relaxed),
                "logged-in SSH sessions",
            ),
            (
                "open_files",
                self.open_files.load(Relaxed),
                "open file handles (transfers in progress)",
            ),
            (
                "storage_writable",
                storage_writable as i64,
                "1 when the last storage write check succeeded",
            ),
            ("draining", draining as i64, "1 while the node drains"),
            (
                "startups",
                extra.startups,
                "connections that have not logged in yet",
            ),
            (
                "fds_used",
                extra.fds_used,
                "file descriptors the node has handed to connections, sessions and handles",
            ),
            (
                "fds_budget",
                extra.fds_budget,
                "file descriptors the node may hand out (the open-file limit less a reserve)",
            ),
            (
                "password_checks_waiting",
                extra.password_checks_waiting,
                "password verifications waiting for a verifier thread",
            ),
        ];
        let mut out = String::new();
        for (name, value, help) in counters {
            let _ = writeln!(out, "# HELP sftpha_node_{name} {help}\n# TYPE sftpha_node_{name} counter\nsftpha_node_{name}{{node=\"{node}\"}} {}", value.load(Relaxed));
        }
        for (name, value, help) in gauges {
            let _ = writeln!(out, "# HELP sftpha_node_{name} {help}\n# TYPE sftpha_node_{name} gauge\nsftpha_node_{name}{{node=\"{node}\"}} {value}");
        }
        out
    }
}
