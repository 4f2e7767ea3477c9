//! A TCP stream that can be cut from outside and that keeps a clock of its client's activity:
//! login grace timeouts, evictions and drain deadlines close a connection whose SSH session
//! runs in a task we do not own, and the connection's watchdog sees a client that went quiet
//! even while that session is blocked.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// When a connection last heard from its client, and when it last got an SFTP request.
pub struct Activity {
    origin: Instant,
    last_read_ms: AtomicU64,
    last_request_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            origin: Instant::now(),
            last_read_ms: AtomicU64::new(0),
            last_request_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Bytes arrived from the client.
    pub fn read(&self) {
        self.last_read_ms.store(self.now_ms(), Relaxed);
    }

    /// A request arrived (an SFTP packet, or a login).
    pub fn request(&self) {
        self.last_request_ms.store(self.now_ms(), Relaxed);
    }

    pub fn since_read(&self) -> Duration {
        Duration::from_millis(self.now_ms() - self.last_read_ms.load(Relaxed).min(self.now_ms()))
    }

    pub fn since_request(&self) -> Duration {
        Duration::from_millis(self.now_ms() - self.last_request_ms.load(Relaxed).min(self.now_ms()))
    }
}

pub struct KillableStream {
    inner: TcpStream,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
    activity: Arc<Activity>,
}

impl KillableStream {
    pub fn new(inner: TcpStream, token: CancellationToken, activity: Arc<Activity>) -> Self {
        KillableStream {
            inner,
            killed: Box::pin(token.cancelled_owned()),
            activity,
        }
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.killed.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed by the server",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

use std::future::Future;

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        result
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
