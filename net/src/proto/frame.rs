//! Framing: `u32 length | u16 message type | u32 request id | body`, all little-endian.
//!
//! `length` counts the bytes that follow it (type + request id + body), so it is at least
//! [`HEADER_AFTER_LEN`]. Request id 0 marks a push (no reply expected, none sent).
//!
//! [`FrameDecoder`] is incremental: feed it whatever bytes arrived, pull whole frames out. A frame
//! whose `length` exceeds the configured maximum is reported as [`FrameError::Oversize`] *without*
//! allocating the claimed size: the decoder reads only the 10-byte header (so the error can keep
//! the request id) and then discards the claimed body as it streams in, so the stream stays in
//! sync and the next frame decodes normally. A `length` too small to hold the header is
//! [`FrameError::TooShort`]; the decoder skips the `length` bytes it claims and resyncs the same way.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of the `length` prefix.
pub const LEN_PREFIX: usize = 4;
/// Bytes counted by `length` before the body: `u16` message type + `u32` request id.
pub const HEADER_AFTER_LEN: usize = 6;
/// Whole header size: length prefix, message type, request id.
pub const HEADER_LEN: usize = LEN_PREFIX + HEADER_AFTER_LEN;
/// Default inbound limit on `length` for the server (64 KiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 64 * 1024;

/// Request id of a push: a message that is not a reply and expects none.
pub const PUSH_REQUEST_ID: u32 = 0;

/// One decoded frame: header fields and the raw (not yet validated) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The `u16` message type id (see [`super::MessageType`]).
    pub msg_type: u16,
    /// Request id; 0 is a push.
    pub request_id: u32,
    /// Body bytes (an rkyv archive), unvalidated.
    pub body: Bytes,
}

/// A framing-level error. The decoder has already resynchronised when it returns one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// `length` is above the configured limit; the body is being discarded, not buffered.
    #[error(
        "frame of {len} bytes (type {msg_type:#06x}, request {request_id}) exceeds the {max}-byte limit"
    )]
    Oversize {
        /// Message type from the header.
        msg_type: u16,
        /// Request id from the header (so the error reply can keep it).
        request_id: u32,
        /// The claimed `length`.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// `length` is smaller than the 6 bytes of type + request id.
    #[error("frame length {len} is shorter than the {HEADER_AFTER_LEN}-byte header")]
    TooShort {
        /// The claimed `length`.
        len: u32,
    },
}

/// Incremental frame decoder with a maximum frame length.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_len: u32,
    /// Bytes still to discard from an oversize or too-short frame.
    skip: u64,
}

impl FrameDecoder {
    /// A decoder that rejects frames whose `length` exceeds `max_len`.
    pub fn new(max_len: u32) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_len: max_len.max(HEADER_AFTER_LEN as u32),
            skip: 0,
        }
    }

    /// The configured limit on `length`.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }

    /// Bytes held waiting for the rest of a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True while discarding the body of a rejected frame.
    pub fn is_skipping(&self) -> bool {
        self.skip > 0
    }

    /// Appends received bytes. Bytes belonging to a rejected frame are dropped here, unbuffered.
    pub fn feed(&mut self, mut data: &[u8]) {
        if self.skip > 0 && self.buf.is_empty() {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(data.len());
            data = &data[n..];
            self.skip -= n as u64;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame or framing error, or `None` until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.skip > 0 {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.advance(n);
            self.skip -= n as u64;
            if self.skip > 0 {
                return None;
            }
        }
        if self.buf.len() < LEN_PREFIX {
            return None;
        }
        let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if (len as usize) < HEADER_AFTER_LEN {
            self.buf.advance(LEN_PREFIX);
            self.skip = u64::from(len);
            return Some(Err(FrameError::TooShort { len }));
        }
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        let msg_type = u16::from_le_bytes([self.buf[4], self.buf[5]]);
        let request_id = u32::from_le_bytes([self.buf[6], self.buf[7], self.buf[8], self.buf[9]]);
        if len > self.max_len {
            self.buf.advance(HEADER_LEN);
            self.skip = u64::from(len) - HEADER_AFTER_LEN as u64;
            return Some(Err(FrameError::Oversize {
                msg_type,
                request_id,
                len,
                max: self.max_len,
            }));
        }
        let total = LEN_PREFIX + len as usize;
        if self.buf.len() < total {
            // Bounded by max_len, which was checked above.
            self.buf.reserve(total - self.buf.len());
            return None;
        }
        let mut frame = self.buf.split_to(total);
        frame.advance(HEADER_LEN);
        Some(Ok(Frame {
            msg_type,
            request_id,
            body: frame.freeze(),
        }))
    }
}

/// Error encoding a frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("frame body of {0} bytes does not fit a u32 length")]
pub struct FrameTooLarge(pub usize);

/// Appends one frame (header + body) to `out`.
pub fn encode_frame(
    msg_type: u16,
    request_id: u32,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FrameTooLarge> {
    let len =
        u32::try_from(body.len() + HEADER_AFTER_LEN).map_err(|_| FrameTooLarge(body.len()))?;
    out.reserve(HEADER_LEN + body.len());
    out.put_u32_le(len);
    out.put_u16_le(msg_type);
    out.put_u32_le(request_id);
    out.extend_from_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(ty: u16, id: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(ty, id, body, &mut v).unwrap();
        v
    }

    #[test]
    fn decodes_frames_split_at_every_byte() {
        let mut wire = frame_bytes(1, 7, b"hello");
        wire.extend(frame_bytes(2, 0, b""));
        wire.extend(frame_bytes(3, 9, &[0xAA; 100]));
        for split in 0..wire.len() {
            let mut d = FrameDecoder::new(1024);
            let mut out = Vec::new();
            for chunk in [&wire[..split], &wire[split..]] {
                d.feed(chunk);
                while let Some(f) = d.next_frame() {
                    out.push(f.unwrap());
                }
            }
            assert_eq!(out.len(), 3, "split at {split}");
            assert_eq!(out[0].msg_type, 1);
            assert_eq!(out[0].request_id, 7);
            assert_eq!(&out[0].body[..], b"hello");
            assert_eq!(out[1].body.len(), 0);
            assert_eq!(out[2].request_id, 9);
            assert_eq!(out[2].body.len(), 100);
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn header_is_little_endian() {
        let wire = frame_bytes(0x0102, 0x0304_0506, b"x");
        assert_eq!(wire, [7, 0, 0, 0, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, b'x']);
    }

    #[test]
    fn oversize_is_reported_with_header_and_skipped_without_buffering() {
        let mut d = FrameDecoder::new(64);
        // Claims 4 GiB - 1: must not allocate that.
        let mut wire = Vec::new();
        wire.extend_from_slice(&u32::MAX.to_le_bytes());
        wire.extend_from_slice(&5u16.to_le_bytes());
        wire.extend_from_slice(&42u32.to_le_bytes());
        d.feed(&wire);
        assert_eq!(
            d.next_frame(),
            Some(Err(FrameError::Oversize {
                msg_type: 5,
                request_id: 42,
                len: u32::MAX,
                max: 64
            }))
        );
        d.feed(&[0u8; 10_000]);
        assert!(d.next_frame().is_none());
        assert_eq!(d.buffered(), 0, "skipped bytes are never buffered");
        assert!(d.is_skipping());
    }

    #[test]
    fn oversize_body_is_skipped_and_stream_resyncs() {
        let mut d = FrameDecoder::new(16);
        let mut wire = frame_bytes(1, 1, &[7u8; 40]);
        wire.extend(frame_bytes(2, 2, b"ok"));
        d.feed(&wire);
        assert!(matches!(
            d.next_frame(),
            Some(Err(FrameError::Oversize { len: 46, .. }))
        ));
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.msg_type, f.request_id, &f.body[..]), (2, 2, &b"ok"[..]));
    }

    #[test]
    fn too_short_length_is_an_error_and_resyncs() {
        let mut d = FrameDecoder::new(64);
        let mut wire = vec![2, 0, 0, 0, 0xFF, 0xFF];
        wire.extend(frame_bytes(4, 3, b"z"));
        d.feed(&wire);
        assert_eq!(d.next_frame(), Some(Err(FrameError::TooShort { len: 2 })));
        let f = d.next_frame().unwrap().unwrap();
        assert_eq!((f.msg_type, f.request_id), (4, 3));
    }

    #[test]
    fn frame_at_exact_limit_is_accepted() {
        let mut d = FrameDecoder::new(16);
        d.feed(&frame_bytes(1, 1, &[0u8; 10]));
        assert!(d.next_frame().unwrap().is_ok());
        d.feed(&frame_bytes(1, 1, &[0u8; 11]));
        assert!(d.next_frame().unwrap().is_err());
    }
}
