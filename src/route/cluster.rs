//! The cluster manager: the route listener, dialing routes on timers, the
//! table of registered routes, gossip, and the cluster's client URLs. The
//! route protocol itself (handshake, ops, interest) is in the route module (`route/mod.rs`).
//!
//! Route lifecycle: a connection is accepted (we send INFO at once) or
//! dialed (we send CONNECT, and our INFO once the peer's INFO passed the
//! self, name and cluster checks, as Go 2.10+ solicitors do). It becomes
//! *registered* when the peer's first INFO arrives and
//! no other connection to that server id is registered; registering sends
//! all local interest, tells the other peers about the newcomer (gossip) and
//! adds the peer's client URLs to our client INFO. A second connection to a
//! registered id is closed as a duplicate.
//!
//! The manager keeps one [`RouteTarget`] per URL it should be connected to.
//! Explicit ones (`-routes`) are dialed until connected and again 1 s after
//! they drop, forever; implicit ones (learned from gossip) get one dial plus
//! `connect_retries`, a quick redial when they drop, and a fresh dial each
//! time gossip names them again. A dial must connect within 1 s; a route's
//! handshake and ping timers start once its TCP connection exists, so a
//! dial that waited through a dead link starts with a fresh ping budget. A
//! target follows the connection that serves it, including a connection to
//! the same server it found already registered (it adopts the target, as
//! Go's kept duplicate inherits the solicited flag), so a dropped route is
//! dialed again whichever side made it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::json::{self, Value};

use crate::conn::{CloseReason, Plain, Transport};
use crate::logging::trace_enabled;
use crate::route::state::{RouteState, RouteTarget};
use crate::server::timer::TimerKind;
use crate::server::Server;
use crate::server::{Conn, Role};
use crate::sys::netaddr::{display_host_port, is_unspecified, RouteUrl};

/// Wait before dialing an explicit route again (Go's DEFAULT_ROUTE_CONNECT).
const ROUTE_RETRY: Duration = Duration::from_secs(1);
/// First PING on a new route.
const FIRST_ROUTE_PING: Duration = Duration::from_secs(1);
/// A dial that has not connected by then failed (Go's DEFAULT_ROUTE_DIAL).
const ROUTE_DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Wait before dialing a dropped explicit route again (Go's
/// DEFAULT_ROUTE_RECONNECT), plus up to 100 ms.
const ROUTE_RECONNECT: Duration = Duration::from_secs(1);

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
    ("lnocu", true),
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
        let mut l = crate::sys::netaddr::listen(&listen.host, listen.port)
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
                    let Some(c) = self.cluster.as_mut() else { break };
                    let id = c.targets.insert(RouteTarget {
                        url,
                        explicit: true,
                        retries_left: 0,
                        slot: None,
                        cid: 0,
                        remote_id: None,
                        is_self: false,
                        attempts: 0,
                        dial_armed: false,
                        regossiped: false,
                    });
                    self.schedule_dial(id, Duration::ZERO);
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
                    let Some(slot) = self.add_route_conn(sock, peer, None, None) else {
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
    pub fn route_auth(&self) -> Option<(String, String)> {
        self.cluster.as_ref()?;
        self.opts.cluster_auth.clone()
    }

    /// A new route connection; `host` (the route URL's) for one we dialed.
    /// With cluster TLS the handshake comes first (we are its client when
    /// we dialed) and must end within the cluster's TLS timeout.
    fn add_route_conn(
        &mut self,
        sock: TcpStream,
        peer: SocketAddr,
        host: Option<&str>,
        target: Option<usize>,
    ) -> Option<usize> {
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        let (line, payload) = self.opts.server_link_limits();
        let parser = rnats_protocol::route::RouteParser::new(line, payload);
        let solicited = host.is_some();
        let state = RouteState { parser, solicited, target, connecting: solicited, ..Default::default() };
        let (transport, tls) = self.route_transport(sock, host)?;
        let mut conn = Conn::new(cid, Role::Route(Box::new(state)), transport, peer);
        conn.holds_output = tls;
        let slot = self.conns.insert(conn);
        if let Err(e) = self.register(slot) {
            log::error!("Error registering route connection: {e}");
            self.conns.remove(slot);
            return None;
        }
        if solicited {
            // The handshake and ping timers start once the dial completes
            // (`route_connected`): a dial that waited through a dead link
            // starts with a fresh ping budget.
            self.timers.add_in(ROUTE_DIAL_TIMEOUT, TimerKind::RouteDialTimeout { slot, cid });
        } else {
            self.start_route_timers(slot);
        }
        Some(slot)
    }

    /// The TLS handshake deadline and the first PING of a route connection,
    /// counted from the moment the TCP connection exists.
    fn start_route_timers(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else { return };
        let (cid, tls) = (c.cid, c.holds_output);
        c.pings_out = 0;
        c.pinged = false;
        if tls {
            self.timers.add_in(self.opts.cluster_tls_timeout, TimerKind::TlsTimeout { slot, cid });
        }
        self.start_ping_timer(slot, FIRST_ROUTE_PING);
    }

    /// A dial still not connected after `ROUTE_DIAL_TIMEOUT` failed.
    pub fn route_dial_timeout(&mut self, slot: usize, cid: u64) {
        let Some(c) = self.conns.get_mut(slot).filter(|c| c.cid == cid && c.closing.is_none()) else {
            return;
        };
        if !c.route().is_some_and(|r| r.connecting) {
            return;
        }
        log::debug!("Error trying to connect to route: dial tcp {}: i/o timeout", c.peer);
        c.quiet_close = true;
        self.mark_close(slot, CloseReason::ReadError);
    }

    /// Arms the dial timer of target `id` unless one is already pending.
    pub fn schedule_dial(&mut self, id: usize, after: Duration) {
        let Some(t) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(id)) else {
            return;
        };
        if !t.dial_armed {
            t.dial_armed = true;
            self.timers.add_in(after, TimerKind::RouteDial { id });
        }
    }

    /// The connection serving target `id`, if it is still alive.
    fn target_conn(&self, id: usize) -> Option<usize> {
        let t = self.cluster.as_ref()?.targets.get(id)?;
        let slot = t.slot?;
        let c = self.conns.get(slot)?;
        (c.cid == t.cid && c.closing.is_none() && c.route().is_some_and(|r| r.target == Some(id))).then_some(slot)
    }

    /// Hands target `t` to the registered connection `kept` to server `id`,
    /// so that `kept` is dialed again when it drops (Go's transfer of the
    /// solicited flag to the kept duplicate). An explicit target replaces an
    /// implicit one `kept` already serves; otherwise the later one stays
    /// unattached and is re-checked on its timer. Returns whether `t` is
    /// attached.
    fn adopt_target(&mut self, kept: usize, t: usize, id: &str) -> bool {
        let Some(cl) = self.cluster.as_mut() else { return false };
        let explicit = cl.targets.get(t).is_some_and(|tt| tt.explicit);
        let Some(kc) = self.conns.get_mut(kept) else { return false };
        let kept_cid = kc.cid;
        let Some(kr) = kc.route_mut() else { return false };
        match kr.target {
            Some(old) if old == t => return true,
            Some(old) => {
                let old_implicit = cl.targets.get(old).is_some_and(|o| !o.explicit);
                if !(explicit && old_implicit) {
                    if let Some(tt) = cl.targets.get_mut(t) {
                        tt.slot = None;
                        tt.remote_id = Some(id.to_string());
                    }
                    return false;
                }
                kr.target = Some(t);
                cl.targets.remove(old);
            }
            None => kr.target = Some(t),
        }
        if let Some(tt) = cl.targets.get_mut(t) {
            tt.slot = Some(kept);
            tt.cid = kept_cid;
            tt.remote_id = Some(id.to_string());
        }
        true
    }

    #[allow(unused_variables)]
    fn route_transport(&self, sock: TcpStream, host: Option<&str>) -> Option<(Box<dyn Transport>, bool)> {
        #[cfg(feature = "tls")]
        if let (Some(server), Some(client)) = (&self.tls.route_server, &self.tls.route_client) {
            let session = match host {
                Some(h) => crate::conn::transport::tls::Tls::client(sock, client.clone(), h),
                None => crate::conn::transport::tls::Tls::new(sock, server.clone(), Vec::new()),
            };
            return match session {
                Ok(t) => Some((Box::new(t), true)),
                Err(e) => {
                    log::error!("TLS route session: {e}");
                    None
                }
            };
        }
        Some((Box::new(Plain(sock)), false))
    }

    /// Dials the route target `id` (a RouteDial timer fired).
    pub fn dial_route(&mut self, id: usize) {
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let Some(t) = c.targets.get_mut(id) else {
            return;
        };
        t.dial_armed = false;
        if t.is_self {
            return;
        }
        if t.slot.is_some() {
            if self.target_conn(id).is_some() {
                return;
            }
            // The connection that served it is gone without handing the
            // target back: dial.
            if let Some(t) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(id)) {
                t.slot = None;
            }
        }
        let c = self.cluster.as_mut().expect("cluster configured");
        let t = &mut c.targets[id];
        if let Some(rid) = t.remote_id.clone() {
            if let Some(&kept) = c.routes.get(&rid) {
                // Already connected to that server through another
                // connection: it serves this target from now on.
                let explicit = t.explicit;
                if !self.adopt_target(kept, id, &rid) {
                    if explicit {
                        self.schedule_dial(id, ROUTE_RETRY);
                    } else if let Some(c) = self.cluster.as_mut() {
                        c.targets.remove(id);
                    }
                }
                return;
            }
        }
        let t = &mut self.cluster.as_mut().expect("cluster configured").targets[id];
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
        let Some(slot) = self.add_route_conn(sock, addr, Some(&url.host), Some(id)) else {
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
    pub fn route_dial_failed(&mut self, id: usize, explicit: bool) {
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
        if std::mem::take(&mut t.regossiped) {
            self.schedule_dial(id, jitter);
        } else if explicit {
            self.schedule_dial(id, ROUTE_RETRY + jitter);
        } else if t.retries_left > 0 {
            t.retries_left -= 1;
            self.schedule_dial(id, ROUTE_RETRY + jitter);
        } else {
            c.targets.remove(id);
        }
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
        c.start = std::time::SystemTime::now();
        log::debug!("{} - Route connect msg sent", c.prefix);
        log::info!("{} - Route connection created", c.prefix);
        self.start_route_timers(slot);
        true
    }

    pub fn register_route(&mut self, slot: usize, id: String) -> bool {
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
                    if !self.adopt_target(kept, t, &id) {
                        let explicit = self.cluster.as_ref().and_then(|c| c.targets.get(t)).is_some_and(|t| t.explicit);
                        if explicit {
                            self.schedule_dial(t, ROUTE_RETRY);
                        } else if let Some(c) = self.cluster.as_mut() {
                            c.targets.remove(t);
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
                tt.regossiped = false;
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
    pub fn gossip_new_route(&mut self, slot: usize) {
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
    pub fn implicit_route(&mut self, v: &Value) {
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
        let retries = self.opts.connect_retries;
        let known = c
            .targets
            .iter()
            .find(|(_, t)| t.remote_id.as_deref() == Some(id) || (t.url.host == url.host && t.url.port == url.port))
            .map(|(tid, t)| (tid, t.explicit));
        if let Some((tid, explicit)) = known {
            // A configured route is dialed on its own schedule. An implicit
            // one that is down or still dialing is tried again now.
            if !explicit {
                if let Some(t) = c.targets.get_mut(tid) {
                    t.retries_left = t.retries_left.max(retries);
                    t.url = url;
                }
                match self.target_conn(tid) {
                    None => self.dial_route(tid),
                    Some(_) => {
                        if let Some(t) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(tid)) {
                            t.regossiped = true;
                        }
                    }
                }
            }
            return;
        }
        let tid = c.targets.insert(RouteTarget {
            url,
            explicit: false,
            retries_left: retries,
            slot: None,
            cid: 0,
            remote_id: Some(id.to_string()),
            is_self: false,
            attempts: 0,
            dial_armed: false,
            regossiped: false,
        });
        self.dial_route(tid);
    }

    /// Lame duck mode: every route hears (INFO with `ldm`) that this
    /// server is going away.
    pub fn send_ldm_to_routes(&mut self) {
        let Some(c) = &self.cluster else { return };
        let slots: Vec<usize> = c.routes.values().copied().collect();
        let mut info = self.route_info_json();
        info.pop();
        info.extend_from_slice(b",\"ldm\":true}");
        for slot in slots {
            let conn = &mut self.conns[slot];
            conn.out.extend_from_slice(b"INFO ");
            conn.out.extend_from_slice(&info);
            conn.out.extend_from_slice(b"\r\n");
            Server::queue_flush(&mut self.pending_flush, conn, slot);
        }
    }

    /// Called when a route connection is removed.
    pub fn route_closed(&mut self, slot: usize, c: &mut Conn, reason: CloseReason) {
        let Role::Route(r) = &mut c.role else { return };
        for sub in r.remote_subs.drain() {
            self.sublist_mut(sub.account).remove(&sub);
            let cluster = crate::routing::interest::key_origin(sub.sid());
            self.peer_interest_changed(&sub, -1, crate::routing::interest::Source::Route { cluster });
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
                self.schedule_dial(t, d);
            } else if explicit && was_up {
                if let Some(tt) = self.cluster.as_mut().and_then(|c| c.targets.get_mut(t)) {
                    tt.slot = None;
                }
                let d = ROUTE_RECONNECT + Duration::from_millis(self.rand() % 100);
                self.schedule_dial(t, d);
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

    /// A peer in lame duck mode: its client and WebSocket URLs go.
    pub fn clear_peer_urls(&mut self, slot: usize) {
        if let Some(r) = self.conns[slot].route_mut() {
            if !r.connect_urls.is_empty() || !r.ws_connect_urls.is_empty() {
                r.connect_urls.clear();
                r.ws_connect_urls.clear();
                self.refresh_peer_urls();
            }
        }
    }

    /// Recomputes the set of client URLs learned from registered peers; when
    /// it changed, the client INFO is rebuilt and protocol-1 clients get it.
    /// As in Go, `connect_urls` appears with the first peer URL and then
    /// stays (with at least our own URLs), and a peer without URLs changes
    /// nothing.
    pub fn refresh_peer_urls(&mut self) {
        if self.leaf_listener.is_some() {
            let leaf_urls = self.cluster_leaf_urls();
            if leaf_urls != self.leaf_urls_sent {
                self.leaf_urls_sent = leaf_urls;
                self.leaf_urls_changed();
            }
        }
        let Some(c) = self.cluster.as_ref() else {
            return;
        };
        let advertised = if self.opts.no_advertise { Default::default() } else { c.routes.clone() };
        let peers = || advertised.values().filter_map(|slot| self.conns.get(*slot)?.route());
        let mut urls: Vec<String> = peers().flat_map(|r| r.connect_urls.iter().cloned()).collect();
        urls.sort();
        urls.dedup();
        let mut ws_urls: Vec<String> = peers().flat_map(|r| r.ws_connect_urls.iter().cloned()).collect();
        ws_urls.sort();
        ws_urls.dedup();
        let Some(c) = self.cluster.as_mut() else {
            return;
        };
        let (clients, ws) = (urls != c.peer_urls, ws_urls != c.ws_peer_urls);
        if clients {
            c.peer_urls = urls;
            c.urls_version += 1;
        }
        if ws {
            c.ws_peer_urls = ws_urls;
            c.ws_urls_version += 1;
        }
        if clients {
            self.build_info_tail();
        }
        if clients || ws {
            self.send_async_info(clients, ws);
        }
        if ws && self.leaf_listener.is_some() {
            self.leaf_urls_changed();
        }
    }

    /// Client URLs of this server: `client_advertise`, or the listen
    /// address (each global unicast address of the machine, IPv4 and IPv6,
    /// when bound to all interfaces).
    pub fn own_client_urls(&self) -> Vec<String> {
        let port = self.client_addr.map(|a| a.port()).unwrap_or(0);
        connect_urls(self.opts.client_advertise.as_deref(), &self.opts.host, port)
    }

    /// WebSocket URLs of this server (`websocket { advertise }` or its
    /// listen address, as for clients); none without a WebSocket listener.
    pub fn own_ws_urls(&self) -> Vec<String> {
        match (&self.opts.websocket, self.ws_addr) {
            (Some(w), Some(a)) => connect_urls(w.advertise.as_deref(), &w.host, a.port()),
            _ => Vec::new(),
        }
    }

    /// Every WebSocket URL of the cluster for WebSocket clients' INFO:
    /// ours, then the peers', once a peer announced any (as Go lists
    /// them); None before that.
    pub fn cluster_ws_urls(&self) -> Option<Vec<String>> {
        let c = self.cluster.as_ref().filter(|c| c.ws_urls_version > 0)?;
        let mut urls = self.own_ws_urls();
        for u in &c.ws_peer_urls {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
        Some(urls)
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
}

/// The URLs a listener is reached at: `advertise` (with the listener's
/// port when it has none), else its host, or each global unicast address
/// of the machine when it listens on all of them.
fn connect_urls(advertise: Option<&str>, host: &str, port: u16) -> Vec<String> {
    if let Some(a) = advertise {
        return vec![if a.contains(':') { a.to_string() } else { display_host_port(a, port) }];
    }
    if is_unspecified(host) {
        let ips = crate::sys::interfaces::global_unicast_ips();
        if !ips.is_empty() {
            return ips.iter().map(|ip| display_host_port(&ip.to_string(), port)).collect();
        }
    }
    vec![display_host_port(host, port)]
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
