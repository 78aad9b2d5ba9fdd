//! Leaf node connections. Each binds one local account to a peer server:
//! we dial the hubs of `leafnodes { remotes }` (`remote`, we are the
//! spoke) and accept leaf nodes on our leaf port (`hub`, we are their hub).
//!
//! The hub speaks first (INFO with a nonce and `info_on_connect`); the
//! spoke sends CONNECT (credentials, its name, cluster and header
//! support); the hub answers with an INFO carrying `connect_info`, and
//! only then does interest flow: each side announces what the other may
//! need (`interest` says which), with the account's loop-detection subject
//! `$LDS.<random>`, then each change (`LS+`/`LS-`, queue weights as member
//! counts). The peer's `LS+` become subscriptions owned by the connection;
//! a matching message goes out once as `LMSG` (or `HMSG`), naming the
//! queue groups picked over there. Which messages from a leaf link go on
//! to routes and other links is decided in `server::deliver`. Receiving
//! our own `$LDS.` subject means a loop: we say so and close (a spoke
//! dials again only after 30 s).

pub mod hub;
pub mod interest;
pub mod remote;
pub mod state;

use std::rc::Rc;
use std::time::Duration;

use rnats_protocol::framing::{Frame, Status};
use rnats_protocol::json::{self, Value};
use rnats_protocol::route::{RouteMsg, RouteOp};
use rnats_protocol::ParseError;

use crate::config::options::COMPAT_VERSION;
use crate::conn::{CloseReason, Kind};
use crate::leaf::state::LeafState;
use crate::logging::trace_enabled;
use crate::routing::accounts::AccId;
use crate::routing::interest::Source;
use crate::routing::sublist::Subscription;
use crate::server::deliver::{Msg, Origin};
use crate::server::lifecycle::Protocol;
#[cfg(feature = "tls")]
use crate::server::timer::TimerKind;
use crate::server::Conn;
use crate::server::Server;

/// A spoke that found a loop waits this long before dialing again.
pub const LOOP_BACKOFF: Duration = Duration::from_secs(30);

pub struct LeafProtocol;

impl Protocol for LeafProtocol {
    fn body_needed(conn: &Conn, buffered: usize) -> Option<usize> {
        conn.leaf().and_then(|l| l.parser.body_needed(buffered))
    }
    fn step(server: &mut Server, slot: usize, buf: &[u8]) -> Result<Option<(usize, bool)>, ParseError> {
        let Some(leaf) = server.conns[slot].leaf_mut() else {
            return Ok(Some((buf.len(), false)));
        };
        match leaf.parser.parse(buf)? {
            Status::Complete(f) => {
                let len = f.len;
                Ok(Some((len, server.leaf_op(slot, f))))
            }
            Status::Partial => Ok(None),
        }
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl Server {
    pub fn leaf_input(&mut self, slot: usize, data: &[u8]) {
        self.feed::<LeafProtocol>(slot, data);
    }

    fn leaf_op(&mut self, slot: usize, f: Frame<'_, RouteOp<'_>>) -> bool {
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            let args = String::from_utf8_lossy(crate::logging::trim(&f.line[f.args_at..]));
            let verb = String::from_utf8_lossy(&f.line[..f.args_at]).to_ascii_uppercase();
            log::trace!("{} - <<- [{verb}{}{args}]", conn.prefix, if args.is_empty() { "" } else { " " });
        }
        conn.active = true;
        let Some(l) = conn.leaf() else { return false };
        if l.accepted() && !l.info_seen && !matches!(f.op, RouteOp::Connect(_)) {
            // A leaf must start with CONNECT.
            self.send_err(slot, "Authorization Violation");
            self.close_after_flush(slot, CloseReason::AuthenticationViolation);
            return false;
        }
        match f.op {
            RouteOp::Info(j) if l.accepted() => self.process_leaf_peer_info(slot, j),
            RouteOp::Info(j) => self.process_leaf_info(slot, j),
            RouteOp::Ping => {
                self.send_proto(slot, b"PONG\r\n");
                true
            }
            RouteOp::Pong => {
                self.pong_received(slot);
                true
            }
            RouteOp::Ok | RouteOp::Ignored => true,
            RouteOp::Connect(j) if l.accepted() && !l.info_seen => self.process_leaf_connect(slot, j),
            RouteOp::Connect(j) if l.accepted() => self.process_leaf_reconnect(slot, j),
            RouteOp::Connect(_) => {
                // We dialed: the hub does not send CONNECT.
                self.send_err(slot, "Protocol Violation");
                self.close_after_flush(slot, CloseReason::ProtocolViolation);
                false
            }
            RouteOp::Err(text) => {
                let text = lossy(text).trim().trim_matches('\'').to_string();
                log::error!("{} - Leafnode Error '{text}'", self.conns[slot].prefix);
                let fatal =
                    text.starts_with("Loop detected") || text.starts_with("remote leafnode has same cluster name");
                if fatal {
                    if let Some(l) = self.conns[slot].leaf_mut() {
                        l.loop_detected = true;
                    }
                }
                if self.conns[slot].leaf().is_some_and(|l| l.accepted() || l.established) && !fatal {
                    // An established link only logs a peer's error, as Go.
                    return true;
                }
                // Go reports the hub's refusal as the client closing.
                self.mark_close(slot, CloseReason::ClientClosed);
                false
            }
            RouteOp::Sub { subject, queue, key, .. } => self.leaf_remote_sub(slot, subject, queue, key),
            RouteOp::Unsub { key, .. } => {
                let Some(l) = self.conns[slot].leaf_mut() else { return false };
                if let Some(sub) = l.remote_subs.remove(key) {
                    self.sublist_mut(sub.account).remove(&sub);
                    self.leaf_peer_interest(slot, &sub, -1);
                }
                true
            }
            RouteOp::Msg(m) => {
                self.process_leaf_msg(slot, m);
                true
            }
        }
    }

    /// The hub's INFO: the first one gets our CONNECT (over TLS when the
    /// remote has `tls {}` or the hub requires it); the one that answers
    /// it (`connect_info`) makes the connection usable. Every INFO may
    /// bring the hub cluster's leaf URLs, kept for failover.
    fn process_leaf_info(&mut self, slot: usize, text: &[u8]) -> bool {
        let Ok(v) = json::parse(text) else {
            self.mark_close(slot, CloseReason::ProtocolViolation);
            return false;
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let Some(l) = self.conns[slot].leaf_mut() else { return false };
        let remote = l.remote;
        // A WebSocket remote fails over to the WebSocket URLs the hub's
        // cluster announces, the others to its leaf URLs.
        let ws = remote.and_then(|i| self.leaf_remotes.get(i)).is_some_and(|r| r.is_ws());
        let key = if ws { "ws_connect_urls" } else { "leafnode_urls" };
        if let (Some(i), Some(list)) = (remote, v.get(key).and_then(Value::as_array)) {
            let urls: Vec<String> = list.iter().filter_map(Value::as_str).map(String::from).collect();
            if let Some(r) = self.leaf_remotes.get_mut(i) {
                r.learn_urls(&urls);
            }
        }
        let Some(l) = self.conns[slot].leaf_mut() else { return false };
        if !l.info_seen {
            l.info_seen = true;
            if v.get("client_id").and_then(Value::as_i64).unwrap_or(0) == 0 {
                log::error!("{} - Leafnode Error: attempted to connect to wrong port", self.conns[slot].prefix);
                self.mark_close(slot, CloseReason::WrongPort);
                return false;
            }
            let tls_required = v.get("tls_required").and_then(Value::as_bool).unwrap_or(false);
            let Some(l) = self.conns[slot].leaf_mut() else { return false };
            l.remote_id = s("server_id");
            l.remote_name = s("server_name");
            l.remote_cluster = s("cluster");
            l.nonce = s("nonce");
            l.headers = v.get("headers").and_then(Value::as_bool).unwrap_or(false);
            let waits = v.get("info_on_connect").and_then(Value::as_bool).unwrap_or(false);
            if !self.leaf_start_tls(slot, tls_required) {
                return false;
            }
            if !self.send_leaf_connect(slot) {
                return false;
            }
            if !waits {
                self.leaf_established(slot);
            }
            return true;
        }
        if v.get("connect_info").and_then(Value::as_bool).unwrap_or(false) && !l.established {
            self.leaf_established(slot);
        }
        true
    }

    /// Turns a spoke link to TLS after the hub's first INFO when its remote
    /// has `tls {}` or the hub requires TLS. False when the link is closed.
    fn leaf_start_tls(&mut self, slot: usize, required: bool) -> bool {
        let Some(i) = self.conns[slot].leaf().and_then(|l| l.remote) else { return true };
        let Some(r) = self.leaf_remotes.get(i) else { return true };
        if r.is_ws() {
            // TLS (wss) sits under the WebSocket, started before the upgrade.
            return true;
        }
        #[cfg(feature = "tls")]
        {
            let config = match (&r.tls, required) {
                (Some(c), _) => c.clone(),
                (None, false) => return true,
                (None, true) => match crate::tls::config::leaf_client_config(&Default::default()) {
                    Ok(c) => c,
                    Err(e) => {
                        log::error!("{} - Leafnode Error: the hub requires TLS: {e}", self.conns[slot].prefix);
                        self.mark_close(slot, CloseReason::TlsHandshakeError);
                        return false;
                    }
                },
            };
            let host = r.opts.tls.as_ref().and_then(|t| t.server_name.clone()).unwrap_or_else(|| r.url().host.clone());
            let timeout = r.opts.tls.as_ref().and_then(|t| t.timeout).unwrap_or(self.opts.tls_timeout);
            let c = &mut self.conns[slot];
            let sock = std::mem::replace(&mut c.sock, Box::new(crate::conn::Detached));
            let session = sock.into_socket().map(|s| crate::conn::transport::tls::Tls::client(s, config, &host));
            match session {
                Some(Ok(t)) => {
                    c.sock = Box::new(t);
                    c.holds_output = true;
                    let cid = c.cid;
                    self.timers.add_in(timeout, TimerKind::TlsTimeout { slot, cid });
                    true
                }
                other => {
                    let e = match other {
                        Some(Err(e)) => e.to_string(),
                        _ => "the connection is already encrypted".into(),
                    };
                    log::error!("{} - Leafnode Error: TLS to the hub: {e}", c.prefix);
                    self.mark_close(slot, CloseReason::TlsHandshakeError);
                    false
                }
            }
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = r;
            if required {
                log::error!(
                    "{} - Leafnode Error: the hub requires TLS, which this build of the server does not have",
                    self.conns[slot].prefix
                );
                self.mark_close(slot, CloseReason::TlsHandshakeError);
                return false;
            }
            true
        }
    }

    /// Our CONNECT to the hub: credentials (the URL's user and password;
    /// the credentials file's JWT or the nkey, with the signature of the
    /// hub's nonce), our name, cluster, header support, the deny list of
    /// what we take from the hub. False (link closed) when the credentials
    /// cannot be read or signed.
    fn send_leaf_connect(&mut self, slot: usize) -> bool {
        let Some(l) = self.conns[slot].leaf() else { return false };
        #[cfg(feature = "tls")]
        let nonce = l.nonce.clone();
        let Some(r) = l.remote.and_then(|i| self.leaf_remotes.get(i)) else { return false };
        let (user, pass) = r.userinfo();
        let account = r.account;
        let signed: Result<Option<(&str, String, String)>, String> = match (&r.opts.credentials, &r.opts.nkey) {
            // Without the crypto of the `tls` feature nothing signs (such
            // remotes are refused at start).
            #[cfg(not(feature = "tls"))]
            (Some(_), _) | (None, Some(_)) => Err("signing needs the \"tls\" feature".to_string()),
            #[cfg(feature = "tls")]
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|e| format!("credentials {path:?}: {e}"))
                .and_then(|text| {
                    crate::auth::nkeys::parse_creds(&text)
                        .ok_or_else(|| format!("credentials {path:?}: Credentials file malformed"))
                })
                .and_then(|(jwt, seed)| {
                    let (_, sig) = crate::auth::nkeys::sign(&seed, nonce.as_bytes())?;
                    Ok(Some(("jwt", jwt, sig)))
                }),
            #[cfg(feature = "tls")]
            (None, Some(seed)) => {
                crate::auth::nkeys::sign(seed, nonce.as_bytes()).map(|(k, sig)| Some(("nkey", k, sig)))
            }
            (None, None) => Ok(None),
        };
        let signed = match signed {
            Ok(s) => s,
            Err(e) => {
                log::error!("{} - Leafnode Error: {e}", self.conns[slot].prefix);
                self.mark_close(slot, CloseReason::ProtocolViolation);
                return false;
            }
        };
        let deny_imports = r.opts.deny_imports.clone();
        let mut v = b"CONNECT {".to_vec();
        json::write_str(&mut v, b"version");
        v.push(b':');
        json::write_str(&mut v, COMPAT_VERSION.as_bytes());
        if let Some((key, value, sig)) = &signed {
            v.push(b',');
            json::write_str(&mut v, key.as_bytes());
            v.push(b':');
            json::write_str(&mut v, value.as_bytes());
            v.extend_from_slice(b",\"sig\":");
            json::write_str(&mut v, sig.as_bytes());
        }
        if let Some(u) = &user {
            v.extend_from_slice(b",\"user\":");
            json::write_str(&mut v, u.as_bytes());
            v.extend_from_slice(b",\"pass\":");
            json::write_str(&mut v, pass.as_deref().unwrap_or("").as_bytes());
        }
        v.extend_from_slice(b",\"tls_required\":false,\"server_id\":");
        json::write_str(&mut v, self.server_id.as_bytes());
        let name = self.opts.server_name.clone().unwrap_or_else(|| self.server_id.clone());
        v.extend_from_slice(b",\"name\":");
        json::write_str(&mut v, name.as_bytes());
        // A server in a cluster names the cluster; one without names itself
        // when it has a configured name (as Go).
        let cluster = match &self.cluster {
            Some(c) => Some(c.name.clone()),
            None => self.opts.server_name.clone(),
        };
        if let Some(c) = cluster {
            v.extend_from_slice(b",\"cluster\":");
            json::write_str(&mut v, c.as_bytes());
        }
        v.extend_from_slice(b",\"headers\":true");
        if self.conns[slot].leaf().is_some_and(|l| l.hub) {
            v.extend_from_slice(b",\"is_hub\":true");
        }
        if !deny_imports.is_empty() {
            v.extend_from_slice(b",\"deny_pub\":[");
            for (i, d) in deny_imports.iter().enumerate() {
                if i > 0 {
                    v.push(b',');
                }
                json::write_str(&mut v, d.as_bytes());
            }
            v.push(b']');
        }
        v.extend_from_slice(b",\"remote_account\":");
        json::write_str(&mut v, self.accounts.name(account));
        v.extend_from_slice(b"}\r\n");
        let c = &mut self.conns[slot];
        if trace_enabled() {
            let text = String::from_utf8_lossy(&v[..v.len() - 2]);
            log::trace!("{} - ->> [{}]", c.prefix, crate::logging::redact(text.as_bytes()));
        }
        c.out.extend_from_slice(&v);
        Server::queue_flush(&mut self.pending_flush, c, slot);
        true
    }

    /// The handshake is over: announce our interest and count the
    /// connection. On a spoke link, a second connection of the same account
    /// into the same hub cluster is a loop (as Go finds it).
    fn leaf_established(&mut self, slot: usize) {
        let Some(l) = self.conns[slot].leaf() else { return };
        let (acc, cluster, hub_side) = (l.account, l.remote_cluster.clone(), l.is_hub_side());
        let twin = !hub_side
            && !l.accepted()
            && !cluster.is_empty()
            && self.conns.iter().any(|(s, c)| {
                s != slot
                    && c.leaf().is_some_and(|o| {
                        !o.is_hub_side()
                            && !o.accepted()
                            && o.established
                            && o.account == acc
                            && o.remote_cluster == cluster
                    })
            });
        if twin {
            self.leaf_loop(slot, acc);
            return;
        }
        let Some(l) = self.conns[slot].leaf_mut() else { return };
        l.established = true;
        let remote = l.remote;
        self.leaf_count += 1;
        let name = if l.remote_name.is_empty() { l.remote_id.clone() } else { l.remote_name.clone() };
        if let Some(r) = remote.and_then(|i| self.leaf_remotes.get_mut(i)) {
            r.failures = 0;
        }
        if !hub_side {
            log::debug!("{} - Leafnode connection to {name} established", self.conns[slot].prefix);
        }
        let out = self.leaf_initial_interest(slot);
        let c = &mut self.conns[slot];
        if trace_enabled() {
            for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&line[..line.len() - 1]));
            }
        }
        c.out.extend_from_slice(&out);
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// The peer's interest in `sub` changed by `delta` (1 or -1 for a plain
    /// subscription, a weight difference for a queue): the other links
    /// (and, from a leaf of ours, the routes) hear of it.
    fn leaf_peer_interest(&mut self, slot: usize, sub: &Subscription, delta: i64) {
        let Some(l) = self.conns[slot].leaf() else { return };
        let (hub_side, cluster) = (l.is_hub_side(), l.remote_cluster.clone());
        self.leaf_peer_interest_from(slot, hub_side, &cluster, sub, delta);
    }

    fn leaf_peer_interest_from(&mut self, slot: usize, hub_side: bool, cluster: &str, sub: &Subscription, delta: i64) {
        let src = Source::Leaf { slot, hub_side, cluster };
        self.leaf_interest_delta(sub.account, sub.subject(), sub.queue(), delta, src);
        if hub_side {
            self.leaf_node_interest_delta(sub.account, sub.subject(), sub.queue(), delta, cluster.as_bytes());
        }
    }

    /// A loop through the hub: Go's error to the hub, close, and no new
    /// dial for `LOOP_BACKOFF`.
    fn leaf_loop(&mut self, slot: usize, acc: AccId) {
        let text = format!(
            "Loop detected for leafnode account={:?}. Delaying attempt to reconnect for {}s",
            lossy(self.accounts.name(acc)),
            LOOP_BACKOFF.as_secs()
        );
        log::error!("{} - {text}", self.conns[slot].prefix);
        self.send_err(slot, &text);
        if let Some(l) = self.conns[slot].leaf_mut() {
            l.loop_detected = true;
        }
        self.close_after_flush(slot, CloseReason::DuplicateRoute);
    }

    /// The loop-detection subject of account `acc`, made on first use.
    pub fn leaf_lds(&mut self, acc: AccId) -> Box<[u8]> {
        if let Some((_, s)) = self.leaf_lds.iter().find(|(a, _)| *a == acc) {
            return s.clone();
        }
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut raw = [0u8; 22];
        crate::sys::fill_random(&mut raw);
        let mut s = b"$LDS.".to_vec();
        s.extend(raw.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()]));
        let s: Box<[u8]> = s.into();
        self.leaf_lds.push((acc, s.clone()));
        s
    }

    /// The hub's interest. Our own `$LDS.` subject coming back is a loop.
    fn leaf_remote_sub(&mut self, slot: usize, subject: &[u8], queue: Option<(&[u8], u32)>, key: &[u8]) -> bool {
        let Some(l) = self.conns[slot].leaf() else { return false };
        let acc = l.account;
        if subject.starts_with(b"$LDS.") && self.leaf_lds.iter().any(|(a, s)| *a == acc && **s == *subject) {
            self.leaf_loop(slot, acc);
            return false;
        }
        if !rnats_protocol::subject::is_valid_subject(subject) {
            self.send_err(slot, "Invalid Subscription");
            return true;
        }
        if LeafState::JS_DENIES.iter().any(|p| rnats_protocol::subject::matches(p.as_bytes(), subject)) {
            // JetStream's subjects do not cross: ignored, as Go's deny does.
            return true;
        }
        let refused = |l: &LeafState| {
            LeafState::denied(&l.deny_exports, subject)
                || l.perms.as_ref().and_then(|p| p.subscribe.as_ref()).is_some_and(|sp| {
                    rnats_protocol::subject::is_valid_literal_subject(subject) && !sp.allows_subscribe(subject, None)
                })
        };
        if let Some(l) = self.conns[slot].leaf().filter(|l| refused(l)) {
            if l.accepted() && rnats_protocol::subject::is_valid_literal_subject(subject) {
                // The leaf asked for what it said it would not take.
                let text = format!("Permissions Violation for Subscription to {:?}", lossy(subject));
                log::error!("{} - {text}", self.conns[slot].prefix);
                self.send_err(slot, &text);
                self.close_after_flush(slot, CloseReason::ProtocolViolation);
                return false;
            }
            // Nothing on that subject goes there.
            if !l.accepted() {
                return true;
            }
        }
        let conn = &mut self.conns[slot];
        let cid = conn.cid;
        let Some(l) = conn.leaf_mut() else { return false };
        if let Some(existing) = l.remote_subs.get(key) {
            let old = existing.clone();
            let delta = match queue {
                // A new weight: the change spreads as a difference.
                Some((_, w)) => {
                    let d = i64::from(w) - i64::from(old.weight.get());
                    old.weight.set(w);
                    d
                }
                // The same interest again counts once more toward the
                // other links (Go's reference count does the same).
                None => 1,
            };
            self.leaf_peer_interest(slot, &old, delta);
            return true;
        }
        let mut sub = Subscription::new(slot, cid, Kind::Leaf, subject, queue.map(|(q, _)| q), key);
        sub.account = acc;
        sub.weight.set(queue.map_or(1, |(_, w)| w));
        let sub = Rc::new(sub);
        l.remote_subs.insert(sub.clone());
        self.leaf_peer_interest(slot, &sub, 1);
        self.sublist_mut(acc).insert(sub);
        true
    }

    fn process_leaf_msg(&mut self, slot: usize, m: RouteMsg<'_>) {
        let c = &mut self.conns[slot];
        c.stats.in_msgs += 1;
        c.stats.in_bytes += m.message.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += m.message.len() as u64;
        let Some(l) = c.leaf() else { return };
        if !l.deny_imports.is_empty() && LeafState::denied(&l.deny_imports, m.subject) {
            return;
        }
        // As Go 2.11.16+: a leaf bound to a user may send only what the
        // user may publish (replies and JetStream acks aside).
        let refused = |pp: &crate::auth::SubjectPerms| {
            !(m.subject.starts_with(b"_R_.") || m.subject.starts_with(b"$JS.ACK.") || pp.allows_publish(m.subject))
        };
        if l.perms.as_ref().and_then(|p| p.publish.as_ref()).is_some_and(refused) {
            let text = format!("Permissions Violation for Publish to {:?}", lossy(m.subject));
            log::error!("{} - {text}", self.conns[slot].prefix);
            self.send_err(slot, &text);
            self.close_after_flush(slot, CloseReason::ProtocolViolation);
            return;
        }
        let acc = l.account;
        if trace_enabled() && !m.message.is_empty() {
            let t = self.traced(m.message);
            log::trace!("{} - <<- MSG_PAYLOAD: [{t}]", self.conns[slot].prefix);
        }
        let hdr = m.header_len.filter(|h| *h > 0);
        let msg = Msg { subject: m.subject, reply: m.reply, header_len: hdr, payload: m.message };
        // JetStream deliveries carry `<ack reply>@<subject>`.
        if m.reply.is_some_and(|r| r.starts_with(b"$JS.ACK.")) && self.deliver_js_relayed(slot, acc, msg) {
            return;
        }
        self.deliver(slot, acc, Origin::Leaf { queues: m.queues }, msg);
    }

    /// A leaf connection was removed: the hub's interest goes, and its
    /// remote is dialed again (after 30 s when a loop was found).
    pub fn leaf_closed(&mut self, slot: usize, c: &mut Conn, reason: CloseReason) {
        let quiet = c.quiet_close;
        let prefix = std::mem::take(&mut c.prefix);
        let Some(l) = c.leaf_mut() else { return };
        let (hub_side, cluster) = (l.is_hub_side(), std::mem::take(&mut l.remote_cluster));
        for sub in l.remote_subs.drain() {
            self.sublist_mut(sub.account).remove(&sub);
            self.leaf_peer_interest_from(slot, hub_side, &cluster, &sub, -1);
        }
        if l.established {
            self.leaf_count = self.leaf_count.saturating_sub(1);
        }
        if !quiet {
            let acc = lossy(self.accounts.name(l.account));
            log::info!("{prefix} - Leafnode connection closed: {} account: {acc}", reason.as_str());
        }
        if let Some(remote) = l.remote {
            let looped = l.loop_detected;
            self.leaf_remote_lost(remote, looped);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sys::netaddr::leaf_url;

    #[test]
    fn leaf_urls_take_go_defaults() {
        let u = leaf_url("nats-leaf://hub.example").expect("parses");
        assert_eq!((u.host.as_str(), u.port), ("hub.example", 7422));
        let u = leaf_url("tls://a:b@10.0.0.1:7000/").expect("parses");
        assert_eq!(
            (u.host.as_str(), u.port, u.user.as_deref(), u.pass.as_deref()),
            ("10.0.0.1", 7000, Some("a"), Some("b"))
        );
        let u = leaf_url("nats://[::1]").expect("parses");
        assert_eq!((u.host.as_str(), u.port), ("::1", 7422));
        assert!(leaf_url("nats://h:x").is_err());
    }
}
