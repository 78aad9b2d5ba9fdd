//! What routing to the cluster holds: the cluster manager's table (the
//! routes to have, the routes registered, the cluster's client URLs) and,
//! per route connection, its parser, the handshake with the peer server and
//! the peer's interest.

use std::time::Instant;

use rnats_protocol::json::Value;
use rnats_protocol::route::RouteParser;

use mio::net::TcpListener;
use slab::Slab;

use crate::routing::fxhash::FxHashMap;
use crate::routing::sublist::SidIndex;
use crate::sys::netaddr::RouteUrl;

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

/// A server we should have a route to.
#[derive(Debug)]
pub struct RouteTarget {
    pub url: RouteUrl,
    /// Configured with `-routes`: retried forever.
    pub explicit: bool,
    /// Dial attempts left for an implicit route.
    pub retries_left: u32,
    /// The connection currently serving this target.
    pub slot: Option<usize>,
    pub cid: u64,
    /// Server id behind this URL, once known.
    pub remote_id: Option<String>,
    /// The URL turned out to be this server: never dialed again.
    pub is_self: bool,
    pub attempts: u64,
    /// A `RouteDial` timer for this target is pending.
    pub dial_armed: bool,
    /// Gossip named this server again while a dial was under way: if that
    /// dial fails, dial again at once (Go starts a fresh dial per gossip).
    pub regossiped: bool,
}

pub struct Cluster {
    pub name: String,
    pub dynamic_name: bool,
    /// Whether the name was generated at start: what our route INFO keeps
    /// saying (as Go's does) even after a configured name was adopted.
    pub info_dynamic: bool,
    pub listen: RouteUrl,
    pub port: u16,
    pub listener: Option<TcpListener>,
    pub targets: Slab<RouteTarget>,
    /// Registered routes: remote server id → slot.
    pub routes: FxHashMap<String, usize>,
    /// Bumped whenever the set of client URLs of the cluster changes.
    pub urls_version: u64,
    /// Client URLs learned from registered peers (sorted, no duplicates).
    pub peer_urls: Vec<String>,
    /// The same for WebSocket clients (`ws_connect_urls` of the peers).
    pub ws_urls_version: u64,
    pub ws_peer_urls: Vec<String>,
}

impl Cluster {
    pub fn new(listen: RouteUrl, name: Option<String>, seed: u64) -> Cluster {
        let (name, dynamic_name) = match name {
            Some(n) => (n, false),
            None => (random_name(seed), true),
        };
        Cluster {
            name,
            dynamic_name,
            info_dynamic: dynamic_name,
            listen,
            port: 0,
            listener: None,
            targets: Slab::new(),
            routes: FxHashMap::default(),
            urls_version: 0,
            peer_urls: Vec::new(),
            ws_urls_version: 0,
            ws_peer_urls: Vec::new(),
        }
    }
}

/// A 22-character random cluster name, the shape Go generates.
fn random_name(mut x: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 22];
    crate::sys::fill_random(&mut bytes);
    bytes
        .iter()
        .map(|b| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[((*b as u64 ^ x) % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}
