//! The WebSocket layer: the upgrade request head and its checks, and the
//! frame decoder with unmasking.
//!
//! Input: one byte of settings (head size limit, listener options, what
//! the frame decoder expects), one byte choosing how the rest is cut into
//! reads, then bytes read twice: as the HTTP request a client sends to
//! upgrade, and as the stream of frames that follows an upgrade.
//!
//! The request must come out the same (or fail the same way) however it
//! is cut; its pieces lie inside its head; an accepted upgrade is answered
//! with the accept key of its key; every response is well formed. The
//! frames and the error that ends them must be the same however the
//! stream is cut, payloads unmasked piece by piece equal payloads
//! unmasked whole, a decoded header written back decodes the same, and
//! the answers to close frames and pings are valid control frames.

use rnats_protocol::websocket::{
    accept_key, close_reply, is_valid_key, unmask, validate_upgrade, write_frame_header, write_masked_frame_header,
    write_pong, FrameDecoder, FrameError, FrameHeader, Kind, Next, Opcode, OriginPolicy, Request, RequestError,
    RequestParser, UpgradeOptions, MAX_CONTROL_PAYLOAD, MAX_DISCARDED_BODY, MAX_HEAD, MAX_HEADER_LEN,
};
use rnats_protocol::Status;

use crate::{stream, within};

const LIMITS: [usize; 4] = [MAX_HEAD, 256, 64, 8];

pub fn check(data: &[u8]) {
    let [settings, seed, input @ ..] = data else { return };
    check_handshake(input, *settings, *seed);
    check_frames(input, *settings, *seed);
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// The upgrade request

/// What the listener ends up with: a request (its debug form and
/// length), an error, or still waiting with this many bytes buffered.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    Request(String, usize),
    Error(RequestError),
    Waiting(usize),
}

fn check_handshake(input: &[u8], settings: u8, seed: u8) {
    let max = LIMITS[usize::from(settings & 3)];
    let whole = feed_head(input, &[], max, settings);
    let sizes = stream::plan(seed, input.len());
    assert_eq!(feed_head(input, &sizes, max, settings), whole, "cut into reads {sizes:?}");
    if input.len() <= 128 {
        assert_eq!(feed_head(input, &vec![1; input.len()], max, settings), whole, "byte by byte");
        for cut in 1..input.len() {
            assert_eq!(feed_head(input, &[cut], max, settings), whole, "cut at {cut}");
        }
    }
}

/// Appends reads of `sizes` (then the rest) to a buffer and gives it to
/// one parser after each, until a request or an error.
fn feed_head(input: &[u8], sizes: &[usize], max: usize, settings: u8) -> Head {
    let mut parser = RequestParser::new(max);
    let mut buf = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter();
    loop {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        match parser.parse(&buf) {
            Ok(Status::Complete(r)) => {
                check_request(&buf, &r, max, settings);
                return Head::Request(format!("{r:?} {:?}", r.headers().collect::<Vec<_>>()), r.len);
            }
            Ok(Status::Partial) => {
                assert!(buf.len() <= max, "a head over the limit is still awaited");
                if rest.is_empty() {
                    return Head::Waiting(buf.len());
                }
            }
            Err(e) => {
                let mut out = Vec::new();
                e.write_response(&mut out);
                let status = format!("HTTP/1.1 {} ", e.status());
                assert!(out.starts_with(status.as_bytes()), "{:?}", String::from_utf8_lossy(&out));
                assert!(find(&out, b"\r\nConnection: close\r\n\r\n").is_some());
                return Head::Error(e);
            }
        }
    }
}

fn check_request(buf: &[u8], r: &Request<'_>, max: usize, settings: u8) {
    assert!(r.len <= buf.len() && r.len <= max);
    let head = &buf[..r.len];
    assert!(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"), "the head does not end with a blank line");
    for part in [r.method, r.target, r.path, r.query, r.host] {
        assert!(within(head, part));
    }
    for (name, value) in r.headers() {
        assert!(within(head, name) && within(head, value));
        assert!(!name.is_empty() && !name.contains(&b':'));
        assert!(r.header(name).is_some());
    }
    assert!(r.version.0 == 1 || (r.method == b"PRI" && r.target == b"*"));

    let policy = OriginPolicy::new(settings & 0x10 != 0, &["http://localhost:8080", "https://example.com"])
        .expect("valid allowed origins");
    let opts = UpgradeOptions {
        tls: settings & 4 != 0,
        compression: settings & 8 != 0,
        mqtt: settings & 0x80 != 0,
        origins: (settings & 0x20 != 0).then_some(&policy),
    };
    let mut out = Vec::new();
    match validate_upgrade(r, &opts) {
        Ok(up) => {
            assert!(is_valid_key(up.key) && !up.host.is_empty() && r.method == b"GET");
            assert!(up.compress == (opts.compression && up.deflate.is_some()));
            let path = r.escaped_path();
            let kind = match () {
                _ if path.ends_with(b"/leafnode") => Kind::Leaf,
                _ if path.ends_with(b"/mqtt") => Kind::Mqtt,
                _ => Kind::Client,
            };
            assert_eq!(up.kind, kind);
            up.write_response(&mut out, &[]);
            assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
            let mut accept = b"\r\nSec-WebSocket-Accept: ".to_vec();
            accept.extend_from_slice(&accept_key(up.key));
            accept.extend_from_slice(b"\r\n");
            assert!(find(&out, &accept).is_some());
            assert!(out.ends_with(b"\r\n\r\n") && find(&out, b"\r\n\r\n") == Some(out.len() - 4));
        }
        Err(reject) => {
            let next = reject.write_response(&mut out, r, u64::from(settings) * 86_399 * 365);
            let shown = String::from_utf8_lossy(&out).into_owned();
            let status = format!(" {} ", reject.status());
            assert!(out.starts_with(b"HTTP/1.") && out[8..].starts_with(status.as_bytes()), "{shown:?}");
            let end = find(&out, b"\r\n\r\n").expect("a blank line") + 4;
            let body = &out[end..];
            if let Some(at) = find(&out[..end], b"\r\nContent-Length: ") {
                let digits = &out[at + 18..];
                let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
                let declared: usize = std::str::from_utf8(&digits[..n]).expect("digits").parse().expect("a length");
                assert!(declared == body.len() || (r.method == b"HEAD" && body.is_empty()), "{shown:?}");
            } else {
                assert!(body.is_empty(), "{shown:?}");
            }
            if let Next::KeepAlive { skip } = next {
                assert!(skip < MAX_DISCARDED_BODY);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Frames

/// A frame as a reader ends up with it: header and unmasked payload.
type Got = (FrameHeader, Vec<u8>);

/// What a reader saw: whole frames, then the error that ended the stream
/// or the unfinished frame and the header bytes still waiting.
#[derive(Debug, PartialEq, Eq)]
struct Frames {
    frames: Vec<Got>,
    error: Option<FrameError>,
    partial: Option<Got>,
    waiting: usize,
}

fn check_frames(input: &[u8], settings: u8, seed: u8) {
    let dec = FrameDecoder::new(settings & 0x40 == 0, settings & 8 != 0);
    let whole = read_frames(dec, input, &[], true);
    let sizes = stream::plan(seed, input.len());
    assert_eq!(read_frames(dec, input, &sizes, false), whole, "cut into reads {sizes:?}");
    if input.len() <= 256 {
        assert_eq!(read_frames(dec, input, &vec![1; input.len()], false), whole, "byte by byte");
    }
    if input.len() <= 64 {
        for cut in 1..input.len() {
            assert_eq!(read_frames(dec, input, &[cut], false), whole, "cut at {cut}");
        }
    }
    if let Some(e) = whole.error {
        let mut out = Vec::new();
        e.write_close_frame(&mut out);
        let (h, payload) = control_frame(&out);
        assert_eq!(h.opcode, Opcode::Close);
        assert_eq!(&payload[..2], &e.close_code().to_be_bytes());
        assert_eq!(&payload[2..], e.to_string().as_bytes());
    }
}

/// Reads frames from `input` appended to a buffer in reads of `sizes`
/// (then the rest): a header once it is whole, then payload bytes as they
/// come, unmasked piece by piece at their offset. `deep` checks each
/// frame's header and control payload.
fn read_frames(mut dec: FrameDecoder, input: &[u8], sizes: &[usize], deep: bool) -> Frames {
    let mut frames = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut current: Option<Got> = None;
    let mut rest = input;
    let mut sizes = sizes.iter();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            if let Some((h, payload)) = current.as_mut() {
                let want = h.payload_len - payload.len() as u64;
                let take = usize::try_from(want).unwrap_or(usize::MAX).min(buf.len());
                let mut piece: Vec<u8> = buf.drain(..take).collect();
                if let Some(key) = h.mask {
                    unmask(&mut piece, key, payload.len() as u64);
                }
                payload.extend_from_slice(&piece);
                if payload.len() as u64 != h.payload_len {
                    break;
                }
                let frame = current.take().expect("a frame being read");
                if deep {
                    check_frame(&frame);
                }
                frames.push(frame);
                continue;
            }
            let before = dec;
            match dec.decode(&buf) {
                Ok(Status::Complete(h)) => {
                    assert!(h.header_len >= 2 && h.header_len <= MAX_HEADER_LEN && h.header_len <= buf.len());
                    assert!(h.payload_len < 1 << 63);
                    if deep {
                        check_header_round_trip(before, &h);
                    }
                    buf.drain(..h.header_len);
                    current = Some((h, Vec::new()));
                }
                Ok(Status::Partial) => {
                    assert_eq!(dec, before, "a partial header changed the decoder");
                    assert!(buf.len() < MAX_HEADER_LEN);
                    break;
                }
                Err(e) => return Frames { frames, error: Some(e), partial: None, waiting: 0 },
            }
        }
    }
    let waiting = if current.is_some() { 0 } else { buf.len() };
    Frames { frames, error: None, partial: current, waiting }
}

/// The header written back with the encoders decodes, with the decoder
/// as it was, to the same header (with the shortest length encoding).
fn check_header_round_trip(before: FrameDecoder, h: &FrameHeader) {
    let mut out = Vec::new();
    match h.mask {
        Some(key) => write_masked_frame_header(&mut out, h.opcode, h.fin, h.rsv1, h.payload_len, key),
        None if h.masked => {
            // Masks not expected: the bit is kept but no key follows.
            write_masked_frame_header(&mut out, h.opcode, h.fin, h.rsv1, h.payload_len, [0; 4]);
            out.truncate(out.len() - 4);
        }
        None => write_frame_header(&mut out, h.opcode, h.fin, h.rsv1, h.payload_len),
    }
    let mut dec = before;
    match dec.decode(&out) {
        Ok(Status::Complete(again)) => {
            assert_eq!(again, FrameHeader { header_len: out.len(), ..*h });
            assert!(out.len() <= h.header_len);
        }
        other => panic!("{h:?} written as {out:?} decodes as {other:?}"),
    }
}

/// Control frames: short and final; the server's answers decode.
fn check_frame((h, payload): &Got) {
    assert_eq!(payload.len() as u64, h.payload_len);
    if !h.opcode.is_control() {
        return;
    }
    assert!(h.fin && !h.rsv1 && !h.compressed && payload.len() <= MAX_CONTROL_PAYLOAD);
    let mut out = Vec::new();
    match h.opcode {
        Opcode::Ping => {
            write_pong(&mut out, payload);
            let (pong, back) = control_frame(&out);
            assert_eq!((pong.opcode, &back), (Opcode::Pong, payload));
        }
        Opcode::Close => match close_reply(payload) {
            Ok(reply) => {
                reply.write_frame(&mut out);
                let (close, back) = control_frame(&out);
                assert_eq!(close.opcode, Opcode::Close);
                assert!(back.is_empty() || back.len() >= 2);
                assert!(payload.is_empty() == back.is_empty());
                assert!(std::str::from_utf8(back.get(2..).unwrap_or_default()).is_ok());
            }
            Err(e) => assert!(matches!(e, FrameError::CloseOneByte | FrameError::InvalidCloseCode(_))),
        },
        _ => {}
    }
}

/// Decodes `out` as one whole unmasked control frame the server wrote.
fn control_frame(out: &[u8]) -> (FrameHeader, Vec<u8>) {
    let mut dec = FrameDecoder::new(false, false);
    match dec.decode(out) {
        Ok(Status::Complete(h)) => {
            assert!(h.opcode.is_control() && h.fin && !h.masked);
            assert_eq!(h.header_len + h.payload_len as usize, out.len());
            (h, out[h.header_len..].to_vec())
        }
        other => panic!("{out:?} is not a control frame: {other:?}"),
    }
}
