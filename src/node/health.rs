//! The node's HTTP endpoint on `health_listen`: `/healthz` for load balancers and `/metrics`
//! for Prometheus (served by [`crate::wire::http`]).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::node::UploadMode;
use crate::node::Shared;
use crate::wire::health::NodeHealth;
use crate::wire::http::{self, Response};

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let handler: http::Handler = Arc::new(move |path: &str| match path {
        "/healthz" | "/health" => {
            let (status, body) = health(&shared);
            Response::json(
                status,
                &serde_json::to_value(&body).expect("health serializes"),
            )
        }
        "/metrics" => Response::metrics(shared.metrics.render(
            &shared.config.file.name,
            shared.storage.writable(),
            shared.draining.is_cancelled(),
            &crate::node::metrics::Extra {
                startups: shared.startups.count() as i64,
                startups_evicted_total: shared.startups.evicted() as u64,
                fds_used: shared.fds.used(),
                fds_budget: shared.fds.limit(),
                password_checks_waiting: shared.passwords.waiting() as i64,
                password_checks_total: shared.passwords.verified(),
            },
        )),
        _ => Response::text(404, "not found: try /healthz or /metrics\n"),
    });
    http::serve(listener, handler).await
}

/// The `/healthz` status code and body.
pub fn health(shared: &Shared) -> (u16, NodeHealth) {
    let draining = shared.draining.is_cancelled();
    let writable = shared.storage.writable();
    let connections = shared.metrics.connections.load(Relaxed);
    let sessions = shared.metrics.sessions.load(Relaxed);
    let full = sessions >= shared.config.file.max_sessions as i64;
    let status = if draining {
        "draining"
    } else if !shared.storage.shared() {
        // Not on the cluster's storage (a missing mount): users would see other homes.
        "storage_not_shared"
    } else if !shared.storage.same() {
        // Unmounted or replaced: users would see empty homes.
        "storage_changed"
    } else if !writable {
        "storage_not_writable"
    } else if full {
        // New connections would be refused: a balancer should send them elsewhere.
        "full"
    } else if shared.fds.nearly_exhausted() {
        // Say so before the node runs out of descriptors, not after.
        "fd_limit"
    } else {
        "ok"
    };
    let users = shared.users();
    let identity = shared.identity();
    let storage = shared.storage.facts();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let body = NodeHealth {
        status: status.into(),
        node: shared.config.file.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        config_checksum: identity.config_checksum.clone(),
        users_checksum: users.checksum.clone(),
        users: users.len(),
        host_key_fingerprint: identity.fingerprints.first().cloned(),
        host_key_fingerprints: identity.fingerprints.clone(),
        host_certificates: identity.certificates.clone(),
        sessions,
        connections,
        startups: shared.startups.count(),
        fds_used: shared.fds.used(),
        fds_budget: shared.fds.limit(),
        password_checks_waiting: shared.passwords.waiting(),
        queued_bytes: shared.queues.used(),
        open_files: shared.metrics.open_files.load(Relaxed),
        max_sessions: shared.config.file.max_sessions,
        storage_writable: writable,
        storage_same: shared.storage.same(),
        storage_id: storage.id,
        storage_free_bytes: storage.free_bytes,
        storage_total_bytes: storage.total_bytes,
        time_unix_ms: Some(now_ms),
        draining,
        upload_mode: match shared.config.file.upload_mode {
            UploadMode::Atomic => "atomic",
            UploadMode::Resumable => "resumable",
        }
        .into(),
        uptime_seconds: shared.started.elapsed().as_secs(),
    };
    (if status == "ok" { 200 } else { 503 }, body)
}
