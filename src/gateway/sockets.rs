//! Listening sockets that outlive the process: inherited from systemd's socket activation or
//! from `sftpha gateway supervise` (the `LISTEN_FDS` protocol: descriptors 3, 4, ... are
//! listening sockets), else bound here.
//!
//! Inherited sockets are matched to the configured addresses by their own local address, not
//! by position, so a socket unit may list them in any order; one that matches no configured
//! address is refused (a socket unit that says another port than gateway.toml is an error to
//! fix, not something to guess around).

use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::OnceLock;

use tokio::net::{TcpListener, TcpSocket};

use crate::error::{Error, Result};

/// The first descriptor of the `LISTEN_FDS` protocol.
pub const FIRST_FD: RawFd = 3;
/// Connections the kernel queues while no gateway process accepts (a restart): enough for
/// thousands of logins a second over a restart of a few hundred milliseconds. The kernel caps
/// it at `net.core.somaxconn` (4096 on current kernels).
pub const BACKLOG: u32 = 4096;

/// The two steps that need unsafe code, which the library forbids: `main.rs` provides them,
/// as it does the allocator.
pub struct Hooks {
    /// Takes ownership of an inherited descriptor; `None` if it is not open.
    pub adopt: fn(RawFd) -> Option<OwnedFd>,
    /// Makes `command`'s process get each of the descriptors as 3, 4, ... (close-on-exec
    /// cleared), and SIGTERM when its parent thread ends.
    pub hand_over: fn(&mut tokio::process::Command, Vec<RawFd>),
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Installs the hooks (once, from `main`).
pub fn install(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// The hooks, or an error that says this build cannot pass sockets.
pub fn hooks() -> Result<&'static Hooks> {
    HOOKS.get().ok_or_else(|| {
        Error::usage(
            "this build of sftpha cannot inherit or hand over sockets (no hooks installed)",
            None,
        )
    })
}

/// The listening sockets passed to this process, if any: `LISTEN_FDS` set, and `LISTEN_PID`
/// unset (our supervisor) or this process's pid (systemd). Each must be a TCP listening
/// socket.
pub fn inherited() -> Result<Vec<std::net::TcpListener>> {
    let Ok(count) = std::env::var("LISTEN_FDS") else {
        return Ok(Vec::new());
    };
    if let Ok(pid) = std::env::var("LISTEN_PID") {
        if pid.trim() != std::process::id().to_string() {
            // Meant for another process (a parent that did not clear it).
            return Ok(Vec::new());
        }
    }
    let count: i32 = count.trim().parse().map_err(|_| {
        Error::usage(format!(
            "LISTEN_FDS is `{count}`, not a number of inherited sockets"
        ), Some("LISTEN_FDS is set by systemd's socket activation or `sftpha gateway supervise`; unset it to let the gateway bind its own sockets"))
    })?;
    let mut sockets = Vec::new();
    for fd in FIRST_FD..FIRST_FD + count.clamp(0, 64) {
        let owned = (hooks()?.adopt)(fd).ok_or_else(|| {
            Error::usage(
                format!("LISTEN_FDS names descriptor {fd}, which is not open"),
                None,
            )
        })?;
        rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
            .map_err(std::io::Error::from)?;
        let listener = std::net::TcpListener::from(owned);
        listener.local_addr().map_err(|e| {
            Error::usage(
                format!("inherited descriptor {fd} is not a TCP listening socket: {e}"),
                None,
            )
        })?;
        listener.set_nonblocking(true)?;
        sockets.push(listener);
    }
    Ok(sockets)
}

/// Whether `found` (an inherited socket's address) serves `wanted` (a configured one); a
/// wanted port 0 (any) is served by any port of the address.
fn serves(found: SocketAddr, wanted: SocketAddr) -> bool {
    (found.port() == wanted.port() || wanted.port() == 0)
        && (found.ip() == wanted.ip()
            || (found.ip().is_unspecified() && wanted.ip().is_unspecified()))
}

/// Takes the inherited socket for each of `wanted`, binding the missing ones here. Exact
/// addresses are matched first, then port 0 ("any port": a supervisor's own ephemeral
/// bind) in the order given. An inherited socket that serves none of them is an error that
/// names both sides.
pub fn take_or_bind(
    mut inherited: Vec<std::net::TcpListener>,
    wanted: &[SocketAddr],
) -> Result<Vec<TcpListener>> {
    let mut slots: Vec<Option<std::net::TcpListener>> = wanted.iter().map(|_| None).collect();
    for any_port in [false, true] {
        for (slot, addr) in slots.iter_mut().zip(wanted) {
            if (addr.port() == 0) != any_port {
                continue;
            }
            let found = inherited
                .iter()
                .position(|l| l.local_addr().is_ok_and(|a| serves(a, *addr)));
            if let Some(i) = found {
                *slot = Some(inherited.remove(i));
            }
        }
    }
    if let Some(extra) = inherited.first() {
        let addr = extra
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let wanted: Vec<String> = wanted.iter().map(|a| a.to_string()).collect();
        return Err(Error::usage(
            format!(
                "an inherited listening socket is on {addr}, which the configuration does not use ({})",
                wanted.join(", ")
            ),
            Some("make the socket unit (systemd) and gateway.toml agree; a supervised gateway's addresses change only when its supervisor restarts"),
        ));
    }
    slots
        .into_iter()
        .zip(wanted)
        .map(|(slot, addr)| match slot {
            Some(listener) => {
                tracing::debug!(%addr, "listening on an inherited socket");
                Ok(TcpListener::from_std(listener)?)
            }
            None => bind(*addr),
        })
        .collect()
}

/// Binds `addr` with the gateway's backlog; the error names the address.
pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let bound = || -> std::io::Result<TcpListener> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    };
    bound().map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_sockets_match_by_address_not_position() {
        let a: SocketAddr = "0.0.0.0:2222".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(serves(a, a));
        assert!(serves(b, b));
        assert!(!serves(a, "0.0.0.0:2223".parse().unwrap()));
        assert!(serves(a, "0.0.0.0:0".parse().unwrap()));
        assert!(!serves(b, "127.0.0.2:8080".parse().unwrap()));
    }

    #[tokio::test]
    async fn an_inherited_socket_for_no_configured_address_is_refused() {
        let stray = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let wanted: SocketAddr = "127.0.0.2:0".parse().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_addr = taken.local_addr().unwrap();
        let got = take_or_bind(vec![taken], &[taken_addr]).unwrap();
        assert_eq!(got[0].local_addr().unwrap(), taken_addr);
        let err = take_or_bind(vec![stray], &[wanted])
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not use"), "{err}");
    }
}
