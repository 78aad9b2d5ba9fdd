//! The byte streams under a connection: plaintext TCP here, a TLS session
//! (`tls`) and WebSocket framing (`websocket`) beside it. Everything above
//! a transport (parsers, roles, flushing) sees only the [`Transport`] trait.

#[cfg(feature = "tls")]
pub mod tls;
pub mod websocket;

use std::io;
use std::time::Instant;

/// The byte stream under a connection. The reactor, the parsers and the
/// flush logic see only this: plaintext TCP implements it here, and a TLS
/// session over the same socket (`tls`) the same way.
pub trait Transport {
    /// Reads decrypted (or plain) bytes; `WouldBlock` when none are ready.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes bytes; `WouldBlock` when the socket takes no more.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// The pollable socket (none for an in-memory stream).
    fn source(&mut self) -> Option<&mut dyn mio::event::Source>;
    /// For a dialed connection: `Ok(true)` once connected, `Ok(false)` while
    /// still connecting, the error if the dial failed.
    fn connect_state(&self) -> io::Result<bool>;
    /// Ends both directions (best effort).
    fn shutdown(&mut self);
    /// Writes out what the transport itself still holds (TLS records, a
    /// clear preamble); `Ok(true)` once nothing is held. Called only for
    /// connections with `Conn::holds_output`.
    fn flush(&mut self) -> io::Result<bool> {
        Ok(true)
    }
    /// The most one `read` should take: the whole shared buffer for a
    /// plain socket; less for TLS, whose plaintext comes from decrypting
    /// record by record (a smaller batch keeps it in cache).
    fn max_read(&self) -> usize {
        usize::MAX
    }
    /// A TLS handshake is still under way.
    fn handshaking(&self) -> bool {
        false
    }
    /// When a TLS handshake completed.
    fn handshake_done_at(&self) -> Option<Instant> {
        None
    }
    /// For a connection that waits to see whether the client speaks TLS
    /// (allow_non_tls, the handshake_first fallback delay): that wait is
    /// over. `true` if it changed what the connection does (it may have
    /// output to write now); `false` for every other connection.
    fn wait_over(&mut self) -> bool {
        false
    }
    /// The TLS version (`1.2`, `1.3`) and cipher suite, as Go names them,
    /// once the handshake is done.
    fn tls_state(&self) -> Option<(&'static str, String)> {
        None
    }
    /// Subject, SHA-256 of the public key info and of the certificate, for
    /// each certificate the peer presented (`/connz?auth=true`).
    fn peer_certs(&self) -> Vec<[String; 3]> {
        Vec::new()
    }
    /// The peer's certificate (DER), when it presented one.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn peer_cert(&self) -> Option<&[u8]> {
        None
    }
    /// Local and peer address of the socket under a TLS session.
    fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        None
    }
    /// The connection is closing for `reason`: a transport with a closing
    /// message of its own (a WebSocket close frame) sends it, best effort.
    fn closing(&mut self, _reason: crate::conn::CloseReason) {}
    /// A WebSocket connection (`/connz` type `websocket`).
    fn websocket(&self) -> bool {
        false
    }
    /// The peer upgraded to a leaf node connection (a WebSocket upgrade on
    /// `/leafnode`): true once, then the connection takes the leaf role.
    fn take_leaf_switch(&mut self) -> bool {
        false
    }
    /// The plaintext socket itself, for a session that turns to TLS after
    /// a clear start (a leaf link after the hub's INFO); None for others.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn into_socket(self: Box<Self>) -> Option<mio::net::TcpStream> {
        None
    }
}

/// A read error that is a failed TLS handshake: logged as Go logs it
/// (`TLS handshake error: ...`) and closed as a TLS handshake failure.
/// `probe`: a client that does not speak TLS at all, which newer Go servers log
/// at debug level only (load balancer health checks do that).
#[derive(Debug)]
pub struct HandshakeFailed {
    pub msg: String,
    pub probe: bool,
}

impl std::fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for HandshakeFailed {}

/// Plaintext TCP.
pub struct Plain(pub mio::net::TcpStream);

/// What a connection holds while its socket moves from one transport to
/// another: nothing to read or write.
#[cfg(feature = "tls")]
pub struct Detached;

#[cfg(feature = "tls")]
impl Transport for Detached {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::NotConnected.into())
    }
    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        None
    }
    fn connect_state(&self) -> io::Result<bool> {
        Err(io::ErrorKind::NotConnected.into())
    }
    fn shutdown(&mut self) {}
}

impl Transport for Plain {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.0, buf)
    }
    fn into_socket(self: Box<Self>) -> Option<mio::net::TcpStream> {
        Some(self.0)
    }
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut self.0, buf)
    }
    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        Some(&mut self.0)
    }
    fn connect_state(&self) -> io::Result<bool> {
        if let Some(e) = self.0.take_error()? {
            return Err(e);
        }
        Ok(self.0.peer_addr().is_ok())
    }
    fn shutdown(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}
