//! Leaf node connections, accepting side: leaf nodes dial our leaf port
//! (`leafnodes { listen }`) and we are their hub.
//!
//! We speak first (INFO with a nonce, `info_on_connect` and the leaf URLs
//! of our cluster); the leaf must send CONNECT before anything else and
//! within the auth timeout. CONNECT is checked as Go checks it: the
//! credentials against `leafnodes { authorization }` (or, without one,
//! the clients' rules, the user's account being bound), then the leaf's
//! language, cluster and gateway fields; a second link with the same name,
//! cluster and account replaces the first. We answer with an INFO naming
//! the bound account (`connect_info`) and send our interest.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::json::{self, Value};
use rnats_protocol::route::RouteParser;

use crate::auth::ConnectCreds;
use crate::conn::{CloseReason, Plain};
use crate::leaf::state::LeafState;
use crate::logging::trace_enabled;
use crate::routing::accounts::{AccId, GLOBAL};
use crate::server::timer::TimerKind;
use crate::server::{Conn, Role};
use crate::server::{Server, LEAF_LISTENER};
use crate::sys::netaddr::{display_host_port, is_unspecified};

/// First PING on an accepted leaf connection, after its CONNECT.
const FIRST_PING: Duration = Duration::from_secs(1);

/// A fresh nonce for the INFO (15 characters of base64url, as Go's).
fn nonce() -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 15];
    crate::sys::fill_random(&mut raw);
    raw.iter().map(|b| B64[(*b & 63) as usize] as char).collect()
}

impl Server {
    /// Opens the leaf node port when `leafnodes` has one.
    pub fn start_leaf_listener(&mut self) -> Result<(), String> {
        let Some((host, port)) = self.opts.leaf_listen.clone() else {
            return Ok(());
        };
        let auth = &self.opts.leaf_auth;
        let named = auth.account.iter().chain(auth.users.iter().filter_map(|u| u.account.as_ref()));
        for a in named {
            if self.accounts.id(a.as_bytes()).is_none() {
                return Err(format!("cannot find local account {a:?} specified in leafnode authorization"));
            }
        }
        let mut l = crate::sys::netaddr::listen(&host, port)
            .map_err(|e| format!("Error listening on leafnode port: {}, {e}", display_host_port(&host, port as u16)))?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        self.register_listener(&mut l, LEAF_LISTENER)?;
        log::info!("Listening for leafnode connections on {}", display_host_port(&host, addr.port()));
        self.leaf_addr = Some(addr);
        self.leaf_listener = Some(l);
        self.leaf_urls_sent = self.own_leaf_urls();
        Ok(())
    }

    pub fn accept_leafs(&mut self) {
        loop {
            let Some(l) = &self.leaf_listener else { return };
            match l.accept() {
                Ok((sock, peer)) => self.accept_leaf(sock, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.accept_failed("leafnode", e);
                    return;
                }
            }
        }
    }

    fn accept_leaf(&mut self, sock: TcpStream, peer: SocketAddr) {
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        let (line, payload) = self.opts.server_link_limits();
        let mut state = LeafState::new(RouteParser::leaf(line, payload), None, GLOBAL);
        state.nonce = nonce();
        let conn = Conn::new(cid, Role::Leaf(Box::new(state)), Box::new(Plain(sock)), peer);
        let slot = self.conns.insert(conn);
        if let Err(e) = self.register(slot) {
            log::error!("Error registering leafnode connection: {e}");
            self.conns.remove(slot);
            return;
        }
        log::info!("{} - Leafnode connection created", self.conns[slot].prefix);
        let info = self.leaf_hub_info(slot, false);
        if !self.leaf_accept_tls(slot, &info) {
            self.send_leaf_info(slot, &info);
        }
        let timeout = self.opts.leaf_auth.timeout.unwrap_or(self.opts.auth_timeout);
        self.timers.add_in(timeout, TimerKind::AuthTimeout { slot, cid });
        self.write_out(slot);
    }

    /// With `leafnodes { tls {} }`: the INFO goes out in clear, then the
    /// leaf must start the TLS handshake (as Go). True when the INFO was
    /// taken as the clear preamble.
    #[cfg(feature = "tls")]
    fn leaf_accept_tls(&mut self, slot: usize, info: &[u8]) -> bool {
        let Some(config) = self.tls.leaf_server.clone() else { return false };
        let c = &mut self.conns[slot];
        let mut preamble = b"INFO ".to_vec();
        preamble.extend_from_slice(info);
        preamble.extend_from_slice(b" \r\n");
        if trace_enabled() {
            log::trace!("{} - ->> [INFO {}]", c.prefix, String::from_utf8_lossy(info));
        }
        let sock = std::mem::replace(&mut c.sock, Box::new(crate::conn::Detached));
        match sock.into_socket().map(|s| crate::conn::transport::tls::Tls::new(s, config, preamble)) {
            Some(Ok(t)) => {
                c.sock = Box::new(t);
                c.holds_output = true;
                let cid = c.cid;
                log::debug!("{} - Starting TLS leafnode server handshake", c.prefix);
                self.timers.add_in(self.opts.leaf_tls_timeout, TimerKind::TlsTimeout { slot, cid });
            }
            _ => {
                log::error!("{} - TLS leafnode session could not start", c.prefix);
                self.mark_close(slot, CloseReason::TlsHandshakeError);
            }
        }
        true
    }

    #[cfg(not(feature = "tls"))]
    fn leaf_accept_tls(&mut self, _slot: usize, _info: &[u8]) -> bool {
        false
    }

    /// A WebSocket connection upgraded on `/leafnode`: it stops being a
    /// client and becomes a leaf node of ours, which now gets the leaf
    /// INFO and must send CONNECT in time (log prefix `lid_ws:N`, as Go).
    pub fn ws_leaf_accepted(&mut self, slot: usize) {
        let (line, payload) = self.opts.server_link_limits();
        let Some(c) = self.conns.get_mut(slot) else { return };
        if c.client().is_some() {
            self.client_count = self.client_count.saturating_sub(1);
        }
        let mut state = LeafState::new(RouteParser::leaf(line, payload), None, GLOBAL);
        state.nonce = nonce();
        c.role = Role::Leaf(Box::new(state));
        c.prefix = format!("{} - lid_ws:{}", c.peer, c.cid);
        c.out.clear();
        c.out_pos = 0;
        let cid = c.cid;
        log::info!("{} - Leafnode connection created", c.prefix);
        let info = self.leaf_hub_info(slot, false);
        self.send_leaf_info(slot, &info);
        let timeout = self.opts.leaf_auth.timeout.unwrap_or(self.opts.auth_timeout);
        self.timers.add_in(timeout, TimerKind::AuthTimeout { slot, cid });
    }

    /// Our leaf URLs: `leafnodes.advertise`, or the listen address (each
    /// global unicast address when bound to all interfaces).
    pub fn own_leaf_urls(&self) -> Vec<String> {
        let Some(addr) = self.leaf_addr else { return Vec::new() };
        if let Some(a) = &self.opts.leaf_advertise {
            return vec![if a.contains(':') { a.clone() } else { display_host_port(a, addr.port()) }];
        }
        let host = self.opts.leaf_listen.as_ref().map_or("0.0.0.0", |(h, _)| h.as_str());
        if is_unspecified(host) {
            let ips = crate::sys::interfaces::global_unicast_ips();
            if !ips.is_empty() {
                return ips.iter().map(|ip| display_host_port(&ip.to_string(), addr.port())).collect();
            }
        }
        vec![display_host_port(host, addr.port())]
    }

    /// The leaf URLs of the cluster: ours, then each route peer's.
    pub fn cluster_leaf_urls(&self) -> Vec<String> {
        let mut urls = self.own_leaf_urls();
        let Some(c) = &self.cluster else { return urls };
        for slot in c.routes.values() {
            let Some(r) = self.conns.get(*slot).and_then(|c| c.route()) else { continue };
            let Some(list) = r.info.as_ref().and_then(|i| i.get("leafnode_urls")).and_then(Value::as_array) else {
                continue;
            };
            for u in list.iter().filter_map(Value::as_str) {
                if !urls.iter().any(|x| x == u) {
                    urls.push(u.to_string());
                }
            }
        }
        urls
    }

    /// The INFO for leaf `slot`: the first one (with its id and nonce), or
    /// the answer to its CONNECT (`connect_info`, the bound account), or
    /// (neither) an update of the cluster's leaf URLs.
    fn leaf_hub_info(&self, slot: usize, reply: bool) -> Vec<u8> {
        let first = !reply && self.conns[slot].leaf().is_some_and(|l| !l.info_seen);
        let mut v = Vec::with_capacity(512);
        self.info_start(&mut v, 1);
        let own = self.own_leaf_urls();
        let ip = own.first().cloned().unwrap_or_default();
        let (host, port) = match ip.rsplit_once(':') {
            Some((h, p)) => (h.trim_start_matches('[').trim_end_matches(']').to_string(), p.parse().unwrap_or(0u16)),
            None => (ip.clone(), 0),
        };
        json::write_str(&mut v, host.as_bytes());
        v.extend_from_slice(format!(",\"port\":{port},\"headers\":true,\"auth_required\":true").as_bytes());
        if let Some(t) = &self.opts.leaf_tls {
            v.extend_from_slice(b",\"tls_required\":true");
            if t.verify {
                v.extend_from_slice(b",\"tls_verify\":true");
            }
        }
        v.extend_from_slice(format!(",\"max_payload\":{},\"ip\":", self.opts.max_payload).as_bytes());
        json::write_str(&mut v, ip.as_bytes());
        if first || reply {
            v.extend_from_slice(format!(",\"client_id\":{}", self.conns[slot].cid).as_bytes());
        }
        if first {
            if let Some(l) = self.conns[slot].leaf() {
                v.extend_from_slice(b",\"nonce\":");
                json::write_str(&mut v, l.nonce.as_bytes());
            }
        }
        if let Some(c) = &self.cluster {
            if !c.name.is_empty() {
                v.extend_from_slice(b",\"cluster\":");
                json::write_str(&mut v, c.name.as_bytes());
            }
        }
        // The peers' WebSocket URLs, for leafs that dial over WebSocket.
        if let Some(c) = self.cluster.as_ref().filter(|c| !c.ws_peer_urls.is_empty()) {
            v.extend_from_slice(b",\"ws_connect_urls\":[");
            for (i, u) in c.ws_peer_urls.iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                json::write_str(&mut v, u.as_bytes());
            }
            v.push(b']');
        }
        // What a leaf bound to a user with permissions must enforce, in
        // the user's terms: `import` what it may receive, `export` what
        // it may send (Go's names and escaping).
        if reply {
            if let Some(p) = self.conns[slot].leaf().and_then(|l| l.perms.clone()) {
                for (name, perms) in [("import", &p.subscribe), ("export", &p.publish)] {
                    if let Some(sp) = perms {
                        v.extend_from_slice(format!(",\"{name}\":{{").as_bytes());
                        let mut first = true;
                        for (key, list) in [("allow", &sp.allow), ("deny", &sp.deny)] {
                            if list.is_empty() {
                                continue;
                            }
                            if !first {
                                v.push(b',');
                            }
                            first = false;
                            v.extend_from_slice(format!("\"{key}\":[").as_bytes());
                            for (i, x) in list.iter().enumerate() {
                                if i > 0 {
                                    v.push(b',');
                                }
                                json::write_str(&mut v, x.as_bytes());
                            }
                            v.push(b']');
                        }
                        v.push(b'}');
                    }
                }
            }
        }
        // Go 2.9's key order: info_on_connect, connect_info, leafnode_urls,
        // remote_account.
        v.extend_from_slice(b",\"info_on_connect\":true");
        if reply {
            v.extend_from_slice(b",\"connect_info\":true");
        }
        v.extend_from_slice(b",\"leafnode_urls\":[");
        for (i, u) in self.cluster_leaf_urls().iter().enumerate() {
            if i > 0 {
                v.push(b',');
            }
            json::write_str(&mut v, u.as_bytes());
        }
        v.push(b']');
        if reply {
            v.extend_from_slice(b",\"remote_account\":");
            let acc = self.conns[slot].leaf().map_or(GLOBAL, |l| l.account);
            json::write_str(&mut v, self.accounts.name(acc));
        }
        v.push(b'}');
        v
    }

    /// A leaf's CONNECT after the first: a client's (`lang`) ends the link
    /// as the first would; another gets the answering INFO and our whole
    /// interest again, as from Go.
    pub fn process_leaf_reconnect(&mut self, slot: usize, text: &[u8]) -> bool {
        let lang = json::parse(text)
            .ok()
            .and_then(|v| v.get_ignore_case("lang").and_then(Value::as_str).map(|s| !s.is_empty()))
            .unwrap_or(false);
        if lang {
            let text = "attempted to connect to leaf node port";
            log::error!("{} - {text}", self.conns[slot].prefix);
            self.send_err(slot, text);
            self.close_after_flush(slot, CloseReason::WrongPort);
            return false;
        }
        let info = self.leaf_hub_info(slot, true);
        self.send_leaf_info(slot, &info);
        let Some(l) = self.conns[slot].leaf() else { return false };
        let mut out = Vec::new();
        for (key, n) in &l.announced {
            match key.iter().position(|b| *b == b' ') {
                None => rnats_protocol::encode::write_ls_plus(&mut out, key, None),
                Some(i) => rnats_protocol::encode::write_ls_plus(&mut out, &key[..i], Some((&key[i + 1..], *n))),
            }
        }
        let c = &mut self.conns[slot];
        c.out.extend_from_slice(&out);
        Server::queue_flush(&mut self.pending_flush, c, slot);
        true
    }

    /// An INFO from a leaf of ours (Go takes it): its header support and
    /// cluster are what it says now; bad JSON ends the link.
    pub fn process_leaf_peer_info(&mut self, slot: usize, text: &[u8]) -> bool {
        let Ok(v) = json::parse(text) else {
            self.mark_close(slot, CloseReason::ProtocolViolation);
            return false;
        };
        let Some(l) = self.conns[slot].leaf_mut() else { return false };
        l.headers = v.get("headers").and_then(Value::as_bool).unwrap_or(false);
        l.remote_cluster = v.get("cluster").and_then(Value::as_str).unwrap_or("").to_string();
        true
    }

    fn send_leaf_info(&mut self, slot: usize, info: &[u8]) {
        let c = &mut self.conns[slot];
        if trace_enabled() {
            log::trace!("{} - ->> [INFO {}]", c.prefix, String::from_utf8_lossy(info));
        }
        c.out.extend_from_slice(b"INFO ");
        c.out.extend_from_slice(info);
        c.out.extend_from_slice(b" \r\n");
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// The cluster's leaf URLs changed: every leaf of ours hears of it.
    pub fn leaf_urls_changed(&mut self) {
        let slots: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none() && c.leaf().is_some_and(|l| l.accepted() && l.established))
            .map(|(s, _)| s)
            .collect();
        for slot in slots {
            let info = self.leaf_hub_info(slot, false);
            self.send_leaf_info(slot, &info);
        }
    }

    /// A leaf's CONNECT: authenticate, bind its account, check it as Go
    /// does, answer and send our interest. False when the link is closed.
    pub fn process_leaf_connect(&mut self, slot: usize, text: &[u8]) -> bool {
        use crate::conn::handshake_fields::{types_ok, CONNECT_FIELDS};
        let v = match json::parse(text) {
            Ok(v @ Value::Object(_)) if types_ok(&v, CONNECT_FIELDS) => v,
            Ok(Value::Null) => Value::Object(Vec::new()),
            _ => {
                // As Go: a CONNECT it cannot decode ends the link silently.
                self.mark_close(slot, CloseReason::ProtocolViolation);
                return false;
            }
        };
        let s = |k: &str| v.get_ignore_case(k).and_then(Value::as_str).unwrap_or("").to_string();
        let Some(l) = self.conns[slot].leaf() else { return false };
        let creds = ConnectCreds {
            user: s("user"),
            pass: s("pass"),
            token: s("auth_token"),
            nkey: s("nkey"),
            sig: s("sig"),
            nonce: l.nonce.clone(),
            ..Default::default()
        };
        let Some((account, perms)) = self.leaf_authenticate(slot, &creds, !s("jwt").is_empty()) else {
            let prefix = &self.conns[slot].prefix;
            if creds.user.is_empty() {
                log::error!("{prefix} - authentication error");
            } else {
                log::error!("{prefix} - authentication error - User {:?}", creds.user);
            }
            self.send_err(slot, "Authorization Violation");
            self.close_after_flush(slot, CloseReason::AuthenticationViolation);
            return false;
        };
        let cluster = s("cluster");
        let refusal = if !s("lang").is_empty() {
            Some(("attempted to connect to leaf node port".to_string(), CloseReason::WrongPort))
        } else if cluster.contains(' ') {
            Some(("cluster name cannot contain spaces".to_string(), CloseReason::ProtocolViolation))
        } else if !cluster.is_empty() && self.cluster.as_ref().is_some_and(|c| c.name == cluster) {
            Some(("remote leafnode has same cluster name".to_string(), CloseReason::ClusterNameConflict))
        } else if !s("gateway").is_empty() {
            let text = format!("Rejecting connection from gateway {:?} on the leafnode port", s("gateway"));
            Some((text, CloseReason::WrongGateway))
        } else {
            None
        };
        if let Some((text, reason)) = refusal {
            log::error!("{} - {text}", self.conns[slot].prefix);
            self.send_err(slot, &text);
            self.close_after_flush(slot, reason);
            return false;
        }
        let name = s("name");
        let headers = v.get_ignore_case("headers").and_then(Value::as_bool).unwrap_or(false);
        let Some(l) = self.conns[slot].leaf_mut() else { return false };
        l.account = account;
        l.remote_name = name.clone();
        l.remote_id = s("server_id");
        l.remote_cluster = cluster.clone();
        l.origin = (!cluster.is_empty()).then(|| std::rc::Rc::from(cluster.as_bytes()));
        l.headers = headers;
        l.info_seen = true;
        // A leaf that declares itself the hub makes us its spoke.
        l.hub = !v.get_ignore_case("is_hub").and_then(Value::as_bool).unwrap_or(false);
        // What the leaf will not take (its deny_imports): never sent, and
        // asking for it is a violation.
        l.deny_exports = v
            .get_ignore_case("deny_pub")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        l.add_js_denies();
        if let Some(sub) = perms.as_ref().and_then(|p| p.subscribe.as_ref()) {
            // What the user may not receive never goes to the leaf, and
            // asking for it is a violation, as for `deny_pub`.
            l.deny_exports.extend(sub.deny.iter().cloned());
        }
        l.perms = perms;
        self.replace_duplicate_leaf(slot, &name, &cluster, account);
        let info = self.leaf_hub_info(slot, true);
        self.send_leaf_info(slot, &info);
        let acc = String::from_utf8_lossy(self.accounts.name(account)).into_owned();
        log::info!("{} - Leafnode connection created for account: {acc} ", self.conns[slot].prefix);
        self.leaf_established(slot);
        self.start_ping_timer(slot, FIRST_PING);
        true
    }

    /// The account a leaf with `creds` is bound to and the user's
    /// permissions, or None when refused: `leafnodes.authorization` when it
    /// names users, else the clients' rules (a user with `allow_responses`
    /// is refused: leaf links do not carry it).
    fn leaf_authenticate(
        &self,
        slot: usize,
        creds: &ConnectCreds,
        jwt: bool,
    ) -> Option<(AccId, Option<Rc<crate::auth::Permissions>>)> {
        let auth = &self.opts.leaf_auth;
        let account = |name: Option<&String>| match name {
            None => Some((GLOBAL, None)),
            Some(a) => Some((self.accounts.id(a.as_bytes())?, None)),
        };
        if jwt {
            return None;
        }
        if let Some(u) = &auth.user {
            let ok = creds.user == *u && crate::auth::password_matches(&auth.pass, &creds.pass);
            return if ok { account(auth.account.as_ref()) } else { None };
        }
        if !auth.users.is_empty() {
            let u = auth
                .users
                .iter()
                .find(|u| u.name == creds.user && crate::auth::password_matches(&u.password, &creds.pass))?;
            return account(u.account.as_ref());
        }
        if !self.opts.auth_required() {
            return Some((GLOBAL, None));
        }
        let (user, perms) = self.authenticate(slot, creds)?;
        if perms.as_ref().is_some_and(|p| p.responses.is_some()) {
            log::error!(
                "{} - user {user:?} has allow_responses, which leaf node connections do not support",
                self.conns[slot].prefix
            );
            return None;
        }
        Some((self.user_account(&user)?, perms))
    }

    /// A leaf with the same name, cluster and account as `slot` already
    /// connected: the older link goes, as in Go 2.9 (2.10+ also want both
    /// to name the account they bind on their side, which 2.10+ leafs
    /// always do).
    fn replace_duplicate_leaf(&mut self, slot: usize, name: &str, cluster: &str, acc: AccId) {
        if name.is_empty() {
            return;
        }
        let old: Vec<usize> = self
            .conns
            .iter()
            .filter(|(s, c)| {
                *s != slot
                    && c.closing.is_none()
                    && c.leaf().is_some_and(|l| {
                        l.accepted()
                            && l.established
                            && l.account == acc
                            && l.remote_name == name
                            && l.remote_cluster == cluster
                    })
            })
            .map(|(s, _)| s)
            .collect();
        for s in old {
            log::error!("{} - Duplicate Remote LeafNode Connection", self.conns[s].prefix);
            self.send_err(s, "Duplicate Remote LeafNode Connection");
            self.close_after_flush(s, CloseReason::DuplicateRoute);
        }
    }
}
