//! SFTP v3 wire helpers: packet framing, the hot-path READ/WRITE decoding and the replies we
//! encode by hand. Everything else is decoded and encoded with russh-sftp's `Packet` types.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use russh_sftp::protocol::StatusCode;

pub const SSH_FXP_INIT: u8 = 1;
pub const SSH_FXP_READ: u8 = 5;
pub const SSH_FXP_WRITE: u8 = 6;
pub const SSH_FXP_STATUS: u8 = 101;
pub const SSH_FXP_HANDLE: u8 = 102;
pub const SSH_FXP_DATA: u8 = 103;
pub const SSH_FXP_EXTENDED_REPLY: u8 = 201;

/// The largest packet a client may send (as OpenSSH's sftp-server: 256 KiB).
pub const MAX_PACKET: usize = 256 * 1024;
/// The largest READ or WRITE payload (as OpenSSH: the packet limit less 1 KiB of headers).
pub const MAX_IO: usize = MAX_PACKET - 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("packet of {0} bytes is over the limit of {MAX_PACKET}")]
    TooLong(usize),
    #[error("empty packet")]
    Empty,
}

/// Reassembles length-prefixed SFTP packets from channel data. A packet that arrives whole
/// in one chunk is a zero-copy slice of it; one that spans chunks is copied once into a
/// buffer of exactly its size.
#[derive(Default)]
pub struct Framer {
    head: [u8; 4],
    head_len: usize,
    body: Option<BytesMut>,
    need: usize,
    ready: std::collections::VecDeque<Bytes>,
}

impl Framer {
    /// Takes a chunk of channel data; whole packets become available from [`Framer::next_packet`].
    pub fn push(&mut self, mut data: Bytes) -> Result<(), FrameError> {
        while !data.is_empty() {
            if let Some(body) = &mut self.body {
                let n = self.need.min(data.len());
                body.extend_from_slice(&data.split_to(n));
                self.need -= n;
                if self.need == 0 {
                    let body = self.body.take().expect("body in progress");
                    self.ready.push_back(body.freeze());
                }
                continue;
            }
            if self.head_len == 0 && data.len() >= 4 {
                let len = Self::length([data[0], data[1], data[2], data[3]])?;
                if data.len() >= 4 + len {
                    data.advance(4);
                    self.ready.push_back(data.split_to(len));
                    continue;
                }
            }
            let n = (4 - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data.split_to(n));
            self.head_len += n;
            if self.head_len == 4 {
                self.head_len = 0;
                let len = Self::length(self.head)?;
                self.body = Some(BytesMut::with_capacity(len));
                self.need = len;
            }
        }
        Ok(())
    }

    fn length(head: [u8; 4]) -> Result<usize, FrameError> {
        let len = u32::from_be_bytes(head) as usize;
        if len > MAX_PACKET {
            return Err(FrameError::TooLong(len));
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        Ok(len)
    }

    /// The next whole packet (type byte first, length stripped), if one has arrived.
    pub fn next_packet(&mut self) -> Option<Bytes> {
        self.ready.pop_front()
    }
}

/// A cursor over a packet that fails instead of panicking on short input.
pub struct Fields {
    buf: Bytes,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed packet")]
pub struct Malformed;

impl Fields {
    pub fn new(buf: Bytes) -> Self {
        Fields { buf }
    }
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        self.buf.try_get_u8().map_err(|_| Malformed)
    }
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        self.buf.try_get_u32().map_err(|_| Malformed)
    }
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        self.buf.try_get_u64().map_err(|_| Malformed)
    }
    /// A length-prefixed string, without copying.
    pub fn bytes(&mut self) -> Result<Bytes, Malformed> {
        let len = self.u32()? as usize;
        if self.buf.remaining() < len {
            return Err(Malformed);
        }
        Ok(self.buf.split_to(len))
    }
    /// Everything left in the packet.
    pub fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }
    pub fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Malformed)
    }
}

fn header(buf: &mut BytesMut, kind: u8, id: u32, body_len: usize) {
    buf.put_u32((1 + 4 + body_len) as u32);
    buf.put_u8(kind);
    buf.put_u32(id);
}

pub fn status(id: u32, code: StatusCode, message: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(32 + message.len());
    header(&mut buf, SSH_FXP_STATUS, id, 4 + 4 + message.len() + 4 + 5);
    buf.put_u32(code as u32);
    buf.put_u32(message.len() as u32);
    buf.put_slice(message.as_bytes());
    buf.put_u32(5);
    buf.put_slice(b"en-US");
    buf.freeze()
}

pub fn handle(id: u32, handle: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(16 + handle.len());
    header(&mut buf, SSH_FXP_HANDLE, id, 4 + handle.len());
    buf.put_u32(handle.len() as u32);
    buf.put_slice(handle.as_bytes());
    buf.freeze()
}

/// Offset of the payload in a buffer made by [`data_buffer`].
pub const DATA_HEADER: usize = 13;

/// An empty DATA reply with capacity for `len` bytes of payload after the header; append the
/// payload, then call [`finish_data`].
pub fn data_buffer(len: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(DATA_HEADER + len);
    buf.extend_from_slice(&[0u8; DATA_HEADER]);
    buf
}

/// Fills in the header of a buffer from [`data_buffer`] for the payload it now holds.
pub fn finish_data(mut buf: Vec<u8>, id: u32) -> Bytes {
    let len = buf.len() - DATA_HEADER;
    buf[0..4].copy_from_slice(&((DATA_HEADER - 4 + len) as u32).to_be_bytes());
    buf[4] = SSH_FXP_DATA;
    buf[5..9].copy_from_slice(&id.to_be_bytes());
    buf[9..13].copy_from_slice(&(len as u32).to_be_bytes());
    Bytes::from(buf)
}

pub fn extended_reply(id: u32, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(9 + payload.len());
    header(&mut buf, SSH_FXP_EXTENDED_REPLY, id, payload.len());
    buf.put_slice(payload);
    buf.freeze()
}

pub fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_reassembles_split_packets_and_rejects_huge_ones() {
        let mut f = Framer::default();
        f.push(Bytes::from_static(&[0, 0, 0, 3, 1])).unwrap();
        assert!(f.next_packet().is_none());
        f.push(Bytes::from_static(&[2, 3, 0, 0, 0, 1, 9, 0]))
            .unwrap();
        assert_eq!(&f.next_packet().unwrap()[..], &[1, 2, 3]);
        assert_eq!(&f.next_packet().unwrap()[..], &[9]);
        assert!(f.next_packet().is_none());
        // A length split across chunks.
        f.push(Bytes::from_static(&[0, 0])).unwrap();
        f.push(Bytes::from_static(&[2, 7, 8, 0, 0, 0, 1, 5]))
            .unwrap();
        assert_eq!(&f.next_packet().unwrap()[..], &[7, 8]);
        assert_eq!(&f.next_packet().unwrap()[..], &[5]);
        assert!(f
            .push(Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]))
            .is_err());
        let mut f = Framer::default();
        assert!(f.push(Bytes::from_static(&[0, 0, 0, 0])).is_err());
    }

    #[test]
    fn framer_handles_any_chunking() {
        let mut stream = Vec::new();
        let mut packets = Vec::new();
        for len in [1usize, 5, 300, 70_000, 2, 261_000] {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            stream.extend_from_slice(&(len as u32).to_be_bytes());
            stream.extend_from_slice(&body);
            packets.push(body);
        }
        for chunk in [1, 3, 4, 7, 1000, 32768, stream.len()] {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                f.push(Bytes::copy_from_slice(part)).unwrap();
                while let Some(p) = f.next_packet() {
                    got.push(p.to_vec());
                }
            }
            assert_eq!(got, packets, "chunk size {chunk}");
        }
    }

    #[test]
    fn data_reply_layout() {
        let mut buf = data_buffer(8);
        buf.extend_from_slice(b"abc");
        let out = finish_data(buf, 7);
        assert_eq!(
            &out[..],
            &[0, 0, 0, 12, 103, 0, 0, 0, 7, 0, 0, 0, 3, b'a', b'b', b'c']
        );
    }

    #[test]
    fn fields_fail_on_short_input() {
        let mut f = Fields::new(Bytes::from_static(&[0, 0, 0, 9, 1]));
        assert!(f.bytes().is_err());
        let mut f = Fields::new(Bytes::from_static(&[0, 0]));
        assert!(f.u32().is_err());
    }
}
