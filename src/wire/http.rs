//! The minimal HTTP/1.1 that health checks need: a server for `/healthz` and `/metrics`
//! (node and gateway) and a GET client for checking them (gateway, lab, test-failover).
//!
//! The server accepts a PROXY header before a request (AWS NLB sends one to health ports
//! too), closes every connection after one answer, and says nothing about clients that
//! connect and leave (plain TCP checks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::timeouts;

/// The largest request head or response we read.
const MAX_HEAD: usize = 8192;
const MAX_RESPONSE: usize = 1 << 20;

/// An answer: status code, content type and body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string() + "\n",
        }
    }
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
    pub fn metrics(body: String) -> Self {
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body,
        }
    }
}

/// Routes a request path (without the query) to an answer.
pub type Handler = Arc<dyn Fn(&str) -> Response + Send + Sync>;

pub async fn serve(listener: TcpListener, handler: Handler) {
    // Health endpoints live as long as their process.
    let forever = tokio_util::sync::CancellationToken::new();
    while let Some((stream, _)) = crate::net::accept(&listener, &forever).await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(timeouts::HTTP_REQUEST, answer(stream, handler)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, handler: Handler) -> std::io::Result<()> {
    // A PROXY header, if any, is consumed and ignored: the answer is the same for everyone.
    if crate::wire::proxy::read_header(&mut stream, timeouts::HTTP_REQUEST)
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
        if head.len() > MAX_HEAD {
            return respond(
                &mut stream,
                &Response::text(431, "request header too large\n"),
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
            &Response::text(405, "only GET and HEAD\n"),
            false,
        )
        .await;
    }
    let path = target.split('?').next().unwrap_or("");
    let response = handler(path);
    respond(&mut stream, &response, head_only).await
}

async fn respond(stream: &mut TcpStream, r: &Response, head_only: bool) -> std::io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        r.status,
        r.content_type,
        r.body.len()
    );
    if !head_only {
        out.push_str(&r.body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

/// GETs `path` from `addr` within `limit`: the status code and body.
pub async fn get(addr: SocketAddr, path: &str, limit: Duration) -> std::io::Result<(u16, String)> {
    tokio::time::timeout(limit, get_inner(addr, path))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from {addr} within {limit:?}"),
            )
        })?
}

async fn get_inner(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: sftpha\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE as u64)
        .read_to_end(&mut response)
        .await?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{addr} did not answer HTTP"),
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_and_gets() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Handler = Arc::new(|path: &str| match path {
            "/healthz" => Response::json(200, &serde_json::json!({"ok": true})),
            _ => Response::text(404, "no\n"),
        });
        tokio::spawn(serve(listener, handler));
        let (status, body) = get(addr, "/healthz", Duration::from_secs(5)).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body.trim(), r#"{"ok":true}"#);
        let (status, _) = get(addr, "/x?y=1", Duration::from_secs(5)).await.unwrap();
        assert_eq!(status, 404);
        // A bare connect-and-close does not disturb the server.
        drop(TcpStream::connect(addr).await.unwrap());
        assert_eq!(
            get(addr, "/healthz", Duration::from_secs(5))
                .await
                .unwrap()
                .0,
            200
        );
    }
}
