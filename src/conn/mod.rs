//! What every connection has: its transport, buffers, ping and close state,
//! and its role (`crate::server::roles`), whose state lives in the role's own module.
//!
//! Buffers: `inb` holds only the unfinished op left over from the previous
//! read (whole ops are parsed straight out of the server's shared read
//! buffer); `out` is the outbound queue, written from `out_pos` onwards. A
//! connection is closed in two steps: `closing` is set (nothing more is read
//! or delivered), then the reactor flushes what it can and drops it at the
//! end of the loop pass.

pub mod handshake_fields;
pub mod kind;
pub mod transport;

use std::net::SocketAddr;
use std::time::Instant;

use rnats_protocol::ParseError;

pub use kind::{Kind, SlowConsumers};
#[cfg(feature = "tls")]
pub use transport::Detached;
pub use transport::{HandshakeFailed, Plain, Transport};

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

/// One connection's message and byte counts, both directions.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnCounters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
}

pub struct Conn<R> {
    pub cid: u64,
    pub role: R,
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
    pub stats: ConnCounters,
    pub last_activity: Instant,
    /// When writes to this peer stopped making progress.
    pub write_blocked_since: Option<Instant>,
    pub write_timer_armed: bool,
    pub start: std::time::SystemTime,
}

impl<R> Conn<R> {
    /// A connection of `role`, whose log prefix names it `id:cid`.
    pub fn with_role(cid: u64, role: R, id: &str, sock: Box<dyn Transport>, peer: SocketAddr) -> Conn<R> {
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
            stats: ConnCounters::default(),
            last_activity: Instant::now(),
            write_blocked_since: None,
            write_timer_armed: false,
            start: std::time::SystemTime::now(),
        }
    }

    /// Bytes queued and not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }
}
