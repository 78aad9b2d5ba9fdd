//! What every connection has (transport, buffers, ping and close state) and
//! what its role adds: a client's parser, options and identity, a route's
//! parser and handshake state, or nothing for a monitoring request.
//!
//! Buffers: `inb` holds only the unfinished op left over from the previous
//! read (whole ops are parsed straight out of the server's shared read
//! buffer); `out` is the outbound queue, written from `out_pos` onwards. A
//! connection is closed in two steps: `closing` is set (nothing more is read
//! or delivered), then the reactor flushes what it can and drops it at the
//! end of the loop pass.

pub mod handshake_fields;
pub mod lifecycle;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use rnats_protocol::client::ClientParser;
use rnats_protocol::json::Value;
use rnats_protocol::route::RouteParser;
use rnats_protocol::ParseError;

use crate::routing::sublist::SidIndex;

/// What kind of peer a connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    /// A connection to another server of the cluster.
    Route,
    /// A request to the HTTP monitoring port.
    Http,
}

/// Why a connection closed, named and worded like the Go server's closed
/// states (they appear in logs and `/connz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    AuthenticationTimeout,
    AuthenticationViolation,
    SlowConsumerPendingBytes,
    WriteError,
    ReadError,
    ParseError,
    StaleConnection,
    ProtocolViolation,
    BadClientProtocolVersion,
    MaxConnectionsExceeded,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    ServerShutdown,
    SlowConsumerWriteDeadline,
    MsgHeaderViolation,
    NoRespondersRequiresHeaders,
    WrongPort,
    WrongGateway,
    DuplicateServerName,
    DuplicateRoute,
    ClusterNameConflict,
    TlsHandshakeError,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::MsgHeaderViolation => "Message Header Violation",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::WrongPort => "Incorrect Port",
            CloseReason::WrongGateway => "Wrong Gateway",
            CloseReason::DuplicateServerName => "Duplicate Server Name",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
        }
    }
}

/// The `-ERR` text (if any) and close reason for a parse error, as the Go
/// server answers the same input. Argument and size errors close silently.
pub fn parse_error_reply(e: ParseError) -> (Option<&'static str>, CloseReason) {
    match e {
        ParseError::UnknownOp | ParseError::BadPayloadEnd => {
            (Some("Unknown Protocol Operation"), CloseReason::ParseError)
        }
        ParseError::MaxControlLine => (Some("maximum control line exceeded"), CloseReason::MaxControlLineExceeded),
        ParseError::MaxPayload => (Some("Maximum Payload Violation"), CloseReason::MaxPayloadExceeded),
        ParseError::BadArgs | ParseError::BadSize | ParseError::BadHeaderSize => (None, CloseReason::ParseError),
        ParseError::HeadersNotSupported => (None, CloseReason::MsgHeaderViolation),
    }
}

/// Identity fields of CONNECT.
#[derive(Debug, Clone, Default)]
pub struct ConnectCreds {
    pub user: String,
    pub pass: String,
    pub token: String,
    pub account: String,
    pub new_account: bool,
    /// The public key and its signature of `nonce` (nkey users).
    pub nkey: String,
    pub sig: String,
    /// The nonce this connection's INFO carried (empty: none).
    pub nonce: String,
}

/// Options a client chose in CONNECT. The defaults are the Go server's,
/// which also apply to a client that never sends CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct ClientOpts {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
}

impl Default for ClientOpts {
    fn default() -> Self {
        ClientOpts { verbose: true, pedantic: true, echo: true, headers: false, no_responders: false, protocol: 0 }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

/// The byte stream under a connection. The reactor, the parsers and the
/// flush logic see only this: plaintext TCP implements it today, and a TLS
/// session over the same socket implements it the same way.
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

impl Transport for Plain {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.0, buf)
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

/// What a client connection adds: its parser, CONNECT options, identity,
/// permissions and subscriptions.
pub struct ClientState {
    pub parser: ClientParser,
    /// Value of the cluster's URL version in the last INFO this client got.
    pub info_version: u64,
    /// The client has been answered a PING (async INFO goes only to those).
    pub ponged: bool,
    pub opts: ClientOpts,
    pub connected: bool,
    pub name: String,
    /// The user this client authenticated as.
    pub user: String,
    /// That user's permissions (`None`: unrestricted).
    pub perms: Option<Rc<crate::auth::Permissions>>,
    /// The account this client publishes and subscribes in.
    pub account: crate::routing::accounts::AccId,
    /// What CONNECT said about identity, kept so a later CONNECT that
    /// leaves a key out keeps its value (as Go merges CONNECTs).
    pub creds: Option<Box<ConnectCreds>>,
    /// Became `no_auth_user` by a first op other than CONNECT.
    pub implicit_user: bool,
    /// Reply subjects this client may answer (`allow_responses`).
    pub replies: Option<Box<crate::auth::Replies>>,
    pub lang: String,
    pub version: String,
    pub subs: SidIndex,
    /// Pedantic mode: the subject of the PUB whose payload is still coming
    /// has been checked already (when its line was read, as Go does).
    pub pub_subject_checked: bool,
}

impl ClientState {
    pub fn new(parser: ClientParser) -> ClientState {
        ClientState {
            parser,
            info_version: 0,
            ponged: false,
            opts: ClientOpts::default(),
            connected: false,
            name: String::new(),
            user: String::new(),
            perms: None,
            account: crate::routing::accounts::GLOBAL,
            creds: None,
            implicit_user: false,
            replies: None,
            lang: String::new(),
            version: String::new(),
            subs: SidIndex::default(),
            pub_subject_checked: false,
        }
    }
}

/// What a route connection adds: its parser and the handshake with the
/// peer server.
#[derive(Default)]
pub struct RouteState {
    pub parser: RouteParser,
    pub solicited: bool,
    /// The peer asked for `+OK` after each op.
    pub verbose: bool,
    /// Credentials from the peer's CONNECT(s).
    pub user: String,
    pub pass: String,
    pub target: Option<usize>,
    /// Dialed and not yet known to be connected.
    pub connecting: bool,
    pub remote_id: String,
    pub remote_name: String,
    pub registered: bool,
    pub connect_seen: bool,
    pub info_seen: bool,
    pub headers: bool,
    /// The peer's first INFO, kept to gossip it to other peers.
    pub info: Option<Value>,
    pub connect_urls: Vec<String>,
    /// Remote interest keyed by its RS+ arguments as sent (Go's key: `$G
    /// subject`, `$G subject queue`, blanks as the peer wrote them).
    pub remote_subs: SidIndex,
    /// When the oldest unanswered PING was queued.
    pub ping_sent: Option<Instant>,
    /// The last round trip measured, PING to PONG.
    pub rtt: Option<std::time::Duration>,
}

/// A connection's role, owning the state only that role has. A client's
/// state sits inline: clients are most connections, and their state is
/// read for every message delivered to them (a box would cost a pointer
/// chase per message); a route's is boxed.
#[allow(clippy::large_enum_variant)]
pub enum Role {
    Client(ClientState),
    Route(Box<RouteState>),
    /// A request to the HTTP monitoring port.
    Http,
}

pub struct Conn {
    pub cid: u64,
    pub role: Role,
    pub sock: Box<dyn Transport>,
    /// The transport holds output of its own (TLS) that a flush must
    /// write after `out` is empty.
    pub holds_output: bool,
    pub peer: SocketAddr,
    /// `ip:port - cid:N` plus the client's identity once known.
    pub prefix: String,
    pub inb: Vec<u8>,
    pub out: Vec<u8>,
    pub out_pos: usize,
    /// Close without the usual log line (duplicate or failed dial).
    pub quiet_close: bool,
    pub pings_out: u32,
    /// A PING was already sent once (the first timer tick always pings).
    pub pinged: bool,
    /// Something arrived from the peer since the last ping tick.
    pub active: bool,
    pub flush_queued: bool,
    pub readable_queued: bool,
    /// Its last read delivered more payload bytes than it read: read less
    /// per event (see `lifecycle::FANOUT_READ`).
    pub fanout_reads: bool,
    /// Set when the connection is on its way out.
    pub closing: Option<CloseReason>,
    /// Close once `out` is fully written instead of right away.
    pub close_after_flush: bool,
    /// The reason to report once a close-after-flush completes.
    pub pending_reason: Option<CloseReason>,
    pub stats: Counters,
    pub last_activity: Instant,
    /// When writes to this peer stopped making progress.
    pub write_blocked_since: Option<Instant>,
    pub write_timer_armed: bool,
    pub start: std::time::SystemTime,
}

impl Conn {
    pub fn new(cid: u64, role: Role, sock: Box<dyn Transport>, peer: SocketAddr) -> Conn {
        let id = match role {
            Role::Client(_) => "cid",
            Role::Route(_) => "rid",
            Role::Http => "hid",
        };
        let peer = crate::sys::netaddr::canonical_peer(peer);
        Conn {
            cid,
            role,
            sock,
            holds_output: false,
            peer,
            prefix: format!("{peer} - {id}:{cid}"),
            inb: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            quiet_close: false,
            pings_out: 0,
            pinged: false,
            active: false,
            flush_queued: false,
            readable_queued: false,
            fanout_reads: false,
            closing: None,
            close_after_flush: false,
            pending_reason: None,
            stats: Counters::default(),
            last_activity: Instant::now(),
            write_blocked_since: None,
            write_timer_armed: false,
            start: std::time::SystemTime::now(),
        }
    }

    pub fn kind(&self) -> Kind {
        match self.role {
            Role::Client(_) => Kind::Client,
            Role::Route(_) => Kind::Route,
            Role::Http => Kind::Http,
        }
    }

    #[inline]
    pub fn client(&self) -> Option<&ClientState> {
        match &self.role {
            Role::Client(c) => Some(c),
            _ => None,
        }
    }

    #[inline]
    pub fn client_mut(&mut self) -> Option<&mut ClientState> {
        match &mut self.role {
            Role::Client(c) => Some(c),
            _ => None,
        }
    }

    #[inline]
    pub fn route(&self) -> Option<&RouteState> {
        match &self.role {
            Role::Route(r) => Some(r),
            _ => None,
        }
    }

    #[inline]
    pub fn route_mut(&mut self) -> Option<&mut RouteState> {
        match &mut self.role {
            Role::Route(r) => Some(r),
            _ => None,
        }
    }

    /// Bytes queued and not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Adds the client's identity to the log prefix, as Go does after CONNECT:
    /// `"v<version>:<lang>:<name>"` with missing parts left out.
    pub fn set_identity(&mut self) {
        let Some(c) = self.client() else { return };
        let mut parts = Vec::new();
        if !c.version.is_empty() {
            parts.push(format!("v{}", c.version));
        }
        if !c.lang.is_empty() {
            parts.push(c.lang.clone());
        }
        if !c.name.is_empty() {
            parts.push(c.name.clone());
        }
        let base = format!("{} - cid:{}", self.peer, self.cid);
        self.prefix = if parts.is_empty() { base } else { format!("{base} - \"{}\"", parts.join(":")) };
    }
}
