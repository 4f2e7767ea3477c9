//! The node's HTTP endpoint on `health_listen`: `/healthz` for load balancers and `/metrics`
//! for Prometheus. It accepts a PROXY header in front of a request (AWS NLB sends one to
//! health ports too) and stays quiet about bare TCP checks that connect and close.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::node::Shared;
use crate::timeouts;

/// The largest request head we read.
const MAX_REQUEST: usize = 8192;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("health endpoint accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(timeouts::HTTP_REQUEST, answer(stream, shared)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    // A PROXY header, if any, is consumed and ignored: the answer is the same for everyone.
    if crate::proxy_protocol::read_header(&mut stream, timeouts::HTTP_REQUEST)
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return respond(
                &mut stream,
                431,
                "text/plain",
                "request header too large\n",
                false,
            )
            .await;
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut stream,
            405,
            "text/plain",
            "only GET and HEAD\n",
            head_only,
        )
        .await;
    }
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/healthz" | "/health" => {
            let (status, body) = health(&shared);
            respond(&mut stream, status, "application/json", &body, head_only).await
        }
        "/metrics" => {
            let body = shared.metrics.render(
                &shared.config.file.name,
                shared.storage_writable.load(Relaxed),
                shared.draining.load(Relaxed),
            );
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4",
                &body,
                head_only,
            )
            .await
        }
        _ => {
            respond(
                &mut stream,
                404,
                "text/plain",
                "not found: try /healthz or /metrics\n",
                head_only,
            )
            .await
        }
    }
}

/// The `/healthz` status code and JSON body.
pub fn health(shared: &Shared) -> (u16, String) {
    let draining = shared.draining.load(Relaxed);
    let writable = shared.storage_writable.load(Relaxed);
    let connections = shared.metrics.connections.load(Relaxed);
    let full = connections >= shared.config.file.max_sessions as i64;
    let status = if draining {
        "draining"
    } else if !writable {
        "storage_not_writable"
    } else if full {
        // New connections would be refused: a balancer should send them elsewhere.
        "full"
    } else {
        "ok"
    };
    let users = shared.users();
    let body = json!({
        "status": status,
        "node": shared.config.file.name,
        "version": env!("CARGO_PKG_VERSION"),
        "config_checksum": shared.config.checksum,
        "users_checksum": users.checksum,
        "users": users.len(),
        "host_key_fingerprint": shared.host_key_fingerprints.first(),
        "host_key_fingerprints": shared.host_key_fingerprints,
        "sessions": shared.metrics.sessions.load(Relaxed),
        "connections": connections,
        "open_files": shared.metrics.open_files.load(Relaxed),
        "max_sessions": shared.config.file.max_sessions,
        "storage_writable": writable,
        "draining": draining,
        "upload_mode": shared.config.file.upload_mode,
        "uptime_seconds": shared.started.elapsed().as_secs(),
    });
    (
        if status == "ok" { 200 } else { 503 },
        body.to_string() + "\n",
    )
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
