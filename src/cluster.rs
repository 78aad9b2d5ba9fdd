//! Clustering: the route listener, the cluster manager that dials routes on
//! timers, the route handshake and ops, interest propagation and gossip.
//!
//! Route lifecycle: a connection is accepted (we send INFO at once) or
//! dialed (we send CONNECT, and our INFO once the peer's INFO passed the
//! self, name and cluster checks, as Go 2.10+ solicitors do). It becomes *registered* when the peer's first INFO arrives and
//! no other connection to that server id is registered; registering sends
//! all local interest, tells the other peers about the newcomer (gossip) and
//! adds the peer's client URLs to our client INFO. A second connection to a
//! registered id is closed as a duplicate.
//!
//! The manager keeps one [`RouteTarget`] per URL it should be connected to:
//! explicit ones (`-routes`) are retried every second forever; implicit ones
//! (learned from gossip) get one dial plus `connect_retries`. A target
//! follows the connection that serves it, including one it inherited from a
//! closed duplicate, so a dropped route is dialed again.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use rnats_protocol::client::Frame;
use rnats_protocol::encode;
use rnats_protocol::framing::Status;
use rnats_protocol::json::{self, Value};
use rnats_protocol::route::{RouteMsg, RouteOp};
use rnats_protocol::ParseError;
use slab::Slab;

use crate::conn::{CloseReason, Conn, Plain, Role, RouteState};
use crate::deliver::{Msg, Origin, GLOBAL_ACCOUNT};
use crate::hash::FxHashMap;
use crate::logging::trace_enabled;
use crate::net::{display_host_port, is_unspecified, RouteUrl};
use crate::options::COMPAT_VERSION;
use crate::server::{Protocol, Server};
use crate::sublist::{Owner, Subscription};
use crate::timer::TimerKind;

/// Wait before dialing an explicit route again (Go's DEFAULT_ROUTE_CONNECT).
const ROUTE_RETRY: Duration = Duration::from_secs(1);
/// First PING on a new route.
const FIRST_ROUTE_PING: Duration = Duration::from_secs(1);

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
}

/// Route CONNECT fields beyond a client's, with their JSON types.
const ROUTE_CONNECT_FIELDS: &[(&str, crate::fields::JsonType)] = &[
    ("cluster", crate::fields::JsonType::Str),
    ("cluster_dynamic", crate::fields::JsonType::Bool),
    ("lnoc", crate::fields::JsonType::Bool),
    ("gateway", crate::fields::JsonType::Str),
];

/// The fields of a server's INFO in the order Go writes them, and whether an
/// empty value is left out (`omitempty`). A peer's INFO is gossiped in this
/// shape: unknown fields dropped, empty optional ones omitted.
const INFO_FIELDS: &[(&str, bool)] = &[
    ("server_id", false),
    ("server_name", false),
    ("version", false),
    ("proto", false),
    ("git_commit", true),
    ("go", false),
    ("host", false),
    ("port", false),
    ("headers", false),
    ("auth_required", true),
    ("tls_required", true),
    ("tls_verify", true),
    ("tls_available", true),
    ("max_payload", false),
    ("jetstream", true),
    ("ip", true),
    ("client_id", true),
    ("client_ip", true),
    ("nonce", true),
    ("cluster", true),
    ("cluster_dynamic", true),
    ("domain", true),
    ("connect_urls", true),
    ("ws_connect_urls", true),
    ("ldm", true),
    ("import", true),
    ("export", true),
    ("lnoc", true),
    ("info_on_connect", true),
    ("connect_info", true),
    ("gateway", true),
    ("gateway_urls", true),
    ("gateway_url", true),
    ("gateway_cmd", true),
    ("gateway_cmd_payload", true),
    ("gateway_nrp", true),
    ("gateway_iom", true),
    ("leafnode_urls", true),
    ("remote_account", true),
];

/// Writes a peer's INFO as Go re-encodes it when gossiping: its known
/// fields in Go's order, empty optional ones left out, a missing
/// required one written as its zero value.
fn write_gossip_info(out: &mut Vec<u8>, info: &Value) {
    out.push(b'{');
    let mut first = true;
    for &(key, omit_empty) in INFO_FIELDS {
        let v = info.get(key).filter(|v| !matches!(v, Value::Null));
        let empty = match v {
            None => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Bool(b)) => !b,
            Some(Value::Integer(n)) => *n == 0,
            Some(Value::Number(n)) => *n == 0.0,
            Some(Value::Array(a)) => a.is_empty(),
            Some(_) => false,
        };
        if empty && omit_empty {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        json::write_str(out, key.as_bytes());
        out.push(b':');
        match v {
            Some(v) => json::write_value(out, v),
            None => out.extend_from_slice(match key {
                "proto" | "port" | "max_payload" => b"0",
                "headers" => b"false",
                _ => b"\"\"",
            }),
        }
    }
    out.push(b'}');
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
    /// Local interest: `subject` or `subject queue` → number of local subs.
    pub local_interest: FxHashMap<Box<[u8]>, u32>,
    /// Bumped whenever the set of client URLs of the cluster changes.
    pub urls_version: u64,
    /// Client URLs learned from registered peers (sorted, no duplicates).
    pub peer_urls: Vec<String>,
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
            local_interest: FxHashMap::default(),
            urls_version: 0,
            peer_urls: Vec::new(),
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

/// Limits of a route connection (control line, payload), as the newer Go
/// servers bound them: a control line up to 16 times a client's (queue
/// lists make routed lines long), and a message no bigger than a client of
/// ours could ever be sent (max_pending; Go keeps max_payload at or below it).
pub fn route_limits(o: &crate::options::Options) -> (usize, usize) {
    (o.max_control_line.saturating_mul(16), o.max_pending.max(o.max_payload))
}

/// 11 random bytes in unpadded base64url (15 characters), the shape of Go's
/// nonce.
fn route_nonce() -> [u8; 15] {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 12];
    crate::sys::fill_random(&mut raw[..11]);
    let mut out = [0u8; 15];
    for (i, chunk) in raw.chunks(3).enumerate() {
        let n = (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32;
        for k in 0..4 {
            if let Some(o) = out.get_mut(i * 4 + k) {
                *o = B64[(n >> (18 - 6 * k) & 63) as usize];
            }
        }
    }
    out
}

fn interest_key(subject: &[u8], queue: Option<&[u8]>) -> Box<[u8]> {
    match queue {
        None => subject.into(),
        Some(q) => {
            let mut k = Vec::with_capacity(subject.len() + q.len() + 1);
            k.extend_from_slice(subject);
            k.push(b' ');
            k.extend_from_slice(q);
            k.into()
        }
    }
}

/// The route protocol, as the reactor feeds it.
pub struct RouteProtocol;

impl Protocol for RouteProtocol {
    fn body_needed(conn: &Conn, buffered: usize) -> Option<usize> {
        conn.route().and_then(|r| r.parser.body_needed(buffered))
    }
    fn step(server: &mut Server, slot: usize, buf: &[u8]) -> Result<Option<(usize, bool)>, ParseError> {
        let Some(route) = server.conns[slot].route_mut() else {
            return Ok(Some((buf.len(), false)));
        };
        if !route.solicited && !route.connect_seen && !buf[0].eq_ignore_ascii_case(&b'C') {
            // An accepted route must start with CONNECT: refused at the
            // first byte of anything else, as newer Go servers do.
            server.send_err(slot, "Authorization Violation");
            server.close_after_flush(slot, crate::conn::CloseReason::AuthenticationViolation);
            return Ok(Some((buf.len(), false)));
        }
        match route.parser.parse(buf)? {
            Status::Complete(f) => {
                let len = f.len;
                Ok(Some((len, server.route_op(slot, f))))
            }
            Status::Partial => Ok(None),
        }
    }
    fn on_error(server: &mut Server, slot: usize, e: ParseError) {
        server.route_parse_error(slot, e);
    }
}

impl Server {
    /// Opens the route listener and starts dialing the configured routes.
    pub fn start_cluster(&mut self) -> Result<(), String> {
        let Some(c) = &self.cluster else {
            return Ok(());
        };
        let listen = c.listen.clone();
        log::info!("Cluster name is {}", c.name);
        if c.dynamic_name {
            log::warn!("Cluster name was dynamically generated, consider setting one");
        }
        let mut l = crate::net::listen(&listen.host, listen.port)
            .map_err(|e| format!("Error listening on router port: {}, {e}", listen.host_port()))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        self.register_listener(&mut l, crate::server::ROUTE_LISTENER)?;
        log::info!("Listening for route connections on {}", display_host_port(&listen.host, port));
        let routes = self.opts.routes.clone();
        let c = self.cluster.as_mut().expect("cluster configured");
        c.port = port;
        c.listener = Some(l);
        for r in routes {
            match RouteUrl::parse(&r) {
                Ok(url) => {
                    let id = c.targets.insert(RouteTarget {
                        url,
                        explicit: true,
                        retries_left: 0,
                        slot: None,
                        cid: 0,
                        remote_id: None,
                        is_self: false,
                        attempts: 0,
                    });
                    self.timers.add_in(Duration::ZERO, TimerKind::RouteDial { id });
                }
                Err(e) => log::error!("Error parsing route URL {r:?}: {e}"),
            }
        }
        Ok(())
    }

    pub fn accept_routes(&mut self) {
        loop {
            let Some(l) = self.cluster.as_ref().and_then(|c| c.listener.as_ref()) else {
                return;
            };
            match l.accept() {
                Ok((sock, peer)) => {
                    let Some(slot) = self.add_route_conn(sock, peer, false, None) else {
                        continue;
                    };
                    log::info!("{} - Route connection created", self.conns[slot].prefix);
                    self.send_route_info(slot);
                    let cid = self.conns[slot].cid;
                    if self.route_auth().is_some() {
                        self.timers.add_in(self.opts.auth_timeout, TimerKind::AuthTimeout { slot, cid });
                    }
                    self.write_out(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.accept_failed("route", e);
                    return;
                }
            }
        }
    }

    /// Credentials routes must present, from the `-cluster` URL.
    fn route_auth(&self) -> Option<(String, String)> {
        self.cluster.as_ref()?;
        self.opts.cluster_auth.clone()
    }

    fn add_route_conn(
        &mut self,
        sock: TcpStream,
        peer: SocketAddr,
        solicited: bool,
        target: Option<usize>,
    ) -> Option<usize> {
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        let (line, payload) = route_limits(&self.opts);
        let parser = rnats_protocol::route::RouteParser::new(line, payload);
        let state = RouteState { parser, solicited, target, connecting: solicited, ..Default::default() };
        let conn = Conn::new(cid, Role::Route(Box::new(state)), Box::new(Plain(sock)), peer);
        let slot = self.conns.insert(conn);
        if let Err(e) = self.register(slot) {
            log::error!("Error registering route connection: {e}");
            self.conns.remove(slot);
            return None;
        }
        self.start_ping_timer(slot, FIRST_ROUTE_PING);
        Some(slot)
    }

    /// Dials the route target `id` (a RouteDial timer fired).
    pub fn dial_route(&mut self, id: usize) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(t) = c.targets.get_mut(id) else {
            return;
        };
        if t.is_self || t.slot.is_some() {
            return;
        }
        if let Some(rid) = &t.remote_id {
            if c.routes.contains_key(rid) {
                return;
            }
        }
        t.attempts += 1;
        let url = t.url.clone();
        let explicit = t.explicit;
        let addr = (url.host.as_str(), url.port.max(0) as u16).to_socket_addrs().ok().and_then(|mut a| a.next());
        let Some(addr) = addr else {
            log::debug!("Error trying to connect to route: cannot resolve {}", url.host_port());
            self.route_dial_failed(id, explicit);
            return;
        };
        log::debug!("Trying to connect to route on {} ({addr})", url.host_port());
        let sock = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                log::debug!("Error trying to connect to route: {e}");
                self.route_dial_failed(id, explicit);
                return;
            }
        };
        let Some(slot) = self.add_route_conn(sock, addr, true, Some(id)) else {
            self.route_dial_failed(id, explicit);
            return;
        };
        let cid = self.conns[slot].cid;
        if let Some(t) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(id)) {
            t.slot = Some(slot);
            t.cid = cid;
        }
        // Our INFO follows once the peer's INFO is accepted (as Go 2.10+
        // solicitors do): a peer we reject never registers us.
        self.send_route_connect(slot, &url);
    }

    /// A dial did not even start, or a connection to a target ended: decide
    /// whether and when to try again.
    fn route_dial_failed(&mut self, id: usize, explicit: bool) {
        let jitter = Duration::from_millis(self.rand() % 100);
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(t) = c.targets.get_mut(id) else {
            return;
        };
        t.slot = None;
        if t.is_self {
            return;
        }
        if explicit {
            self.timers.add_in(ROUTE_RETRY + jitter, TimerKind::RouteDial { id });
        } else if t.retries_left > 0 {
            t.retries_left -= 1;
            self.timers.add_in(ROUTE_RETRY + jitter, TimerKind::RouteDial { id });
        } else {
            c.targets.remove(id);
        }
    }

    fn send_route_connect(&mut self, slot: usize, url: &RouteUrl) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        let mut j = Vec::with_capacity(256);
        j.extend_from_slice(b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false");
        if let Some(u) = &url.user {
            j.extend_from_slice(b",\"user\":");
            json::write_str(&mut j, u.as_bytes());
            j.extend_from_slice(b",\"pass\":");
            json::write_str(&mut j, url.pass.as_deref().unwrap_or("").as_bytes());
        } else if let Some((u, p)) = self.route_auth() {
            // Implicit routes authenticate with this cluster's credentials.
            j.extend_from_slice(b",\"user\":");
            json::write_str(&mut j, u.as_bytes());
            j.extend_from_slice(b",\"pass\":");
            json::write_str(&mut j, p.as_bytes());
        }
        j.extend_from_slice(b",\"tls_required\":false,\"headers\":true,\"name\":");
        json::write_str(&mut j, self.server_id.as_bytes());
        j.extend_from_slice(b",\"cluster\":");
        json::write_str(&mut j, c.name.as_bytes());
        if c.dynamic_name {
            j.extend_from_slice(b",\"cluster_dynamic\":true");
        }
        // LS+/LS-/LMSG (interest and messages of a peer's leaf nodes) are
        // read like RS+/RS-/RMSG.
        j.extend_from_slice(b",\"lnoc\":true}\r\n");
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            log::trace!("{} - ->> [{}]", conn.prefix, String::from_utf8_lossy(&j[..j.len() - 2]));
        }
        conn.out.extend_from_slice(&j);
        Server::queue_flush(&mut self.pending_flush, conn, slot);
    }

    /// Our route INFO: what a peer needs to register us and to gossip us.
    pub fn route_info_json(&self) -> Vec<u8> {
        let c = self.cluster.as_ref().expect("cluster configured");
        let mut v = Vec::with_capacity(512);
        v.extend_from_slice(b"{\"server_id\":");
        json::write_str(&mut v, self.server_id.as_bytes());
        v.extend_from_slice(b",\"server_name\":");
        json::write_str(&mut v, self.server_name.as_bytes());
        v.extend_from_slice(b",\"version\":");
        json::write_str(&mut v, COMPAT_VERSION.as_bytes());
        v.extend_from_slice(b",\"proto\":2,\"go\":\"rnats\",\"host\":");
        let (host, port) = match &self.opts.cluster_advertise {
            Some(a) => match RouteUrl::parse(a) {
                Ok(u) => (u.host, u.port.max(0) as u16),
                Err(_) => (c.listen.host.clone(), c.port),
            },
            None => (c.listen.host.clone(), c.port),
        };
        json::write_str(&mut v, host.as_bytes());
        v.extend_from_slice(format!(",\"port\":{port},\"headers\":true").as_bytes());
        if self.route_auth().is_some() {
            v.extend_from_slice(b",\"auth_required\":true");
        }
        v.extend_from_slice(format!(",\"max_payload\":{}", self.opts.max_payload).as_bytes());
        // Unused on routes, but every Go route INFO carries a fresh one.
        v.extend_from_slice(b",\"nonce\":\"");
        v.extend_from_slice(&route_nonce());
        v.push(b'"');
        if self.opts.cluster_advertise.is_some() {
            v.extend_from_slice(b",\"ip\":");
            json::write_str(&mut v, format!("nats-route://{}/", display_host_port(&host, port)).as_bytes());
        }
        if !c.name.is_empty() {
            v.extend_from_slice(b",\"cluster\":");
            json::write_str(&mut v, c.name.as_bytes());
        }
        if c.info_dynamic {
            v.extend_from_slice(b",\"cluster_dynamic\":true");
        }
        if !self.opts.no_advertise {
            v.extend_from_slice(b",\"connect_urls\":[");
            for (i, u) in self.own_client_urls().iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                json::write_str(&mut v, u.as_bytes());
            }
            v.push(b']');
        }
        v.extend_from_slice(b",\"lnoc\":true}");
        v
    }

    fn send_route_info(&mut self, slot: usize) {
        let info = self.route_info_json();
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            log::trace!("{} - ->> [INFO {}]", conn.prefix, String::from_utf8_lossy(&info));
        }
        conn.out.extend_from_slice(b"INFO ");
        conn.out.extend_from_slice(&info);
        conn.out.extend_from_slice(b" \r\n");
        Server::queue_flush(&mut self.pending_flush, conn, slot);
    }

    /// A dialed connection reported its first event: log it as created, or
    /// treat a failed connect as a failed dial.
    pub fn route_connected(&mut self, slot: usize) -> bool {
        let c = &mut self.conns[slot];
        let connecting = c.route().is_some_and(|r| r.connecting);
        if !connecting {
            return true;
        }
        match c.sock.connect_state() {
            Ok(true) => {}
            // Still connecting.
            Ok(false) => return false,
            Err(e) => {
                log::debug!("Error trying to connect to route: {e}");
                c.closing = Some(CloseReason::ReadError);
                c.quiet_close = true;
                self.queue_close(slot);
                return false;
            }
        }
        if let Some(r) = c.route_mut() {
            r.connecting = false;
        }
        log::debug!("{} - Route connect msg sent", c.prefix);
        log::info!("{} - Route connection created", c.prefix);
        true
    }

    /// Handles bytes read from a route connection.
    pub fn route_input(&mut self, slot: usize, data: &[u8]) {
        self.feed::<RouteProtocol>(slot, data);
    }

    pub fn route_parse_error(&mut self, slot: usize, e: ParseError) {
        if let Some(c) = self.conns.get(slot) {
            log::error!("{} - Route parser ERROR: {e}", c.prefix);
        }
        let (text, reason) = crate::conn::parse_error_reply(e);
        if let Some(t) = text {
            self.send_err(slot, t);
        }
        self.close_after_flush(slot, reason);
    }

    pub fn route_op(&mut self, slot: usize, f: Frame<'_, RouteOp<'_>>) -> bool {
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            let args = String::from_utf8_lossy(crate::logging::trim(&f.line[f.args_at..]));
            let verb = String::from_utf8_lossy(&f.line[..f.args_at]).to_ascii_uppercase();
            if args.is_empty() {
                log::trace!("{} - <<- [{verb}]", conn.prefix);
            } else if matches!(f.op, RouteOp::Connect(_)) {
                log::trace!("{} - <<- [{verb} {}]", conn.prefix, crate::logging::redact(args.as_bytes()));
            } else {
                log::trace!("{} - <<- [{verb} {args}]", conn.prefix);
            }
        }
        conn.active = true;
        let Some(r) = self.conns[slot].route() else { return false };
        // An accepted route must start with CONNECT (newer Go servers refuse
        // anything else, credentials or not).
        if !r.solicited && !r.connect_seen && !matches!(f.op, RouteOp::Connect(_)) {
            self.send_err(slot, "Authorization Violation");
            self.close_after_flush(slot, CloseReason::AuthenticationViolation);
            return false;
        }
        match f.op {
            RouteOp::Connect(j) => self.process_route_connect(slot, j),
            RouteOp::Info(j) => self.process_route_info(slot, j),
            RouteOp::Ping => {
                let c = &mut self.conns[slot];
                c.out.extend_from_slice(b"PONG\r\n");
                if trace_enabled() {
                    log::trace!("{} - ->> [PONG]", c.prefix);
                }
                Server::queue_flush(&mut self.pending_flush, c, slot);
                true
            }
            RouteOp::Pong => {
                let c = &mut self.conns[slot];
                c.pings_out = 0;
                if let Some(r) = c.route_mut() {
                    if let Some(sent) = r.ping_sent.take() {
                        // At least a nanosecond, as Go counts a measured RTT.
                        r.rtt = Some(sent.elapsed().max(Duration::from_nanos(1)));
                    }
                }
                true
            }
            RouteOp::Ok | RouteOp::Ignored => true,
            RouteOp::Err(text) => {
                log::error!("{} - Route Error {}", self.conns[slot].prefix, String::from_utf8_lossy(text));
                self.mark_close(slot, CloseReason::ParseError);
                false
            }
            RouteOp::Sub { account, subject, queue } => {
                // Interest counts from CONNECT on (Go takes it before the
                // peer's INFO); `+OK` only for interest taken.
                if account == GLOBAL_ACCOUNT
                    && self.conns[slot].route().is_some_and(|r| r.registered || r.connect_seen)
                    && self.remote_sub(slot, subject, queue)
                {
                    self.route_ok(slot);
                }
                true
            }
            RouteOp::Unsub { account, subject, queue } => {
                if account == GLOBAL_ACCOUNT {
                    self.remote_unsub(slot, subject, queue);
                    self.route_ok(slot);
                }
                true
            }
            RouteOp::Msg(m) => {
                self.route_ok(slot);
                self.process_routed_msg(slot, m);
                true
            }
        }
    }

    /// A route CONNECT, checked in Go's order: JSON that fits Go's option
    /// types (keys case-insensitive, `null` accepted), credentials, `lang`
    /// (a client on the route port), `gateway`, cluster name.
    fn process_route_connect(&mut self, slot: usize, text: &[u8]) -> bool {
        let v = match json::parse(text) {
            Ok(v @ Value::Object(_))
                if crate::fields::types_ok(&v, crate::fields::CONNECT_FIELDS)
                    && crate::fields::types_ok(&v, ROUTE_CONNECT_FIELDS) =>
            {
                v
            }
            Ok(Value::Null) => Value::Object(Vec::new()),
            _ => {
                self.mark_close(slot, CloseReason::ProtocolViolation);
                return false;
            }
        };
        let s = |k: &str| v.get_ignore_case(k).and_then(Value::as_str).unwrap_or("").to_string();
        let flag = |k: &str| v.get_ignore_case(k).and_then(Value::as_bool).unwrap_or(false);
        // A later CONNECT keeps what an earlier one said unless it says it
        // again (Go merges them).
        let Some(r) = self.conns[slot].route_mut() else { return false };
        for (key, field) in [("user", &mut r.user), ("pass", &mut r.pass)] {
            if let Some(x) = v.get_ignore_case(key).and_then(Value::as_str) {
                x.clone_into(field);
            }
        }
        let (user, pass) = (r.user.clone(), r.pass.clone());
        if let Some((u, p)) = self.route_auth() {
            if user != u || !crate::auth::password_matches(&p, &pass) {
                log::error!("{} - authentication error", self.conns[slot].prefix);
                self.send_err(slot, "Authorization Violation");
                self.close_after_flush(slot, CloseReason::AuthenticationViolation);
                return false;
            }
        }
        if !s("lang").is_empty() {
            self.send_err(slot, "attempted to connect to route port");
            self.close_after_flush(slot, CloseReason::WrongPort);
            return false;
        }
        let gateway = s("gateway");
        if !gateway.is_empty() {
            let text = format!("Rejecting connection from gateway {gateway:?} on the Route port");
            log::error!("{} - {text}", self.conns[slot].prefix);
            self.send_err(slot, &text);
            self.close_after_flush(slot, CloseReason::WrongGateway);
            return false;
        }
        if !self.cluster_name_ok(slot, &s("cluster"), flag("cluster_dynamic"), true) {
            return false;
        }
        let Some(r) = self.conns[slot].route_mut() else { return false };
        r.connect_seen = true;
        r.headers = flag("headers");
        r.verbose = flag("verbose");
        if r.remote_id.is_empty() {
            r.remote_id = s("name");
        }
        true
    }

    /// `+OK` after an op from a peer that asked for verbose mode.
    fn route_ok(&mut self, slot: usize) {
        if self.conns[slot].route().is_some_and(|r| r.verbose) {
            let c = &mut self.conns[slot];
            c.out.extend_from_slice(b"+OK\r\n");
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
    }

    /// Checks a peer's cluster name (Go's rule). On a mismatch a server
    /// whose name was generated adopts the peer's name when that one is
    /// configured or lexically bigger, and closes its other routes so they
    /// reconnect under the new name; otherwise the connection is rejected.
    /// A CONNECT must carry exactly our name (empty included); an INFO
    /// without a name is tolerated.
    fn cluster_name_ok(&mut self, slot: usize, peer: &str, peer_dynamic: bool, from_connect: bool) -> bool {
        let c = self.cluster.as_mut().expect("cluster configured");
        if peer == c.name || (peer.is_empty() && !from_connect) {
            return true;
        }
        if c.dynamic_name && (!peer_dynamic || c.name.as_str() < peer) {
            c.name = peer.to_string();
            // Only a configured name learned from a CONNECT becomes our
            // configured name (an empty one leaves us "generated", as Go
            // tells the two apart by the name being empty); one learned from
            // an INFO stays "generated".
            if from_connect && !peer_dynamic {
                c.dynamic_name = peer.is_empty();
            }
            log::info!("Cluster name updated to {peer}");
            self.build_info_tail();
            self.close_other_routes(slot);
            return true;
        }
        let ours = c.name.clone();
        if from_connect {
            let text = format!("Rejecting connection, cluster name {peer:?} does not match {ours:?}");
            log::error!("{} - {text}", self.conns[slot].prefix);
            self.send_err(slot, &text);
            self.close_after_flush(slot, CloseReason::ClusterNameConflict);
        } else {
            self.mark_close(slot, CloseReason::ClusterNameConflict);
        }
        false
    }

    /// Closes every route connection but `keep` (after a cluster name change).
    /// Each leaves the route table at once, as in Go, so its client URLs go
    /// (and clients hear of the new cluster name) before anything else happens.
    fn close_other_routes(&mut self, keep: usize) {
        let others: Vec<usize> =
            self.conns.iter().filter(|(i, c)| *i != keep && c.route().is_some()).map(|(i, _)| i).collect();
        for slot in others {
            self.mark_close(slot, CloseReason::ClusterNameConflict);
            let Some(id) = self.conns[slot].route().filter(|r| r.registered).map(|r| r.remote_id.clone()) else {
                continue;
            };
            if let Some(c) = self.cluster.as_mut() {
                if c.routes.get(&id) == Some(&slot) {
                    c.routes.remove(&id);
                    self.refresh_peer_urls();
                }
            }
        }
    }

    fn process_route_info(&mut self, slot: usize, text: &[u8]) -> bool {
        let Ok(v) = json::parse(text) else {
            self.mark_close(slot, CloseReason::ProtocolViolation);
            return false;
        };
        let id = v.get("server_id").and_then(Value::as_str).unwrap_or("").to_string();
        let Some(r) = self.conns[slot].route() else { return false };
        if r.info_seen {
            let remote_id = r.remote_id.clone();
            // Go applies the route-to-self and cluster-name rules to every
            // INFO, a peer's later ones included.
            if id == self.server_id {
                self.mark_close(slot, CloseReason::DuplicateRoute);
                return false;
            }
            let peer_cluster = v.get("cluster").and_then(Value::as_str).unwrap_or("").to_string();
            let peer_dynamic = v.get("cluster_dynamic").and_then(Value::as_bool).unwrap_or(false);
            if !self.cluster_name_ok(slot, &peer_cluster, peer_dynamic, false) {
                return false;
            }
            if v.get("gateway").and_then(Value::as_str).is_some_and(|g| !g.is_empty()) {
                return true;
            }
            if id != remote_id {
                self.implicit_route(&v);
            } else if v.get("ldm").and_then(Value::as_bool) == Some(true) {
                // Only lame duck mode changes a registered peer's client URLs
                // (Go keeps those of its first INFO otherwise).
                self.set_peer_urls(slot, Vec::new());
            }
            return true;
        }
        if id == self.server_id {
            log::debug!("{} - Detected route to self, ignoring", self.conns[slot].prefix);
            if let Some(t) = self.conns[slot].route().and_then(|r| r.target) {
                if let Some(t) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                    t.is_self = true;
                }
            }
            self.mark_close(slot, CloseReason::DuplicateRoute);
            return false;
        }
        if v.get("route_account").and_then(Value::as_str).is_some_and(|a| !a.is_empty()) {
            // A dedicated per-account connection from a pooling peer; we carry
            // every account on one connection, so it is not needed.
            self.conns[slot].quiet_close = true;
            self.mark_close(slot, CloseReason::DuplicateRoute);
            return false;
        }
        let peer_cluster = v.get("cluster").and_then(Value::as_str).unwrap_or("").to_string();
        let peer_dynamic = v.get("cluster_dynamic").and_then(Value::as_bool).unwrap_or(false);
        if !self.cluster_name_ok(slot, &peer_cluster, peer_dynamic, false) {
            return false;
        }
        let name = v.get("server_name").and_then(Value::as_str).unwrap_or("").to_string();
        if name == self.server_name && !self.conns[slot].route().is_some_and(|r| r.solicited) {
            log::error!("{} - Remote server has a duplicate name: {name:?}", self.conns[slot].prefix);
            self.mark_close(slot, CloseReason::DuplicateServerName);
            return false;
        }
        let headers = v.get("headers").and_then(Value::as_bool).unwrap_or(false);
        let port = v.get("port").and_then(Value::as_i64).unwrap_or(0);
        let peer_ip = self.conns[slot].peer.ip();
        let mut info = v.clone();
        if let Value::Object(fields) = &mut info {
            fields.retain(|(k, _)| k != "nonce");
            if !fields.iter().any(|(k, _)| k == "ip") {
                let ip = format!("nats-route://{}/", display_host_port(&peer_ip.to_string(), port.max(0) as u16));
                fields.push(("ip".into(), Value::String(ip)));
            }
        }
        let urls: Vec<String> = v
            .get("connect_urls")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let Some(r) = self.conns[slot].route_mut() else { return false };
        r.info_seen = true;
        r.remote_id = id.clone();
        r.remote_name = name;
        let solicited = r.solicited;
        // The first INFO decides, on accepted routes too (over the CONNECT's).
        r.headers = headers;
        r.info = Some(info);
        r.connect_urls = urls;
        if solicited {
            self.send_route_info(slot);
        }
        self.register_route(slot, id)
    }

    fn register_route(&mut self, slot: usize, id: String) -> bool {
        let cluster = self.cluster.as_mut().expect("cluster configured");
        // A registered connection already being closed (say, after a cluster
        // name change) gives way at once, as Go removes it when it closes.
        if let Some(&old) = cluster.routes.get(&id) {
            if old != slot && self.conns.get(old).is_none_or(|c| c.closing.is_some()) {
                cluster.routes.remove(&id);
                self.refresh_peer_urls();
            }
        }
        let cluster = self.cluster.as_mut().expect("cluster configured");
        if let Some(&kept) = cluster.routes.get(&id) {
            if kept != slot {
                log::debug!("{} - Detected duplicate remote route {id:?}", self.conns[slot].prefix);
                // The kept connection takes over this one's target so the
                // route is dialed again if the kept one goes.
                let target = self.conns[slot].route_mut().and_then(|r| r.target.take());
                if let Some(t) = target {
                    let kept_cid = self.conns[kept].cid;
                    if let Some(kr) = self.conns[kept].route_mut() {
                        if kr.target.is_none() {
                            kr.target = Some(t);
                            if let Some(tt) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                                tt.slot = Some(kept);
                                tt.cid = kept_cid;
                                tt.remote_id = Some(id.clone());
                            }
                        } else if let Some(c) = self.cluster.as_mut() {
                            if c.targets.get(t).is_some_and(|tt| !tt.explicit) {
                                c.targets.remove(t);
                            } else if let Some(tt) = c.targets.get_mut(t) {
                                tt.slot = None;
                                tt.remote_id = Some(id.clone());
                            }
                        }
                    }
                }
                self.conns[slot].quiet_close = true;
                self.mark_close(slot, CloseReason::DuplicateRoute);
                return false;
            }
            return true;
        }
        cluster.routes.insert(id.clone(), slot);
        if let Some(t) = self.conns[slot].route().and_then(|r| r.target) {
            if let Some(tt) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                tt.remote_id = Some(id.clone());
                tt.attempts = 0;
            }
        }
        if let Some(r) = self.conns[slot].route_mut() {
            r.registered = true;
        }
        log::debug!("{} - Registering remote route {id:?}", self.conns[slot].prefix);
        self.send_local_subs(slot);
        log::debug!("{} - Sent local subscriptions to route", self.conns[slot].prefix);
        self.gossip_new_route(slot);
        self.refresh_peer_urls();
        true
    }

    /// Tells every other registered peer about the route just registered.
    fn gossip_new_route(&mut self, slot: usize) {
        let Some(info) = self.conns[slot].route().and_then(|r| r.info.as_ref()) else {
            return;
        };
        let mut line = b"INFO ".to_vec();
        write_gossip_info(&mut line, info);
        line.extend_from_slice(b"\r\n");
        let others: Vec<usize> = self
            .cluster
            .as_ref()
            .map(|c| c.routes.values().copied().filter(|s| *s != slot).collect())
            .unwrap_or_default();
        for s in others {
            let c = &mut self.conns[s];
            if trace_enabled() {
                log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&line[..line.len() - 2]));
            }
            c.out.extend_from_slice(&line);
            Server::queue_flush(&mut self.pending_flush, c, s);
        }
    }

    /// Gossip about a server: dial it unless it is us, already connected,
    /// or already a target.
    fn implicit_route(&mut self, v: &Value) {
        let id = v.get("server_id").and_then(Value::as_str).unwrap_or("");
        if id.is_empty() || id == self.server_id {
            return;
        }
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if c.routes.contains_key(id) {
            return;
        }
        let url = match v.get("ip").and_then(Value::as_str) {
            Some(ip) => RouteUrl::parse(ip),
            None => {
                let host = v.get("host").and_then(Value::as_str).unwrap_or("");
                let port = v.get("port").and_then(Value::as_i64).unwrap_or(0);
                RouteUrl::parse(&format!("nats-route://{}/", display_host_port(host, port.max(0) as u16)))
            }
        };
        let Ok(url) = url else { return };
        let known = c
            .targets
            .iter()
            .any(|(_, t)| t.remote_id.as_deref() == Some(id) || (t.url.host == url.host && t.url.port == url.port));
        if known {
            return;
        }
        let retries = self.opts.connect_retries;
        let tid = c.targets.insert(RouteTarget {
            url,
            explicit: false,
            retries_left: retries,
            slot: None,
            cid: 0,
            remote_id: Some(id.to_string()),
            is_self: false,
            attempts: 0,
        });
        self.dial_route(tid);
    }

    /// Called when a route connection is removed.
    pub fn route_closed(&mut self, slot: usize, c: &mut Conn, reason: CloseReason) {
        let Role::Route(r) = &mut c.role else { return };
        for (_, sub) in r.remote_subs.drain() {
            self.sublist.remove(&sub);
        }
        if !c.quiet_close {
            if r.remote_name.is_empty() {
                log::info!("{} - Router connection closed: {}", c.prefix, reason.as_str());
            } else {
                log::info!("{} - Router connection closed: {} - Remote: {}", c.prefix, reason.as_str(), r.remote_name);
            }
        }
        let mut urls_changed = false;
        if r.registered {
            if let Some(cl) = self.cluster.as_mut() {
                if cl.routes.get(&r.remote_id) == Some(&slot) {
                    cl.routes.remove(&r.remote_id);
                    urls_changed = true;
                }
            }
        }
        if let Some(t) = r.target {
            let explicit = self.cluster.as_ref().and_then(|c| c.targets.get(t)).is_some_and(|t| t.explicit);
            let was_up = r.registered;
            if !explicit && was_up {
                // A lost implicit route gets one quick redial.
                if let Some(tt) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                    tt.slot = None;
                    tt.retries_left = tt.retries_left.max(1);
                }
                let d = Duration::from_millis(self.rand() % 100);
                self.timers.add_in(d, TimerKind::RouteDial { id: t });
            } else if reason == CloseReason::DuplicateRoute && !was_up {
                if let Some(tt) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                    tt.slot = None;
                }
            } else {
                self.route_dial_failed(t, explicit);
            }
        }
        if urls_changed {
            self.refresh_peer_urls();
        }
    }

    fn set_peer_urls(&mut self, slot: usize, urls: Vec<String>) {
        if let Some(r) = self.conns[slot].route_mut() {
            if r.connect_urls != urls {
                r.connect_urls = urls;
                self.refresh_peer_urls();
            }
        }
    }

    /// Recomputes the set of client URLs learned from registered peers; when
    /// it changed, the client INFO is rebuilt and protocol-1 clients get it.
    /// As in Go, `connect_urls` appears with the first peer URL and then
    /// stays (with at least our own URLs), and a peer without URLs changes
    /// nothing.
    fn refresh_peer_urls(&mut self) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        let advertised = if self.opts.no_advertise { Default::default() } else { c.routes.clone() };
        let mut urls: Vec<String> = advertised
            .values()
            .filter_map(|slot| self.conns.get(*slot)?.route())
            .flat_map(|r| r.connect_urls.iter().cloned())
            .collect();
        urls.sort();
        urls.dedup();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        if urls == c.peer_urls {
            return;
        }
        c.peer_urls = urls;
        c.urls_version += 1;
        self.build_info_tail();
        self.send_async_info();
    }

    /// Client URLs of this server: `client_advertise`, or the listen
    /// address (each global unicast address of the machine, IPv4 and IPv6,
    /// when bound to all interfaces).
    pub fn own_client_urls(&self) -> Vec<String> {
        let port = self.client_addr.map(|a| a.port()).unwrap_or(0);
        if let Some(a) = &self.opts.client_advertise {
            return vec![if a.contains(':') { a.clone() } else { display_host_port(a, port) }];
        }
        let host = self.opts.host.as_str();
        if is_unspecified(host) {
            let ips = crate::netif::global_unicast_ips();
            if !ips.is_empty() {
                return ips.iter().map(|ip| display_host_port(&ip.to_string(), port)).collect();
            }
        }
        vec![display_host_port(host, port)]
    }

    /// Every client URL of the cluster for client INFO: ours first, then
    /// each registered peer's (unless `no_advertise`).
    pub fn cluster_client_urls(&self) -> Vec<String> {
        let mut urls = self.own_client_urls();
        if self.opts.no_advertise {
            return urls;
        }
        if let Some(c) = &self.cluster {
            for slot in c.routes.values() {
                if let Some(r) = self.conns.get(*slot).and_then(|c| c.route()) {
                    for u in &r.connect_urls {
                        if !urls.contains(u) {
                            urls.push(u.clone());
                        }
                    }
                }
            }
        }
        urls
    }

    /// Sends all local interest to a newly registered route.
    fn send_local_subs(&mut self, slot: usize) {
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        let mut out = Vec::new();
        for (key, n) in &c.local_interest {
            match key.iter().position(|b| *b == b' ') {
                None => encode::write_rs_plus(&mut out, GLOBAL_ACCOUNT, key, None),
                Some(i) => encode::write_rs_plus(&mut out, GLOBAL_ACCOUNT, &key[..i], Some((&key[i + 1..], *n))),
            }
        }
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                log::trace!("{} - ->> [{}]", conn.prefix, String::from_utf8_lossy(&line[..line.len() - 1]));
            }
        }
        conn.out.extend_from_slice(&out);
        Server::queue_flush(&mut self.pending_flush, conn, slot);
    }

    /// Local interest in `subject` (and `queue`) went up or down by one;
    /// tell the routes when that changes what they must send us.
    pub fn local_interest_changed(&mut self, subject: &[u8], queue: Option<&[u8]>, added: bool) {
        self.local_interest_delta(subject, queue, if added { 1 } else { -1 });
    }

    /// Applies a change of `delta` local subscriptions on `subject`/`queue`
    /// and tells the routes the outcome once (a closing client's queue
    /// members leave in one step, as Go announces them).
    pub fn local_interest_delta(&mut self, subject: &[u8], queue: Option<&[u8]>, delta: i64) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let key = interest_key(subject, queue);
        let n = c.local_interest.entry(key.clone()).or_insert(0);
        let before = *n;
        *n = (i64::from(*n) + delta).clamp(0, i64::from(u32::MAX)) as u32;
        let after = *n;
        if after == 0 {
            c.local_interest.remove(&key);
        }
        let mut line = Vec::new();
        match queue {
            None if before == 0 && after > 0 => encode::write_rs_plus(&mut line, GLOBAL_ACCOUNT, subject, None),
            None if before > 0 && after == 0 => encode::write_rs_minus(&mut line, GLOBAL_ACCOUNT, subject, None),
            Some(q) if after > 0 && after != before => {
                encode::write_rs_plus(&mut line, GLOBAL_ACCOUNT, subject, Some((q, after)))
            }
            Some(q) if after == 0 && before > 0 => encode::write_rs_minus(&mut line, GLOBAL_ACCOUNT, subject, Some(q)),
            _ => return,
        }
        let slots: Vec<usize> = c.routes.values().copied().collect();
        for s in slots {
            let conn = &mut self.conns[s];
            if trace_enabled() {
                log::trace!("{} - ->> [{}]", conn.prefix, String::from_utf8_lossy(&line[..line.len() - 2]));
            }
            conn.out.extend_from_slice(&line);
            Server::queue_flush(&mut self.pending_flush, conn, s);
        }
    }

    /// Takes a peer's interest; false (after the -ERR) for an invalid subject.
    fn remote_sub(&mut self, slot: usize, subject: &[u8], queue: Option<(&[u8], u32)>) -> bool {
        if !rnats_protocol::subject::is_valid_subject(subject) {
            self.send_err(slot, "Invalid Subscription");
            return false;
        }
        let key = interest_key(subject, queue.map(|(q, _)| q));
        let conn = &mut self.conns[slot];
        let cid = conn.cid;
        let Some(r) = conn.route_mut() else { return false };
        if let Some(existing) = r.remote_subs.get(&key) {
            if let Some((_, w)) = queue {
                existing.weight.set(w);
            }
            return true;
        }
        let sub = Rc::new(Subscription {
            slot,
            cid,
            owner: Owner::Route,
            subject: subject.into(),
            queue: queue.map(|(q, _)| q.into()),
            sid: key.clone(),
            max: Cell::new(0),
            delivered: Cell::new(0),
            weight: Cell::new(queue.map_or(1, |(_, w)| w)),
        });
        r.remote_subs.insert(key, sub.clone());
        self.sublist.insert(sub);
        true
    }

    fn remote_unsub(&mut self, slot: usize, subject: &[u8], queue: Option<&[u8]>) {
        let key = interest_key(subject, queue);
        let Some(r) = self.conns[slot].route_mut() else {
            return;
        };
        if let Some(sub) = r.remote_subs.remove(&key) {
            self.sublist.remove(&sub);
        }
    }

    fn process_routed_msg(&mut self, slot: usize, m: RouteMsg<'_>) {
        let c = &mut self.conns[slot];
        c.stats.in_msgs += 1;
        c.stats.in_bytes += m.message.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += m.message.len() as u64;
        if trace_enabled() && !m.message.is_empty() {
            let t = self.traced(m.message);
            log::trace!("{} - <<- MSG_PAYLOAD: [{t}]", self.conns[slot].prefix);
        }
        if m.account != GLOBAL_ACCOUNT {
            return;
        }
        // JetStream acks from Go nodes arrive as `<reply>@<subject>`.
        let (subject, reply) = match m.reply {
            Some(r) if r.starts_with(b"$JS.ACK.") => match r.iter().rposition(|b| *b == b'@') {
                Some(i) => (&r[i + 1..], Some(&r[..i])),
                None => (m.subject, m.reply),
            },
            _ => (m.subject, m.reply),
        };
        let hdr = m.header_len.filter(|h| *h > 0);
        let msg = Msg { subject, reply, header_len: hdr, payload: m.message };
        self.deliver(slot, Origin::Route { queues: m.queues }, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gossip(text: &str) -> String {
        let v = json::parse(text.as_bytes()).expect("test INFO parses");
        let mut out = Vec::new();
        write_gossip_info(&mut out, &v);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn gossiped_info_takes_go_field_order_and_omits_empty_optional_fields() {
        let text = r#"{"lnoc":true,"cluster":"","server_id":"S","port":1,"unknown":7,"ip":"nats-route://h:1/",
            "connect_urls":[],"server_name":"n","version":"2.9.10","proto":2,"go":"g","host":"h",
            "headers":true,"max_payload":5,"cluster_dynamic":false,"name":"<x>"}"#;
        assert_eq!(
            gossip(text),
            r#"{"server_id":"S","server_name":"n","version":"2.9.10","proto":2,"go":"g","host":"h","port":1,"headers":true,"max_payload":5,"ip":"nats-route://h:1/","lnoc":true}"#
        );
    }

    #[test]
    fn gossiped_info_writes_missing_required_fields_as_zero_values() {
        assert_eq!(
            gossip(r#"{"server_id":"S","cluster":"A<"}"#),
            r#"{"server_id":"S","server_name":"","version":"","proto":0,"go":"","host":"","port":0,"headers":false,"max_payload":0,"cluster":"A\u003c"}"#
        );
    }
}
