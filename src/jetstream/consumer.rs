//! Consumers: where a consumer stands in its stream, what it has delivered
//! and awaits acks for, pull requests waiting for messages, push delivery
//! with heartbeats and flow control, acks and their effects, redelivery,
//! and the state kept in `obs/<name>/` for durable consumers of file
//! streams.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rnats_protocol::json::{self, Value};

use super::config::{self, AckPolicy, ConsumerConfig, DeliverPolicy, Obj, Retention};
use super::store::Store;
use super::stream::{write_atomic, Stream};
use super::{now_nanos, time_text, Inbound, JetStream};
use crate::routing::accounts::AccId;
use crate::server::Server;

/// A delivered message awaiting its ack.
#[derive(Debug, Clone)]
pub struct Pending {
    pub cseq: u64,
    /// Delivery time, Unix nanoseconds.
    pub ts: i64,
    pub deadline: Instant,
    /// Queued for redelivery already.
    pub queued: bool,
}

/// A pull request waiting for messages.
#[derive(Debug)]
pub struct PullReq {
    pub reply: Vec<u8>,
    pub batch: i64,
    pub max_bytes: i64,
    pub bytes_left: i64,
    pub expires: Option<Instant>,
    pub no_wait: bool,
    pub hb: Option<Duration>,
    pub hb_next: Option<Instant>,
    pub delivered: i64,
}

pub struct Consumer {
    pub name: String,
    pub cfg: ConsumerConfig,
    pub created: i64,
    pub durable: bool,
    filters: Vec<Vec<u8>>,
    /// Last consumer sequence given out, last stream sequence passed.
    pub dseq: u64,
    pub sseq: u64,
    pub ack_floor_c: u64,
    pub ack_floor_s: u64,
    pub pending: BTreeMap<u64, Pending>,
    /// Delivery counts above 1, by stream sequence.
    pub rdc: BTreeMap<u64, u64>,
    rdq: VecDeque<u64>,
    /// `last_per_subject`: the messages still to hand out first.
    lps: BTreeSet<u64>,
    pub waiting: VecDeque<PullReq>,
    pub num_pending: u64,
    pub last_active: i64,
    pub push_bound: bool,
    idle_since: Instant,
    hb_next: Option<Instant>,
    fc_out: Option<Vec<u8>>,
    fc_bytes: u64,
    dir: Option<PathBuf>,
    dirty: bool,
    pub deleted: bool,
}

const FC_WINDOW: u64 = 1 << 20;

impl Consumer {
    pub fn new(name: String, cfg: ConsumerConfig, durable: bool, store: &Store, dir: Option<PathBuf>) -> Consumer {
        let filters = cfg.filters().into_iter().map(String::into_bytes).collect();
        let mut c = Consumer {
            name,
            cfg,
            created: now_nanos(),
            durable,
            filters,
            dseq: 0,
            sseq: 0,
            ack_floor_c: 0,
            ack_floor_s: 0,
            pending: BTreeMap::new(),
            rdc: BTreeMap::new(),
            rdq: VecDeque::new(),
            lps: BTreeSet::new(),
            waiting: VecDeque::new(),
            num_pending: 0,
            last_active: 0,
            push_bound: false,
            idle_since: Instant::now(),
            hb_next: None,
            fc_out: None,
            fc_bytes: 0,
            dir,
            dirty: true,
            deleted: false,
        };
        c.set_start(store);
        c.recount(store);
        c
    }

    fn set_start(&mut self, store: &Store) {
        let first = store.first().max(1);
        self.sseq = match self.cfg.deliver_policy {
            DeliverPolicy::All => first - 1,
            DeliverPolicy::New => store.last_seq,
            DeliverPolicy::Last => {
                let mut last = None;
                let mut s = store.last_seq;
                while s >= first && s > 0 {
                    if store.meta(s).is_some_and(|m| self.takes(&m.0)) {
                        last = Some(s);
                        break;
                    }
                    s -= 1;
                }
                last.map_or(store.last_seq, |l| l - 1)
            }
            DeliverPolicy::ByStartSequence => self.cfg.opt_start_seq.saturating_sub(1),
            DeliverPolicy::ByStartTime => {
                let t = self.cfg.opt_start_time.as_ref().map_or(0, |x| x.1);
                let found = store.seqs_from(0).find(|s| store.meta(*s).is_some_and(|m| m.1 >= t));
                found.map_or(store.last_seq, |s| s - 1)
            }
            DeliverPolicy::LastPerSubject => {
                let mut lps = BTreeSet::new();
                for (subj, st) in store.subjects() {
                    if self.takes(subj) {
                        lps.insert(st.last);
                    }
                }
                let start = lps.iter().next().map_or(store.last_seq, |s| s - 1);
                self.lps = lps;
                start
            }
        };
        self.ack_floor_s = self.sseq;
    }

    /// Counts the messages not yet delivered.
    fn recount(&mut self, store: &Store) {
        self.lps.retain(|s| store.contains(*s));
        let from = match self.lps.iter().next_back() {
            Some(l) => (*l + 1).max(self.sseq + 1),
            None => self.sseq + 1,
        };
        let mut n = self.lps.len() as u64;
        if self.filters.is_empty() {
            n += store.seqs_from(from).count() as u64;
        } else {
            n += store.seqs_from(from).filter(|s| store.meta(*s).is_some_and(|m| self.takes(&m.0))).count() as u64;
        }
        self.num_pending = n;
    }

    /// Whether the consumer's filters take `subject`.
    pub fn takes(&self, subject: &[u8]) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| config::subject_matches(f, subject))
    }

    pub fn on_stored(&mut self, seq: u64, subject: &[u8]) {
        if seq > self.sseq && self.takes(subject) {
            self.num_pending += 1;
        }
    }

    pub fn on_removed(&mut self, seq: u64, subject: &[u8]) {
        let counted = self.lps.is_empty() && seq > self.sseq && self.takes(subject);
        if self.lps.remove(&seq) || counted {
            self.num_pending = self.num_pending.saturating_sub(1);
        }
        if self.pending.remove(&seq).is_some() {
            self.rdc.remove(&seq);
            self.update_floor();
        }
    }

    pub fn after_purge(&mut self, store: &Store) {
        let gone: Vec<u64> = self.pending.keys().copied().filter(|s| !store.contains(*s)).collect();
        for s in gone {
            self.pending.remove(&s);
            self.rdc.remove(&s);
        }
        let first = store.first();
        if self.sseq + 1 < first {
            self.sseq = first.saturating_sub(1);
        }
        self.update_floor();
        self.recount(store);
    }

    /// Everything below the first unacked delivery is acked.
    fn update_floor(&mut self) {
        match self.pending.iter().next() {
            Some((s, p)) => {
                self.ack_floor_s = s - 1;
                self.ack_floor_c = p.cseq - 1;
            }
            None => {
                self.ack_floor_s = self.sseq;
                self.ack_floor_c = self.dseq;
            }
        }
        self.dirty = true;
    }

    /// Whether stream message `seq` needs nothing more from this consumer.
    pub fn is_done_with(&self, seq: u64) -> bool {
        seq <= self.sseq && !self.pending.contains_key(&seq) && !self.lps.contains(&seq)
    }

    fn ack_wait_for(&self, dc: u64) -> Duration {
        let ns = if self.cfg.backoff.is_empty() {
            self.cfg.ack_wait
        } else {
            let i = (dc as usize).saturating_sub(1).min(self.cfg.backoff.len() - 1);
            self.cfg.backoff[i]
        };
        Duration::from_nanos(ns.max(1) as u64)
    }

    /// The next message to hand out: a redelivery first, else the next
    /// new one the filters take. `None` when nothing can go now.
    fn next(&mut self, store: &Store) -> Option<(u64, bool)> {
        while let Some(s) = self.rdq.front().copied() {
            if self.pending.contains_key(&s) && store.contains(s) {
                return Some((s, true));
            }
            self.rdq.pop_front();
        }
        if self.cfg.ack_policy != AckPolicy::None
            && self.cfg.max_ack_pending > 0
            && self.pending.len() as i64 >= self.cfg.max_ack_pending
        {
            return None;
        }
        if let Some(s) = self.lps.iter().next().copied() {
            return Some((s, false));
        }
        let s = if self.filters.is_empty() {
            store.seqs_from(self.sseq + 1).next()
        } else {
            let f = &self.filters;
            store.next_matching(self.sseq + 1, |subj| f.iter().any(|p| config::subject_matches(p, subj)))
        }?;
        Some((s, false))
    }

    pub fn info_value(&self, stream: &str, srv_wait: usize) -> Value {
        let mut o = Obj::default();
        o.put("type", config::s("io.nats.jetstream.api.v1.consumer_info_response"));
        self.info_fields(&mut o, stream, srv_wait);
        o.done()
    }

    pub fn info_fields(&self, o: &mut Obj, stream: &str, num_waiting: usize) {
        o.put("stream_name", config::s(stream));
        o.put("name", config::s(&self.name));
        o.put("created", config::s(&time_text(self.created)));
        o.put("config", self.cfg.to_value());
        let mut d = Obj::default();
        d.put("consumer_seq", config::u(self.dseq));
        d.put("stream_seq", config::u(self.sseq));
        if self.last_active > 0 {
            d.put("last_active", config::s(&time_text(self.last_active)));
        }
        o.put("delivered", d.done());
        let mut f = Obj::default();
        f.put("consumer_seq", config::u(self.ack_floor_c));
        f.put("stream_seq", config::u(self.ack_floor_s));
        o.put("ack_floor", f.done());
        o.put("num_ack_pending", config::u(self.pending.len() as u64));
        o.put("num_redelivered", config::u(self.rdc.len() as u64));
        o.put("num_waiting", config::u(num_waiting as u64));
        o.put("num_pending", config::u(self.num_pending));
        if self.push_bound {
            o.put("push_bound", Value::Bool(true));
        }
        o.put("ts", config::s(&time_text(now_nanos())));
    }

    pub fn write_meta(&self) {
        let Some(d) = &self.dir else { return };
        if let Err(e) = std::fs::create_dir_all(d) {
            log::error!("JetStream could not create consumer directory {d:?}: {e}");
            return;
        }
        let mut o = Obj::default();
        o.put("name", config::s(&self.name));
        o.put("config", self.cfg.to_value());
        o.put("created", config::s(&time_text(self.created)));
        o.put("durable", Value::Bool(self.durable));
        let mut out = Vec::new();
        json::write_value(&mut out, &o.done());
        if let Err(e) = write_atomic(&d.join("meta.inf"), &out) {
            log::error!("JetStream could not write consumer metadata {d:?}: {e}");
        }
    }

    /// Writes delivered and ack state (`o.dat`) when it changed.
    pub fn save_state(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(d) = &self.dir else { return };
        let mut o = Obj::default();
        o.put("dseq", config::u(self.dseq));
        o.put("sseq", config::u(self.sseq));
        o.put("afc", config::u(self.ack_floor_c));
        o.put("afs", config::u(self.ack_floor_s));
        o.put(
            "pending",
            Value::Array(
                self.pending
                    .iter()
                    .map(|(s, p)| Value::Array(vec![config::u(*s), config::u(p.cseq), config::n(p.ts)]))
                    .collect(),
            ),
        );
        o.put(
            "rdc",
            Value::Array(self.rdc.iter().map(|(s, n)| Value::Array(vec![config::u(*s), config::u(*n)])).collect()),
        );
        o.put("lps", Value::Array(self.lps.iter().map(|s| config::u(*s)).collect()));
        let mut out = Vec::new();
        json::write_value(&mut out, &o.done());
        if let Err(e) = write_atomic(&d.join("o.dat"), &out) {
            log::error!("JetStream could not write consumer state {d:?}: {e}");
        }
    }

    fn load_state(&mut self, v: &Value, store: &Store) {
        let g = |k: &str| v.get(k).and_then(Value::as_f64).map_or(0, |x| x as u64);
        self.dseq = g("dseq");
        self.sseq = g("sseq");
        self.ack_floor_c = g("afc");
        self.ack_floor_s = g("afs");
        let now = Instant::now();
        for p in v.get("pending").and_then(Value::as_array).unwrap_or(&[]) {
            let Some(a) = p.as_array() else { continue };
            let num = |i: usize| a.get(i).and_then(Value::as_f64).unwrap_or(0.0);
            let s = num(0) as u64;
            let dl = now + self.ack_wait_for(1);
            self.pending.insert(s, Pending { cseq: num(1) as u64, ts: num(2) as i64, deadline: dl, queued: false });
        }
        for p in v.get("rdc").and_then(Value::as_array).unwrap_or(&[]) {
            if let Some([s, n]) = p.as_array() {
                self.rdc.insert(s.as_f64().unwrap_or(0.0) as u64, n.as_f64().unwrap_or(0.0) as u64);
            }
        }
        self.lps = v
            .get("lps")
            .and_then(Value::as_array)
            .unwrap_or(&[])
            .iter()
            .filter_map(Value::as_f64)
            .map(|x| x as u64)
            .collect();
        self.after_purge(store);
        self.dirty = false;
    }

    fn remove_files(&self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The directory of consumer `name` of a stream in `stream_dir`.
pub fn consumer_dir(stream_dir: &Path, name: &str) -> PathBuf {
    stream_dir.join("obs").join(name)
}

/// Reads a stream's consumers back from `obs/`.
pub fn recover(s: &mut Stream, obs: &Path) {
    let Ok(entries) = std::fs::read_dir(obs) else { return };
    for e in entries.flatten() {
        let d = e.path();
        let Some(v) = std::fs::read(d.join("meta.inf")).ok().and_then(|b| json::parse(&b).ok()) else {
            log::warn!("  Error reading consumer metadata in {d:?}");
            continue;
        };
        let Some(cfg) = v.get("config").and_then(|c| ConsumerConfig::parse(c).ok()) else { continue };
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            continue;
        }
        let durable = v.get("durable").and_then(Value::as_bool).unwrap_or(true);
        let mut c = Consumer::new(name.clone(), cfg, durable, &s.store, Some(d.clone()));
        c.created = v.get("created").and_then(Value::as_str).and_then(super::parse_rfc3339).unwrap_or(c.created);
        if let Some(st) = std::fs::read(d.join("o.dat")).ok().and_then(|b| json::parse(&b).ok()) {
            c.load_state(&st, &s.store);
        }
        c.dirty = false;
        s.consumers.insert(name, c);
    }
}

fn status(code: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let mut h = format!("NATS/1.0 {code}\r\n");
    for (k, v) in extra {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn send_status(srv: &mut Server, acc: AccId, to: &[u8], code: &str, extra: &[(&str, String)]) {
    let h = status(code, extra);
    srv.js_publish(acc, to, None, &h, b"");
}

fn pending_hdrs(r: &PullReq) -> [(&'static str, String); 2] {
    [("Nats-Pending-Messages", r.batch.to_string()), ("Nats-Pending-Bytes", r.bytes_left.max(0).to_string())]
}

/// Hands out what a consumer can deliver now.
fn pump(
    srv: &mut Server,
    acc: AccId,
    stream: &str,
    retention: Retention,
    store: &Store,
    c: &mut Consumer,
    wants: &mut Vec<Instant>,
) {
    if c.deleted {
        return;
    }
    let now = Instant::now();
    loop {
        let push = !c.cfg.is_pull();
        if push {
            let bound = srv.js_has_interest(acc, c.cfg.deliver_subject.as_bytes());
            c.push_bound = bound;
            if !bound {
                break;
            }
            if c.fc_out.is_some() && c.fc_bytes >= 2 * FC_WINDOW {
                break;
            }
        } else {
            while let Some(r) = c.waiting.front() {
                if srv.js_has_interest(acc, &r.reply) {
                    break;
                }
                c.waiting.pop_front();
            }
            if c.waiting.is_empty() {
                break;
            }
        }
        let Some((sseq, redelivery)) = c.next(store) else { break };
        let Some(msg) = store.get(sseq) else {
            c.pending.remove(&sseq);
            c.lps.remove(&sseq);
            if !redelivery && sseq > c.sseq {
                c.sseq = sseq;
            }
            continue;
        };
        // Go counts what goes out: subject, ack reply, headers, data (the
        // reply's length as it will be written).
        let dc_next = if redelivery { c.rdc.get(&sseq).copied().unwrap_or(1) + 1 } else { 1 };
        let pending_after = if redelivery { c.num_pending } else { c.num_pending.saturating_sub(1) };
        let reply_len =
            format!("$JS.ACK.{stream}.{}.{dc_next}.{sseq}.{}.{}.{pending_after}", c.name, c.dseq + 1, msg.ts).len();
        let size = (msg.subject.len() + reply_len + msg.hdr.len() + msg.data.len()) as i64;
        if let Some(r) = c.waiting.front_mut().filter(|_| !push) {
            if r.max_bytes > 0 && size > r.bytes_left {
                let hdrs = pending_hdrs(r);
                let to = r.reply.clone();
                c.waiting.pop_front();
                send_status(srv, acc, &to, "409 Message Size Exceeds MaxBytes", &hdrs);
                continue;
            }
        }
        // The message goes out.
        let dc = if redelivery {
            c.rdq.pop_front();
            let n = c.rdc.get(&sseq).copied().unwrap_or(1) + 1;
            c.rdc.insert(sseq, n);
            n
        } else {
            if c.lps.remove(&sseq) {
                // A last-per-subject message: new ones follow the last of them.
            }
            c.sseq = c.sseq.max(sseq);
            c.num_pending = c.num_pending.saturating_sub(1);
            1
        };
        c.dseq += 1;
        let cseq = c.dseq;
        let wall = now_nanos();
        c.last_active = wall;
        c.idle_since = now;
        let ack = format!("$JS.ACK.{stream}.{}.{dc}.{sseq}.{cseq}.{}.{}", c.name, msg.ts, c.num_pending);
        if c.cfg.ack_policy == AckPolicy::None {
            c.update_floor();
        } else {
            let dl = now + c.ack_wait_for(dc);
            wants.push(dl);
            c.pending.insert(sseq, Pending { cseq, ts: wall, deadline: dl, queued: false });
            if !redelivery && c.pending.len() == 1 {
                c.update_floor();
            }
        }
        c.dirty = true;
        let (hdr, data) = if c.cfg.headers_only {
            let mut h = if msg.hdr.is_empty() { b"NATS/1.0\r\n\r\n".to_vec() } else { msg.hdr.clone() };
            h.truncate(h.len().saturating_sub(2));
            h.extend_from_slice(format!("Nats-Msg-Size: {}\r\n\r\n", msg.data.len()).as_bytes());
            (h, Vec::new())
        } else {
            (msg.hdr, msg.data)
        };
        let to: Vec<u8> = if push {
            c.cfg.deliver_subject.clone().into_bytes()
        } else {
            c.waiting.front().map(|r| r.reply.clone()).unwrap_or_default()
        };
        srv.js_deliver(acc, &to, &msg.subject, ack.as_bytes(), &hdr, &data);
        if push {
            if c.cfg.idle_heartbeat > 0 {
                c.hb_next = Some(now + Duration::from_nanos(c.cfg.idle_heartbeat as u64));
            }
            if c.cfg.flow_control {
                c.fc_bytes += size as u64;
                if c.fc_out.is_none() && c.fc_bytes >= FC_WINDOW {
                    let r = format!("$JS.FC.{stream}.{}.{:04x}", c.name, srv.rand() & 0xffff).into_bytes();
                    send_fc(srv, acc, c, &r);
                    c.fc_out = Some(r);
                }
            }
        } else if let Some(r) = c.waiting.front_mut() {
            r.batch -= 1;
            r.delivered += 1;
            if r.max_bytes > 0 {
                r.bytes_left -= size;
            }
            if let Some(hb) = r.hb {
                r.hb_next = Some(now + hb);
            }
            if r.batch <= 0 {
                let done = c.waiting.pop_front();
                if let Some(r) = done.filter(|r| r.max_bytes > 0) {
                    let hdrs = [
                        ("Nats-Pending-Messages", "0".to_string()),
                        ("Nats-Pending-Bytes", r.bytes_left.max(0).to_string()),
                    ];
                    send_status(srv, acc, &r.reply, "409 Batch Completed", &hdrs);
                }
            }
        }
        let _ = retention;
    }
    // Requests that must not wait: answered now.
    if c.cfg.is_pull() {
        let mut keep = VecDeque::with_capacity(c.waiting.len());
        while let Some(r) = c.waiting.pop_front() {
            if r.no_wait {
                if r.expires.is_some() && r.delivered > 0 {
                    send_status(srv, acc, &r.reply, "408 Request Timeout", &pending_hdrs(&r));
                } else {
                    send_status(srv, acc, &r.reply, "404 No Messages", &[]);
                }
            } else {
                keep.push_back(r);
            }
        }
        c.waiting = keep;
    }
}

fn send_fc(srv: &mut Server, acc: AccId, c: &Consumer, reply: &[u8]) {
    let h = status("100 FlowControl Request", &[]);
    srv.js_publish(acc, c.cfg.deliver_subject.as_bytes(), Some(reply), &h, b"");
}

/// Runs delivery for every consumer of a stream.
pub fn pump_stream(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str) {
    let mut wants = Vec::new();
    if let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) {
        let Stream { store, consumers, cfg, .. } = s;
        for c in consumers.values_mut() {
            pump(srv, acc, &cfg.name, cfg.retention, store, c, &mut wants);
            if c.dirty {
                wants.push(Instant::now() + Duration::from_millis(100));
            }
        }
    }
    super::stream::want_expiry(js, acc, name);
    for w in wants {
        js.want(w);
    }
}

/// Parses a pull request body: empty (1), an integer, or JSON.
pub fn parse_pull(body: &[u8], reply: &[u8]) -> Result<PullReq, String> {
    let mut r = PullReq {
        reply: reply.to_vec(),
        batch: 1,
        max_bytes: 0,
        bytes_left: 0,
        expires: None,
        no_wait: false,
        hb: None,
        hb_next: None,
        delivered: 0,
    };
    let t = body.trim_ascii();
    if t.is_empty() {
        return Ok(r);
    }
    if t.iter().all(u8::is_ascii_digit) {
        r.batch = std::str::from_utf8(t).ok().and_then(|x| x.parse().ok()).unwrap_or(1);
        return Ok(r);
    }
    let v = json::parse(t).map_err(|e| e.to_string())?;
    if !matches!(v, Value::Object(_)) {
        return Err("json: cannot unmarshal into Go value of type server.JSApiConsumerGetNextRequest".into());
    }
    let num = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    r.batch = num("batch").max(0);
    if r.batch == 0 {
        r.batch = 1;
    }
    r.max_bytes = num("max_bytes").max(0);
    r.bytes_left = r.max_bytes;
    let exp = num("expires");
    if exp > 0 {
        r.expires = Some(Instant::now() + Duration::from_nanos(exp as u64));
    }
    r.no_wait = v.get("no_wait").and_then(Value::as_bool).unwrap_or(false);
    let hb = num("idle_heartbeat");
    if hb > 0 {
        if exp > 0 && hb > exp / 2 {
            return Err("heartbeat value too large".into());
        }
        r.hb = Some(Duration::from_nanos(hb as u64));
        r.hb_next = Some(Instant::now() + Duration::from_nanos(hb as u64));
    }
    Ok(r)
}

/// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
pub fn next_request(
    srv: &mut Server,
    js: &mut JetStream,
    m: &Inbound,
    stream: &str,
    name: &str,
    body: &[u8],
    reply: &[u8],
) {
    let acc = m.acc;
    let Some(c) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)).and_then(|s| s.consumers.get_mut(name))
    else {
        super::api::no_responders(srv, m);
        return;
    };
    if !c.cfg.is_pull() {
        send_status(srv, acc, reply, "409 Consumer is push based", &[]);
        return;
    }
    let r = match parse_pull(body, reply) {
        Ok(r) => r,
        Err(e) => {
            send_status(srv, acc, reply, &format!("400 Bad Request - {e}"), &[]);
            return;
        }
    };
    if c.cfg.max_batch > 0 && r.batch > c.cfg.max_batch {
        send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestBatch of {}", c.cfg.max_batch), &[]);
        return;
    }
    if c.cfg.max_expires > 0 {
        let exp = r.expires.map(|e| e.saturating_duration_since(Instant::now()));
        if exp.is_none_or(|e| e.as_nanos() as i64 > c.cfg.max_expires + 1_000_000) {
            let d = crate::monitor::go_format::go_duration(Duration::from_nanos(c.cfg.max_expires as u64));
            send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestExpires of {d}"), &[]);
            return;
        }
    }
    if c.cfg.max_bytes > 0 && r.max_bytes > c.cfg.max_bytes {
        send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestMaxBytes of {}", c.cfg.max_bytes), &[]);
        return;
    }
    if c.waiting.len() as i64 >= c.cfg.max_waiting.max(1) {
        send_status(srv, acc, reply, "409 Exceeded MaxWaiting", &[]);
        return;
    }
    let mut wants = Vec::new();
    if let Some(e) = r.expires {
        wants.push(e);
    }
    if let Some(h) = r.hb_next {
        wants.push(h);
    }
    c.idle_since = Instant::now();
    c.waiting.push_back(r);
    for w in wants {
        js.want(w);
    }
    pump_stream(srv, js, acc, stream);
}

/// An ack: `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>`.
pub fn handle_ack(srv: &mut Server, js: &mut JetStream, m: &Inbound) {
    let toks: Vec<&[u8]> = m.subject.split(|b| *b == b'.').collect();
    if toks.len() != 9 {
        return;
    }
    let (Ok(stream), Ok(name)) = (std::str::from_utf8(toks[2]), std::str::from_utf8(toks[3])) else { return };
    let Some(sseq) = std::str::from_utf8(toks[5]).ok().and_then(|t| t.parse::<u64>().ok()) else { return };
    let acc = m.acc;
    let body = m.data();
    let (verb, rest) = match body.iter().position(|b| *b == b' ') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &b""[..]),
    };
    let mut next: Option<Vec<u8>> = None;
    let mut acked = false;
    let mut wants = Vec::new();
    {
        let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return };
        let Some(c) = s.consumers.get_mut(name) else { return };
        let now = Instant::now();
        c.idle_since = now;
        c.last_active = now_nanos();
        match verb {
            b"" | b"+ACK" | b"+OK" => acked = ack(c, sseq),
            b"+NXT" => {
                acked = ack(c, sseq);
                next = Some(rest.to_vec());
            }
            b"-NAK" => {
                let delay = parse_delay(rest);
                if let Some(p) = c.pending.get_mut(&sseq) {
                    match delay {
                        Some(d) if !d.is_zero() => {
                            // The tick queues it for redelivery then.
                            p.deadline = now + d;
                            p.queued = false;
                            wants.push(p.deadline);
                        }
                        _ => {
                            if !p.queued {
                                p.queued = true;
                                c.rdq.push_back(sseq);
                            }
                        }
                    }
                }
            }
            b"+WPI" => {
                let w = c.ack_wait_for(c.rdc.get(&sseq).copied().unwrap_or(1));
                if let Some(p) = c.pending.get_mut(&sseq) {
                    p.deadline = now + w;
                    wants.push(p.deadline);
                }
            }
            b"+TERM" => acked = ack(c, sseq),
            _ => {}
        }
    }
    for w in wants {
        js.want(w);
    }
    if acked {
        after_ack(js, acc, stream, sseq);
    }
    if let Some(reply) = m.reply.as_deref() {
        match next {
            Some(req) => next_request(srv, js, m, stream, name, &req, reply),
            None => {
                srv.js_publish(acc, reply, None, b"", b"");
            }
        }
    }
    pump_stream(srv, js, acc, stream);
}

/// `-NAK` delay: `{"delay": ns}` or a Go duration.
fn parse_delay(rest: &[u8]) -> Option<Duration> {
    let t = rest.trim_ascii();
    if t.is_empty() {
        return None;
    }
    if t.starts_with(b"{") {
        let v = json::parse(t).ok()?;
        let ns = v.get("delay").and_then(Value::as_i64)?;
        return Some(Duration::from_nanos(ns.max(0) as u64));
    }
    crate::config::file::parse_go_duration(std::str::from_utf8(t).ok()?)
}

/// Applies an ack of `sseq`; true if it was pending.
fn ack(c: &mut Consumer, sseq: u64) -> bool {
    let hit = match c.cfg.ack_policy {
        AckPolicy::All => {
            let below: Vec<u64> = c.pending.range(..=sseq).map(|(s, _)| *s).collect();
            for s in &below {
                c.pending.remove(s);
                c.rdc.remove(s);
            }
            !below.is_empty()
        }
        _ => {
            let hit = c.pending.remove(&sseq).is_some();
            c.rdc.remove(&sseq);
            hit
        }
    };
    if hit {
        c.update_floor();
    }
    hit
}

/// Retention after an ack: a work queue forgets the message, interest
/// retention once every consumer that takes it is done with it.
fn after_ack(js: &mut JetStream, acc: AccId, stream: &str, sseq: u64) {
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return };
    match s.cfg.retention {
        Retention::Limits => {}
        Retention::WorkQueue => {
            s.remove_msg(sseq);
        }
        Retention::Interest => {
            let Some((subj, ..)) = s.store.meta(sseq) else { return };
            if s.consumers.values().filter(|c| c.takes(&subj)).all(|c| c.is_done_with(sseq)) {
                s.remove_msg(sseq);
            }
        }
    }
}

/// A flow-control answer on `$JS.FC.<stream>.<consumer>.<id>`.
pub fn handle_fc(srv: &mut Server, js: &mut JetStream, m: &Inbound) {
    let toks: Vec<&[u8]> = m.subject.split(|b| *b == b'.').collect();
    if toks.len() < 5 {
        return;
    }
    let (Ok(stream), Ok(name)) = (std::str::from_utf8(toks[2]), std::str::from_utf8(toks[3])) else { return };
    if let Some(c) =
        js.account_mut(m.acc).and_then(|a| a.streams.get_mut(stream)).and_then(|s| s.consumers.get_mut(name))
    {
        if c.fc_out.as_deref() == Some(&m.subject[..]) {
            c.fc_out = None;
            c.fc_bytes = 0;
        }
    }
    pump_stream(srv, js, m.acc, stream);
}

/// Time-driven consumer work: redelivery, request expiry, heartbeats,
/// inactivity, saved state.
pub fn tick(srv: &mut Server, js: &mut JetStream, now: Instant) {
    let mut wants = Vec::new();
    let mut to_pump = Vec::new();
    let mut to_delete = Vec::new();
    let accs: Vec<AccId> = js.accounts.iter().map(|a| a.acc).collect();
    for acc in accs {
        let Some(a) = js.account_mut(acc) else { continue };
        for (sname, s) in a.streams.iter_mut() {
            let mut pump_it = false;
            for (cname, c) in s.consumers.iter_mut() {
                // Redeliveries due.
                let mut due = Vec::new();
                for (seq, p) in c.pending.iter_mut() {
                    if p.queued {
                        continue;
                    }
                    if p.deadline <= now {
                        due.push(*seq);
                    } else {
                        wants.push(p.deadline);
                    }
                }
                for seq in due {
                    let dc = c.rdc.get(&seq).copied().unwrap_or(1);
                    if c.cfg.max_deliver > 0 && dc as i64 >= c.cfg.max_deliver {
                        c.pending.remove(&seq);
                        c.update_floor();
                        continue;
                    }
                    if let Some(p) = c.pending.get_mut(&seq) {
                        p.queued = true;
                    }
                    c.rdq.push_back(seq);
                    pump_it = true;
                }
                // Pull requests.
                let mut keep = VecDeque::with_capacity(c.waiting.len());
                while let Some(mut r) = c.waiting.pop_front() {
                    if r.expires.is_some_and(|e| e <= now) {
                        send_status(srv, acc, &r.reply, "408 Request Timeout", &pending_hdrs(&r));
                        continue;
                    }
                    if let Some(e) = r.expires {
                        wants.push(e);
                    }
                    if let (Some(hb), Some(at)) = (r.hb, r.hb_next) {
                        if at <= now {
                            let h =
                                [("Nats-Last-Consumer", c.dseq.to_string()), ("Nats-Last-Stream", c.sseq.to_string())];
                            send_status(srv, acc, &r.reply, "100 Idle Heartbeat", &h);
                            r.hb_next = Some(now + hb);
                        }
                        wants.push(r.hb_next.unwrap_or(now + hb));
                    }
                    keep.push_back(r);
                }
                c.waiting = keep;
                if !c.waiting.is_empty() {
                    c.idle_since = now;
                }
                // Push heartbeats and binding.
                if !c.cfg.is_pull() {
                    let bound = srv.js_has_interest(acc, c.cfg.deliver_subject.as_bytes());
                    if bound {
                        c.idle_since = now;
                        pump_it = true;
                    }
                    c.push_bound = bound;
                    if c.cfg.idle_heartbeat > 0 {
                        let period = Duration::from_nanos(c.cfg.idle_heartbeat as u64);
                        let at = *c.hb_next.get_or_insert(now + period);
                        if at <= now {
                            if bound {
                                let mut h = vec![
                                    ("Nats-Last-Consumer", c.dseq.to_string()),
                                    ("Nats-Last-Stream", c.sseq.to_string()),
                                ];
                                if let Some(fc) = &c.fc_out {
                                    h.push(("Nats-Consumer-Stalled", String::from_utf8_lossy(fc).into_owned()));
                                }
                                send_status(srv, acc, c.cfg.deliver_subject.as_bytes(), "100 Idle Heartbeat", &h);
                            }
                            c.hb_next = Some(now + period);
                        }
                        wants.push(c.hb_next.unwrap_or(now + period));
                    }
                }
                // Inactivity.
                if c.cfg.inactive_threshold > 0 {
                    let limit = c.idle_since + Duration::from_nanos(c.cfg.inactive_threshold as u64);
                    if limit <= now && (c.pending.is_empty() || !c.durable) {
                        to_delete.push((acc, sname.clone(), cname.clone()));
                    } else {
                        wants.push(limit.max(now + Duration::from_millis(100)));
                    }
                }
                c.save_state();
            }
            if pump_it {
                to_pump.push((acc, sname.clone()));
            }
        }
    }
    for (acc, s, c) in to_delete {
        delete_consumer(srv, js, acc, &s, &c);
    }
    for (acc, s) in to_pump {
        pump_stream(srv, js, acc, &s);
    }
    for w in wants {
        js.want(w);
    }
}

/// A client subscribed to `subject`: push consumers delivering there
/// start at once.
pub fn interest_added(srv: &mut Server, js: &mut JetStream, acc: AccId, subject: &[u8]) {
    let Some(a) = js.account(acc) else { return };
    let streams: Vec<String> = a
        .streams
        .iter()
        .filter(|(_, s)| {
            s.consumers
                .values()
                .any(|c| !c.cfg.is_pull() && config::subject_matches(subject, c.cfg.deliver_subject.as_bytes()))
        })
        .map(|(n, _)| n.clone())
        .collect();
    for s in streams {
        pump_stream(srv, js, acc, &s);
    }
}

/// Deletes a consumer: waiting requests hear `409 Consumer Deleted`.
pub fn delete_consumer(srv: &mut Server, js: &mut JetStream, acc: AccId, stream: &str, name: &str) -> bool {
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return false };
    let Some(mut c) = s.consumers.remove(name) else { return false };
    c.deleted = true;
    c.remove_files();
    let retention = s.cfg.retention;
    for r in c.waiting.drain(..) {
        send_status(srv, acc, &r.reply, "409 Consumer Deleted", &[]);
    }
    if retention == Retention::Interest {
        // Messages nobody is interested in any more go.
        let seqs: Vec<u64> = s.store.seqs_from(0).collect();
        for seq in seqs {
            let Some((subj, ..)) = s.store.meta(seq) else { continue };
            if s.consumers.values().filter(|c| c.takes(&subj)).all(|c| c.is_done_with(seq)) {
                s.remove_msg(seq);
            }
        }
    }
    true
}
