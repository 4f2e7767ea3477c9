//! Counters and gauges of one node, exported in Prometheus text format on `/metrics`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::wire::metrics::{Exposition, Kind};

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
        let mut e = Exposition::new("sftpha_node", "node", node);
        e.one(
            "connections_total",
            Kind::Counter,
            "TCP connections accepted",
            self.connections_total.load(Relaxed) as i64,
        );
        e.one(
            "connections_rejected_total",
            Kind::Counter,
            "connections closed before the SSH banner (limits, drain, PROXY errors)",
            self.connections_rejected_total.load(Relaxed) as i64,
        );
        e.one(
            "logins_ok_total",
            Kind::Counter,
            "successful logins",
            self.logins_ok_total.load(Relaxed) as i64,
        );
        e.one(
            "logins_failed_total",
            Kind::Counter,
            "failed logins",
            self.logins_failed_total.load(Relaxed) as i64,
        );
        e.one(
            "throttled_total",
            Kind::Counter,
            "connections refused because their source had too many failed logins",
            self.throttled_total.load(Relaxed) as i64,
        );
        e.one(
            "bytes_in_total",
            Kind::Counter,
            "file bytes written by clients",
            self.bytes_in_total.load(Relaxed) as i64,
        );
        e.one(
            "bytes_out_total",
            Kind::Counter,
            "file bytes read by clients",
            self.bytes_out_total.load(Relaxed) as i64,
        );
        e.one(
            "operations_total",
            Kind::Counter,
            "SFTP requests handled",
            self.operations_total.load(Relaxed) as i64,
        );
        e.one(
            "errors_total",
            Kind::Counter,
            "SFTP requests answered with an error",
            self.errors_total.load(Relaxed) as i64,
        );
        e.one(
            "uploads_total",
            Kind::Counter,
            "uploads completed",
            self.uploads_total.load(Relaxed) as i64,
        );
        e.one(
            "uploads_aborted_total",
            Kind::Counter,
            "uploads abandoned before close (temporary file removed)",
            self.uploads_aborted_total.load(Relaxed) as i64,
        );
        e.one(
            "downloads_total",
            Kind::Counter,
            "files read and closed",
            self.downloads_total.load(Relaxed) as i64,
        );
        e.one(
            "users_reloads_total",
            Kind::Counter,
            "users.toml reloads that took effect",
            self.users_reloads_total.load(Relaxed) as i64,
        );
        e.one(
            "users_reload_errors_total",
            Kind::Counter,
            "users.toml reloads refused as invalid",
            self.users_reload_errors_total.load(Relaxed) as i64,
        );
        e.one(
            "audit_dropped_total",
            Kind::Counter,
            "audit events lost because the audit writer fell behind",
            self.audit_dropped_total.load(Relaxed) as i64,
        );
        e.one(
            "startups_refused_total",
            Kind::Counter,
            "unauthenticated connections refused (per-source limit, max_startups)",
            self.startups_refused_total.load(Relaxed) as i64,
        );
        e.one(
            "password_checks_total",
            Kind::Counter,
            "passwords verified (argon2id computed)",
            extra.password_checks_total as i64,
        );
        e.one(
            "startups_evicted_total",
            Kind::Counter,
            "unauthenticated connections closed to make room for newcomers (max_startups)",
            extra.startups_evicted_total as i64,
        );
        e.one(
            "connections",
            Kind::Gauge,
            "open TCP connections",
            self.connections.load(Relaxed),
        );
        e.one(
            "sessions",
            Kind::Gauge,
            "logged-in SSH sessions",
            self.sessions.load(Relaxed),
        );
        e.one(
            "open_files",
            Kind::Gauge,
            "open file handles (transfers in progress)",
            self.open_files.load(Relaxed),
        );
        e.one(
            "storage_writable",
            Kind::Gauge,
            "1 when the last storage write check succeeded",
            storage_writable as i64,
        );
        e.one(
            "draining",
            Kind::Gauge,
            "1 while the node drains",
            draining as i64,
        );
        e.one(
            "startups",
            Kind::Gauge,
            "connections that have not logged in yet",
            extra.startups,
        );
        e.one(
            "fds_used",
            Kind::Gauge,
            "file descriptors the node has handed to connections, sessions and handles",
            extra.fds_used,
        );
        e.one(
            "fds_budget",
            Kind::Gauge,
            "file descriptors the node may hand out (the open-file limit less a reserve)",
            extra.fds_budget,
        );
        e.one(
            "password_checks_waiting",
            Kind::Gauge,
            "password verifications waiting for a verifier thread",
            extra.password_checks_waiting,
        );
        e.finish()
    }
}
