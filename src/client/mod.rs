//! Client op handlers: CONNECT (options, authentication), PUB/HPUB
//! (permissions, then the delivery path in `deliver`), SUB, UNSUB and
//! PING/PONG, each in the Go server's order of checks and replies.

pub mod accept;
pub mod info;
pub mod state;
pub mod websocket;

use std::rc::Rc;
use std::time::Instant;

use rnats_protocol::client::{ClientOp, Frame};
use rnats_protocol::framing::Status;
use rnats_protocol::json;
use rnats_protocol::subject;
use rnats_protocol::ParseError;

use crate::auth::nkeys;
use crate::auth::ConnectCreds;
use crate::auth::{password_matches, Permissions};
use crate::client::state::ClientState;
use crate::conn::handshake_fields::{types_ok, CONNECT_FIELDS, INFO_FIELDS};
use crate::conn::{CloseReason, Kind};
use crate::logging::{go_quote, redact, trace_enabled, trim};
use crate::routing::accounts::{AccId, GLOBAL};
use crate::routing::sublist::{has_line_break, Subscription};
use crate::server::deliver::{Msg, Origin};
use crate::server::lifecycle::Protocol;
use crate::server::Server;
use crate::server::{Conn, Role};

/// Reply prefixes reserved for the server's own use.
const RESERVED_REPLY_PREFIXES: [&[u8]; 3] = [b"_R_.", b"$JS.ACK.", b"_GR_."];

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

/// The client protocol, as the reactor feeds it.
pub struct ClientProtocol;

impl Protocol for ClientProtocol {
    fn body_needed(conn: &Conn, buffered: usize) -> Option<usize> {
        conn.client().and_then(|c| c.parser.body_needed(buffered))
    }

    #[inline]
    fn step(server: &mut Server, slot: usize, buf: &[u8]) -> Result<Option<(usize, bool)>, ParseError> {
        let mut client = match server.conns.get_mut(slot).map(|c| &mut c.role) {
            Some(Role::Client(c)) => c,
            _ => return Ok(Some((buf.len(), false))),
        };
        if !client.connected && !buf[0].eq_ignore_ascii_case(&b'C') && server.opts.auth_required() {
            if !server.op_before_connect(slot) {
                return Ok(Some((buf.len(), false)));
            }
            client = match server.conns.get_mut(slot).map(|c| &mut c.role) {
                Some(Role::Client(c)) => c,
                _ => return Ok(Some((buf.len(), false))),
            };
        }
        let parsed = client.parser.parse(buf);
        if matches!(parsed, Err(ParseError::BadPayloadEnd)) {
            // Go has answered the PUB line (pedantic subject check) before
            // it finds the payload's end wrong.
            server.check_pending_subject(slot, buf);
        }
        match parsed? {
            Status::Complete(f) => {
                let len = f.len;
                Ok(Some((len, server.client_op(slot, f))))
            }
            Status::Partial => {
                server.check_pending_subject(slot, buf);
                Ok(None)
            }
        }
    }
}

impl Conn {
    /// Adds the client's identity to the log prefix, as Go does after CONNECT:
    /// `"v<version>:<lang>:<name>"` with missing parts left out.
    pub fn set_identity(&mut self) {
        let Some(c) = self.client() else { return };
        let mut parts = Vec::new();
        if !c.version.is_empty() {
            parts.push(format!("v{}", c.version));
        }
        if !c.lang.is_empty() {
            parts.push(c.lang.clone());
        }
        if !c.name.is_empty() {
            parts.push(c.name.clone());
        }
        let id = if self.sock.websocket() { "wid" } else { "cid" };
        let base = format!("{} - {id}:{}", self.peer, self.cid);
        self.prefix = if parts.is_empty() { base } else { format!("{base} - \"{}\"", parts.join(":")) };
    }
}

impl Server {
    /// A first op other than CONNECT where authorization is configured:
    /// refused at its first byte, as Go does, unless `no_auth_user` lets
    /// the client in as that user. False when refused.
    #[cold]
    #[inline(never)]
    fn op_before_connect(&mut self, slot: usize) -> bool {
        // Go lets only a password user stand in for a client that skips
        // CONNECT; an nkey no_auth_user needs a CONNECT (even an empty one).
        let nkey_user = self.opts.no_auth_user.as_ref().is_some_and(|n| !self.opts.users.iter().any(|u| u.name == *n));
        if self.auth_enforced() || nkey_user {
            if nkey_user {
                log::error!("{} - authentication error", self.conns[slot].prefix);
            }
            self.auth_violation(slot);
            return false;
        }
        self.assume_no_auth_user(slot);
        true
    }

    /// The client state of `slot`; client handlers run only for clients.
    #[inline]
    fn client_state(&mut self, slot: usize) -> Option<&mut ClientState> {
        self.conns.get_mut(slot).and_then(|c| c.client_mut())
    }

    /// Handles bytes just read from client `slot`.
    pub fn client_input(&mut self, slot: usize, data: &[u8]) {
        self.feed::<ClientProtocol>(slot, data);
    }

    /// Handles one op; false when the connection is closing and its
    /// remaining input must be dropped.
    pub fn client_op(&mut self, slot: usize, f: Frame<'_, ClientOp<'_>>) -> bool {
        if trace_enabled() {
            let conn = &self.conns[slot];
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
                self.process_pub(slot, Msg { subject, reply, header_len: None, payload });
                true
            }
            ClientOp::HPub { subject, reply, header_len, message } => {
                if !self.client_state(slot).is_some_and(|c| c.opts.headers) {
                    self.close_after_flush(slot, CloseReason::MsgHeaderViolation);
                    return false;
                }
                // A zero-length header block is delivered as a plain message.
                let header_len = if header_len == 0 { None } else { Some(header_len) };
                self.process_pub(slot, Msg { subject, reply, header_len, payload: message });
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
                // Async INFO reaches a protocol-1 client only once it had
                // its first PONG; cluster changes since its first INFO come
                // right after that PONG (Go queues the PONG, then the INFO).
                let version = self.info_version_of(slot);
                let Some(cl) = self.client_state(slot) else { return false };
                let stale = cl.opts.protocol >= 1 && !cl.ponged && cl.info_version != version;
                cl.ponged = true;
                self.send_proto(slot, b"PONG\r\n");
                if stale {
                    self.send_info(slot);
                }
                true
            }
            ClientOp::Pong => {
                self.pong_received(slot);
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
        self.send_proto(slot, b"+OK\r\n");
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
        let Some(c) = self.client_state(slot) else { return false };
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
        let implicit_user = c.implicit_user;
        let creds = c.creds.get_or_insert_with(Default::default);
        text("user", &mut creds.user);
        text("pass", &mut creds.pass);
        text("auth_token", &mut creds.token);
        text("account", &mut creds.account);
        text("nkey", &mut creds.nkey);
        text("sig", &mut creds.sig);
        creds.new_account = flag("new_account", creds.new_account);
        let creds = (**creds).clone();
        self.conns[slot].set_identity();
        let anonymous = creds.user.is_empty() && creds.token.is_empty() && creds.nkey.is_empty();
        if implicit_user && self.opts.auth_required() && anonymous {
            // Taken as no_auth_user by an earlier op: Go refuses a CONNECT
            // that names no one.
            self.auth_violation(slot);
            return false;
        }
        let ws = self.ws_overrides_auth(slot);
        let (user, perms) = if ws || self.opts.auth_required() {
            let found = if ws { self.ws_authenticate(slot, &creds) } else { self.authenticate(slot, &creds) };
            match found {
                Some(a) => a,
                None => {
                    if !creds.nkey.is_empty() {
                        log::error!("{} - authentication error - Nkey {:?}", self.conns[slot].prefix, creds.nkey);
                    } else if creds.user.is_empty() {
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
        let assumed = (anonymous && creds.pass.is_empty() && !user.is_empty())
            .then(|| self.opts.users.iter().find(|u| u.name == user).map(|u| u.password.clone()))
            .flatten();
        let Some(account) = self.user_account(&user) else {
            self.auth_violation(slot);
            return false;
        };
        let Some(c) = self.client_state(slot) else { return false };
        if let (Some(pass), Some(stored)) = (assumed, c.creds.as_deref_mut()) {
            stored.user = user.clone();
            stored.pass = pass;
        }
        c.user = user;
        c.perms = perms;
        c.account = account;
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
        let Some((user, perms)) = self.authenticate(slot, &ConnectCreds::default()) else {
            return;
        };
        let Some(account) = self.user_account(&user) else { return };
        let Some(c) = self.client_state(slot) else { return };
        c.user = user;
        c.perms = perms;
        c.account = account;
        c.connected = true;
        c.implicit_user = true;
    }

    /// Checks CONNECT credentials against the configured token, single
    /// user, or users list (an nkey, when given and nkey users exist, is
    /// checked before and instead of a user name, as in Go); a client with
    /// no credentials may be taken as `no_auth_user`. Returns the user and
    /// its permissions, or `None`.
    pub fn authenticate(&self, slot: usize, creds: &ConnectCreds) -> Option<(String, Option<Rc<Permissions>>)> {
        let o = &self.opts;
        let (user, pass, token) = (creds.user.as_str(), creds.pass.as_str(), creds.token.as_str());
        if let Some(t) = &o.auth_token {
            return (token == t).then(|| (String::new(), None));
        }
        if let Some(u) = &o.user {
            let ok = user == u && password_matches(o.pass.as_deref().unwrap_or(""), pass);
            return ok.then(|| (u.clone(), None));
        }
        let anonymous = user.is_empty() && pass.is_empty() && token.is_empty();
        if !o.nkeys.is_empty() {
            // no_auth_user may name an nkey user (Go 2.10+); taken as it, a
            // client signs nothing.
            let no_auth = o.no_auth_user.as_deref().filter(|n| o.nkeys.iter().any(|u| u.name == *n));
            let key = match (creds.nkey.as_str(), no_auth) {
                ("", Some(n)) if anonymous => n,
                (k, _) => k,
            };
            if !key.is_empty() {
                let u = o.nkeys.iter().find(|u| u.name == key)?;
                if no_auth != Some(key) && !self.nkey_signed(slot, creds) {
                    return None;
                }
                return Some((u.name.clone(), u.permissions.clone()));
            }
        }
        #[cfg(feature = "tls")]
        if o.tls.as_ref().is_some_and(|t| t.map) && !o.users.is_empty() {
            return self.cert_user(slot, creds);
        }
        // no_auth_user stands in only for a client that names nothing at
        // all (a password alone is a failed login), as in Go.
        let found = if anonymous {
            let n = o.no_auth_user.as_deref()?;
            o.users.iter().find(|u| u.name == n)
        } else {
            o.users.iter().find(|u| u.name == user && password_matches(&u.password, pass))
        };
        found.map(|u| (u.name.clone(), u.permissions.clone()))
    }

    /// `verify_and_map`: the user named by the client's certificate (see
    /// `tls::x509::cert_user`); its password, if it has one, must still
    /// match CONNECT's, as in Go.
    #[cfg(feature = "tls")]
    fn cert_user(&self, slot: usize, creds: &ConnectCreds) -> Option<(String, Option<Rc<Permissions>>)> {
        let c = self.conns.get(slot)?;
        let Some(der) = c.sock.peer_cert() else {
            log::debug!("{} - User required in cert, no peer certificates found", c.prefix);
            return None;
        };
        let names: Vec<&str> = self.opts.users.iter().map(|u| u.name.as_str()).collect();
        let u = &self.opts.users[crate::tls::x509::cert_user(der, &names, &c.prefix)?];
        if !creds.user.is_empty() {
            log::warn!("User {:?} found in connect proto, but user required from cert", creds.user);
        }
        password_matches(&u.password, &creds.pass).then(|| (u.name.clone(), u.permissions.clone()))
    }

    /// The account of the authenticated user `name`: the one `accounts {}`
    /// defines it in, else `$G` (users of `authorization {}`, the single
    /// user, a token, no authentication). Users are found by name, so a
    /// user however authenticated (password, nkey, `no_auth_user`, a
    /// certificate) lands in its account. `None` for an account that does
    /// not exist (the configuration loader prevents that).
    pub fn user_account(&self, name: &str) -> Option<AccId> {
        if self.opts.accounts.is_empty() {
            return Some(GLOBAL);
        }
        let user = self.opts.users.iter().chain(&self.opts.nkeys).find(|u| u.name == name);
        match user.and_then(|u| u.account.as_deref()) {
            None => Some(GLOBAL),
            Some(a) => self.accounts.id(a.as_bytes()),
        }
    }

    /// Whether CONNECT's `sig` is its `nkey`'s signature of the nonce this
    /// connection's INFO carried; logs Go's reason when not.
    fn nkey_signed(&self, slot: usize, creds: &ConnectCreds) -> bool {
        let prefix = self.conns.get(slot).map_or("", |c| c.prefix.as_str());
        if creds.sig.is_empty() {
            log::debug!("{prefix} - Signature missing");
            return false;
        }
        let Some(sig) = nkeys::decode_sig(&creds.sig) else {
            log::debug!("{prefix} - Signature not valid base64");
            return false;
        };
        let key = match nkeys::decode_user_key(&creds.nkey) {
            Ok(k) => k,
            Err(e) => {
                log::debug!("{prefix} - User nkey not valid: {e}");
                return false;
            }
        };
        if creds.nonce.is_empty() || !nkeys::verify(&key, creds.nonce.as_bytes(), &sig) {
            log::debug!("{prefix} - Signature not verified");
            return false;
        }
        true
    }

    /// Pedantic mode checks a PUB's subject as soon as its line is read,
    /// before the payload has arrived, as Go does.
    pub fn check_pending_subject(&mut self, slot: usize, buf: &[u8]) {
        let Some(c) = self.client_state(slot) else { return };
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

    fn process_pub(&mut self, slot: usize, m: Msg<'_>) {
        let (subj, reply) = (m.subject, m.reply);
        if trace_enabled() && !m.payload.is_empty() {
            let t = self.traced(m.payload);
            log::trace!("{} - <<- MSG_PAYLOAD: [{t}]", self.conns[slot].prefix);
        }
        self.stats.in_msgs += 1;
        self.stats.in_bytes += m.payload.len() as u64;
        let Some(Conn { role: Role::Client(c), stats, .. }) = self.conns.get_mut(slot) else { return };
        stats.in_msgs += 1;
        stats.in_bytes += m.payload.len() as u64;
        let checked = std::mem::take(&mut c.pub_subject_checked);
        let invalid = c.opts.pedantic && !checked && !subject::is_valid_literal_subject(subj);
        let denied = match c.perms.as_deref() {
            None => false,
            Some(p) if p.publish_listed(subj) => false,
            Some(p) => match (&p.responses, c.replies.as_deref_mut()) {
                (Some(rp), Some(replies)) => !replies.allow(subj, rp, Instant::now()),
                _ => true,
            },
        };
        let (verbose, no_responders, account) = (c.opts.verbose, c.opts.no_responders, c.account);
        if invalid {
            self.send_err(slot, "Invalid Publish Subject");
        }
        if denied || subj.starts_with(b"_GR_.") {
            if denied {
                let c = &self.conns[slot];
                let user = c.client().map_or("", |cl| cl.user.as_str());
                log::error!(
                    "{} - \"{user}\" - Publish Violation - Subject {:?}",
                    c.prefix,
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
        if verbose {
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
        // No subscription anywhere in the account (route interest
        // included): nothing to deliver, and the delivery call is skipped
        // (the match still counts in /subsz, as Go's does).
        let delivered = if account != GLOBAL {
            self.publish_in_account(slot, account, m)
        } else if self.sublist.count() == 0 {
            self.sublist.stats.matches += 1;
            false
        } else {
            self.deliver(slot, GLOBAL, Origin::Client, m)
        };
        if !delivered && no_responders {
            // A subject with a line break was dropped, not unanswered.
            if let Some(r) = reply.filter(|_| !has_line_break(subj)) {
                self.send_no_responders(slot, account, r);
            }
        }
    }

    /// The end of `process_pub` for a client of an account other than `$G`
    /// (kept out of the global account's path).
    #[inline(never)]
    fn publish_in_account(&mut self, slot: usize, account: AccId, m: Msg<'_>) -> bool {
        let sublist = self.accounts.sublist_mut(account);
        if sublist.count() == 0 {
            sublist.stats.matches += 1;
            return false;
        }
        self.deliver(slot, account, Origin::Client, m)
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

    pub fn remove_client_sub(&mut self, sub: &Rc<Subscription>) {
        if let Some(c) = self.conns.get_mut(sub.slot).filter(|c| c.cid == sub.cid) {
            if let Some(cl) = c.client_mut() {
                cl.subs.remove(sub.sid());
            }
        }
        if self.sublist_mut(sub.account).remove(sub) {
            self.local_interest_changed(sub.account, sub.subject(), sub.queue(), false);
        }
    }

    /// SUB in Go's order: permissions, the subscription limit, then (only
    /// for a new sid) the subject's validity.
    fn process_sub(&mut self, slot: usize, subj: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
        let max_subs = self.opts.max_subscriptions;
        let c = &mut self.conns[slot];
        let cid = c.cid;
        let Some(cl) = c.client_mut() else { return };
        if cl.perms.as_ref().and_then(|p| p.subscribe.as_ref()).is_some_and(|p| !p.allows_subscribe(subj, queue)) {
            log::error!(
                "{} - \"{}\" - Subscription Violation - Subject {:?}",
                self.conns[slot].prefix,
                self.conns[slot].client().map_or("", |cl| cl.user.as_str()),
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
        if max_subs > 0 && cl.subs.len() >= max_subs {
            self.send_err(slot, "maximum subscriptions exceeded");
            return;
        }
        let verbose = cl.opts.verbose;
        if !cl.subs.contains(sid) {
            if !subject::is_valid_subject(subj) {
                self.send_err(slot, "Invalid Subject");
                return;
            }
            let mut sub = Subscription::new(slot, cid, Kind::Client, subj, queue, sid);
            sub.account = cl.account;
            let sub = Rc::new(sub);
            cl.subs.insert(sub.clone());
            let account = sub.account;
            self.sublist_mut(account).insert(sub);
            self.local_interest_changed(account, subj, queue, true);
            if self.jetstream.is_some() {
                self.js_interest_added(account, subj);
            }
        }
        if verbose {
            self.send_ok(slot);
        }
    }

    fn process_unsub(&mut self, slot: usize, sid: &[u8], max: Option<Option<usize>>) {
        let Some(cl) = self.client_state(slot) else { return };
        let verbose = cl.opts.verbose;
        if let Some(sub) = cl.subs.get(sid).cloned() {
            match max {
                Some(Some(n)) if n as u64 > sub.delivered.get() => sub.max.set(n as u64),
                _ => {
                    cl.subs.remove(sid);
                    if self.sublist_mut(sub.account).remove(&sub) {
                        self.local_interest_changed(sub.account, sub.subject(), sub.queue(), false);
                    }
                }
            }
        }
        if verbose {
            self.send_ok(slot);
        }
    }
}

impl Server {
    /// After an authorization change: clients whose user is gone are
    /// disconnected, the others get their user's new permissions, and
    /// subscriptions those no longer allow are removed with an `-ERR`.
    pub fn reapply_authorization(&mut self) {
        let slots: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none() && c.client().is_some_and(|cl| cl.connected))
            .map(|(k, _)| k)
            .collect();
        for slot in slots {
            let Some(c) = self.conns[slot].client() else { continue };
            let user = self.opts.users.iter().chain(&self.opts.nkeys).find(|u| u.name == c.user);
            let still_valid = if !self.opts.auth_required() {
                true
            } else if !self.opts.users.is_empty() || !self.opts.nkeys.is_empty() {
                user.is_some()
            } else {
                self.opts.user.as_deref().is_none_or(|u| u == c.user)
            };
            // A user moved to another account logs in again.
            let moved = user.is_some() && self.user_account(&c.user) != Some(c.account);
            if !still_valid || moved {
                self.send_err(slot, "Authorization Violation");
                self.close_after_flush(slot, CloseReason::AuthenticationViolation);
                continue;
            }
            let perms = user.and_then(|u| u.permissions.clone());
            let Some(c) = self.conns[slot].client_mut() else { continue };
            c.perms = perms.clone();
            let Some(sp) = perms.as_ref().and_then(|p| p.subscribe.clone()) else { continue };
            let revoked: Vec<_> =
                c.subs.values().filter(|s| !sp.allows_subscribe(s.subject(), s.queue())).cloned().collect();
            for sub in revoked {
                let text = format!(
                    "Permissions Violation for Subscription to {} (sid {})",
                    crate::logging::go_quote(sub.subject()),
                    crate::logging::go_quote(sub.sid())
                );
                self.send_err(slot, &text);
                self.remove_client_sub(&sub);
            }
        }
    }

    /// A client connection was removed: its row kept for
    /// `/connz?state=closed`, its subscriptions out of the sublist, and the
    /// interest it held withdrawn from routes.
    pub fn client_closed(&mut self, c: &mut Conn, reason: CloseReason) {
        self.client_count -= 1;
        self.remember_closed(c, reason);
        let Role::Client(cl) = &mut c.role else { return };
        // Interest leaves per subject and queue in one step.
        let mut gone: Vec<Rc<crate::routing::sublist::Subscription>> = Vec::with_capacity(cl.subs.len());
        for sub in cl.subs.drain() {
            self.sublist_mut(sub.account).remove(&sub);
            gone.push(sub);
        }
        gone.sort_by(|a, b| (a.account, a.subject(), a.queue()).cmp(&(b.account, b.subject(), b.queue())));
        for run in gone.chunk_by(|a, b| (a.account, a.subject(), a.queue()) == (b.account, b.subject(), b.queue())) {
            self.local_interest_delta(run[0].account, run[0].subject(), run[0].queue(), -(run.len() as i64));
        }
        log::debug!("{} - Client connection closed: {}", c.prefix, reason.as_str());
    }
}
