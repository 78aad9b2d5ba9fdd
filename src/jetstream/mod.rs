//! JetStream on one server: streams that store the messages published on
//! their subjects (in memory or in a file), consumers that deliver them
//! again with acknowledgements, and the `$JS.API` requests that manage
//! both, as Go's server answers them.
//!
//! JetStream lives on the reactor like everything else. Its subscriptions
//! (`$JS.API.>`, `$JS.ACK.>`, `$JS.FC.>` and each stream's subjects, in every
//! account that has JetStream) are owned by [`Kind::Internal`]: the delivery
//! path copies a matching message into `Server::js_inbox`, and the loop
//! hands the queue to [`Server::run_jetstream`] after reading, so a message
//! is stored (written to its file) before the PubAck is published. Time
//! driven work (redelivery, request expiry, heartbeats, `max_age`, fsync,
//! consumer state) runs from one timer set to the nearest deadline.

pub mod api;
pub mod clock;
pub mod consumer;
pub mod state;
pub mod store;
pub mod stream;

pub use clock::{now_nanos, time_text};
use state::Target;
pub use state::{Action, Inbound, JetStream, JsAccount, Resume, Rollup};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

use rnats_protocol::json::{self, Value};

use crate::conn::Kind;
use crate::routing::accounts::AccId;
use crate::routing::sublist::Subscription;
use crate::server::deliver::{Msg, Origin};
use crate::server::timer::TimerKind;
use crate::server::Server;

pub use crate::config::options::JsLimits;
pub use rnats_protocol::gotime::parse_rfc3339;
pub use rnats_protocol::jetstream::{config, ApiError};

/// The slot internal subscriptions name (no connection has it).
pub const INTERNAL_SLOT: usize = usize::MAX - 1;

impl Inbound {
    pub fn hdr(&self) -> &[u8] {
        &self.payload[..self.hdr_len.min(self.payload.len())]
    }
    pub fn data(&self) -> &[u8] {
        &self.payload[self.hdr_len.min(self.payload.len())..]
    }
}

impl JsAccount {
    pub fn consumers(&self) -> usize {
        self.streams.values().map(|s| s.consumers.len()).sum()
    }
    pub fn usage(&self, file: bool) -> u64 {
        self.streams.values().filter(|s| s.cfg.file == file).map(|s| s.store.bytes).sum()
    }
}

/// Messages a request erases in one pass of the event loop; a purge that
/// erases more goes on in the next passes, so other connections are
/// served between slices.
pub const ERASE_PER_PASS: usize = 4096;

impl JetStream {
    /// Asks for the tick at `at` (or earlier).
    pub fn want(&mut self, at: Instant) {
        if self.want_at.is_none_or(|w| at < w) {
            self.want_at = Some(at);
        }
    }

    pub fn account_mut(&mut self, acc: AccId) -> Option<&mut JsAccount> {
        self.accounts.iter_mut().find(|a| a.acc == acc)
    }

    pub fn account(&self, acc: AccId) -> Option<&JsAccount> {
        self.accounts.iter().find(|a| a.acc == acc)
    }

    pub fn usage(&self, file: bool) -> u64 {
        self.accounts.iter().map(|a| a.usage(file)).sum()
    }

    pub fn account_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// Free bytes of the file system holding `dir`.
fn free_space(dir: &std::path::Path) -> Option<i64> {
    crate::sys::free_disk_space(dir)
}

/// Total memory of the machine in bytes.
fn total_memory() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

impl Server {
    /// Enables JetStream at start: the store directory, the accounts that
    /// have it, their streams and consumers read back from disk.
    pub fn start_jetstream(&mut self) -> Result<(), String> {
        let Some(opts) = self.opts.jetstream.clone() else { return Ok(()) };
        let base = match &opts.store_dir {
            Some(d) => d.clone(),
            None => {
                let d = std::env::temp_dir().join("nats");
                log::warn!("Temporary storage directory used, data could be lost on system reboot");
                d
            }
        };
        let root = base.join("jetstream");
        std::fs::create_dir_all(&root).map_err(|e| format!("Could not create storage directory - {e}"))?;
        let max_memory = opts.max_memory.unwrap_or_else(|| total_memory().map_or(256 << 20, |m| m / 4 * 3));
        let max_store = opts.max_file.unwrap_or_else(|| free_space(&root).unwrap_or(1 << 40));
        log::info!("Starting JetStream");
        log::info!("----------------------------------------");
        log::info!("  Max Memory:      {}", friendly_bytes(max_memory));
        log::info!("  Max Storage:     {}", friendly_bytes(max_store));
        log::info!("  Store Directory: \"{}\"", root.display());
        if let Some(d) = &opts.domain {
            log::info!("  Domain:          {d}");
        }
        log::info!("----------------------------------------");
        let mut accounts = Vec::new();
        if self.opts.accounts.is_empty() {
            accounts.push((crate::routing::accounts::GLOBAL, "$G".to_string(), JsLimits::default()));
        }
        for (name, limits) in self.opts.account_js.clone() {
            if let Some(id) = self.accounts.id(name.as_bytes()) {
                accounts.push((id, name, limits));
            }
        }
        let mut js = JetStream {
            next_sync: Instant::now() + opts.sync_interval,
            resume: None,
            discarded: Vec::new(),
            opts,
            root,
            max_memory,
            max_store,
            accounts: Vec::new(),
            wake_at: None,
            want_at: None,
        };
        for (acc, name, limits) in accounts {
            js.accounts.push(JsAccount {
                acc,
                name: name.clone(),
                limits,
                streams: BTreeMap::new(),
                subs: Vec::new(),
                api_total: 0,
                api_errors: 0,
            });
            let mut subjects: Vec<(&[u8], u8)> = vec![(b"$JS.API.>", b'A'), (b"$JS.ACK.>", b'K'), (b"$JS.FC.>", b'F')];
            let domain_api = js.opts.domain.as_ref().map(|d| format!("$JS.{d}.API.>"));
            if let Some(d) = &domain_api {
                subjects.push((d.as_bytes(), b'A'));
            }
            for (subj, tag) in subjects {
                let sub = self.internal_subscribe(acc, subj, &[tag]);
                if let Some(a) = js.account_mut(acc) {
                    a.subs.push(sub);
                }
            }
            stream::recover_account(self, &mut js, acc);
        }
        let n = js.accounts.len();
        log::info!("  Enabled JetStream for {n} account{}", if n == 1 { "" } else { "s" });
        self.js_sync_timer(&mut js);
        self.jetstream = Some(Box::new(js));
        self.build_info_head();
        Ok(())
    }

    fn js_sync_timer(&mut self, js: &mut JetStream) {
        js.want(js.next_sync);
    }

    /// Subscribes JetStream to `subject` in account `acc`; the sid tells
    /// what for (`A` API, `K` acks, `F` flow control, `S<name>` a stream).
    pub fn internal_subscribe(&mut self, acc: AccId, subject: &[u8], sid: &[u8]) -> Rc<Subscription> {
        let mut sub = Subscription::new(INTERNAL_SLOT, 0, Kind::Internal, subject, None, sid);
        sub.account = acc;
        let sub = Rc::new(sub);
        self.sublist_mut(acc).insert(sub.clone());
        self.local_interest_changed(acc, subject, None, true);
        sub
    }

    pub fn internal_unsubscribe(&mut self, sub: &Rc<Subscription>) {
        if self.sublist_mut(sub.account).remove(sub) {
            self.local_interest_changed(sub.account, sub.subject(), None, false);
        }
    }

    /// Called by delivery for a JetStream subscription: the message is
    /// copied into the queue `run_jetstream` works through.
    #[cold]
    #[inline(never)]
    pub fn js_enqueue(&mut self, from: usize, acc: AccId, sub: &Subscription, m: Msg<'_>) {
        let sid = sub.sid();
        let (target, stream): (Target, Rc<str>) = match sid.first() {
            Some(b'A') => (Target::Api, Rc::from("")),
            Some(b'K') => (Target::Ack, Rc::from("")),
            Some(b'F') => (Target::FlowControl, Rc::from("")),
            _ => (Target::Stream, Rc::from(std::str::from_utf8(&sid[1..]).unwrap_or(""))),
        };
        // Bounded: a queue this long means storage cannot keep up; the
        // message is dropped as a slow consumer's would be.
        if self.js_inbox.len() >= 1 << 20 {
            log::warn!("JetStream inbound queue full, message on {} dropped", String::from_utf8_lossy(m.subject));
            return;
        }
        let from_cid = self.conns.get(from).map_or(0, |c| c.cid);
        self.js_inbox.push_back(Inbound {
            acc,
            from,
            from_cid,
            target,
            stream,
            subject: m.subject.into(),
            reply: m.reply.map(Into::into),
            hdr_len: m.header_len.unwrap_or(0),
            payload: m.payload.into(),
        });
    }

    /// Works through the messages JetStream received since the last pass.
    pub fn run_jetstream(&mut self) {
        let Some(mut js) = self.jetstream.take() else {
            self.js_inbox.clear();
            return;
        };
        // Messages JetStream itself publishes may come back (a consumer
        // delivering to an API subject): bounded per pass.
        let mut budget = 100_000usize;
        while let Some(m) = self.js_inbox.pop_front() {
            match m.target {
                Target::Api => api::handle(self, &mut js, &m),
                Target::Ack => consumer::handle_ack(self, &mut js, &m),
                Target::FlowControl => consumer::handle_fc(self, &mut js, &m),
                Target::Stream => stream::handle_publish(self, &mut js, &m),
            }
            if js.resume.is_some() {
                self.js_inbox.push_front(m);
                js.want(Instant::now());
                break;
            }
            budget -= 1;
            if budget == 0 {
                js.want(Instant::now());
                break;
            }
        }
        if js.accounts.iter().any(|a| a.streams.values().any(|s| s.store.needs_tidy())) {
            js.want(Instant::now());
        }
        self.js_arm_timer(&mut js);
        self.jetstream = Some(js);
    }

    fn js_arm_timer(&mut self, js: &mut JetStream) {
        if let Some(at) = js.want_at.take() {
            if js.wake_at.is_none_or(|w| at < w) {
                js.wake_at = Some(at);
                self.timers.add(at, TimerKind::JetStream);
            }
        }
    }

    /// The JetStream timer: everything due runs, the next one is set.
    pub fn jetstream_tick(&mut self) {
        let Some(mut js) = self.jetstream.take() else { return };
        let now = Instant::now();
        if js.wake_at.is_some_and(|w| w <= now) {
            js.wake_at = None;
        }
        if now >= js.next_sync {
            js.next_sync = now + js.opts.sync_interval;
            for a in &mut js.accounts {
                for s in a.streams.values_mut() {
                    if let Err(e) = s.store.sync() {
                        log::error!("JetStream sync of stream '{} > {}' failed: {e}", a.name, s.cfg.name);
                    }
                }
            }
        }
        let next_sync = js.next_sync;
        js.want(next_sync);
        if js.resume.is_none() {
            // A block a purge is emptying is better left to the purge.
            tidy_one_block(&mut js);
        }
        if let Some(st) = js.discarded.last_mut() {
            if st.shed(4 * ERASE_PER_PASS) {
                js.discarded.pop();
            }
        }
        if !js.discarded.is_empty() {
            js.want(now);
        }
        stream::tick(self, &mut js, now);
        consumer::tick(self, &mut js, now);
        self.js_arm_timer(&mut js);
        self.jetstream = Some(js);
    }

    /// Publishes a message from JetStream in account `acc`.
    pub fn js_publish(&mut self, acc: AccId, subject: &[u8], reply: Option<&[u8]>, hdr: &[u8], data: &[u8]) -> bool {
        let mut buf = std::mem::take(&mut self.js_out);
        buf.clear();
        buf.extend_from_slice(hdr);
        buf.extend_from_slice(data);
        let m = Msg { subject, reply, header_len: if hdr.is_empty() { None } else { Some(hdr.len()) }, payload: &buf };
        let r = self.deliver(usize::MAX, acc, Origin::Client, m);
        self.js_out = buf;
        r
    }

    /// Go's advisory that a stream (`consumer` None) or a consumer was
    /// created, changed or deleted, on `$JS.EVENT.ADVISORY.STREAM.CREATED.
    /// <stream>` and the like; built and sent only when someone listens.
    pub fn js_advisory(&mut self, js: &JetStream, acc: AccId, stream: &str, consumer: Option<&str>, action: Action) {
        let (word, verb) = match action {
            Action::Create => ("CREATED", "create"),
            Action::Modify => ("UPDATED", "modify"),
            Action::Delete => ("DELETED", "delete"),
        };
        let (kind, subject) = match consumer {
            None => ("stream_action", format!("$JS.EVENT.ADVISORY.STREAM.{word}.{stream}")),
            Some(c) => ("consumer_action", format!("$JS.EVENT.ADVISORY.CONSUMER.{word}.{stream}.{c}")),
        };
        if !self.js_has_interest(acc, subject.as_bytes()) {
            return;
        }
        const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut id = [0u8; 22];
        crate::sys::fill_random(&mut id);
        let id: String = id.iter().map(|b| ALNUM[*b as usize % ALNUM.len()] as char).collect();
        let mut o = config::Obj::default();
        o.put("type", config::s(&format!("io.nats.jetstream.advisory.v1.{kind}")));
        o.put("id", config::s(&id));
        o.put("timestamp", config::s(&rnats_protocol::gotime::rfc3339(SystemTime::now())));
        o.put("stream", config::s(stream));
        if let Some(c) = consumer {
            o.put("consumer", config::s(c));
        }
        o.put("action", config::s(verb));
        if let Some(d) = &js.opts.domain {
            o.put("domain", config::s(d));
        }
        self.js_respond(acc, subject.as_bytes(), &o.done());
    }

    /// Publishes a JSON API response.
    pub fn js_respond(&mut self, acc: AccId, reply: &[u8], v: &Value) {
        let mut body = Vec::with_capacity(256);
        json::write_value(&mut body, v);
        self.js_publish(acc, reply, None, b"", &body);
    }

    /// Delivers a consumer's message: routed by `to`, seen by clients
    /// under the stored `subject`.
    pub fn js_deliver(&mut self, acc: AccId, to: &[u8], subject: &[u8], reply: &[u8], hdr: &[u8], data: &[u8]) -> bool {
        let mut buf = std::mem::take(&mut self.js_out);
        buf.clear();
        buf.extend_from_slice(hdr);
        buf.extend_from_slice(data);
        let m = Msg {
            subject,
            reply: Some(reply),
            header_len: if hdr.is_empty() { None } else { Some(hdr.len()) },
            payload: &buf,
        };
        let r = self.deliver_shown(usize::MAX, acc, to, m);
        self.js_out = buf;
        r
    }

    /// Whether anyone (a client, a route or leaf link) listens on `subject`.
    pub fn js_has_interest(&mut self, acc: AccId, subject: &[u8]) -> bool {
        // A stream listening on the subject is interest too, as in Go.
        let r = self.sublist_mut(acc).matches(subject);
        !r.psubs.is_empty() || !r.qsubs.is_empty()
    }

    /// A client subscribed: push consumers waiting for that subject start.
    #[cold]
    #[inline(never)]
    pub fn js_interest_added(&mut self, acc: AccId, subject: &[u8]) {
        let Some(mut js) = self.jetstream.take() else { return };
        consumer::interest_added(self, &mut js, acc, subject);
        self.js_arm_timer(&mut js);
        self.jetstream = Some(js);
    }

    /// At shutdown: tells every waiting pull request that it is void
    /// (`409 Server Shutdown` with what it still wanted, as Go), then saves
    /// consumer state and syncs files.
    pub fn stop_jetstream(&mut self) {
        let Some(mut js) = self.jetstream.take() else { return };
        let mut void = Vec::new();
        for a in &mut js.accounts {
            for s in a.streams.values_mut() {
                for c in s.consumers.values_mut() {
                    for r in c.waiting.drain(..) {
                        void.push((a.acc, consumer::shutdown_status(&r), r.reply));
                    }
                    c.save_state();
                }
                let _ = s.store.sync();
            }
        }
        for (acc, hdr, reply) in void {
            self.js_publish(acc, &reply, None, &hdr, b"");
        }
        log::info!("JetStream shutdown");
    }
}

/// Rewrites at most one block of one stream's store (bounded work per
/// wake-up); another wake-up follows while blocks wait.
fn tidy_one_block(js: &mut JetStream) {
    let mut done = false;
    for a in &mut js.accounts {
        for s in a.streams.values_mut().filter(|s| s.store.needs_tidy()) {
            if done {
                js.want_at = Some(Instant::now());
                return;
            }
            if let Err(e) = s.store.tidy() {
                log::error!("JetStream could not rewrite a block of stream '{} > {}': {e}", a.name, s.cfg.name);
            }
            done = true;
            if s.store.needs_tidy() {
                js.want_at = Some(Instant::now());
                return;
            }
        }
    }
}

/// Go's friendly byte counts in the start banner (`1.00 GB`).
pub fn friendly_bytes(n: i64) -> String {
    let f = n as f64;
    if n < 1024 {
        return format!("{n} B");
    }
    let units = ["KB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = f / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", units[i])
}

/// The value of header `name` in a `NATS/1.0` header block.
pub fn header<'a>(hdr: &'a [u8], name: &str) -> Option<&'a [u8]> {
    if hdr.is_empty() {
        return None;
    }
    for line in hdr.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        if line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
            let v = &line[colon + 1..];
            let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
            let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
            return Some(&v[start..end.max(start)]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let ns = 1_796_587_623_183_813_064i64;
        assert_eq!(parse_rfc3339(&time_text(ns)), Some(ns));
    }

    #[test]
    fn headers() {
        let h = b"NATS/1.0\r\nNats-Msg-Id: abc\r\nnats-expected-stream:  S \r\n\r\n";
        assert_eq!(header(h, "Nats-Msg-Id"), Some(&b"abc"[..]));
        assert_eq!(header(h, "Nats-Expected-Stream"), Some(&b"S"[..]));
        assert_eq!(header(h, "X"), None);
    }
}
