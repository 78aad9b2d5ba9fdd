//! WebSocket as a transport: the byte stream of a connection whose peer
//! upgraded an HTTP request (`websocket {}`), beneath the client role like
//! plain TCP and TLS. Nothing above it sees HTTP or frames.
//!
//! Reading: first the upgrade request, checked as the Go server checks it
//! (`rnats_protocol::websocket`); a refused request gets Go's HTTP answer
//! and the connection ends. Then frames: the payloads of data frames are
//! handed up as one stream (unmasked, across frame boundaries), pings are
//! answered with pongs, a close frame is answered and ends the stream. A
//! frame the server refuses gets a close frame with Go's code and reason.
//!
//! Writing: what the connection writes before the upgrade (its INFO) waits
//! for the 101; after it, each write is one binary frame (pieces of at most
//! 4096 bytes for browsers), unmasked. When the server closes the
//! connection, a close frame with Go's code for the reason goes last.
//!
//! Memory is bounded: the upgrade request by `MAX_HEAD`, a control frame by
//! 125 bytes, and a data frame's payload is never buffered, whatever length
//! it declares: it is handed up as it arrives.

use std::io;
use std::rc::Rc;
use std::time::Instant;

use rnats_protocol::framing::Status;
use rnats_protocol::websocket::{
    close_reply, unmask, validate_upgrade, write_close_frame, write_frame_header, write_masked_frame_header,
    write_pong, FrameDecoder, Kind, Next, Opcode, OriginPolicy, RequestParser, UpgradeOptions, BROWSER_FRAME_SIZE,
    MAX_HEAD,
};

use super::Transport;
use crate::conn::CloseReason;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// What the connection may write before the upgrade (its INFO, an -ERR).
const EARLY_MAX: usize = 64 * 1024;

/// The settings of a `websocket {}` listener that the transport needs.
pub struct WsSettings {
    pub tls: bool,
    /// `compression: true`: take a client's permessage-deflate offer.
    pub compression: bool,
    /// A compressed message may inflate to at most this (max_payload).
    pub max_payload: usize,
    /// Leaf node connections are taken (`/leafnode` upgrades).
    pub leaf: bool,
    pub origins: Option<OriginPolicy>,
    /// `headers {}`: extra lines of the 101.
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the upgrade request.
    Request,
    /// Frames both ways.
    Open,
    /// The request was refused or a close frame exchanged: the stream has
    /// ended once what is held is written.
    Done,
}

/// A data frame whose payload is still arriving.
#[derive(Clone, Copy)]
struct Payload {
    left: u64,
    mask: Option<[u8; 4]>,
    offset: u64,
    /// Part of a compressed message (gathered, inflated at its end).
    compressed: bool,
    fin: bool,
}

pub struct WebSocket {
    inner: Box<dyn Transport>,
    settings: Rc<WsSettings>,
    phase: Phase,
    request: RequestParser,
    /// Bytes read from `inner` and not used yet, from `raw_pos`.
    raw: Vec<u8>,
    raw_pos: usize,
    decoder: FrameDecoder,
    payload: Option<Payload>,
    /// Bytes for `inner` (the HTTP answer, frames) not written yet.
    held: Vec<u8>,
    held_pos: usize,
    /// What the connection wrote before the upgrade.
    early: Vec<u8>,
    browser: bool,
    eof: bool,
    done_at: Option<Instant>,
    /// Why the upgrade was refused, for the log.
    refused: Option<String>,
    /// Body bytes of a refused request still to drop before the next
    /// request on a kept connection.
    discard: u64,
    /// The connection's log prefix.
    label: String,
    /// We dialed (a leaf node remote over `ws://`): we send the upgrade
    /// request, check the 101, and mask what we write.
    dialer: Option<Dialer>,
    /// Masking key state for our frames (dialing side), `None` unmasked.
    mask: Option<u64>,
    /// permessage-deflate was agreed.
    compress: bool,
    /// The compressed message being gathered, and inflated bytes not yet
    /// handed up (from `inflated_pos`).
    zbuf: Vec<u8>,
    inflated: Vec<u8>,
    inflated_pos: usize,
    /// Safari cannot take compressed messages in pieces.
    no_compressed_fragments: bool,
    /// The upgrade was on `/leafnode`: the connection becomes a leaf node
    /// connection (taken once by the server).
    leaf_switch: bool,
}

/// The dialing side's handshake: the key we sent.
struct Dialer {
    key: Vec<u8>,
    no_masking: bool,
}

impl WebSocket {
    pub fn new(inner: Box<dyn Transport>, settings: Rc<WsSettings>, label: String) -> WebSocket {
        WebSocket {
            inner,
            settings,
            phase: Phase::Request,
            request: RequestParser::new(MAX_HEAD),
            raw: Vec::new(),
            raw_pos: 0,
            decoder: FrameDecoder::new(true, false),
            payload: None,
            held: Vec::new(),
            held_pos: 0,
            early: Vec::new(),
            browser: false,
            eof: false,
            done_at: None,
            refused: None,
            discard: 0,
            label,
            dialer: None,
            mask: None,
            compress: false,
            zbuf: Vec::new(),
            inflated: Vec::new(),
            inflated_pos: 0,
            no_compressed_fragments: false,
            leaf_switch: false,
        }
    }

    /// The dialing side: the upgrade request for `path` on `host` (a leaf
    /// node remote's `ws://` URL) goes out first; frames are masked unless
    /// `no_masking` is asked for and granted.
    pub fn dial(inner: Box<dyn Transport>, host: &str, path: &str, no_masking: bool, label: String) -> WebSocket {
        let settings = Rc::new(WsSettings {
            tls: false,
            compression: false,
            max_payload: 0,
            leaf: false,
            origins: None,
            headers: Vec::new(),
        });
        let mut ws = WebSocket::new(inner, settings, label);
        let mut raw = [0u8; 16];
        crate::sys::fill_random(&mut raw);
        let mut key = Vec::new();
        rnats_protocol::websocket::base64_encode(&mut key, &raw);
        let mut seed = [0u8; 8];
        crate::sys::fill_random(&mut seed);
        ws.mask = Some(u64::from_le_bytes(seed) | 1);
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rnats\r\nConnection: Upgrade\r\n");
        if no_masking {
            req.push_str("Nats-No-Masking: true\r\n");
        }
        req.push_str("Sec-WebSocket-Key: ");
        ws.held.extend_from_slice(req.as_bytes());
        ws.held.extend_from_slice(&key);
        ws.held.extend_from_slice(b"\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n");
        ws.dialer = Some(Dialer { key, no_masking });
        ws.decoder = FrameDecoder::new(false, false);
        ws
    }

    /// The hub's answer to our upgrade request, once complete: a 101 with
    /// the right accept key opens the connection.
    fn handle_answer(&mut self) -> io::Result<bool> {
        let data = &self.raw[self.raw_pos..];
        let Some(end) = memchr::memmem::find(data, b"\r\n\r\n") else {
            if data.len() > 64 * 1024 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "websocket: upgrade answer too long"));
            }
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&data[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("");
        let mut upgrade = false;
        let mut connection = false;
        let mut accept = String::new();
        let mut no_masking = false;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else { continue };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "upgrade" => upgrade = v.eq_ignore_ascii_case("websocket"),
                "connection" => connection = v.eq_ignore_ascii_case("upgrade"),
                "sec-websocket-accept" => accept = v.to_string(),
                "nats-no-masking" => no_masking = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        let Some(d) = &self.dialer else { return Ok(false) };
        let want = rnats_protocol::websocket::accept_key(&d.key);
        let ok = status.split(' ').nth(1) == Some("101") && upgrade && connection && accept.as_bytes() == want;
        if !ok {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("invalid websocket connection ({status})")));
        }
        if d.no_masking && no_masking {
            self.mask = None;
        }
        self.raw_pos += end + 4;
        self.phase = Phase::Open;
        self.done_at = Some(Instant::now());
        let early = std::mem::take(&mut self.early);
        self.frame(&early);
        Ok(true)
    }

    /// Writes what is held; `Ok(true)` once nothing is.
    fn write_held(&mut self) -> io::Result<bool> {
        while self.held_pos < self.held.len() {
            match self.inner.write(&self.held[self.held_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.held_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.held.clear();
        self.held_pos = 0;
        self.inner.flush()
    }

    /// Appends `data` as binary frames (compressed as one message when
    /// agreed and larger than Go's threshold).
    fn frame(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        #[cfg(feature = "deflate")]
        if self.compress && data.len() > rnats_protocol::websocket::COMPRESS_THRESHOLD {
            let z = pmd::deflate(data);
            let piece = if self.browser && !self.no_compressed_fragments { BROWSER_FRAME_SIZE } else { z.len() };
            let mut chunks = z.chunks(piece.max(1)).peekable();
            let mut first = true;
            while let Some(chunk) = chunks.next() {
                let opcode = if first { Opcode::Binary } else { Opcode::Continuation };
                write_frame_header(&mut self.held, opcode, chunks.peek().is_none(), first, chunk.len() as u64);
                self.held.extend_from_slice(chunk);
                first = false;
            }
            return;
        }
        let piece = if self.browser { BROWSER_FRAME_SIZE } else { data.len() };
        for chunk in data.chunks(piece) {
            match self.mask.as_mut() {
                None => {
                    write_frame_header(&mut self.held, Opcode::Binary, true, false, chunk.len() as u64);
                    self.held.extend_from_slice(chunk);
                }
                Some(state) => {
                    // A fresh key per frame (xorshift).
                    *state ^= *state << 13;
                    *state ^= *state >> 7;
                    *state ^= *state << 17;
                    let key = (*state as u32).to_le_bytes();
                    write_masked_frame_header(&mut self.held, Opcode::Binary, true, false, chunk.len() as u64, key);
                    let at = self.held.len();
                    self.held.extend_from_slice(chunk);
                    unmask(&mut self.held[at..], key, 0);
                }
            }
        }
    }

    /// The upgrade request in `raw`, when complete: the 101 (and the early
    /// output as the first frame) or the refusal. `Ok(false)`: more bytes
    /// needed.
    fn handle_request(&mut self) -> io::Result<bool> {
        if self.discard > 0 {
            let n = self.discard.min((self.raw.len() - self.raw_pos) as u64);
            self.raw_pos += n as usize;
            self.discard -= n;
            if self.discard > 0 {
                return Ok(false);
            }
        }
        let data = &self.raw[self.raw_pos..];
        let req = match self.request.parse(data) {
            Ok(Status::Partial) => return Ok(false),
            Ok(Status::Complete(req)) => req,
            Err(e) => {
                e.write_response(&mut self.held);
                self.refused = Some(format!("{e:?}"));
                self.phase = Phase::Done;
                return Ok(true);
            }
        };
        let opts = UpgradeOptions {
            tls: self.settings.tls,
            compression: self.settings.compression && cfg!(feature = "deflate"),
            mqtt: false,
            origins: self.settings.origins.as_ref(),
        };
        let consumed = req.len;
        match validate_upgrade(&req, &opts) {
            Ok(up) if up.kind == Kind::Client || up.kind == Kind::Leaf && self.settings.leaf => {
                let extra: Vec<(&[u8], &[u8])> =
                    self.settings.headers.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
                up.write_response(&mut self.held, &extra);
                self.browser = up.browser;
                self.compress = up.compress;
                self.no_compressed_fragments = up.no_compressed_fragments;
                self.decoder = FrameDecoder::new(!up.no_masking, up.compress);
                let leftover = data.len() > consumed;
                self.raw_pos += consumed;
                self.phase = Phase::Open;
                self.done_at = Some(Instant::now());
                let early = std::mem::take(&mut self.early);
                if up.kind == Kind::Leaf {
                    // What was written for a client (its INFO) is dropped:
                    // the leaf role speaks next.
                    self.leaf_switch = true;
                } else {
                    self.frame(&early);
                }
                if leftover {
                    // As Go: bytes sent before the 101 end the connection.
                    self.refused = Some("client sent data before handshake is complete".into());
                    self.held.clear();
                    self.phase = Phase::Done;
                }
            }
            Ok(up) => {
                self.refused = Some(match up.kind {
                    Kind::Leaf => "Not configured to accept leaf node connections over websocket".into(),
                    _ => "mqtt websocket endpoint not enabled".into(),
                });
                self.phase = Phase::Done;
            }
            Err(rej) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                // As Go's HTTP server, the connection may stay open for
                // another request (after the refused one's body).
                match rej.write_response(&mut self.held, &req, now) {
                    Next::KeepAlive { skip } => {
                        log::error!("{} - websocket handshake error: {rej}", self.label);
                        self.raw_pos += consumed;
                        self.discard = skip;
                    }
                    Next::Close => {
                        self.refused = Some(rej.to_string());
                        self.phase = Phase::Done;
                    }
                }
            }
        }
        Ok(true)
    }

    /// A whole control frame at `raw_pos` (header of `header_len`), or
    /// `Ok(false)` when its payload has not all arrived.
    fn handle_control(
        &mut self,
        opcode: Opcode,
        header_len: usize,
        len: usize,
        mask: Option<[u8; 4]>,
    ) -> io::Result<bool> {
        let start = self.raw_pos + header_len;
        if self.raw.len() < start + len {
            return Ok(false);
        }
        let mut payload = [0u8; 125];
        let payload = &mut payload[..len.min(125)];
        payload.copy_from_slice(&self.raw[start..start + payload.len()]);
        if let Some(key) = mask {
            unmask(payload, key, 0);
        }
        self.raw_pos = start + len;
        match opcode {
            Opcode::Ping if self.mask.is_some() => {
                let key = [0u8; 4];
                write_masked_frame_header(&mut self.held, Opcode::Pong, true, false, payload.len() as u64, key);
                self.held.extend_from_slice(payload);
            }
            Opcode::Ping => write_pong(&mut self.held, payload),
            Opcode::Close => {
                match close_reply(payload) {
                    Ok(reply) => reply.write_frame(&mut self.held),
                    Err(e) => e.write_close_frame(&mut self.held),
                }
                self.phase = Phase::Done;
            }
            _ => {}
        }
        Ok(true)
    }

    /// Moves the arrived bytes of compressed frame `p` into `zbuf`; at the
    /// end of the message, inflates it (fresh context, as agreed) into
    /// `inflated`. `Ok(false)`: more bytes needed. A message too big
    /// compressed or inflated is refused as Go refuses it.
    fn gather_compressed(&mut self, mut p: Payload) -> io::Result<bool> {
        let avail = self.raw.len() - self.raw_pos;
        let take = p.left.min(avail as u64) as usize;
        let limit = rnats_protocol::websocket::max_compressed_message_size(self.settings.max_payload as u64) as usize;
        if self.zbuf.len() + take > limit {
            self.phase = Phase::Done;
            return Err(io::Error::new(io::ErrorKind::InvalidData, "maximum payload exceeded"));
        }
        let at = self.zbuf.len();
        self.zbuf.extend_from_slice(&self.raw[self.raw_pos..self.raw_pos + take]);
        if let Some(key) = p.mask {
            unmask(&mut self.zbuf[at..], key, p.offset);
        }
        self.raw_pos += take;
        p.left -= take as u64;
        p.offset += take as u64;
        if p.left > 0 {
            self.payload = Some(p);
            return Ok(take > 0);
        }
        self.payload = None;
        if p.fin {
            let z = std::mem::take(&mut self.zbuf);
            #[cfg(feature = "deflate")]
            match pmd::inflate(&z, self.settings.max_payload) {
                Ok(data) => {
                    self.inflated = data;
                    self.inflated_pos = 0;
                }
                Err(e) => {
                    write_close_frame(
                        &mut self.held,
                        Some(rnats_protocol::websocket::CLOSE_MESSAGE_TOO_BIG),
                        e.as_bytes(),
                    );
                    let _ = self.write_held();
                    self.phase = Phase::Done;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            #[cfg(not(feature = "deflate"))]
            drop(z);
        }
        Ok(true)
    }

    /// Reads more from the socket into `raw`; `Ok(false)` at its end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.raw_pos == self.raw.len() {
            self.raw.clear();
            self.raw_pos = 0;
        } else if self.raw_pos > READ_CHUNK {
            self.raw.drain(..self.raw_pos);
            self.raw_pos = 0;
        }
        let len = self.raw.len();
        self.raw.resize(len + READ_CHUNK, 0);
        let res = self.inner.read(&mut self.raw[len..]);
        let n = *res.as_ref().unwrap_or(&0);
        self.raw.truncate(len + n);
        match res {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// Go's close code for a connection closed for `reason` (2.10+).
fn close_code(reason: CloseReason) -> u16 {
    use rnats_protocol::websocket as ws;
    match reason {
        CloseReason::ClientClosed => ws::CLOSE_NORMAL,
        CloseReason::AuthenticationTimeout
        | CloseReason::AuthenticationViolation
        | CloseReason::SlowConsumerPendingBytes
        | CloseReason::SlowConsumerWriteDeadline
        | CloseReason::MaxConnectionsExceeded
        | CloseReason::MaxControlLineExceeded => ws::CLOSE_POLICY_VIOLATION,
        CloseReason::TlsHandshakeError => ws::CLOSE_TLS_HANDSHAKE,
        CloseReason::ParseError | CloseReason::ProtocolViolation | CloseReason::BadClientProtocolVersion => {
            ws::CLOSE_PROTOCOL_ERROR
        }
        CloseReason::MaxPayloadExceeded => ws::CLOSE_MESSAGE_TOO_BIG,
        CloseReason::ServerShutdown
        | CloseReason::WriteError
        | CloseReason::ReadError
        | CloseReason::StaleConnection => ws::CLOSE_GOING_AWAY,
        _ => ws::CLOSE_INTERNAL_ERROR,
    }
}

impl Transport for WebSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        loop {
            if self.phase == Phase::Done {
                // What is held (an answer) goes out; the stream has ended.
                let _ = self.write_held();
                if let Some(why) = self.refused.take() {
                    log::error!("{} - websocket handshake error: {why}", self.label);
                }
                return Ok(n);
            }
            if self.phase == Phase::Request && self.dialer.is_some() {
                if self.handle_answer()? {
                    continue;
                }
            } else if self.phase == Phase::Request {
                if self.handle_request()? {
                    if !self.write_held()? && self.phase == Phase::Open {
                        // The rest of the 101 goes out with the next flush.
                    }
                    continue;
                }
            } else if self.inflated_pos < self.inflated.len() {
                let take = (self.inflated.len() - self.inflated_pos).min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&self.inflated[self.inflated_pos..self.inflated_pos + take]);
                self.inflated_pos += take;
                n += take;
                if self.inflated_pos == self.inflated.len() {
                    self.inflated = Vec::new();
                    self.inflated_pos = 0;
                }
                if n == buf.len() {
                    return Ok(n);
                }
                continue;
            } else if let Some(p) = self.payload.filter(|p| p.compressed) {
                if self.gather_compressed(p)? {
                    continue;
                }
            } else if let Some(mut p) = self.payload {
                let avail = self.raw.len() - self.raw_pos;
                let take = (p.left.min(avail as u64) as usize).min(buf.len() - n);
                if take > 0 || p.left == 0 {
                    let dst = &mut buf[n..n + take];
                    dst.copy_from_slice(&self.raw[self.raw_pos..self.raw_pos + take]);
                    if let Some(key) = p.mask {
                        unmask(dst, key, p.offset);
                    }
                    self.raw_pos += take;
                    n += take;
                    p.left -= take as u64;
                    p.offset += take as u64;
                    self.payload = (p.left > 0).then_some(p);
                    if n == buf.len() {
                        return Ok(n);
                    }
                    continue;
                }
            } else {
                match self.decoder.decode(&self.raw[self.raw_pos..]) {
                    Ok(Status::Partial) => {}
                    Ok(Status::Complete(h)) if h.opcode.is_control() => {
                        if self.handle_control(h.opcode, h.header_len, h.payload_len as usize, h.mask)? {
                            if self.write_held().is_err() {
                                return Err(io::ErrorKind::BrokenPipe.into());
                            }
                            continue;
                        }
                    }
                    Ok(Status::Complete(h)) => {
                        self.raw_pos += h.header_len;
                        self.payload = Some(Payload {
                            left: h.payload_len,
                            mask: h.mask,
                            offset: 0,
                            compressed: h.compressed,
                            fin: h.fin,
                        });
                        continue;
                    }
                    Err(e) => {
                        e.write_close_frame(&mut self.held);
                        let _ = self.write_held();
                        self.phase = Phase::Done;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("websocket: {e}")));
                    }
                }
            }
            if self.eof {
                return Ok(n);
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    self.eof = true;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.phase {
            Phase::Request => {
                if self.early.len() + buf.len() > EARLY_MAX {
                    return Err(io::ErrorKind::OutOfMemory.into());
                }
                self.early.extend_from_slice(buf);
                Ok(buf.len())
            }
            Phase::Open => {
                self.frame(buf);
                Ok(buf.len())
            }
            // Nothing more goes to a peer whose stream has ended.
            Phase::Done => Ok(buf.len()),
        }
    }

    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        self.inner.source()
    }

    fn connect_state(&self) -> io::Result<bool> {
        self.inner.connect_state()
    }

    fn shutdown(&mut self) {
        let _ = self.write_held();
        self.inner.shutdown();
    }

    fn flush(&mut self) -> io::Result<bool> {
        self.write_held()
    }

    fn handshaking(&self) -> bool {
        self.phase == Phase::Request
    }

    fn handshake_done_at(&self) -> Option<Instant> {
        self.done_at
    }

    fn tls_state(&self) -> Option<(&'static str, String)> {
        self.inner.tls_state()
    }

    fn peer_certs(&self) -> Vec<[String; 3]> {
        self.inner.peer_certs()
    }

    fn peer_cert(&self) -> Option<&[u8]> {
        self.inner.peer_cert()
    }

    fn closing(&mut self, reason: CloseReason) {
        if self.phase == Phase::Open && self.dialer.is_none() {
            write_close_frame(&mut self.held, Some(close_code(reason)), reason.as_str().as_bytes());
            self.phase = Phase::Done;
            let _ = self.write_held();
        }
    }

    fn websocket(&self) -> bool {
        true
    }

    fn take_leaf_switch(&mut self) -> bool {
        std::mem::take(&mut self.leaf_switch)
    }
}

/// permessage-deflate with no context takeover, as the Go server uses it:
/// each message deflated (level 1) and inflated with a fresh context.
#[cfg(feature = "deflate")]
mod pmd {
    use std::cell::RefCell;

    use miniz_oxide::deflate::core::{
        compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
    };

    thread_local! {
        /// One compressor for every connection (the reactor is one thread),
        /// reset for each message: its tables are not held per connection.
        static COMPRESSOR: RefCell<Option<Box<CompressorOxide>>> = const { RefCell::new(None) };
    }

    /// `data` deflated, sync-flushed, with the trailing `00 00 ff ff`
    /// removed (RFC 7692).
    pub fn deflate(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 16);
        COMPRESSOR.with(|c| {
            let mut c = c.borrow_mut();
            let comp =
                c.get_or_insert_with(|| Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(1, -15, 0))));
            comp.reset();
            compress_to_output(comp, data, TDEFLFlush::Sync, |chunk| {
                out.extend_from_slice(chunk);
                true
            });
        });
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
        out
    }

    /// A compressed message inflated, at most `limit` bytes.
    pub fn inflate(z: &[u8], limit: usize) -> Result<Vec<u8>, String> {
        let mut input = Vec::with_capacity(z.len() + 9);
        input.extend_from_slice(z);
        // The flush marker the sender removed, then an empty final block.
        input.extend_from_slice(&[0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff]);
        miniz_oxide::inflate::decompress_to_vec_with_limit(&input, limit).map_err(|e| match e.status {
            miniz_oxide::inflate::TINFLStatus::HasMoreOutput => "maximum payload exceeded".to_string(),
            _ => format!("invalid compressed message: {e}"),
        })
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn messages_round_trip_and_the_limit_holds() {
            let msg = b"PUB foo 11\r\nhello world\r\n".repeat(40);
            let z = super::deflate(&msg);
            assert!(z.len() < msg.len() / 4, "{} of {}", z.len(), msg.len());
            assert_eq!(super::inflate(&z, 1 << 20).expect("inflates"), msg);
            assert!(super::inflate(&z, 100).is_err());
            assert!(super::inflate(b"\xff\xff\xff", 1 << 20).is_err());
        }
    }
}
