//! TLS on client connections: a rustls server session between the socket
//! and the parsers, driven by the reactor like plain TCP (no thread).
//!
//! Reading pulls TLS records off the socket into the session, decrypts them
//! and hands out plaintext; it only returns less than the caller asked for
//! once the socket is drained (`WouldBlock`) or closed, so the reactor's
//! rule "a short read means nothing is left" holds for TLS too and no
//! decrypted bytes are stranded waiting for a readiness edge that will not
//! come. Writing encrypts into the session and writes its records out;
//! records the socket did not take stay in the session, which [`Transport::flush`]
//! writes when the socket becomes writable again.
//!
//! Go 2.9 flow: the server's INFO goes out in clear first (`preamble`),
//! then the client starts the handshake. With `handshake_first` the
//! preamble is empty and INFO is the first thing sent inside TLS. Routes
//! (both ends) and https monitoring start with the handshake too; a
//! solicited route is the client side of its session.

use std::io::{self, Write as _};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::{HandshakeFailed, Transport};
use crate::tls::errors;

/// Plaintext handed to the session per write: it encrypts all of it before
/// returning, so this bounds the TLS records held for a slow socket.
const WRITE_CHUNK: usize = 64 * 1024;
/// Plaintext taken per read (see `Transport::max_read`): handling 64 KiB
/// of decrypted messages at a time keeps them in cache, where decrypting a
/// whole megabyte first costs more CPU per message (the TLS rows of
/// docs/benchmarks.md).
const READ_MAX: usize = 64 * 1024;

/// A TLS session (server side, or client side for a solicited route) over
/// a TCP socket.
pub struct Tls {
    sock: mio::net::TcpStream,
    session: Connection,
    /// Bytes that go out in clear before any TLS record (the 2.9 INFO).
    preamble: Vec<u8>,
    preamble_pos: usize,
    /// The peer closed its side (read returned 0).
    eof: bool,
    /// When the handshake completed.
    done_at: Option<Instant>,
    /// The peer does not speak TLS: nothing more is sent to it.
    mute: bool,
}

impl Tls {
    pub fn new(sock: mio::net::TcpStream, config: Arc<ServerConfig>, preamble: Vec<u8>) -> io::Result<Tls> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Tls::with(sock, session.into(), preamble))
    }

    /// The client side, checking the peer's certificate against `host` (an
    /// IP address is matched against IP SANs, a name against DNS SANs).
    pub fn client(sock: mio::net::TcpStream, config: Arc<ClientConfig>, host: &str) -> io::Result<Tls> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("invalid TLS server name {host:?}: {e}"))
        })?;
        let session = ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(Tls::with(sock, session.into(), Vec::new()))
    }

    fn with(sock: mio::net::TcpStream, session: Connection, preamble: Vec<u8>) -> Tls {
        Tls { sock, session, preamble, preamble_pos: 0, eof: false, done_at: None, mute: false }
    }

    /// Writes the clear preamble, then queued records, until done or the
    /// socket is full. `Ok(true)` once nothing is held.
    fn write_held(&mut self) -> io::Result<bool> {
        if self.mute {
            return Ok(true);
        }
        while self.preamble_pos < self.preamble.len() {
            match io::Write::write(&mut self.sock, &self.preamble[self.preamble_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.preamble_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.preamble.is_empty() {
            self.preamble = Vec::new();
            self.preamble_pos = 0;
        }
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The error for a session that failed: a handshake failure is told
    /// apart so the server logs and closes it as Go does.
    fn failed(&mut self, e: rustls::Error) -> io::Error {
        let handshaking = self.session.is_handshaking();
        // The alert rustls queued, best effort. A peer that did not speak
        // TLS at all gets none, as from Go.
        let not_tls = matches!(e, rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
        if not_tls {
            self.mute = true;
        } else {
            let _ = self.write_held();
        }
        let rejected = errors::take_rejected();
        if handshaking {
            let msg = if not_tls {
                "tls: first record does not look like a TLS handshake".into()
            } else {
                errors::go_text(&e, &rejected)
            };
            io::Error::new(io::ErrorKind::InvalidData, HandshakeFailed { msg, probe: not_tls })
        } else {
            io::Error::new(io::ErrorKind::InvalidData, e)
        }
    }
}

impl Transport for Tls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            // Plaintext already decrypted goes first.
            while filled < buf.len() {
                match io::Read::read(&mut self.session.reader(), &mut buf[filled..]) {
                    Ok(0) => {
                        // close_notify: the peer ended the session.
                        self.eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        self.eof = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if filled == buf.len() {
                return Ok(filled);
            }
            if self.eof {
                if filled > 0 {
                    return Ok(filled);
                }
                if self.session.is_handshaking() {
                    let eof = HandshakeFailed { msg: "EOF".into(), probe: false };
                    return Err(io::Error::new(io::ErrorKind::InvalidData, eof));
                }
                return Ok(0);
            }
            match self.session.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return if filled > 0 { Ok(filled) } else { Err(e) };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let was_handshaking = self.session.is_handshaking();
            if let Err(e) = self.session.process_new_packets() {
                return Err(self.failed(e));
            }
            if was_handshaking && !self.session.is_handshaking() {
                self.done_at = Some(Instant::now());
            }
            // Handshake replies (and anything buffered until it completed).
            self.write_held()?;
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Records the socket has not taken yet go first; no new plaintext
        // is taken while any are held.
        if !self.write_held()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.session.writer().write(&buf[..buf.len().min(WRITE_CHUNK)])?;
        self.write_held()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<bool> {
        self.write_held()
    }

    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        Some(&mut self.sock)
    }

    fn connect_state(&self) -> io::Result<bool> {
        if let Some(e) = self.sock.take_error()? {
            return Err(e);
        }
        Ok(self.sock.peer_addr().is_ok())
    }

    fn max_read(&self) -> usize {
        READ_MAX
    }

    fn handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    fn handshake_done_at(&self) -> Option<Instant> {
        self.done_at
    }

    fn tls_state(&self) -> Option<(&'static str, String)> {
        if self.session.is_handshaking() {
            return None;
        }
        let version = match self.session.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => "1.2",
            rustls::ProtocolVersion::TLSv1_3 => "1.3",
            _ => "",
        };
        let suite = u16::from(self.session.negotiated_cipher_suite()?.suite());
        Some((version, errors::cipher_name(suite)))
    }

    fn peer_certs(&self) -> Vec<[String; 3]> {
        self.session.peer_certificates().map(errors::peer_cert_rows).unwrap_or_default()
    }

    fn peer_cert(&self) -> Option<&[u8]> {
        self.session.peer_certificates()?.first().map(|c| c.as_ref())
    }

    fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        Some((self.sock.local_addr().ok()?, self.sock.peer_addr().ok()?))
    }

    fn shutdown(&mut self) {
        if !self.session.is_handshaking() {
            self.session.send_close_notify();
            let _ = self.write_held();
        }
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

/// Plaintext the server queues on a [`TlsOrPlain`] connection before it knows
/// whether the client speaks TLS; past this, writes wait.
const UNDECIDED_HOLD: usize = 64 * 1024;

/// A client connection that goes on with TLS or in clear, depending on
/// what the client sends first: Go's `allow_non_tls` (INFO in clear, then a
/// first byte that starts a TLS handshake record means TLS, anything else
/// plaintext) and the `handshake_first` fallback delay (nothing sent until
/// the client sends something, which means TLS; when the delay passes
/// first, INFO goes out in clear and the connection goes on as without
/// `handshake_first`).
pub struct TlsOrPlain {
    state: State,
    config: Arc<ServerConfig>,
    /// What the server wrote while undecided; goes after INFO in whichever
    /// form the connection takes.
    held: Vec<u8>,
    /// After the fallback delay: decide by the first byte (allow_non_tls)
    /// rather than require TLS.
    sniff_after_fallback: bool,
    /// When the connection went on in clear (the auth timer runs from it).
    decided_at: Option<Instant>,
}

enum State {
    /// handshake_first with a fallback delay: nothing sent yet. `tls_info`
    /// is sent inside TLS if the client starts, `clear_info` in clear when
    /// the delay passes.
    First {
        sock: mio::net::TcpStream,
        tls_info: Vec<u8>,
        clear_info: Vec<u8>,
    },
    /// INFO (`clear`, from `pos`) goes out in clear; the client's first byte
    /// decides.
    Sniff {
        sock: mio::net::TcpStream,
        clear: Vec<u8>,
        pos: usize,
    },
    Tls(Box<Tls>),
    /// Plaintext; `clear[pos..]` still goes out first.
    Plain {
        sock: mio::net::TcpStream,
        clear: Vec<u8>,
        pos: usize,
    },
    /// Only while changing state.
    Gone,
}

/// First byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

impl TlsOrPlain {
    /// `allow_non_tls`: `info` goes out in clear, then the client decides.
    pub fn sniff(sock: mio::net::TcpStream, config: Arc<ServerConfig>, info: Vec<u8>) -> TlsOrPlain {
        TlsOrPlain::with(State::Sniff { sock, clear: info, pos: 0 }, config, true)
    }

    /// `handshake_first` with a fallback delay: `tls_info` if the client
    /// starts the handshake, `clear_info` once [`Transport::wait_over`]
    /// comes first; then a first byte decides if `allow_non_tls`, else TLS
    /// is required.
    pub fn first(
        sock: mio::net::TcpStream,
        config: Arc<ServerConfig>,
        tls_info: Vec<u8>,
        clear_info: Vec<u8>,
        allow_non_tls: bool,
    ) -> TlsOrPlain {
        TlsOrPlain::with(State::First { sock, tls_info, clear_info }, config, allow_non_tls)
    }

    fn with(state: State, config: Arc<ServerConfig>, sniff_after_fallback: bool) -> TlsOrPlain {
        TlsOrPlain { state, config, held: Vec::new(), sniff_after_fallback, decided_at: None }
    }

    /// The client sent its first bytes: TLS or clear.
    fn decide(&mut self, tls: bool) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        self.state = match std::mem::replace(&mut self.state, State::Gone) {
            State::First { sock, tls_info, .. } => {
                let mut t = Tls::new(sock, self.config.clone(), Vec::new())?;
                t.session.writer().write_all(&tls_info)?;
                t.session.writer().write_all(&held)?;
                State::Tls(Box::new(t))
            }
            State::Sniff { sock, mut clear, pos } if tls => {
                clear.drain(..pos);
                let mut t = Tls::new(sock, self.config.clone(), clear)?;
                t.session.writer().write_all(&held)?;
                State::Tls(Box::new(t))
            }
            State::Sniff { sock, mut clear, pos } => {
                clear.extend_from_slice(&held);
                self.decided_at = Some(Instant::now());
                State::Plain { sock, clear, pos }
            }
            other => other,
        };
        Ok(())
    }

    /// Writes `clear[pos..]`; `Ok(true)` once all of it is out.
    fn write_clear(sock: &mut mio::net::TcpStream, clear: &mut Vec<u8>, pos: &mut usize) -> io::Result<bool> {
        while *pos < clear.len() {
            match io::Write::write(sock, &clear[*pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !clear.is_empty() {
            *clear = Vec::new();
            *pos = 0;
        }
        Ok(true)
    }
}

impl Transport for TlsOrPlain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let first = match &mut self.state {
            State::First { sock, .. } | State::Sniff { sock, .. } => {
                let mut b = [0u8; 1];
                match sock.peek(&mut b) {
                    Ok(0) => return Ok(0),
                    Ok(_) => b[0],
                    Err(e) => return Err(e),
                }
            }
            State::Tls(t) => return t.read(buf),
            State::Plain { sock, .. } => return io::Read::read(sock, buf),
            State::Gone => return Ok(0),
        };
        // Before the fallback any byte means TLS (a client that is not
        // starting a handshake fails it, as from Go).
        let tls = matches!(self.state, State::First { .. }) || first == HANDSHAKE_RECORD;
        self.decide(tls)?;
        self.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.state {
            State::First { .. } | State::Sniff { .. } => {
                if self.held.len() >= UNDECIDED_HOLD {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.held.extend_from_slice(buf);
                Ok(buf.len())
            }
            State::Tls(t) => t.write(buf),
            State::Plain { sock, clear, pos } => {
                if !TlsOrPlain::write_clear(sock, clear, pos)? {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                io::Write::write(sock, buf)
            }
            State::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<bool> {
        match &mut self.state {
            State::First { .. } | State::Gone => Ok(true),
            State::Sniff { sock, clear, pos } | State::Plain { sock, clear, pos } => {
                TlsOrPlain::write_clear(sock, clear, pos)
            }
            State::Tls(t) => t.flush(),
        }
    }

    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        match &mut self.state {
            State::First { sock, .. } | State::Sniff { sock, .. } | State::Plain { sock, .. } => Some(sock),
            State::Tls(t) => t.source(),
            State::Gone => None,
        }
    }

    fn connect_state(&self) -> io::Result<bool> {
        Ok(true)
    }

    fn max_read(&self) -> usize {
        match &self.state {
            State::Plain { .. } => usize::MAX,
            _ => READ_MAX,
        }
    }

    fn handshaking(&self) -> bool {
        match &self.state {
            State::First { .. } | State::Sniff { .. } => true,
            State::Tls(t) => t.handshaking(),
            State::Plain { .. } | State::Gone => false,
        }
    }

    fn handshake_done_at(&self) -> Option<Instant> {
        match &self.state {
            State::Tls(t) => t.handshake_done_at(),
            _ => self.decided_at,
        }
    }

    fn wait_over(&mut self) -> bool {
        self.state = match std::mem::replace(&mut self.state, State::Gone) {
            // The fallback delay passed with nothing from the client: INFO
            // in clear, then as without handshake_first. (A session that
            // cannot be made leaves the connection `Gone`: its next read
            // ends it.)
            State::First { sock, clear_info, .. } => {
                if self.sniff_after_fallback {
                    State::Sniff { sock, clear: clear_info, pos: 0 }
                } else {
                    let held = std::mem::take(&mut self.held);
                    match Tls::new(sock, self.config.clone(), clear_info) {
                        Ok(mut t) => match t.session.writer().write_all(&held) {
                            Ok(()) => State::Tls(Box::new(t)),
                            Err(_) => State::Gone,
                        },
                        Err(_) => State::Gone,
                    }
                }
            }
            // allow_non_tls and no byte within the TLS timeout: clear.
            State::Sniff { sock, mut clear, pos } => {
                clear.extend_from_slice(&std::mem::take(&mut self.held));
                self.decided_at = Some(Instant::now());
                State::Plain { sock, clear, pos }
            }
            other => {
                self.state = other;
                return false;
            }
        };
        true
    }

    fn shutdown(&mut self) {
        match &mut self.state {
            State::First { sock, .. } | State::Sniff { sock, .. } | State::Plain { sock, .. } => {
                let _ = sock.shutdown(std::net::Shutdown::Both);
            }
            State::Tls(t) => t.shutdown(),
            State::Gone => {}
        }
    }

    fn tls_state(&self) -> Option<(&'static str, String)> {
        match &self.state {
            State::Tls(t) => t.tls_state(),
            _ => None,
        }
    }

    fn peer_certs(&self) -> Vec<[String; 3]> {
        match &self.state {
            State::Tls(t) => t.peer_certs(),
            _ => Vec::new(),
        }
    }

    fn peer_cert(&self) -> Option<&[u8]> {
        match &self.state {
            State::Tls(t) => t.peer_cert(),
            _ => None,
        }
    }

    fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        match &self.state {
            State::Tls(t) => t.addrs(),
            _ => None,
        }
    }
}
