//! Accepting connections, the same way for every listener of sftpha.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::error::{Error, Result};
use tokio_util::sync::CancellationToken;

/// `host` as it goes before `:port`: IPv6 addresses in brackets.
pub fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The first address of `addr` (`host:port`), looked up within `limit`; errors for people.
pub async fn resolve(addr: &str, limit: Duration) -> std::result::Result<SocketAddr, String> {
    let mut found = tokio::time::timeout(limit, tokio::net::lookup_host(addr))
        .await
        .map_err(|_| format!("looking up `{addr}` timed out"))?
        .map_err(|e| format!("could not resolve `{addr}`: {e}"))?;
    found
        .next()
        .ok_or_else(|| format!("`{addr}` has no address"))
}

/// Back-off after a failed accept (EMFILE and friends), instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The next connection, or `None` once `stop` is cancelled. Failed accepts are logged and
/// retried after a short pause: they never end a listener.
pub async fn accept(
    listener: &TcpListener,
    stop: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.cancelled() => return None,
        };
        match accepted {
            Ok(conn) => return Some(conn),
            Err(e) => {
                tracing::warn!(listener = ?listener.local_addr().ok(), "accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Binds `addr`; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}
