//! PROXY protocol v1 and v2 (haproxy.org/download/2.9/doc/proxy-protocol.txt): reading the
//! header a load balancer puts before the client's bytes, and writing a v2 header.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;
/// The longest v2 header we accept (addresses plus generous TLVs).
const V2_MAX_BODY: usize = 4096;

/// What a header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The real client (source) address.
    Proxied { source: SocketAddr },
    /// The proxy's own connection (health check, `LOCAL` or `UNKNOWN`): use the TCP peer.
    Local,
}

/// Waits up to `wait` for the first bytes and tells whether they begin a PROXY header;
/// if so, consumes and parses it. `Ok(None)`: no header; nothing was consumed.
pub async fn read_header(stream: &mut TcpStream, wait: Duration) -> io::Result<Option<Header>> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; V1_MAX + 1];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let seen = &buf[..n];
        match classify(seen) {
            Kind::NotProxy => return Ok(None),
            Kind::V2 if n >= 16 => {
                let mut head = [0u8; 16];
                stream.read_exact(&mut head).await?;
                let len = u16::from_be_bytes([head[14], head[15]]) as usize;
                if len > V2_MAX_BODY {
                    return Err(bad("PROXY v2 header too long"));
                }
                let mut body = vec![0u8; len];
                tokio::time::timeout_at(deadline, stream.read_exact(&mut body))
                    .await
                    .map_err(|_| bad("PROXY v2 header incomplete"))??;
                return parse_v2(&head, &body).map(Some);
            }
            Kind::V1 => {
                if let Some(end) = seen.windows(2).position(|w| w == b"\r\n") {
                    let mut line = vec![0u8; end + 2];
                    stream.read_exact(&mut line).await?;
                    return parse_v1(&line[..end]).map(Some);
                }
                if n > V1_MAX {
                    return Err(bad("PROXY v1 header without CRLF"));
                }
            }
            Kind::V2 | Kind::Undecided => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(bad("PROXY header incomplete"));
        }
        // Only part of the header has arrived: wait a moment for the rest.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

enum Kind {
    V1,
    V2,
    NotProxy,
    Undecided,
}

fn classify(seen: &[u8]) -> Kind {
    let n = seen.len();
    if n >= V2_SIGNATURE.len() && seen.starts_with(&V2_SIGNATURE) {
        Kind::V2
    } else if n >= V1_PREFIX.len() && seen.starts_with(V1_PREFIX) {
        Kind::V1
    } else if V2_SIGNATURE.starts_with(seen) || V1_PREFIX.starts_with(seen) {
        Kind::Undecided
    } else {
        Kind::NotProxy
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

pub fn parse_v1(line: &[u8]) -> io::Result<Header> {
    let line = std::str::from_utf8(line).map_err(|_| bad("PROXY v1 header is not ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Header::Local),
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| bad("PROXY v1 source address"))?;
            if (*proto == "TCP4") != ip.is_ipv4() {
                return Err(bad("PROXY v1 address family mismatch"));
            }
            let port: u16 = sport.parse().map_err(|_| bad("PROXY v1 source port"))?;
            Ok(Header::Proxied {
                source: SocketAddr::new(ip, port),
            })
        }
        _ => Err(bad("malformed PROXY v1 header")),
    }
}

pub fn parse_v2(head: &[u8; 16], body: &[u8]) -> io::Result<Header> {
    if head[..12] != V2_SIGNATURE {
        return Err(bad("PROXY v2 signature"));
    }
    let version = head[12] >> 4;
    let command = head[12] & 0x0f;
    if version != 2 {
        return Err(bad("PROXY v2 version"));
    }
    match command {
        0x0 => return Ok(Header::Local),
        0x1 => {}
        _ => return Err(bad("PROXY v2 command")),
    }
    match head[13] {
        0x11 | 0x12 if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Ok(Header::Proxied {
                source: SocketAddr::new(IpAddr::V4(ip), port),
            })
        }
        0x21 | 0x22 if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Ok(Header::Proxied {
                source: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port),
            })
        }
        0x00 => Ok(Header::Local),
        _ => Err(bad("PROXY v2 address family or length")),
    }
}

/// A v2 `PROXY` header announcing a TCP connection from `source` to `dest`.
pub fn encode_v2(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21);
    match (source, dest) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (s, d) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines() {
        assert_eq!(
            parse_v1(b"PROXY TCP4 198.18.0.9 127.0.0.1 40000 2222").unwrap(),
            Header::Proxied {
                source: "198.18.0.9:40000".parse().unwrap()
            }
        );
        assert_eq!(
            parse_v1(b"PROXY TCP6 2001:db8::1 ::1 5 6").unwrap(),
            Header::Proxied {
                source: "[2001:db8::1]:5".parse().unwrap()
            }
        );
        assert_eq!(parse_v1(b"PROXY UNKNOWN").unwrap(), Header::Local);
        assert!(parse_v1(b"PROXY TCP4 1.2.3.4 5.6.7.8 x 1").is_err());
        assert!(parse_v1(b"PROXY TCP6 1.2.3.4 5.6.7.8 1 1").is_err());
    }

    #[test]
    fn v2_round_trip() {
        for (s, d) in [
            ("198.18.0.9:40000", "127.0.0.1:2222"),
            ("[2001:db8::7]:1", "[::1]:2"),
        ] {
            let bytes = encode_v2(s.parse().unwrap(), d.parse().unwrap());
            let head: [u8; 16] = bytes[..16].try_into().unwrap();
            assert_eq!(
                parse_v2(&head, &bytes[16..]).unwrap(),
                Header::Proxied {
                    source: s.parse().unwrap()
                }
            );
        }
    }

    #[test]
    fn v2_local_and_garbage() {
        let mut head = [0u8; 16];
        head[..12].copy_from_slice(&V2_SIGNATURE);
        head[12] = 0x20;
        assert_eq!(parse_v2(&head, &[]).unwrap(), Header::Local);
        head[12] = 0x21;
        head[13] = 0x11;
        assert!(parse_v2(&head, &[1, 2, 3]).is_err());
        head[12] = 0x31;
        assert!(parse_v2(&head, &[0; 12]).is_err());
    }

    #[test]
    fn classification() {
        assert!(matches!(classify(b"SSH-2.0-OpenSSH"), Kind::NotProxy));
        assert!(matches!(classify(b"PRO"), Kind::Undecided));
        assert!(matches!(classify(b"\r\n\r\n"), Kind::Undecided));
        assert!(matches!(classify(b"PROXY TCP4"), Kind::V1));
    }
}
