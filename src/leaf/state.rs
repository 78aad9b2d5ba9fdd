//! What a leaf node connection holds beyond the connection itself: its
//! parser, the remote it serves, the bound account, the handshake with the
//! hub and the hub's interest.

use std::time::{Duration, Instant};

use rnats_protocol::route::RouteParser;

use crate::routing::accounts::AccId;
use crate::routing::sublist::SidIndex;

pub struct LeafState {
    pub parser: RouteParser,
    /// Index of the `leafnodes.remotes` entry this connection serves.
    pub remote: usize,
    /// The local account bound to the hub.
    pub account: AccId,
    /// Dialed and not yet known to be connected.
    pub connecting: bool,
    /// The hub's first INFO arrived (our CONNECT went out).
    pub info_seen: bool,
    /// The hub accepted our CONNECT: interest flows both ways.
    pub established: bool,
    pub remote_id: String,
    pub remote_name: String,
    pub remote_cluster: String,
    /// The hub takes HMSG.
    pub headers: bool,
    /// The hub's interest, keyed by its LS+ arguments as sent.
    pub remote_subs: SidIndex,
    /// The hub or we found a loop: dial again only after a long wait.
    pub loop_detected: bool,
    /// When the oldest unanswered PING was queued, and the last round trip.
    pub ping_sent: Option<Instant>,
    pub rtt: Option<Duration>,
}

impl LeafState {
    pub fn new(parser: RouteParser, remote: usize, account: AccId) -> LeafState {
        LeafState {
            parser,
            remote,
            account,
            connecting: true,
            info_seen: false,
            established: false,
            remote_id: String::new(),
            remote_name: String::new(),
            remote_cluster: String::new(),
            headers: false,
            remote_subs: SidIndex::default(),
            loop_detected: false,
            ping_sent: None,
            rtt: None,
        }
    }
}
