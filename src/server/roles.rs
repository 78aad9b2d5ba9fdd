//! Who a connection is: the one registration point of connection roles.
//! A role's state and handlers live in its own module (`crate::client`,
//! `crate::route`, `crate::leaf`, the monitoring port's requests in
//! `crate::monitor`);
//! the connection lifecycle calls them through the hooks here instead of
//! branching on the role itself. Adding a role is a folder, a variant here
//! and its arms, and a `Kind` (`crate::conn::kind`) if subscriptions or
//! counters tell it apart.

use std::net::SocketAddr;

use crate::client::state::ClientState;
use crate::conn::{CloseReason, Kind, Transport};
use crate::leaf::state::LeafState;
use crate::route::state::RouteState;
use crate::server::Server;

/// A connection as the reactor holds it: the common part (`crate::conn`)
/// with this role.
pub type Conn = crate::conn::Conn<Role>;

/// A connection's role, owning the state only that role has. A client's
/// state sits inline: clients are most connections, and their state is
/// read for every message delivered to them (a box would cost a pointer
/// chase per message); a route's is boxed.
#[allow(clippy::large_enum_variant)]
pub enum Role {
    Client(ClientState),
    Route(Box<RouteState>),
    Leaf(Box<LeafState>),
    /// A request to the HTTP monitoring port.
    Http,
}

impl Role {
    /// A link to another server (a route or a leaf connection): pinged
    /// whatever the traffic, its protocol errors logged as errors, its TLS
    /// named `TLS route`.
    #[inline]
    pub fn is_server_link(&self) -> bool {
        matches!(self, Role::Route(_) | Role::Leaf(_))
    }

    /// The role's name in log lines (`Client parser ERROR`, ...).
    pub fn log_name(&self) -> &'static str {
        match self {
            Role::Client(_) => "Client",
            Role::Route(_) => "Route",
            Role::Leaf(_) => "Leafnode",
            Role::Http => "Client",
        }
    }

    /// An `-ERR` sent to this peer is also logged as an error (as Go logs
    /// the errors it sends clients).
    pub fn logs_errors_sent(&self) -> bool {
        matches!(self, Role::Client(_))
    }

    /// The word of the ping timer's debug line (`Router Ping Timer`).
    pub fn ping_label(&self) -> &'static str {
        match self {
            Role::Route(_) => "Router",
            Role::Leaf(_) => "Leafnode",
            _ => "Client",
        }
    }

    /// A PING went out: a role that measures round trips notes when.
    pub fn ping_sent(&mut self, now: std::time::Instant) {
        match self {
            Role::Route(r) => {
                r.ping_sent.get_or_insert(now);
            }
            Role::Leaf(l) => {
                l.ping_sent.get_or_insert(now);
            }
            _ => {}
        }
    }

    /// A PONG arrived: a role that measures round trips takes the time
    /// since its PING (at least a nanosecond, as Go counts a measured RTT).
    pub fn pong_received(&mut self) {
        let (sent, rtt) = match self {
            Role::Route(r) => (&mut r.ping_sent, &mut r.rtt),
            Role::Leaf(l) => (&mut l.ping_sent, &mut l.rtt),
            _ => return,
        };
        if let Some(at) = sent.take() {
            *rtt = Some(at.elapsed().max(std::time::Duration::from_nanos(1)));
        }
    }

    /// Dialed and not connected yet: nothing may be written.
    #[inline]
    pub fn connecting(&self) -> bool {
        match self {
            Role::Route(r) => r.connecting,
            Role::Leaf(l) => l.connecting,
            _ => false,
        }
    }

    /// New parser limits after a reload.
    pub fn set_limits(&mut self, o: &crate::config::options::Options) {
        match self {
            Role::Client(cl) => {
                cl.parser.set_max_control_line(o.max_control_line);
                cl.parser.set_max_payload(o.max_payload);
            }
            Role::Route(r) => {
                let (line, payload) = o.server_link_limits();
                r.parser.set_limits(line, payload);
            }
            Role::Leaf(l) => {
                let (line, payload) = o.server_link_limits();
                l.parser.set_limits(line, payload);
            }
            Role::Http => {}
        }
    }

    /// The id tag of the role's log prefix (`cid:N`, `rid:N`, `hid:N`).
    pub fn log_id(&self) -> &'static str {
        match self {
            Role::Client(_) => "cid",
            Role::Route(_) => "rid",
            Role::Leaf(_) => "lid",
            Role::Http => "hid",
        }
    }

    /// The peer authenticated (or needs not): the auth timer lets it be.
    pub fn authenticated(&self) -> bool {
        match self {
            Role::Client(cl) => cl.connected,
            Role::Route(r) => r.connect_seen,
            Role::Leaf(l) => !l.accepted() || l.info_seen,
            Role::Http => true,
        }
    }
}

impl Conn {
    pub fn new(cid: u64, role: Role, sock: Box<dyn Transport>, peer: SocketAddr) -> Conn {
        let id = role.log_id();
        crate::server::Conn::with_role(cid, role, id, sock, peer)
    }

    pub fn kind(&self) -> Kind {
        match self.role {
            Role::Client(_) => Kind::Client,
            Role::Route(_) => Kind::Route,
            Role::Leaf(_) => Kind::Leaf,
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

    #[inline]
    pub fn leaf(&self) -> Option<&LeafState> {
        match &self.role {
            Role::Leaf(l) => Some(l),
            _ => None,
        }
    }

    #[inline]
    pub fn leaf_mut(&mut self) -> Option<&mut LeafState> {
        match &mut self.role {
            Role::Leaf(l) => Some(l),
            _ => None,
        }
    }
}

impl Server {
    /// Hands bytes read from `slot` to its role's parser and handlers.
    #[inline]
    pub fn role_input(&mut self, slot: usize, data: &[u8]) {
        match self.conns[slot].role {
            Role::Client(_) => self.client_input(slot, data),
            Role::Route(_) => self.route_input(slot, data),
            Role::Leaf(_) => self.leaf_input(slot, data),
            Role::Http => self.http_input(slot, data),
        }
    }

    /// A readiness event for `slot`: false when its role has nothing to
    /// do with it yet (a route dial still connecting).
    #[inline]
    pub fn role_ready(&mut self, slot: usize) -> bool {
        match self.conns[slot].role {
            Role::Route(_) => self.route_connected(slot),
            Role::Leaf(_) => self.leaf_connected(slot),
            _ => true,
        }
    }

    /// A connection was removed: its role lets go of what it held.
    pub fn role_closed(&mut self, slot: usize, c: &mut Conn, reason: CloseReason) {
        match c.role {
            Role::Client(_) => self.client_closed(c, reason),
            Role::Route(_) => self.route_closed(slot, c, reason),
            Role::Leaf(_) => self.leaf_closed(slot, c, reason),
            Role::Http => {}
        }
    }
}
