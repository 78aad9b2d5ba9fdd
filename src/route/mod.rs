//! The route protocol: the handshake with a peer server (CONNECT, INFO,
//! the cluster-name rule, registration checks), the ops a registered route
//! sends (RS+/RS-, RMSG/HMSG, LS+/LS-/LMSG, PING/PONG) and the interest
//! this server announces to its routes. Dialing, retries, gossip and the
//! route table are the cluster manager's (`cluster`).

pub mod cluster;
pub mod state;

use std::rc::Rc;

use rnats_protocol::client::Frame;
use rnats_protocol::encode;
use rnats_protocol::framing::Status;
use rnats_protocol::json::{self, Value};
use rnats_protocol::route::{RouteMsg, RouteOp};
use rnats_protocol::ParseError;

use crate::config::options::SYSTEM_ACCOUNT;
use crate::conn::CloseReason;
use crate::conn::Kind;
use crate::logging::trace_enabled;
use crate::routing::accounts::AccId;
use crate::routing::interest::{interest_key, key_origin, origin_key, split_key, Source};
use crate::routing::sublist::Subscription;
use crate::server::deliver::{Msg, Origin};
use crate::server::lifecycle::Protocol;
use crate::server::Conn;
use crate::server::Server;
use crate::sys::netaddr::{display_host_port, RouteUrl};

/// Route CONNECT fields beyond a client's, with their JSON types.
const ROUTE_CONNECT_FIELDS: &[(&str, crate::conn::handshake_fields::JsonType)] = &[
    ("cluster", crate::conn::handshake_fields::JsonType::Str),
    ("cluster_dynamic", crate::conn::handshake_fields::JsonType::Bool),
    ("lnoc", crate::conn::handshake_fields::JsonType::Bool),
    ("gateway", crate::conn::handshake_fields::JsonType::Str),
];

/// What a route hears when a count of interest goes from `before` to
/// `after`: `write(out, Some(weight))` when it appears (and, for a queue
/// group, on every change of its weight), `write(out, None)` when it drops
/// to 0.
fn interest_line(out: &mut Vec<u8>, queued: bool, before: u32, after: u32, write: impl Fn(&mut Vec<u8>, Option<u32>)) {
    if before == after {
        return;
    }
    if after == 0 {
        write(out, None);
    } else if before == 0 || queued {
        write(out, Some(after));
    }
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

/// Peer-supplied bytes for a log line.
fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
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
}

impl Server {
    pub fn send_route_connect(&mut self, slot: usize, url: &RouteUrl) {
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
        let tls = if self.opts.cluster_tls.is_some() { "true" } else { "false" };
        j.extend_from_slice(format!(",\"tls_required\":{tls},\"headers\":true,\"name\":").as_bytes());
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
        self.info_start(&mut v, 2);
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
        if self.opts.cluster_tls.is_some() {
            v.extend_from_slice(b",\"tls_required\":true,\"tls_verify\":true");
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
            let ws = self.own_ws_urls();
            if !ws.is_empty() {
                v.extend_from_slice(b",\"ws_connect_urls\":[");
                for (i, u) in ws.iter().enumerate() {
                    if i > 0 {
                        v.push(b',');
                    }
                    json::write_str(&mut v, u.as_bytes());
                }
                v.push(b']');
            }
        }
        if !self.opts.leaf_no_advertise && self.leaf_addr.is_some() {
            v.extend_from_slice(b",\"leafnode_urls\":[");
            for (i, u) in self.own_leaf_urls().iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                json::write_str(&mut v, u.as_bytes());
            }
            v.push(b']');
        }
        v.extend_from_slice(b",\"lnoc\":true,\"lnocu\":true}");
        v
    }

    pub fn send_route_info(&mut self, slot: usize) {
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

    /// Handles bytes read from a route connection.
    pub fn route_input(&mut self, slot: usize, data: &[u8]) {
        self.feed::<RouteProtocol>(slot, data);
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
                self.send_proto(slot, b"PONG\r\n");
                true
            }
            RouteOp::Pong => {
                self.pong_received(slot);
                true
            }
            RouteOp::Ok | RouteOp::Ignored => true,
            RouteOp::Err(text) => {
                log::error!("{} - Route Error {}", self.conns[slot].prefix, String::from_utf8_lossy(text));
                self.mark_close(slot, CloseReason::ParseError);
                false
            }
            RouteOp::Sub { account, subject, queue, key, origin } => {
                // Interest counts from CONNECT on (Go takes it before the
                // peer's INFO); `+OK` only for interest taken. Interest in
                // an account this server does not have is logged and
                // dropped, as Go does (the route stays).
                if !self.conns[slot].route().is_some_and(|r| r.registered || r.connect_seen) {
                    return true;
                }
                let Some(acc) = self.accounts.id(account) else {
                    let (prefix, a, s) = (&self.conns[slot].prefix, lossy(account), lossy(subject));
                    if account == SYSTEM_ACCOUNT.as_bytes() {
                        // Go peers announce their system account's services.
                        log::debug!("{prefix} - Unknown account {a:?} for remote subject {s:?}");
                    } else {
                        log::error!("{prefix} - Unknown account {a:?} for remote subject {s:?}");
                    }
                    return true;
                };
                let lnocu = self.conns[slot].route().is_some_and(|r| r.lnocu);
                let key = origin_key(origin.filter(|_| lnocu), key);
                if self.remote_sub(slot, acc, &key, subject, queue) {
                    self.route_ok(slot);
                }
                true
            }
            RouteOp::Unsub { account, subject, key, origin, .. } => {
                if self.accounts.id(account).is_none() {
                    let (prefix, a, s) = (&self.conns[slot].prefix, lossy(account), lossy(subject));
                    log::debug!("{prefix} - Unknown account {a:?} for subject {s:?}");
                    return true;
                }
                self.remote_unsub(slot, &origin_key(origin, key));
                self.route_ok(slot);
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
    pub fn process_route_connect(&mut self, slot: usize, text: &[u8]) -> bool {
        let v = match json::parse(text) {
            Ok(v @ Value::Object(_))
                if crate::conn::handshake_fields::types_ok(&v, crate::conn::handshake_fields::CONNECT_FIELDS)
                    && crate::conn::handshake_fields::types_ok(&v, ROUTE_CONNECT_FIELDS) =>
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
        r.lnoc |= flag("lnoc");
        if r.remote_id.is_empty() {
            r.remote_id = s("name");
        }
        true
    }

    /// `+OK` after an op from a peer that asked for verbose mode.
    pub fn route_ok(&mut self, slot: usize) {
        if self.conns[slot].route().is_some_and(|r| r.verbose) {
            self.send_proto(slot, b"+OK\r\n");
        }
    }

    /// Checks a peer's cluster name (Go's rule). On a mismatch a server
    /// whose name was generated adopts the peer's name when that one is
    /// configured or lexically bigger, and closes its other routes so they
    /// reconnect under the new name; otherwise the connection is rejected.
    /// A CONNECT must carry exactly our name (empty included); an INFO
    /// without a name is tolerated.
    pub fn cluster_name_ok(&mut self, slot: usize, peer: &str, peer_dynamic: bool, from_connect: bool) -> bool {
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

    /// Closes every registered route but `keep` (after a cluster name
    /// change). Each leaves the route table at once, as in Go, so its client
    /// URLs go (and clients hear of the new cluster name) before anything
    /// else happens. Route connections not registered yet stay, as in Go:
    /// their peer's CONNECT or INFO is checked against the new name.
    pub fn close_other_routes(&mut self, keep: usize) {
        let others: Vec<usize> = self
            .conns
            .iter()
            .filter(|(i, c)| *i != keep && c.route().is_some_and(|r| r.registered))
            .map(|(i, _)| i)
            .collect();
        for slot in others {
            self.mark_close(slot, CloseReason::ClusterNameConflict);
            let Some(id) = self.conns[slot].route().map(|r| r.remote_id.clone()) else {
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

    /// The cluster-name rule for the name a peer's INFO carries.
    fn info_cluster_ok(&mut self, slot: usize, v: &Value) -> bool {
        let peer_cluster = v.get("cluster").and_then(Value::as_str).unwrap_or("").to_string();
        let peer_dynamic = v.get("cluster_dynamic").and_then(Value::as_bool).unwrap_or(false);
        self.cluster_name_ok(slot, &peer_cluster, peer_dynamic, false)
    }

    pub fn process_route_info(&mut self, slot: usize, text: &[u8]) -> bool {
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
            if !self.info_cluster_ok(slot, &v) {
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
                self.clear_peer_urls(slot);
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
        if !self.info_cluster_ok(slot, &v) {
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
        let list = |key: &str| -> Vec<String> {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let (urls, ws_urls) = (list("connect_urls"), list("ws_connect_urls"));
        let Some(r) = self.conns[slot].route_mut() else { return false };
        r.info_seen = true;
        r.remote_id = id.clone();
        r.remote_name = name;
        let solicited = r.solicited;
        // The first INFO decides, on accepted routes too (over the CONNECT's).
        r.headers = headers;
        r.lnoc = v.get("lnoc").and_then(Value::as_bool).unwrap_or(false);
        r.lnocu = v.get("lnocu").and_then(Value::as_bool).unwrap_or(false);
        r.parser.set_lnocu(r.lnocu);
        r.info = Some(info);
        r.connect_urls = urls;
        r.ws_connect_urls = ws_urls;
        if solicited {
            self.send_route_info(slot);
        }
        self.register_route(slot, id)
    }

    /// Sends all of this server's interest (its clients' and its leaf
    /// nodes') to a newly registered route: to a peer that keys leaf
    /// origins apart (`lnocu`), the interest of leaf nodes with a cluster
    /// as LS+ naming it and the rest as RS+; to others, all as RS+.
    pub fn send_local_subs(&mut self, slot: usize) {
        let split = self.conns[slot].route().is_some_and(|r| r.lnocu);
        let mut out = Vec::new();
        let mut all: crate::routing::fxhash::FxHashMap<&(AccId, Box<[u8]>), i64> = Default::default();
        for (k, n) in self.local_interest.iter().chain(self.leaf_node_interest.iter()) {
            *all.entry(k).or_insert(0) += i64::from(*n);
        }
        if split {
            for (k, n) in &self.leaf_origin_total {
                *all.entry(k).or_insert(0) -= i64::from(*n);
            }
            for ((acc, key, origin), n) in &self.leaf_origin_interest {
                let (subject, queue) = split_key(key);
                encode::write_route_ls_plus(
                    &mut out,
                    origin,
                    self.accounts.name(*acc),
                    subject,
                    queue.map(|q| (q, *n)),
                );
            }
        }
        for ((acc, key), n) in all {
            if n <= 0 {
                continue;
            }
            let (subject, queue) = split_key(key);
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            encode::write_rs_plus(&mut out, self.accounts.name(*acc), subject, queue.map(|q| (q, n)));
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

    /// Local interest in `subject` (and `queue`) of account `acc` went up
    /// or down by one; tell the routes when that changes what they must
    /// send us.
    pub fn local_interest_changed(&mut self, acc: AccId, subject: &[u8], queue: Option<&[u8]>, added: bool) {
        self.local_interest_delta(acc, subject, queue, if added { 1 } else { -1 });
    }

    /// Applies a change of `delta` local subscriptions on `subject`/`queue`
    /// and tells the routes and leaf links the outcome once (a closing
    /// client's queue members leave in one step, as Go announces them).
    pub fn local_interest_delta(&mut self, acc: AccId, subject: &[u8], queue: Option<&[u8]>, delta: i64) {
        let (before, after) = self.own_interest_delta(None, acc, subject, queue, delta);
        self.leaf_interest_delta(acc, subject, queue, i64::from(after) - i64::from(before), Source::Local);
    }

    /// Interest of a leaf node of ours (of cluster `origin`, empty if it
    /// has none) changed by `delta`: routes hear of it as of our own, or
    /// as the leaf's (LS+ naming the origin) when they key origins apart.
    pub fn leaf_node_interest_delta(
        &mut self,
        acc: AccId,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
        origin: &[u8],
    ) {
        self.own_interest_delta(Some(origin), acc, subject, queue, delta);
    }

    /// Applies `delta` to this server's interest as routes see it (its
    /// clients' in `local_interest` when `leaf` is None, else its leaf
    /// nodes' in `leaf_node_interest`, and per origin cluster in
    /// `leaf_origin_interest`) and sends what the sums call for: to peers
    /// that key leaf origins apart (`lnocu`), RS+/RS- for the interest
    /// without an origin and LS+/LS- for each origin's; to the others,
    /// RS+/RS- for the whole. Returns the changed count before and after.
    fn own_interest_delta(
        &mut self,
        leaf: Option<&[u8]>,
        acc: AccId,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
    ) -> (u32, u32) {
        let key = (acc, interest_key(subject, queue));
        let apply = |n: &mut u32| {
            let before = *n;
            *n = (i64::from(*n) + delta).clamp(0, i64::from(u32::MAX)) as u32;
            (before, *n)
        };
        let (map, other) = if leaf.is_some() {
            (&mut self.leaf_node_interest, &self.local_interest)
        } else {
            (&mut self.local_interest, &self.leaf_node_interest)
        };
        let (before, after) = apply(map.entry(key.clone()).or_insert(0));
        if after == 0 {
            map.remove(&key);
        }
        let rest = other.get(&key).copied().unwrap_or(0);
        let (total_before, total_after) = (before.saturating_add(rest), after.saturating_add(rest));
        // The origin's own count, and the plain interest (the whole less
        // every origin's) for peers that key origins apart.
        let origin = leaf.filter(|o| !o.is_empty());
        let mut origin_counts = (0, 0);
        if let Some(o) = origin {
            let okey = (acc, key.1.clone(), Box::<[u8]>::from(o));
            let e = self.leaf_origin_interest.entry(okey.clone()).or_insert(0);
            origin_counts = apply(e);
            if origin_counts.1 == 0 {
                self.leaf_origin_interest.remove(&okey);
            }
            let t = self.leaf_origin_total.entry(key.clone()).or_insert(0);
            apply(t);
            if *t == 0 {
                self.leaf_origin_total.remove(&key);
            }
        }
        let Some(c) = self.cluster.as_ref() else {
            return (before, after);
        };
        let account = self.accounts.name(acc);
        let queued = queue.is_some();
        let mut whole = Vec::new();
        interest_line(&mut whole, queued, total_before, total_after, |out, w| match w {
            Some(w) => encode::write_rs_plus(out, account, subject, queue.map(|q| (q, w))),
            None => encode::write_rs_minus(out, account, subject, queue),
        });
        let mut split = Vec::new();
        match origin {
            None => {
                let ot = self.leaf_origin_total.get(&key).copied().unwrap_or(0);
                let (b, a) = (total_before.saturating_sub(ot), total_after.saturating_sub(ot));
                interest_line(&mut split, queued, b, a, |out, w| match w {
                    Some(w) => encode::write_rs_plus(out, account, subject, queue.map(|q| (q, w))),
                    None => encode::write_rs_minus(out, account, subject, queue),
                });
            }
            Some(o) => interest_line(&mut split, queued, origin_counts.0, origin_counts.1, |out, w| match w {
                Some(w) => encode::write_route_ls_plus(out, o, account, subject, queue.map(|q| (q, w))),
                None => encode::write_route_ls_minus(out, o, account, subject, queue),
            }),
        }
        if whole.is_empty() && split.is_empty() {
            return (before, after);
        }
        let slots: Vec<usize> = c.routes.values().copied().collect();
        for s in slots {
            let conn = &mut self.conns[s];
            let line = if conn.route().is_some_and(|r| r.lnocu) { &split } else { &whole };
            if line.is_empty() {
                continue;
            }
            if trace_enabled() {
                log::trace!("{} - ->> [{}]", conn.prefix, String::from_utf8_lossy(&line[..line.len() - 2]));
            }
            conn.out.extend_from_slice(line);
            Server::queue_flush(&mut self.pending_flush, conn, s);
        }
        (before, after)
    }

    /// Takes a peer's interest, named by `key` (the RS+ arguments as sent,
    /// see [`RouteOp::Sub`]): as in Go, the same text again only updates a
    /// queue weight, and text spelled differently is another interest.
    /// False (after the -ERR) for an invalid subject.
    pub fn remote_sub(
        &mut self,
        slot: usize,
        acc: AccId,
        key: &[u8],
        subject: &[u8],
        queue: Option<(&[u8], u32)>,
    ) -> bool {
        if !rnats_protocol::subject::is_valid_subject(subject) {
            self.send_err(slot, "Invalid Subscription");
            return false;
        }
        let conn = &mut self.conns[slot];
        let cid = conn.cid;
        let Some(r) = conn.route_mut() else { return false };
        if let Some(existing) = r.remote_subs.get(key) {
            if let Some((q, w)) = queue {
                let delta = i64::from(w) - i64::from(existing.weight.get());
                existing.weight.set(w);
                let cluster = key_origin(key);
                self.leaf_interest_delta(acc, subject, Some(q), delta, Source::Route { cluster });
            }
            return true;
        }
        let mut sub = Subscription::new(slot, cid, Kind::Route, subject, queue.map(|(q, _)| q), key);
        sub.account = acc;
        sub.weight.set(queue.map_or(1, |(_, w)| w));
        let sub = Rc::new(sub);
        r.remote_subs.insert(sub.clone());
        self.peer_interest_changed(&sub, 1, Source::Route { cluster: key_origin(key) });
        self.sublist_mut(acc).insert(sub);
        true
    }

    /// Drops the peer's interest whose RS+ arguments read exactly `key`
    /// (Go's rule: an RS- spelled otherwise removes nothing).
    pub fn remote_unsub(&mut self, slot: usize, key: &[u8]) {
        let Some(r) = self.conns[slot].route_mut() else {
            return;
        };
        if let Some(sub) = r.remote_subs.remove(key) {
            self.sublist_mut(sub.account).remove(&sub);
            self.peer_interest_changed(&sub, -1, Source::Route { cluster: key_origin(key) });
        }
    }

    pub fn process_routed_msg(&mut self, slot: usize, m: RouteMsg<'_>) {
        let c = &mut self.conns[slot];
        c.stats.in_msgs += 1;
        c.stats.in_bytes += m.message.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += m.message.len() as u64;
        if trace_enabled() && !m.message.is_empty() {
            let t = self.traced(m.message);
            log::trace!("{} - <<- MSG_PAYLOAD: [{t}]", self.conns[slot].prefix);
        }
        let Some(acc) = self.accounts.id(m.account) else {
            let (prefix, a, s) = (&self.conns[slot].prefix, lossy(m.account), lossy(m.subject));
            log::debug!("{prefix} - Unknown account {a:?} for routed message on subject: {s:?}");
            return;
        };
        let hdr = m.header_len.filter(|h| *h > 0);
        let msg = Msg { subject: m.subject, reply: m.reply, header_len: hdr, payload: m.message };
        // JetStream deliveries from Go nodes carry `<ack reply>@<subject>`.
        if m.reply.is_some_and(|r| r.starts_with(b"$JS.ACK.")) && self.deliver_js_relayed(slot, acc, msg) {
            return;
        }
        // A leaf node's message over there (LMSG): not back to leaf nodes
        // of its cluster (see `relays`).
        if let Some(o) = m.origin {
            self.lmsg_origin.extend_from_slice(o);
        }
        self.deliver(slot, acc, Origin::Route { queues: m.queues }, msg);
        if m.origin.is_some() {
            self.lmsg_origin.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::options::Options;
    use crate::conn::CloseReason;
    use crate::server::testkit::{client, cluster_server, output, route, route_handshake, send};

    const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

    #[test]
    fn a_route_gets_local_interest_on_registering_and_as_it_changes() {
        let mut s = cluster_server(Options::default());
        let c = client(&mut s);
        send(&mut s, c, &format!("{QUIET}SUB before 1\r\nSUB q.x grp 2\r\n"));
        let r = route(&mut s);
        route_handshake(&mut s, r, "NPEER1", false);
        let got = output(&mut s, r);
        assert!(got.contains("RS+ $G before\r\n") && got.contains("RS+ $G q.x grp 1\r\n"), "{got}");
        send(&mut s, c, "SUB after 3\r\nUNSUB 1\r\n");
        assert_eq!(output(&mut s, r), "RS+ $G after\r\nRS- $G before\r\n");
    }

    #[test]
    fn a_message_goes_to_a_route_once_with_its_queue_pick() {
        let mut s = cluster_server(Options::default());
        let r = route(&mut s);
        route_handshake(&mut s, r, "NPEER1", false);
        send(&mut s, r, "RS+ $G foo\r\nRS+ $G foo.* \r\nRS+ $G foo grp 1\r\n");
        output(&mut s, r);
        let p = client(&mut s);
        send(&mut s, p, &format!("{QUIET}PUB foo 2\r\nhi\r\n"));
        assert_eq!(output(&mut s, r), "RMSG $G foo | grp 2\r\nhi\r\n");
    }

    #[test]
    fn a_routed_message_reaches_local_clients_and_no_route() {
        let mut s = cluster_server(Options::default());
        let r1 = route(&mut s);
        route_handshake(&mut s, r1, "NPEER1", false);
        let r2 = route(&mut s);
        route_handshake(&mut s, r2, "NPEER2", false);
        send(&mut s, r2, "RS+ $G foo\r\n");
        let c = client(&mut s);
        send(&mut s, c, &format!("{QUIET}SUB foo 4\r\n"));
        output(&mut s, r1);
        output(&mut s, r2);
        send(&mut s, r1, "RMSG $G foo reply 3\r\nabc\r\n");
        assert_eq!(output(&mut s, c), "MSG foo 4 reply 3\r\nabc\r\n");
        assert_eq!(output(&mut s, r2), "", "one hop only");
    }

    #[test]
    fn a_verbose_peer_gets_ok_after_interest() {
        let mut s = cluster_server(Options::default());
        let r = route(&mut s);
        route_handshake(&mut s, r, "NPEER1", true);
        output(&mut s, r);
        send(&mut s, r, "RS+ $G a\r\nRS- $G a\r\n");
        assert_eq!(output(&mut s, r), "+OK\r\n+OK\r\n");
    }

    #[test]
    fn an_accepted_route_must_start_with_connect() {
        let mut s = cluster_server(Options::default());
        let r = route(&mut s);
        send(&mut s, r, "PING\r\n");
        assert_eq!(output(&mut s, r), "-ERR 'Authorization Violation'\r\n");
        // Closed once that -ERR is written.
        assert!(s.conns[r].close_after_flush);
        assert_eq!(s.conns[r].pending_reason, Some(CloseReason::AuthenticationViolation));
    }

    /// Async INFO goes to protocol-1 clients past their first PONG; one
    /// whose first PING comes after the cluster changed gets the PONG and
    /// then the INFO (as Go 2.9 and 2.15 order them).
    #[test]
    fn a_client_first_pinging_after_a_cluster_change_gets_its_pong_first() {
        let mut s = cluster_server(Options::default());
        let (pinged, late, old) = (client(&mut s), client(&mut s), client(&mut s));
        send(&mut s, pinged, "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
        assert_eq!(output(&mut s, pinged), "PONG\r\n");
        send(&mut s, late, "CONNECT {\"verbose\":false,\"protocol\":1}\r\n");
        send(&mut s, old, "CONNECT {\"verbose\":false,\"protocol\":0}\r\n");
        let r = route(&mut s);
        send(&mut s, r, "CONNECT {\"verbose\":false,\"name\":\"NPEER1\",\"cluster\":\"X\"}\r\n");
        send(
            &mut s,
            r,
            "INFO {\"server_id\":\"NPEER1\",\"server_name\":\"p\",\"port\":1,\"cluster\":\"X\",\
             \"connect_urls\":[\"10.9.9.9:4222\"]}\r\n",
        );
        let got = output(&mut s, pinged);
        assert!(got.starts_with("INFO {") && got.contains("\"10.9.9.9:4222\""), "{got}");
        assert_eq!(output(&mut s, late), "");
        send(&mut s, late, "PING\r\n");
        let got = output(&mut s, late);
        assert!(got.starts_with("PONG\r\nINFO {") && got.contains("\"10.9.9.9:4222\""), "{got}");
        send(&mut s, late, "PING\r\n");
        assert_eq!(output(&mut s, late), "PONG\r\n");
        send(&mut s, old, "PING\r\n");
        assert_eq!(output(&mut s, old), "PONG\r\n");
    }

    #[test]
    fn a_second_connection_from_a_registered_server_is_a_duplicate() {
        let mut s = cluster_server(Options::default());
        let r1 = route(&mut s);
        route_handshake(&mut s, r1, "NPEER1", false);
        let r2 = route(&mut s);
        route_handshake(&mut s, r2, "NPEER1", false);
        assert_eq!(s.conns[r2].closing, Some(CloseReason::DuplicateRoute));
        assert!(s.conns[r1].closing.is_none());
    }
}
