//! WebSocket frames (RFC 6455 §5) as the nats-server reads and writes
//! them, with the stricter checks of 2.11.14+ / 2.12.5+: RSV2/RSV3, RSV1
//! without negotiated compression, compressed control frames and 64-bit
//! lengths with the top bit set are protocol errors.
//!
//! [`FrameDecoder::decode`] reads one frame header from the start of a
//! buffer and leaves the payload where it is: the caller takes the
//! payload bytes as they arrive and unmasks them in place with
//! [`unmask`], passing how far into the payload each piece starts. Nothing
//! is allocated, whatever length a frame declares.

use core::fmt;

use crate::framing::Status;

/// Close status codes (RFC 6455 §7.4.1) the server sends.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// Reserved: "no status received"; never sent in a frame.
pub const CLOSE_NO_STATUS: u16 = 1005;
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;
pub const CLOSE_TLS_HANDSHAKE: u16 = 1015;

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Longest frame header: 2 bytes, a 64-bit length, a masking key.
pub const MAX_HEADER_LEN: usize = 14;
/// Frame size the server keeps to for browsers (`User-Agent: Mozilla/…`).
pub const BROWSER_FRAME_SIZE: usize = 4096;
/// Outbound buffers up to this size are sent uncompressed even when
/// compression is on.
pub const COMPRESS_THRESHOLD: usize = 64;

/// The most compressed bytes the server accumulates for one message:
/// 8 × `max_payload`, capped at 64 MiB (`max_payload` 0 stands for the
/// 1 MiB default). The inflated message must also fit in `max_payload`.
pub fn max_compressed_message_size(max_payload: u64) -> u64 {
    let max_payload = if max_payload == 0 { 1 << 20 } else { max_payload };
    max_payload.saturating_mul(8).min(64 << 20)
}

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl Opcode {
    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A decoded frame header. The payload follows it in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last frame of its message (always set on control frames).
    pub fin: bool,
    /// RSV1: the first frame of a compressed message.
    pub rsv1: bool,
    pub opcode: Opcode,
    /// The mask bit as sent.
    pub masked: bool,
    /// The masking key, read when the decoder expects masked frames.
    pub mask: Option<[u8; 4]>,
    /// Declared payload length (below 2^63).
    pub payload_len: u64,
    /// Bytes of the header (2 to 14): where the payload starts.
    pub header_len: usize,
    /// For data frames: the payload belongs to a compressed message (RSV1
    /// on the message's first frame). False for control frames.
    pub compressed: bool,
}

/// A frame the server refuses. It answers with a close frame of status
/// [`FrameError::close_code`] and the error's text as reason, then closes
/// the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// RSV2 or RSV3 set.
    ReservedBits,
    /// RSV1 set without negotiated `permessage-deflate`.
    CompressionNotNegotiated,
    /// A client frame without the mask bit.
    MaskMissing,
    /// A control frame with more than 125 payload bytes.
    ControlTooLong,
    /// A control frame without FIN.
    ControlFragmented,
    /// A control frame with RSV1.
    ControlCompressed,
    /// A text or binary frame while a fragmented message is unfinished.
    MessageInProgress,
    /// A continuation frame without an unfinished message, or with RSV1.
    InvalidContinuation,
    /// An opcode other than 0, 1, 2, 8, 9 and 10.
    UnknownOpcode(u8),
    /// A 64-bit length with the most significant bit set.
    InvalidLength,
    /// A close frame with a 1-byte payload.
    CloseOneByte,
    /// A close status code an endpoint may not send.
    InvalidCloseCode(u16),
}

impl fmt::Display for FrameError {
    /// The nats-server's text for the error, sent as the close reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits => f.write_str("RSV2 and RSV3 must be clear"),
            FrameError::CompressionNotNegotiated => {
                f.write_str("compressed frame received without negotiated permessage-deflate")
            }
            FrameError::MaskMissing => f.write_str("mask bit missing"),
            FrameError::ControlTooLong => f.write_str("control frame length bigger than maximum allowed of 125 bytes"),
            FrameError::ControlFragmented => f.write_str("control frame does not have final bit set"),
            FrameError::ControlCompressed => f.write_str("control frame must not be compressed"),
            FrameError::MessageInProgress => {
                f.write_str("new message started before final frame for previous message was received")
            }
            FrameError::InvalidContinuation => f.write_str("invalid continuation frame"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            FrameError::InvalidLength => f.write_str("invalid 64-bit payload length"),
            FrameError::CloseOneByte => f.write_str("close frame payload cannot be 1 byte"),
            FrameError::InvalidCloseCode(code) => write!(f, "invalid close status code {code}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl FrameError {
    /// The close status the server answers with: protocol error (1002).
    pub fn close_code(&self) -> u16 {
        CLOSE_PROTOCOL_ERROR
    }

    /// Appends the close frame the server sends for this error.
    pub fn write_close_frame(&self, out: &mut Vec<u8>) {
        write_close_frame(out, Some(self.close_code()), self.to_string().as_bytes());
    }
}

/// Reads frame headers of one connection and tracks fragmented messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    expect_mask: bool,
    compression: bool,
    /// A fragmented data message is open (its final frame not yet seen).
    in_message: bool,
    /// The open (or last) data message is compressed.
    compressed: bool,
}

impl FrameDecoder {
    /// A decoder for frames from a peer that masks them (`expect_mask`:
    /// clients, unless `Nats-No-Masking` was agreed) and with or without
    /// negotiated `permessage-deflate`. When masks are not expected the
    /// mask bit is not checked and no key is read, as in the nats-server:
    /// a masked frame is then misread.
    pub fn new(expect_mask: bool, compression: bool) -> FrameDecoder {
        FrameDecoder { expect_mask, compression, in_message: false, compressed: false }
    }

    /// Whether a fragmented message is waiting for more frames.
    pub fn in_message(&self) -> bool {
        self.in_message
    }

    /// Decodes the frame header at the start of `buf`: `Partial` until
    /// the whole header is there (nothing changes then; call again with
    /// more bytes), errors as soon as the bytes that show them are. Checks
    /// follow the nats-server's order, so the same error is reported
    /// however the input is cut.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Status<FrameHeader>, FrameError> {
        let Some(&b0) = buf.first() else { return Ok(Status::Partial) };
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if rsv1 && !self.compression {
            return Err(FrameError::CompressionNotNegotiated);
        }
        let Some(&b1) = buf.get(1) else { return Ok(Status::Partial) };
        let masked = b1 & 0x80 != 0;
        if self.expect_mask && !masked {
            return Err(FrameError::MaskMissing);
        }
        let len7 = b1 & 0x7f;
        let opcode = match b0 & 0x0f {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            op => return Err(FrameError::UnknownOpcode(op)),
        };
        match opcode {
            Opcode::Close | Opcode::Ping | Opcode::Pong => {
                if usize::from(len7) > MAX_CONTROL_PAYLOAD {
                    return Err(FrameError::ControlTooLong);
                }
                if !fin {
                    return Err(FrameError::ControlFragmented);
                }
                if rsv1 {
                    return Err(FrameError::ControlCompressed);
                }
            }
            Opcode::Text | Opcode::Binary => {
                if self.in_message {
                    return Err(FrameError::MessageInProgress);
                }
            }
            Opcode::Continuation => {
                if !self.in_message || rsv1 {
                    return Err(FrameError::InvalidContinuation);
                }
            }
        }
        let (payload_len, mut header_len) = match len7 {
            126 => {
                let Some(b) = buf.get(2..4) else { return Ok(Status::Partial) };
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else { return Ok(Status::Partial) };
                let n = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                if n >> 63 != 0 {
                    return Err(FrameError::InvalidLength);
                }
                (n, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if self.expect_mask {
            let Some(k) = buf.get(header_len..header_len + 4) else { return Ok(Status::Partial) };
            header_len += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        let compressed = match opcode {
            Opcode::Text | Opcode::Binary => {
                self.in_message = !fin;
                self.compressed = rsv1;
                rsv1
            }
            Opcode::Continuation => {
                self.in_message = !fin;
                self.compressed
            }
            _ => false,
        };
        Ok(Status::Complete(FrameHeader { fin, rsv1, opcode, masked, mask, payload_len, header_len, compressed }))
    }
}

/// Unmasks (or masks: the operation is its own inverse) `buf` in place:
/// payload bytes of a frame with masking key `key`, the first of which is
/// byte `offset` of the payload.
pub fn unmask(buf: &mut [u8], key: [u8; 4], offset: u64) {
    let mut k = key;
    k.rotate_left((offset % 4) as usize);
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in chunks.by_ref() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(b) ^ word).to_ne_bytes());
    }
    for (byte, m) in chunks.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *byte ^= m;
    }
}

fn write_header(out: &mut Vec<u8>, opcode: Opcode, fin: bool, rsv1: bool, len: u64, mask: Option<[u8; 4]>) {
    let mut b0 = opcode as u8;
    if fin {
        b0 |= 0x80;
    }
    if rsv1 {
        b0 |= 0x40;
    }
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len <= 125 {
        out.extend_from_slice(&[b0, m | len as u8]);
    } else if len < 65_536 {
        out.extend_from_slice(&[b0, m | 126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[b0, m | 127]);
        out.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

/// Appends an unmasked frame header (the server's frames) with the
/// shortest length encoding. A continuation frame of a message is written
/// with [`Opcode::Continuation`].
pub fn write_frame_header(out: &mut Vec<u8>, opcode: Opcode, fin: bool, rsv1: bool, payload_len: u64) {
    write_header(out, opcode, fin, rsv1, payload_len, None);
}

/// Appends a masked frame header (the client role, such as a leaf node
/// dialing a hub); the payload must then be masked with [`unmask`] and the
/// same key.
pub fn write_masked_frame_header(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    rsv1: bool,
    payload_len: u64,
    key: [u8; 4],
) {
    write_header(out, opcode, fin, rsv1, payload_len, Some(key));
}

/// The payload of a close frame: the status code, then the reason cut
/// to 120 bytes plus `...` when longer than 123, as the server does.
pub fn write_close_payload(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
        out.extend_from_slice(&reason[..MAX_CONTROL_PAYLOAD - 5]);
        out.extend_from_slice(b"...");
    } else {
        out.extend_from_slice(reason);
    }
}

/// Appends a close frame: with `Some(code)` a status and reason, with
/// `None` an empty payload.
pub fn write_close_frame(out: &mut Vec<u8>, code: Option<u16>, reason: &[u8]) {
    match code {
        None => write_frame_header(out, Opcode::Close, true, false, 0),
        Some(code) => {
            let len = 2 + reason.len().min(MAX_CONTROL_PAYLOAD - 2);
            write_frame_header(out, Opcode::Close, true, false, len as u64);
            write_close_payload(out, code, reason);
        }
    }
}

/// Appends the pong answering a ping with this (unmasked) payload.
pub fn write_pong(out: &mut Vec<u8>, ping_payload: &[u8]) {
    write_frame_header(out, Opcode::Pong, true, false, ping_payload.len() as u64);
    out.extend_from_slice(ping_payload);
}

/// Whether a peer may send `code` in a close frame: 1000-4999 except
/// 1004, 1005, 1006, 1015 and the reserved 1016-2999.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The server's answer to a peer's close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReply<'a> {
    /// A close frame without payload (the peer's had none).
    Empty,
    /// A close frame with this status and reason: the peer's own, or 1007
    /// when its reason is not UTF-8.
    Status { code: u16, reason: &'a [u8] },
}

impl CloseReply<'_> {
    /// Appends the reply's close frame.
    pub fn write_frame(&self, out: &mut Vec<u8>) {
        match *self {
            CloseReply::Empty => write_close_frame(out, None, b""),
            CloseReply::Status { code, reason } => write_close_frame(out, Some(code), reason),
        }
    }
}

/// How the server answers a close frame with this (unmasked) payload: the
/// same code and reason, an empty close for an empty payload, 1007 for a
/// reason that is not UTF-8; a 1-byte payload and codes a peer may not
/// send are protocol errors. The connection is closed after the reply.
pub fn close_reply(payload: &[u8]) -> Result<CloseReply<'_>, FrameError> {
    match payload {
        [] => Ok(CloseReply::Empty),
        [_] => Err(FrameError::CloseOneByte),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(FrameError::InvalidCloseCode(code));
            }
            if std::str::from_utf8(reason).is_err() {
                return Ok(CloseReply::Status {
                    code: CLOSE_INVALID_PAYLOAD,
                    reason: b"invalid utf8 body in close frame",
                });
            }
            Ok(CloseReply::Status { code, reason })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a reader ends up with it: header and unmasked payload.
    type Got = (FrameHeader, Vec<u8>);

    /// Reads frames from `input` appended to a buffer in reads of `sizes`
    /// (then the rest), the way a connection would: a header once it is
    /// whole, then payload bytes as they come, unmasked piece by piece.
    /// Returns the frames and the error that stopped the stream, if any.
    fn read(mut dec: FrameDecoder, input: &[u8], sizes: &[usize]) -> (Vec<Got>, Option<FrameError>) {
        let mut frames = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut rest = input;
        let mut sizes = sizes.iter();
        // The frame whose payload is being read, and how much of it is in.
        let mut current: Option<Got> = None;
        loop {
            let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            loop {
                if let Some((h, payload)) = current.as_mut() {
                    let want = usize::try_from(h.payload_len).unwrap() - payload.len();
                    let take = want.min(buf.len());
                    let mut piece: Vec<u8> = buf.drain(..take).collect();
                    if let Some(key) = h.mask {
                        unmask(&mut piece, key, payload.len() as u64);
                    }
                    payload.extend_from_slice(&piece);
                    if payload.len() as u64 == h.payload_len {
                        frames.extend(current.take());
                        continue;
                    }
                    break;
                }
                match dec.decode(&buf) {
                    Ok(Status::Complete(h)) => {
                        assert!(h.header_len <= buf.len() && h.header_len <= MAX_HEADER_LEN);
                        buf.drain(..h.header_len);
                        current = Some((h, Vec::new()));
                    }
                    Ok(Status::Partial) => break,
                    Err(e) => return (frames, Some(e)),
                }
            }
            if rest.is_empty() {
                return (frames, None);
            }
        }
    }

    /// The same frames and error whole, cut in two anywhere, byte by byte.
    fn read_all_ways(dec: FrameDecoder, input: &[u8]) -> (Vec<Got>, Option<FrameError>) {
        let whole = read(dec, input, &[]);
        for cut in 0..=input.len() {
            assert_eq!(read(dec, input, &[cut]), whole, "cut at {cut}");
        }
        assert_eq!(read(dec, input, &vec![1; input.len()]), whole, "byte by byte");
        assert_eq!(read(dec, input, &[3, 1, 7, 2, 5]), whole, "uneven reads");
        whole
    }

    fn server() -> FrameDecoder {
        FrameDecoder::new(true, false)
    }

    fn header(opcode: Opcode, fin: bool, len: u64, mask: Option<[u8; 4]>, header_len: usize) -> FrameHeader {
        FrameHeader {
            fin,
            rsv1: false,
            opcode,
            masked: mask.is_some(),
            mask,
            payload_len: len,
            header_len,
            compressed: false,
        }
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn rfc6455_examples() {
        // §5.7: a single-frame unmasked text message, read as the client
        // role does (no masks expected).
        let (frames, err) = read_all_ways(FrameDecoder::new(false, false), b"\x81\x05Hello");
        assert_eq!(err, None);
        assert_eq!(frames, vec![(header(Opcode::Text, true, 5, None, 2), b"Hello".to_vec())]);
        // A single-frame masked text message.
        let masked = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
        let (frames, err) = read_all_ways(server(), masked);
        assert_eq!(err, None);
        assert_eq!(frames, vec![(header(Opcode::Text, true, 5, Some(KEY), 6), b"Hello".to_vec())]);
        // A fragmented unmasked text message.
        let (frames, _) = read_all_ways(FrameDecoder::new(false, false), b"\x01\x03Hel\x80\x02lo");
        assert_eq!(
            frames,
            vec![
                (header(Opcode::Text, false, 3, None, 2), b"Hel".to_vec()),
                (header(Opcode::Continuation, true, 2, None, 2), b"lo".to_vec()),
            ]
        );
        // Unmasked ping, masked pong.
        let (frames, _) = read_all_ways(FrameDecoder::new(false, false), b"\x89\x05Hello");
        assert_eq!(frames, vec![(header(Opcode::Ping, true, 5, None, 2), b"Hello".to_vec())]);
        let (frames, _) = read_all_ways(server(), b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        assert_eq!(frames, vec![(header(Opcode::Pong, true, 5, Some(KEY), 6), b"Hello".to_vec())]);
        // 256 bytes and 64 KiB binary messages in one unmasked frame.
        let mut dec = FrameDecoder::new(false, false);
        assert_eq!(dec.decode(b"\x82\x7e\x01\x00"), Ok(Status::Complete(header(Opcode::Binary, true, 256, None, 4))));
        assert_eq!(
            dec.decode(b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
            Ok(Status::Complete(header(Opcode::Binary, true, 65536, None, 10)))
        );
    }

    /// Masks `payload` with `key` behind a client frame header.
    fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        let opcode = match b0 & 15 {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            _ => Opcode::Pong,
        };
        write_masked_frame_header(&mut out, opcode, b0 & 0x80 != 0, b0 & 0x40 != 0, payload.len() as u64, key);
        let start = out.len();
        out.extend_from_slice(payload);
        unmask(&mut out[start..], key, 0);
        out
    }

    #[test]
    fn fragments_with_control_frames_between() {
        // `PI` + ping + `NG\r\n` (the notes' observed interleaving), then a
        // 300-byte frame with a 16-bit length and an empty final frame.
        let mut input = client_frame(0x02, b"SUB foo 1\r\nPI", [1, 2, 3, 4]);
        input.extend(client_frame(0x89, b"hello-ping", [9, 8, 7, 6]));
        input.extend(client_frame(0x80, b"NG\r\n", [0xff, 0, 0xff, 0]));
        let big: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        input.extend(client_frame(0x02, &big, [5, 6, 7, 8]));
        input.extend(client_frame(0x80, b"", [5, 6, 7, 8]));
        let (frames, err) = read_all_ways(server(), &input);
        assert_eq!(err, None);
        let kinds: Vec<_> = frames.iter().map(|(h, p)| (h.opcode, h.fin, p.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                (Opcode::Binary, false, b"SUB foo 1\r\nPI".to_vec()),
                (Opcode::Ping, true, b"hello-ping".to_vec()),
                (Opcode::Continuation, true, b"NG\r\n".to_vec()),
                (Opcode::Binary, false, big),
                (Opcode::Continuation, true, Vec::new()),
            ]
        );
        assert_eq!(frames[3].0.header_len, 8);
    }

    #[test]
    fn compressed_messages() {
        let dec = FrameDecoder::new(true, true);
        let mut input = client_frame(0x42, b"abc", KEY);
        input.extend(client_frame(0x89, b"", KEY));
        input.extend(client_frame(0x80, b"def", KEY));
        input.extend(client_frame(0x82, b"plain", KEY));
        let (frames, err) = read_all_ways(dec, &input);
        assert_eq!(err, None);
        let flags: Vec<_> = frames.iter().map(|(h, _)| (h.rsv1, h.compressed)).collect();
        assert_eq!(flags, vec![(true, true), (false, false), (false, true), (false, false)]);
    }

    /// The error (and the frames before it) however the input is cut.
    fn error(dec: FrameDecoder, input: &[u8]) -> FrameError {
        match read_all_ways(dec, input) {
            (_, Some(e)) => e,
            (frames, None) => panic!("no error for {input:?}: {frames:?}"),
        }
    }

    #[test]
    fn protocol_errors() {
        let nocomp = server();
        let comp = FrameDecoder::new(true, true);
        assert_eq!(error(nocomp, b"\x82\x05hello"), FrameError::MaskMissing);
        assert_eq!(error(nocomp, b"\xa2"), FrameError::ReservedBits);
        assert_eq!(error(nocomp, b"\x92\x80"), FrameError::ReservedBits);
        assert_eq!(error(nocomp, b"\xc2\x80"), FrameError::CompressionNotNegotiated);
        assert_eq!(error(nocomp, b"\x83\x80"), FrameError::UnknownOpcode(3));
        assert_eq!(error(nocomp, b"\x8d\x80"), FrameError::UnknownOpcode(13));
        assert_eq!(error(nocomp, b"\x89\xfe\x00\x7e"), FrameError::ControlTooLong);
        assert_eq!(error(nocomp, b"\x09\x80"), FrameError::ControlFragmented);
        assert_eq!(error(comp, b"\xc9\x80"), FrameError::ControlCompressed);
        assert_eq!(error(nocomp, b"\x80\x80"), FrameError::InvalidContinuation);
        assert_eq!(error(nocomp, b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00"), FrameError::InvalidLength);
        let mut open = client_frame(0x02, b"a", KEY);
        open.extend(client_frame(0x82, b"b", KEY));
        assert_eq!(error(nocomp, &open), FrameError::MessageInProgress);
        let mut open = client_frame(0x42, b"a", KEY);
        open.extend(client_frame(0xc0, b"b", KEY));
        assert_eq!(error(comp, &open), FrameError::InvalidContinuation);
        // The order of the checks: reserved bits before the mask, the mask
        // before the opcode, the opcode before lengths.
        assert_eq!(error(nocomp, b"\xb3\x00"), FrameError::ReservedBits);
        assert_eq!(error(nocomp, b"\x83\x00"), FrameError::MaskMissing);
        assert_eq!(error(nocomp, b"\x09\xfe"), FrameError::ControlTooLong);
        // Without masks expected, the mask bit is ignored and no key read.
        let mut dec = FrameDecoder::new(false, false);
        assert_eq!(
            dec.decode(b"\x82\x81\x01"),
            Ok(Status::Complete(FrameHeader { masked: true, ..header(Opcode::Binary, true, 1, None, 2) }))
        );
    }

    #[test]
    fn error_texts() {
        for (e, text) in [
            (FrameError::ReservedBits, "RSV2 and RSV3 must be clear"),
            (FrameError::CompressionNotNegotiated, "compressed frame received without negotiated permessage-deflate"),
            (FrameError::MaskMissing, "mask bit missing"),
            (FrameError::ControlTooLong, "control frame length bigger than maximum allowed of 125 bytes"),
            (FrameError::ControlFragmented, "control frame does not have final bit set"),
            (FrameError::ControlCompressed, "control frame must not be compressed"),
            (FrameError::MessageInProgress, "new message started before final frame for previous message was received"),
            (FrameError::InvalidContinuation, "invalid continuation frame"),
            (FrameError::UnknownOpcode(13), "unknown opcode 13"),
            (FrameError::InvalidLength, "invalid 64-bit payload length"),
            (FrameError::CloseOneByte, "close frame payload cannot be 1 byte"),
            (FrameError::InvalidCloseCode(2999), "invalid close status code 2999"),
        ] {
            assert_eq!(e.to_string(), text);
            assert_eq!(e.close_code(), 1002);
        }
        let mut out = Vec::new();
        FrameError::MaskMissing.write_close_frame(&mut out);
        assert_eq!(out, b"\x88\x12\x03\xeamask bit missing");
    }

    #[test]
    fn headers_written() {
        let mut out = Vec::new();
        write_frame_header(&mut out, Opcode::Binary, true, false, 0);
        write_frame_header(&mut out, Opcode::Binary, true, false, 125);
        write_frame_header(&mut out, Opcode::Binary, true, true, 126);
        write_frame_header(&mut out, Opcode::Continuation, false, false, 65_535);
        write_frame_header(&mut out, Opcode::Binary, true, false, 65_536);
        assert_eq!(out, b"\x82\x00\x82\x7d\xc2\x7e\x00\x7e\x00\x7e\xff\xff\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
        // Observed first frame of a Go server: FIN + binary, 16-bit 305.
        out.clear();
        write_frame_header(&mut out, Opcode::Binary, true, false, 305);
        assert_eq!(out, b"\x82\x7e\x01\x31");
        // Written headers decode back, masked and not.
        for len in [0u64, 1, 125, 126, 127, 65_535, 65_536, (1 << 63) - 1] {
            for rsv1 in [false, true] {
                let mut out = Vec::new();
                write_frame_header(&mut out, Opcode::Binary, true, rsv1, len);
                let got = FrameDecoder::new(false, true).decode(&out);
                let want = FrameHeader { rsv1, compressed: rsv1, ..header(Opcode::Binary, true, len, None, out.len()) };
                assert_eq!(got, Ok(Status::Complete(want)));
                out.clear();
                write_masked_frame_header(&mut out, Opcode::Binary, true, rsv1, len, KEY);
                let got = FrameDecoder::new(true, true).decode(&out);
                let want =
                    FrameHeader { rsv1, compressed: rsv1, ..header(Opcode::Binary, true, len, Some(KEY), out.len()) };
                assert_eq!(got, Ok(Status::Complete(want)));
            }
        }
    }

    #[test]
    fn unmask_in_pieces() {
        let plain: Vec<u8> = (0..100u8).collect();
        let mut whole = plain.clone();
        unmask(&mut whole, KEY, 0);
        for (i, b) in whole.iter().enumerate() {
            assert_eq!(*b, plain[i] ^ KEY[i % 4]);
        }
        for cuts in [[1, 2], [3, 50], [8, 16], [17, 99], [0, 100]] {
            let mut pieces = plain.clone();
            let (a, rest) = pieces.split_at_mut(cuts[0]);
            let (b, c) = rest.split_at_mut(cuts[1] - cuts[0]);
            unmask(a, KEY, 0);
            unmask(b, KEY, cuts[0] as u64);
            unmask(c, KEY, cuts[1] as u64);
            assert_eq!(pieces, whole, "{cuts:?}");
        }
        unmask(&mut whole, KEY, 0);
        assert_eq!(whole, plain);
        unmask(&mut [], KEY, 7);
    }

    #[test]
    fn control_frames_written() {
        let mut out = Vec::new();
        write_pong(&mut out, b"hello-ping");
        assert_eq!(out, b"\x8a\x0ahello-ping");
        out.clear();
        write_close_frame(&mut out, Some(CLOSE_NORMAL), b"bye");
        assert_eq!(out, b"\x88\x05\x03\xe8bye");
        out.clear();
        write_close_frame(&mut out, None, b"ignored");
        assert_eq!(out, b"\x88\x00");
        // Reasons over 123 bytes: 120 bytes and `...`.
        let long = [b'x'; 200];
        out.clear();
        write_close_frame(&mut out, Some(CLOSE_POLICY_VIOLATION), &long);
        assert_eq!(out.len(), 2 + 125);
        assert_eq!(&out[..4], b"\x88\x7d\x03\xf0");
        assert!(out.ends_with(b"xxx..."));
        assert_eq!(&out[4..124], &long[..120]);
        out.clear();
        write_close_payload(&mut out, CLOSE_GOING_AWAY, &long[..123]);
        assert_eq!(out.len(), 125);
    }

    #[test]
    fn replies_to_close_frames() {
        assert_eq!(close_reply(b""), Ok(CloseReply::Empty));
        assert_eq!(close_reply(b"\x03\xe8bye"), Ok(CloseReply::Status { code: 1000, reason: b"bye" }));
        assert_eq!(close_reply(b"\x0f\xa0"), Ok(CloseReply::Status { code: 4000, reason: b"" }));
        assert_eq!(
            close_reply(b"\x03\xe8\xff"),
            Ok(CloseReply::Status { code: 1007, reason: b"invalid utf8 body in close frame" })
        );
        assert_eq!(close_reply(b"\x03"), Err(FrameError::CloseOneByte));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert_eq!(close_reply(&code.to_be_bytes()), Err(FrameError::InvalidCloseCode(code)), "{code}");
        }
        for code in [1000u16, 1003, 1007, 1014, 3000, 4999] {
            assert!(is_valid_close_code(code), "{code}");
        }
        let mut out = Vec::new();
        close_reply(b"\x03\xe8bye").unwrap().write_frame(&mut out);
        close_reply(b"").unwrap().write_frame(&mut out);
        assert_eq!(out, b"\x88\x05\x03\xe8bye\x88\x00");
    }

    #[test]
    fn limits() {
        assert_eq!(max_compressed_message_size(0), 8 << 20);
        assert_eq!(max_compressed_message_size(1024), 8192);
        assert_eq!(max_compressed_message_size(64 << 20), 64 << 20);
        assert_eq!(max_compressed_message_size(u64::MAX), 64 << 20);
        assert!(Opcode::Ping.is_control() && !Opcode::Continuation.is_control());
    }
}
