//! What every connection has: socket, buffers, ping state, close state.
//!
//! Buffers: `inb` holds only the unfinished op left over from the previous
//! read (whole ops are parsed straight out of the server's shared read
//! buffer); `out` is the outbound queue, written from `out_pos` onwards. A
//! connection is closed in two steps: `closing` is set (nothing more is read
//! or delivered), then the reactor flushes what it can and drops it at the
//! end of the loop pass.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use mio::net::TcpStream;
use rnats_protocol::client::ClientParser;
use rnats_protocol::route::RouteParser;
use rnats_protocol::ParseError;

use crate::cluster::RouteState;
use crate::hash::FxHashMap;
use crate::sublist::Subscription;

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

pub struct Conn {
    pub cid: u64,
    pub kind: Kind,
    pub sock: TcpStream,
    pub peer: SocketAddr,
    /// `ip:port - cid:N` plus the client's identity once known.
    pub prefix: String,
    pub inb: Vec<u8>,
    pub out: Vec<u8>,
    pub out_pos: usize,
    pub parser: ClientParser,
    pub rparser: RouteParser,
    /// Route connections only.
    pub route: Option<Box<RouteState>>,
    /// Close without the usual log line (duplicate or failed dial).
    pub quiet_close: bool,
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
    pub perms: Option<std::rc::Rc<crate::auth::Permissions>>,
    /// What CONNECT said about identity, kept so a later CONNECT that
    /// leaves a key out keeps its value (as Go merges CONNECTs).
    pub creds: Option<Box<ConnectCreds>>,
    /// Became `no_auth_user` by a first op other than CONNECT.
    pub implicit_user: bool,
    /// Reply subjects this client may answer (`allow_responses`).
    pub replies: Option<Box<crate::auth::Replies>>,
    pub lang: String,
    pub version: String,
    pub subs: FxHashMap<Box<[u8]>, Rc<Subscription>>,
    pub pings_out: u32,
    /// A PING was already sent once (the first timer tick always pings).
    pub pinged: bool,
    /// Something arrived from the peer since the last ping tick.
    pub active: bool,
    /// Pedantic mode: the subject of the PUB whose payload is still coming
    /// has been checked already (when its line was read, as Go does).
    pub pub_subject_checked: bool,
    pub flush_queued: bool,
    pub readable_queued: bool,
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
    pub fn new(cid: u64, kind: Kind, sock: TcpStream, peer: SocketAddr, parser: ClientParser) -> Conn {
        let id = match kind {
            Kind::Client => "cid",
            Kind::Route => "rid",
            Kind::Http => "hid",
        };
        let peer = crate::net::canonical_peer(peer);
        Conn {
            cid,
            kind,
            sock,
            peer,
            prefix: format!("{peer} - {id}:{cid}"),
            inb: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            parser,
            rparser: RouteParser::default(),
            route: None,
            quiet_close: false,
            info_version: 0,
            ponged: false,
            opts: ClientOpts::default(),
            connected: false,
            name: String::new(),
            user: String::new(),
            perms: None,
            creds: None,
            implicit_user: false,
            replies: None,
            lang: String::new(),
            version: String::new(),
            subs: FxHashMap::default(),
            pings_out: 0,
            pinged: false,
            active: false,
            pub_subject_checked: false,
            flush_queued: false,
            readable_queued: false,
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

    /// Bytes queued and not yet written.
    #[inline]
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Adds the client's identity to the log prefix, as Go does after CONNECT:
    /// `"v<version>:<lang>:<name>"` with missing parts left out.
    pub fn set_identity(&mut self) {
        let mut parts = Vec::new();
        if !self.version.is_empty() {
            parts.push(format!("v{}", self.version));
        }
        if !self.lang.is_empty() {
            parts.push(self.lang.clone());
        }
        if !self.name.is_empty() {
            parts.push(self.name.clone());
        }
        let base = format!("{} - cid:{}", self.peer, self.cid);
        self.prefix = if parts.is_empty() { base } else { format!("{base} - \"{}\"", parts.join(":")) };
    }
}
