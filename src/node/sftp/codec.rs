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

/// Reassembles length-prefixed SFTP packets from channel data.
#[derive(Default)]
pub struct Framer {
    buf: BytesMut,
}

impl Framer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet (type byte first, length stripped), if one has arrived.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_PACKET {
            return Err(FrameError::TooLong(len));
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(len).freeze()))
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

/// A DATA reply with room for `len` bytes of payload; fill `buf[DATA_HEADER..]`, then call
/// [`finish_data`] with the number of bytes actually read.
pub fn data_buffer(len: usize) -> Vec<u8> {
    vec![0u8; DATA_HEADER + len]
}

pub fn finish_data(mut buf: Vec<u8>, id: u32, len: usize) -> Bytes {
    buf.truncate(DATA_HEADER + len);
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
        f.push(&[0, 0, 0, 3, 1]);
        assert!(f.next_packet().unwrap().is_none());
        f.push(&[2, 3, 0, 0, 0, 1, 9]);
        assert_eq!(&f.next_packet().unwrap().unwrap()[..], &[1, 2, 3]);
        assert_eq!(&f.next_packet().unwrap().unwrap()[..], &[9]);
        assert!(f.next_packet().unwrap().is_none());
        f.push(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(f.next_packet().is_err());
    }

    #[test]
    fn data_reply_layout() {
        let mut buf = data_buffer(8);
        buf[DATA_HEADER..DATA_HEADER + 3].copy_from_slice(b"abc");
        let out = finish_data(buf, 7, 3);
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
