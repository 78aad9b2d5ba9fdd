//! What a route connection holds beyond the connection itself: its parser,
//! the handshake with the peer server and the peer's interest.

use std::time::Instant;

use rnats_protocol::json::Value;
use rnats_protocol::route::RouteParser;

use crate::routing::sublist::SidIndex;

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
    /// The peer takes LS+/LS-/LMSG with the origin cluster of a leaf
    /// node's interest and messages (`lnoc`), and names the origin in LS-
    /// too (`lnocu`, which keys such interest apart from plain interest).
    pub lnoc: bool,
    pub lnocu: bool,
    /// The peer's first INFO, kept to gossip it to other peers.
    pub info: Option<Value>,
    pub connect_urls: Vec<String>,
    /// The peer's `ws_connect_urls`: where its WebSocket clients connect.
    pub ws_connect_urls: Vec<String>,
    /// Remote interest keyed by its RS+ arguments as sent (Go's key: `$G
    /// subject`, `$G subject queue`, blanks as the peer wrote them).
    pub remote_subs: SidIndex,
    /// When the oldest unanswered PING was queued.
    pub ping_sent: Option<Instant>,
    /// The last round trip measured, PING to PONG.
    pub rtt: Option<std::time::Duration>,
}
