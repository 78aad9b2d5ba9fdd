//! Client op handlers: CONNECT, PUB/HPUB, SUB, UNSUB, PING/PONG, and message
//! delivery to subscribers.
//!
//! `client_input` feeds freshly read bytes through the connection's parser:
//! first it completes an op left unfinished by the previous read (copying
//! into `inb` only the bytes that op still needs), then parses whole ops
//! directly from the read buffer and keeps only a trailing partial op.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rnats_protocol::client::{ClientOp, Frame};
use rnats_protocol::encode;
use rnats_protocol::json;
use rnats_protocol::subject;

use crate::auth::{password_matches, Permissions};
use crate::conn::{parse_error_reply, CloseReason};
use crate::logging::{go_quote, trace_enabled};
use crate::server::Server;
use crate::sublist::{Owner, Subscription};
use crate::timer::TimerKind;

/// Go answers a request nobody listens to with this status-only header.
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";
/// Reply prefixes reserved for the server's own use.
const RESERVED_REPLY_PREFIXES: [&[u8]; 3] = [b"_R_.", b"$JS.ACK.", b"_GR_."];
/// First server PING after CONNECT.
pub const FIRST_PING: Duration = Duration::from_secs(2);
/// Routes are pinged at least this often.
const ROUTE_PING_MAX: Duration = Duration::from_secs(30);

fn verb_name(op: &ClientOp) -> &'static str {
    match op {
        ClientOp::Connect(_) => "CONNECT",
        ClientOp::Info(_) => "INFO",
        ClientOp::Pub { .. } => "PUB",
        ClientOp::HPub { .. } => "HPUB",
        ClientOp::Sub { .. } => "SUB",
        ClientOp::Unsub { .. } => "UNSUB",
        ClientOp::Ping => "PING",
        ClientOp::Pong => "PONG",
        ClientOp::Ok => "OK",
        ClientOp::Err(_) => "-ERR",
    }
}

/// Go's `%q` of a subject, for permission error texts.
fn quoted(b: &[u8]) -> String {
    go_quote(b)
}

impl Server {
    /// Handles bytes just read from client `slot`.
    pub fn client_input(&mut self, slot: usize, data: &[u8]) {
        self.feed::<crate::server::ClientProtocol>(slot, data);
    }

    pub fn client_parse_error(&mut self, slot: usize, e: rnats_protocol::ParseError) {
        let (text, reason) = parse_error_reply(e);
        if let Some(c) = self.conns.get(slot) {
            log::debug!("{} - Client parser ERROR: {e}", c.prefix);
        }
        if let Some(t) = text {
            self.send_err(slot, t);
        }
        self.close_after_flush(slot, reason);
    }

    /// Handles one op; false when the connection is closing and its
    /// remaining input must be dropped.
    pub fn client_op(&mut self, slot: usize, f: Frame<'_, ClientOp<'_>>) -> bool {
        let conn = &mut self.conns[slot];
        if trace_enabled() {
            let args = trim(&f.line[f.args_at..]);
            let name = verb_name(&f.op);
            match f.op {
                ClientOp::Connect(_) => {
                    log::trace!("{} - <<- [CONNECT {}]", conn.prefix, redact(args))
                }
                _ if args.is_empty() => log::trace!("{} - <<- [{name}]", conn.prefix),
                _ => log::trace!("{} - <<- [{name} {}]", conn.prefix, String::from_utf8_lossy(args)),
            }
        }
        match f.op {
            ClientOp::Connect(j) => self.process_connect(slot, j),
            ClientOp::Pub { subject, reply, payload } => {
                self.process_pub(slot, subject, reply, None, payload);
                true
            }
            ClientOp::HPub { subject, reply, header_len, message } => {
                if !self.conns[slot].opts.headers {
                    self.close_after_flush(slot, CloseReason::MsgHeaderViolation);
                    return false;
                }
                // A zero-length header block is delivered as a plain message.
                let hdr = if header_len == 0 { None } else { Some(header_len) };
                self.process_pub(slot, subject, reply, hdr, message);
                true
            }
            ClientOp::Sub { subject, queue, sid } => {
                self.process_sub(slot, subject, queue, sid);
                true
            }
            ClientOp::Unsub { sid, max } => {
                self.process_unsub(slot, sid, max);
                true
            }
            ClientOp::Ping => {
                // A protocol-1 client learns about cluster changes since its
                // first INFO before the PONG to its first PING.
                let c = &self.conns[slot];
                if c.opts.protocol >= 1
                    && !c.ponged
                    && c.info_version != self.cluster.as_ref().map_or(0, |c| c.urls_version)
                {
                    self.send_info(slot);
                }
                let c = &mut self.conns[slot];
                c.ponged = true;
                c.out.extend_from_slice(b"PONG\r\n");
                if trace_enabled() {
                    log::trace!("{} - ->> [PONG]", c.prefix);
                }
                Server::queue_flush(&mut self.pending_flush, c, slot);
                true
            }
            ClientOp::Pong => {
                self.conns[slot].pings_out = 0;
                true
            }
            ClientOp::Ok => true,
            ClientOp::Err(text) => {
                let c = &self.conns[slot];
                log::error!("{} - Client Error {}", c.prefix, String::from_utf8_lossy(text));
                self.mark_close(slot, CloseReason::ClientClosed);
                false
            }
            ClientOp::Info(j) => {
                if !json::parse(j).is_ok_and(|v| types_ok(&v, INFO_FIELDS)) {
                    self.mark_close(slot, CloseReason::ProtocolViolation);
                    return false;
                }
                true
            }
        }
    }

    /// Clients must authenticate before anything else (no `no_auth_user`).
    pub fn auth_enforced(&self) -> bool {
        self.opts.auth_required() && self.opts.no_auth_user.is_none()
    }

    pub fn auth_violation(&mut self, slot: usize) {
        self.send_err(slot, "Authorization Violation");
        self.close_after_flush(slot, CloseReason::AuthenticationViolation);
    }

    fn send_ok(&mut self, slot: usize) {
        let c = &mut self.conns[slot];
        c.out.extend_from_slice(b"+OK\r\n");
        if trace_enabled() {
            log::trace!("{} - ->> [OK]", c.prefix);
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// CONNECT, read as Go decodes it into the connection's options: keys
    /// match case-insensitively (a later key wins), a key that is missing or
    /// `null` keeps what an earlier CONNECT set, `CONNECT null` changes
    /// nothing. Then, in Go's order: credentials, account, protocol,
    /// no_responders, `+OK`.
    fn process_connect(&mut self, slot: usize, text: &[u8]) -> bool {
        let v = match json::parse(text) {
            Ok(v @ json::Value::Object(_)) if types_ok(&v, CONNECT_FIELDS) => v,
            Ok(json::Value::Null) => json::Value::Object(Vec::new()),
            _ => {
                log::debug!("{} - Invalid CONNECT JSON", self.conns[slot].prefix);
                self.mark_close(slot, CloseReason::ProtocolViolation);
                return false;
            }
        };
        let get = |k: &str| v.get_ignore_case(k).filter(|x| !matches!(x, json::Value::Null));
        let flag = |k: &str, d: bool| get(k).and_then(json::Value::as_bool).unwrap_or(d);
        let text = |k: &str, d: &mut String| {
            if let Some(x) = get(k).and_then(json::Value::as_str) {
                x.clone_into(d);
            }
        };
        let c = &mut self.conns[slot];
        c.opts.verbose = flag("verbose", c.opts.verbose);
        c.opts.pedantic = flag("pedantic", c.opts.pedantic);
        c.opts.echo = flag("echo", c.opts.echo);
        c.opts.headers = flag("headers", c.opts.headers);
        c.opts.no_responders = flag("no_responders", c.opts.no_responders);
        c.opts.protocol = get("protocol").and_then(json::Value::as_i64).unwrap_or(c.opts.protocol);
        c.parser.set_headers(c.opts.headers);
        text("name", &mut c.name);
        text("lang", &mut c.lang);
        text("version", &mut c.version);
        c.set_identity();
        let creds = c.creds.get_or_insert_with(Default::default);
        text("user", &mut creds.user);
        text("pass", &mut creds.pass);
        text("auth_token", &mut creds.token);
        text("account", &mut creds.account);
        creds.new_account = flag("new_account", creds.new_account);
        let creds = (**creds).clone();
        if c.implicit_user && self.opts.auth_required() && creds.user.is_empty() && creds.token.is_empty() {
            // Taken as no_auth_user by an earlier op: Go refuses a CONNECT
            // that names no one.
            self.auth_violation(slot);
            return false;
        }
        let (user, perms) = if self.opts.auth_required() {
            match self.authenticate(&creds.user, &creds.pass, &creds.token) {
                Some(a) => a,
                None => {
                    if creds.user.is_empty() {
                        log::error!("{} - authentication error", self.conns[slot].prefix);
                    } else {
                        log::error!("{} - authentication error - User {:?}", self.conns[slot].prefix, creds.user);
                    }
                    self.auth_violation(slot);
                    return false;
                }
            }
        } else {
            (String::new(), None)
        };
        if !creds.account.is_empty() || creds.new_account {
            self.auth_violation(slot);
            return false;
        }
        // Taken as no_auth_user: that user's name and password become this
        // connection's credentials, which a later CONNECT merges into (so
        // one naming only a password no longer matches), as in Go.
        let assumed = (creds.user.is_empty() && creds.pass.is_empty() && creds.token.is_empty() && !user.is_empty())
            .then(|| self.opts.users.iter().find(|u| u.name == user).map(|u| u.password.clone()))
            .flatten();
        let c = &mut self.conns[slot];
        if let (Some(pass), Some(stored)) = (assumed, c.creds.as_deref_mut()) {
            stored.user = user.clone();
            stored.pass = pass;
        }
        c.user = user;
        c.perms = perms;
        if c.opts.protocol < 0 || c.opts.protocol > 1 {
            self.send_err(slot, "invalid client protocol");
            self.close_after_flush(slot, CloseReason::BadClientProtocolVersion);
            return false;
        }
        if c.opts.no_responders && !c.opts.headers {
            self.send_err(slot, "no responders requires headers support");
            self.close_after_flush(slot, CloseReason::NoRespondersRequiresHeaders);
            return false;
        }
        c.connected = true;
        if c.opts.verbose {
            self.send_ok(slot);
        }
        true
    }

    /// A first op other than CONNECT with `no_auth_user` set: the
    /// connection becomes that user, with its permissions, as in Go; a
    /// CONNECT after that must name credentials.
    pub fn assume_no_auth_user(&mut self, slot: usize) {
        let Some((user, perms)) = self.authenticate("", "", "") else {
            return;
        };
        let c = &mut self.conns[slot];
        c.user = user;
        c.perms = perms;
        c.connected = true;
        c.implicit_user = true;
    }

    /// Checks CONNECT credentials against the configured token, single
    /// user, or users list; a client with no credentials may be taken as
    /// `no_auth_user`. Returns the user and its permissions, or `None`.
    fn authenticate(&self, user: &str, pass: &str, token: &str) -> Option<(String, Option<Rc<Permissions>>)> {
        let o = &self.opts;
        if let Some(t) = &o.auth_token {
            return (token == t).then(|| (String::new(), None));
        }
        if let Some(u) = &o.user {
            let ok = user == u && password_matches(o.pass.as_deref().unwrap_or(""), pass);
            return ok.then(|| (u.clone(), None));
        }
        // no_auth_user stands in only for a client that names nothing at
        // all (a password alone is a failed login), as in Go.
        let found = if user.is_empty() && pass.is_empty() && token.is_empty() {
            let n = o.no_auth_user.as_deref()?;
            o.users.iter().find(|u| u.name == n)
        } else {
            o.users.iter().find(|u| u.name == user && password_matches(&u.password, pass))
        };
        found.map(|u| (u.name.clone(), u.permissions.clone()))
    }

    /// Pedantic mode checks a PUB's subject as soon as its line is read,
    /// before the payload has arrived, as Go does.
    pub fn check_pending_subject(&mut self, slot: usize, buf: &[u8]) {
        let c = &mut self.conns[slot];
        if !c.opts.pedantic || c.pub_subject_checked {
            return;
        }
        let Some(subj) = c.parser.pending_subject(buf) else {
            return;
        };
        c.pub_subject_checked = true;
        if !subject::is_valid_literal_subject(subj) {
            self.send_err(slot, "Invalid Publish Subject");
        }
    }

    fn process_pub(&mut self, slot: usize, subj: &[u8], reply: Option<&[u8]>, header_len: Option<usize>, msg: &[u8]) {
        let c = &mut self.conns[slot];
        c.stats.in_msgs += 1;
        c.stats.in_bytes += msg.len() as u64;
        self.stats.in_msgs += 1;
        self.stats.in_bytes += msg.len() as u64;
        if trace_enabled() && !msg.is_empty() {
            let t = self.traced(msg);
            log::trace!("{} - <<- MSG_PAYLOAD: [{t}]", self.conns[slot].prefix);
        }
        let c = &mut self.conns[slot];
        let checked = std::mem::take(&mut c.pub_subject_checked);
        if c.opts.pedantic && !checked && !subject::is_valid_literal_subject(subj) {
            self.send_err(slot, "Invalid Publish Subject");
        }
        let c = &mut self.conns[slot];
        let denied = match c.perms.as_deref() {
            None => false,
            Some(p) if p.publish_listed(subj) => false,
            Some(p) => match (&p.responses, c.replies.as_deref_mut()) {
                (Some(rp), Some(replies)) => !replies.allow(subj, rp, Instant::now()),
                _ => true,
            },
        };
        let c = &self.conns[slot];
        if denied || subj.starts_with(b"_GR_.") {
            if denied {
                log::error!(
                    "{} - \"{}\" - Publish Violation - Subject {:?}",
                    c.prefix,
                    c.user,
                    String::from_utf8_lossy(subj)
                );
            }
            let text = format!("Permissions Violation for Publish to {}", quoted(subj));
            self.send_err(slot, &text);
            return;
        }
        if let Some(r) = reply {
            if RESERVED_REPLY_PREFIXES.iter().any(|p| r.starts_with(p)) {
                let text = format!("Permissions Violation for Publish with Reply of {}", quoted(r));
                self.send_err(slot, &text);
                return;
            }
        }
        if self.conns[slot].opts.verbose {
            self.send_ok(slot);
        }
        // PUB splits its arguments on blanks only (as Go), so a CR or LF in
        // them stays in the subject or reply. No subscription can name such a
        // subject, and written into a MSG or RMSG line it would break the
        // receivers' parsing (Go forwards it anyway): the message goes nowhere.
        // (A subject is checked by the sublist, once per cache miss.)
        if reply.is_some_and(has_line_break) {
            log::debug!("{} - Dropped a message with a line break in its subject or reply", self.conns[slot].prefix);
            return;
        }
        let delivered = self.deliver(slot, false, subj, reply, header_len, msg, None);
        if !delivered {
            if let Some(r) = reply {
                // A subject with a line break was dropped, not unanswered.
                if self.conns[slot].opts.no_responders && !has_line_break(subj) {
                    self.send_no_responders(slot, r);
                }
            }
        }
    }

    /// Sends the 503 status to the publisher's own subscription on `reply`.
    #[cold]
    #[inline(never)]
    fn send_no_responders(&mut self, slot: usize, reply: &[u8]) {
        // The publisher's first plain subscription in match order, as Go's.
        let cid = self.conns[slot].cid;
        let result = self.sublist.matches(reply);
        let Some(sub) =
            result.psubs.iter().find(|s| s.owner == Owner::Client && s.slot == slot && s.cid == cid).cloned()
        else {
            return;
        };
        let c = &mut self.conns[slot];
        encode::write_hmsg(&mut c.out, reply, &sub.sid, None, NO_RESPONDERS_HDR.len(), NO_RESPONDERS_HDR);
        if trace_enabled() {
            log::trace!(
                "{} - ->> [HMSG {} {} {} {}]",
                c.prefix,
                String::from_utf8_lossy(reply),
                String::from_utf8_lossy(&sub.sid),
                NO_RESPONDERS_HDR.len(),
                NO_RESPONDERS_HDR.len()
            );
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// Payload as traced: Go-quoted, cut at max_traced_msg_len.
    pub fn traced(&self, msg: &[u8]) -> String {
        let max = self.opts.max_traced_msg_len;
        if max > 0 && msg.len() > max {
            let mut q = go_quote(&msg[..max]);
            q.insert_str(q.len() - 1, "...");
            q
        } else {
            go_quote(msg)
        }
    }

    /// Delivers a message to every matching subscription: local clients
    /// (one member per queue group) and, for a message from a client, each
    /// route with interest, once, with the queue groups picked for it. A
    /// message from a route (`from_route`) goes to local clients only, and
    /// to queue groups only if the sender named them in `queues`. Returns
    /// whether anyone received it.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &mut self,
        from: usize,
        from_route: bool,
        subj: &[u8],
        reply: Option<&[u8]>,
        header_len: Option<usize>,
        msg: &[u8],
        queues: Option<&[u8]>,
    ) -> bool {
        let result = self.sublist.matches(subj);
        if result.is_empty() {
            return false;
        }
        let mut delivered = false;
        let mut expired: Vec<Rc<Subscription>> = Vec::new();
        let mut sends = std::mem::take(&mut self.route_sends);
        let mut picks = std::mem::take(&mut self.route_qpicks);
        for sub in &result.psubs {
            match sub.owner {
                Owner::Client => {
                    delivered |= self.deliver_to(from, sub, subj, reply, header_len, msg, &mut expired);
                }
                Owner::Route if !from_route => {
                    if !sends.iter().any(|(s, _)| *s == sub.slot) {
                        sends.push((sub.slot, sub.cid));
                    }
                }
                Owner::Route => {}
            }
        }
        for group in &result.qsubs {
            let n = group.len();
            if from_route {
                let name = group[0].queue.as_deref().unwrap_or_default();
                if !queues.is_some_and(|q| q.split(|b| matches!(b, b' ' | b'\t')).any(|x| x == name)) {
                    continue;
                }
                // The sender picked this server for the group: one local
                // member, chosen uniformly among the local ones; with none
                // able to take it, the first route member (as Go falls back).
                let locals = group.iter().filter(|s| s.owner == Owner::Client).count();
                let mut taken = false;
                if locals > 0 {
                    let k = (self.rand() % locals as u64) as usize;
                    let start =
                        group.iter().enumerate().filter(|(_, s)| s.owner == Owner::Client).nth(k).map_or(0, |(i, _)| i);
                    for i in 0..n {
                        let sub = &group[(start + i) % n];
                        if sub.owner == Owner::Client
                            && self.deliver_to(from, sub, subj, reply, header_len, msg, &mut expired)
                        {
                            taken = true;
                            break;
                        }
                    }
                }
                if !taken {
                    if let Some(rsub) = group.iter().find(|s| s.owner == Owner::Route && s.weight.get() > 0) {
                        if !sends.iter().any(|(s, _)| *s == rsub.slot) {
                            sends.push((rsub.slot, rsub.cid));
                        }
                        picks.push((rsub.slot, rsub.clone()));
                        taken = true;
                    }
                }
                delivered |= taken;
                continue;
            }
            // Each local member counts once, a route's member as often as
            // the route's weight (0: nobody there), so the pick is
            // proportional cluster-wide.
            let weight = |s: &Subscription| if s.owner == Owner::Route { s.weight.get() as u64 } else { 1 };
            let total: u64 = group.iter().map(|s| weight(s)).sum();
            if total == 0 {
                continue;
            }
            let mut r = self.rand() % total;
            let mut start = 0;
            for (i, s) in group.iter().enumerate() {
                let w = weight(s);
                if r < w {
                    start = i;
                    break;
                }
                r -= w;
            }
            for i in 0..n {
                let sub = &group[(start + i) % n];
                if sub.owner == Owner::Route {
                    if sub.weight.get() == 0 {
                        continue;
                    }
                    if !sends.iter().any(|(s, _)| *s == sub.slot) {
                        sends.push((sub.slot, sub.cid));
                    }
                    picks.push((sub.slot, sub.clone()));
                    delivered = true;
                    break;
                }
                if self.deliver_to(from, sub, subj, reply, header_len, msg, &mut expired) {
                    delivered = true;
                    break;
                }
            }
        }
        for &(slot, cid) in &sends {
            delivered |= self.forward_to_route(slot, cid, subj, reply, header_len, msg, &picks);
        }
        sends.clear();
        picks.clear();
        self.route_sends = sends;
        self.route_qpicks = picks;
        for sub in expired {
            self.remove_client_sub(&sub);
        }
        delivered
    }

    /// Appends one RMSG (or HMSG) for route `slot`.
    #[allow(clippy::too_many_arguments)]
    fn forward_to_route(
        &mut self,
        slot: usize,
        cid: u64,
        subj: &[u8],
        reply: Option<&[u8]>,
        header_len: Option<usize>,
        msg: &[u8],
        picks: &[(usize, Rc<Subscription>)],
    ) -> bool {
        let Some(c) = self.conns.get_mut(slot) else {
            return false;
        };
        if c.cid != cid || c.closing.is_some() {
            return false;
        }
        let headers = c.route.as_ref().is_some_and(|r| r.headers);
        let (hdr, body) = match header_len {
            Some(h) if headers => (Some(h), msg),
            Some(h) => (None, &msg[h.min(msg.len())..]),
            None => (None, msg),
        };
        let before = c.out.len();
        let mut queues = picks.iter().filter(|(s, _)| *s == slot).filter_map(|(_, q)| q.queue.as_deref());
        encode::write_rmsg(&mut c.out, crate::cluster::GLOBAL_ACCOUNT, subj, reply, &mut queues, hdr, body);
        if trace_enabled() {
            let end = c.out[before..].iter().position(|b| *b == b'\r').unwrap_or(0);
            log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&c.out[before..before + end]));
        }
        let bytes = body.len() as u64;
        c.stats.out_msgs += 1;
        c.stats.out_bytes += bytes;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += bytes;
        if c.pending() > self.opts.max_pending {
            // A peer that stopped reading must not take the server's memory:
            // the route is dropped (and dialed again if it is ours to dial).
            log::info!("{} - Slow Consumer Detected: MaxPending of {} Exceeded", c.prefix, self.opts.max_pending);
            c.out = Vec::new();
            c.out_pos = 0;
            self.stats.slow_consumers += 1;
            self.mark_close(slot, CloseReason::SlowConsumerPendingBytes);
            return true;
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
        true
    }

    /// Appends one message to a subscriber's output. False if the
    /// subscription could not take it (gone, closing, or no echo).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn deliver_to(
        &mut self,
        from: usize,
        sub: &Rc<Subscription>,
        subj: &[u8],
        reply: Option<&[u8]>,
        header_len: Option<usize>,
        msg: &[u8],
        expired: &mut Vec<Rc<Subscription>>,
    ) -> bool {
        if sub.owner != Owner::Client {
            return false;
        }
        let Some(c) = self.conns.get_mut(sub.slot) else {
            return false;
        };
        if c.cid != sub.cid || c.closing.is_some() || c.close_after_flush {
            return false;
        }
        if sub.slot == from && !c.opts.echo {
            return false;
        }
        if let Some(perms) = c.perms.as_deref() {
            // A wildcard subscription may overlap subjects this user must not see.
            if perms.subscribe.as_ref().is_some_and(|p| !p.deny.is_empty() && p.denies(subj)) {
                return false;
            }
            if let (Some(rp), Some(r)) = (&perms.responses, reply) {
                c.replies.get_or_insert_with(Default::default).record(r, rp, Instant::now());
            }
        }
        let max = sub.max.get();
        if max > 0 && sub.delivered.get() >= max {
            return false;
        }
        let before = c.out.len();
        match header_len {
            Some(h) if c.opts.headers => encode::write_hmsg(&mut c.out, subj, &sub.sid, reply, h, msg),
            Some(h) => encode::write_msg(&mut c.out, subj, &sub.sid, reply, &msg[h.min(msg.len())..]),
            None => encode::write_msg(&mut c.out, subj, &sub.sid, reply, msg),
        }
        if trace_enabled() {
            let line_end = c.out[before..].iter().position(|b| *b == b'\r').unwrap_or(0);
            log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&c.out[before..before + line_end]));
        }
        let bytes = msg.len() as u64;
        c.stats.out_msgs += 1;
        c.stats.out_bytes += bytes;
        self.stats.out_msgs += 1;
        self.stats.out_bytes += bytes;
        sub.delivered.set(sub.delivered.get() + 1);
        if max > 0 && sub.delivered.get() >= max {
            expired.push(sub.clone());
        }
        if c.pending() > self.opts.max_pending {
            // Slow consumer: cut it without an -ERR, as Go does, and drop its
            // queue at once so memory stays bounded.
            log::info!("{} - Slow Consumer Detected: MaxPending of {} Exceeded", c.prefix, self.opts.max_pending);
            c.out = Vec::new();
            c.out_pos = 0;
            self.stats.slow_consumers += 1;
            let s = sub.slot;
            self.mark_close(s, CloseReason::SlowConsumerPendingBytes);
            return true;
        }
        Server::queue_flush(&mut self.pending_flush, c, sub.slot);
        true
    }

    pub fn remove_client_sub(&mut self, sub: &Rc<Subscription>) {
        if let Some(c) = self.conns.get_mut(sub.slot) {
            if c.cid == sub.cid {
                c.subs.remove(&sub.sid);
            }
        }
        if self.sublist.remove(sub) {
            self.local_interest_changed(&sub.subject, sub.queue.as_deref(), false);
        }
    }

    /// SUB in Go's order: permissions, the subscription limit, then (only
    /// for a new sid) the subject's validity.
    fn process_sub(&mut self, slot: usize, subj: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        let max_subs = self.opts.max_subscriptions;
        let c = &mut self.conns[slot];
        if c.perms.as_ref().and_then(|p| p.subscribe.as_ref()).is_some_and(|p| !p.allows_subscribe(subj, queue)) {
            log::error!(
                "{} - \"{}\" - Subscription Violation - Subject {:?}",
                c.prefix,
                c.user,
                String::from_utf8_lossy(subj)
            );
            let text = match queue {
                None => format!("Permissions Violation for Subscription to {}", quoted(subj)),
                Some(q) => {
                    format!("Permissions Violation for Subscription to {} using queue {}", quoted(subj), quoted(q))
                }
            };
            self.send_err(slot, &text);
            return;
        }
        if max_subs > 0 && c.subs.len() >= max_subs {
            self.send_err(slot, "maximum subscriptions exceeded");
            return;
        }
        if !c.subs.contains_key(sid) {
            if !subject::is_valid_subject(subj) {
                self.send_err(slot, "Invalid Subject");
                return;
            }
            let sub = Rc::new(Subscription {
                slot,
                cid: c.cid,
                owner: Owner::Client,
                subject: subj.into(),
                queue: queue.map(Into::into),
                sid: sid.into(),
                max: Cell::new(0),
                delivered: Cell::new(0),
                weight: Cell::new(1),
            });
            c.subs.insert(sid.into(), sub.clone());
            self.sublist.insert(sub);
            self.local_interest_changed(subj, queue, true);
        }
        if self.conns[slot].opts.verbose {
            self.send_ok(slot);
        }
    }

    fn process_unsub(&mut self, slot: usize, sid: &[u8], max: Option<Option<usize>>) {
        let c = &mut self.conns[slot];
        if let Some(sub) = c.subs.get(sid).cloned() {
            match max {
                Some(Some(n)) if n as u64 > sub.delivered.get() => sub.max.set(n as u64),
                _ => {
                    c.subs.remove(sid);
                    if self.sublist.remove(&sub) {
                        self.local_interest_changed(&sub.subject, sub.queue.as_deref(), false);
                    }
                }
            }
        }
        if self.conns[slot].opts.verbose {
            self.send_ok(slot);
        }
    }

    /// The client ping timer: stale check, then PING unless the client was
    /// recently active (the first tick always pings).
    pub fn ping_timer(&mut self, slot: usize, cid: u64) {
        let ping_max = self.opts.ping_max;
        let interval = self.opts.ping_interval;
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        if c.cid != cid || c.closing.is_some() || c.close_after_flush {
            return;
        }
        let is_route = c.kind == crate::conn::Kind::Route;
        if is_route {
            log::debug!("{} - Router Ping Timer", c.prefix);
        } else {
            log::debug!("{} - Client Ping Timer", c.prefix);
        }
        if c.pings_out + 1 > ping_max {
            self.send_err(slot, "Stale Connection");
            self.close_after_flush(slot, CloseReason::StaleConnection);
            return;
        }
        // Routes are pinged regardless of traffic.
        if is_route || !c.pinged || !c.active {
            c.pinged = true;
            c.pings_out += 1;
            if let Some(r) = c.route.as_mut() {
                r.ping_sent.get_or_insert_with(std::time::Instant::now);
            }
            c.out.extend_from_slice(b"PING\r\n");
            if trace_enabled() {
                log::trace!("{} - ->> [PING]", c.prefix);
            }
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
        c.active = false;
        // Give back memory a burst left behind.
        if c.pending() == 0 && c.out.capacity() > crate::server::BUF_KEEP {
            c.out = Vec::new();
            c.out_pos = 0;
        }
        if c.inb.is_empty() && c.inb.capacity() > crate::server::BUF_KEEP {
            c.inb = Vec::new();
        }
        let interval = if is_route { interval.min(ROUTE_PING_MAX) } else { interval };
        self.timers.add_in(interval, TimerKind::Ping { slot, cid });
    }
}

/// JSON types of the known CONNECT / INFO fields.
#[derive(Clone, Copy)]
pub enum Kind {
    Bool,
    Str,
    Num,
    List,
}

pub const CONNECT_FIELDS: &[(&str, Kind)] = &[
    ("verbose", Kind::Bool),
    ("pedantic", Kind::Bool),
    ("tls_required", Kind::Bool),
    ("echo", Kind::Bool),
    ("headers", Kind::Bool),
    ("no_responders", Kind::Bool),
    ("protocol", Kind::Num),
    ("auth_token", Kind::Str),
    ("user", Kind::Str),
    ("pass", Kind::Str),
    ("name", Kind::Str),
    ("lang", Kind::Str),
    ("version", Kind::Str),
    ("account", Kind::Str),
    ("new_account", Kind::Bool),
    ("jwt", Kind::Str),
    ("nkey", Kind::Str),
    ("sig", Kind::Str),
];

const INFO_FIELDS: &[(&str, Kind)] = &[
    ("server_id", Kind::Str),
    ("server_name", Kind::Str),
    ("version", Kind::Str),
    ("go", Kind::Str),
    ("host", Kind::Str),
    ("port", Kind::Num),
    ("proto", Kind::Num),
    ("max_payload", Kind::Num),
    ("client_id", Kind::Num),
    ("client_ip", Kind::Str),
    ("headers", Kind::Bool),
    ("auth_required", Kind::Bool),
    ("tls_required", Kind::Bool),
    ("connect_urls", Kind::List),
    ("ldm", Kind::Bool),
];

/// Whether `v` is an object whose known fields have the right JSON types
/// (`null` allowed). The Go server decodes these into typed structs and
/// drops a connection whose JSON does not fit, without an `-ERR`.
pub fn types_ok(v: &json::Value, fields: &[(&str, Kind)]) -> bool {
    let json::Value::Object(entries) = v else { return false };
    entries.iter().all(|(k, val)| match fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)) {
        None => true,
        Some((_, kind)) => match (kind, val) {
            (_, json::Value::Null) => true,
            (Kind::Bool, json::Value::Bool(_)) => true,
            (Kind::Str, json::Value::String(_)) => true,
            // Go decodes these into integers: `1.0` and `1e0` do not fit.
            (Kind::Num, json::Value::Integer(_)) => true,
            (Kind::List, json::Value::Array(_)) => true,
            _ => false,
        },
    })
}

pub fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| *c != b' ' && *c != b'\t').unwrap_or(b.len());
    &b[s..]
}

/// CONNECT JSON for traces with password and token values hidden.
pub fn redact(j: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(j).into_owned();
    for key in ["\"pass\":\"", "\"auth_token\":\""] {
        if let Some(i) = s.find(key) {
            let start = i + key.len();
            if let Some(end) = s[start..].find('"') {
                s.replace_range(start..start + end, "[REDACTED]");
            }
        }
    }
    s
}

/// Whether `t` holds a CR or LF (a plain loop: these are short and memchr's
/// set-up costs more than the scan).
#[inline]
pub fn has_line_break(t: &[u8]) -> bool {
    t.iter().any(|c| *c == b'\r' || *c == b'\n')
}
