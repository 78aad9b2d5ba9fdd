//! Consumers: where a consumer stands in its stream, what it has delivered
//! and awaits acks for, pull requests waiting for messages, push delivery
//! with heartbeats and flow control, acks and their effects, redelivery,
//! and the state kept in `obs/<name>/` for durable consumers of file
//! streams.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rnats_protocol::jetstream::next;
use rnats_protocol::json::{self, Value};

use super::config::{self, AckPolicy, ConsumerConfig, DeliverPolicy, Obj, Retention};
use super::state::{Consumer, Pending, PullReq, Stream};
use super::store::write_atomic;
use super::store::Store;
use super::{now_nanos, time_text, Inbound, JetStream};
use crate::routing::accounts::AccId;
use crate::server::Server;

const FC_WINDOW: u64 = 1 << 20;

/// The 503 no-responders status, as the core server sends it to a
/// requester that asked for it (DIRECT.GET and MSG.NEXT with nobody there).
pub fn no_responders(srv: &mut Server, m: &Inbound) {
    let Some(reply) = m.reply.as_deref() else { return };
    let ok = srv.conns.get(m.from).is_some_and(|c| {
        c.cid == m.from_cid
            && matches!(&c.role, crate::server::Role::Client(cl) if cl.opts.no_responders && cl.opts.headers)
    });
    if ok {
        srv.send_no_responders(m.from, m.acc, reply);
    }
}

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
            ack_last_active: 0,
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

    /// The start position as Go's `selectStartingSeqNo` picks it: the
    /// next sequence to look at, kept here as the one before it.
    fn set_start(&mut self, store: &Store) {
        let (first, last) = (store.first(), store.last_seq);
        let opt = self.cfg.opt_start_seq;
        let mut next = if opt > 0 {
            opt
        } else {
            match self.cfg.deliver_policy {
                DeliverPolicy::All => first,
                DeliverPolicy::Last if self.filters.is_empty() => last,
                DeliverPolicy::Last => {
                    // The last message the filters take (0 if none).
                    let mut s = last;
                    while s >= first.max(1) && !store.meta(s).is_some_and(|m| self.takes(&m.0)) {
                        s -= 1;
                    }
                    if s >= first.max(1) {
                        s
                    } else {
                        0
                    }
                }
                DeliverPolicy::LastPerSubject => {
                    let mut lps = BTreeSet::new();
                    for (subj, st) in store.subjects() {
                        if self.takes(subj) {
                            lps.insert(st.last);
                        }
                    }
                    let start = lps.iter().next().copied().unwrap_or(last);
                    self.lps = lps;
                    start
                }
                DeliverPolicy::ByStartTime => {
                    let t = self.cfg.opt_start_time.as_ref().map_or(0, |x| x.1);
                    store.first_at_or_after(t).unwrap_or(last + 1)
                }
                DeliverPolicy::New | DeliverPolicy::ByStartSequence => last + 1,
            }
        };
        if first == 0 && opt == 0 {
            next = 1;
        } else if next > last && opt == 0 {
            next = last + 1;
        } else if next < first {
            next = first;
        }
        self.sseq = next.saturating_sub(1);
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
        // A pending message that leaves the stream is acked for good (with
        // ack policy all, so is everything below it); a redelivered one
        // that was not pending only loses its count.
        if let Some(cseq) = self.pending.get(&seq).map(|p| p.cseq) {
            ack(self, seq, cseq);
        } else if self.rdc.remove(&seq).is_some() {
            self.ack_last_active = now_nanos();
        }
    }

    /// At recovery: deliveries whose message is gone count as acked.
    pub fn after_purge(&mut self, store: &Store) {
        let gone: Vec<u64> = self.pending.keys().copied().filter(|s| !store.contains(*s)).collect();
        for s in gone {
            self.pending.remove(&s);
            self.rdc.remove(&s);
        }
        self.purged(store, Some(store.first()), false);
    }

    /// After a purge, as Go's consumer purge: a consumer the purge covers
    /// (`start`: the first sequence it may still deliver, 0 for none)
    /// moves up to it, and its deliveries below it count as acked (for a
    /// consumer wider than the purge, also those whose message is gone).
    /// Others keep their state.
    pub fn purged(&mut self, store: &Store, start: Option<u64>, wider: bool) {
        if let Some(start) = start {
            let start = if start == 0 && !wider { store.last_seq + 1 } else { start };
            if self.sseq + 1 < start {
                self.sseq = start - 1;
            }
            if self.ack_floor_s < start {
                let floor = start.saturating_sub(1);
                self.ack_floor_s = floor;
                let drop: Vec<u64> =
                    self.pending.keys().copied().filter(|s| *s <= floor || (wider && !store.contains(*s))).collect();
                if !drop.is_empty() {
                    self.ack_last_active = now_nanos();
                }
                for s in drop {
                    if let Some(p) = self.pending.remove(&s) {
                        self.ack_floor_c = self.ack_floor_c.max(p.cseq);
                        self.dseq = self.dseq.max(self.ack_floor_c);
                    }
                    self.rdc.remove(&s);
                }
            }
            // Queued redeliveries are dropped; what stays pending is
            // redelivered when its ack wait runs out.
            for s in std::mem::take(&mut self.rdq) {
                if let Some(p) = self.pending.get_mut(&s) {
                    p.queued = false;
                }
            }
        }
        self.update_floor();
        self.recount(store);
    }

    /// Takes an updated configuration; new filters apply to what is
    /// still to be delivered.
    pub fn reconfigure(&mut self, cfg: ConsumerConfig, store: &Store) {
        let filters: Vec<Vec<u8>> = cfg.filters().into_iter().map(String::into_bytes).collect();
        let refilter = filters != self.filters;
        self.cfg = cfg;
        if refilter {
            self.filters = filters;
            self.recount(store);
        }
        self.dirty = true;
    }

    /// With nothing pending, everything delivered is acked.
    fn update_floor(&mut self) {
        if self.pending.is_empty() {
            self.ack_floor_s = self.sseq;
            self.ack_floor_c = self.dseq;
        }
        self.dirty = true;
    }

    /// Go's `moveAckFloor` after the pending delivery (`cseq`, `sseq`)
    /// was acked: the floor moves only when that delivery was the next one
    /// above it, and then up to just below the next pending delivery.
    fn move_floor(&mut self, cseq: u64, sseq: u64) {
        if self.pending.is_empty() {
            self.update_floor();
            return;
        }
        if cseq == self.ack_floor_c + 1 {
            self.ack_floor_c = cseq;
            self.ack_floor_s = sseq;
            if let Some((s, p)) = self.pending.range(sseq + 1..=self.sseq).next() {
                self.ack_floor_c = p.cseq.saturating_sub(1);
                self.ack_floor_s = s - 1;
            }
        }
        self.dirty = true;
    }

    /// A delivery that reached max_deliver: no longer pending, counted as
    /// redelivered (Go's `hasMaxDeliveries`).
    fn give_up(&mut self, sseq: u64) {
        let dc = self.rdc.get(&sseq).copied().unwrap_or(1);
        if let Some(p) = self.pending.remove(&sseq) {
            self.move_floor(p.cseq, sseq);
        }
        self.rdc.insert(sseq, dc);
    }

    /// Removes a pending delivery as acked.
    fn settle(&mut self, sseq: u64) -> bool {
        let Some(p) = self.pending.remove(&sseq) else { return false };
        self.rdc.remove(&sseq);
        self.move_floor(p.cseq, sseq);
        true
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
            if !self.pending.contains_key(&s) || !store.contains(s) {
                // Acked, terminated or gone since it was queued.
                self.rdq.pop_front();
                continue;
            }
            let dc = self.rdc.get(&s).copied().unwrap_or(1);
            if self.cfg.max_deliver > 0 && dc as i64 >= self.cfg.max_deliver {
                // Queued (NAKed) at its last delivery: it leaves the
                // pending set without moving the ack floor or counting as
                // redelivered once more (Go 2.10+).
                self.rdq.pop_front();
                self.pending.remove(&s);
                self.dirty = true;
                continue;
            }
            return Some((s, true));
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
        if self.ack_last_active > 0 {
            f.put("last_active", config::s(&time_text(self.ack_last_active)));
        }
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

/// What a pull request still waiting at shutdown is told.
pub fn shutdown_status(r: &PullReq) -> Vec<u8> {
    status("409 Server Shutdown", &pending_hdrs(r))
}

fn pending_hdrs(r: &PullReq) -> [(&'static str, String); 2] {
    [("Nats-Pending-Messages", r.batch.to_string()), ("Nats-Pending-Bytes", r.bytes_left.max(0).to_string())]
}

/// Decimal digits of `n`.
fn dec_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Appends `n` in decimal.
fn push_dec(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `$JS.ACK.<stream>.<consumer>` and a `.<n>` for each of `nums`.
fn ack_subject(out: &mut Vec<u8>, stream: &str, consumer: &str, nums: &[u64]) {
    out.clear();
    out.extend_from_slice(b"$JS.ACK.");
    out.extend_from_slice(stream.as_bytes());
    out.push(b'.');
    out.extend_from_slice(consumer.as_bytes());
    for n in nums {
        out.push(b'.');
        push_dec(out, *n);
    }
}

/// The length [`ack_subject`] makes.
fn ack_subject_len(stream: &str, consumer: &str, nums: &[u64]) -> usize {
    b"$JS.ACK..".len() + stream.len() + consumer.len() + nums.iter().map(|n| 1 + dec_len(*n)).sum::<usize>()
}

/// Hands out what a consumer can deliver now; deliveries that count as
/// acks (ack none on an interest stream) are added to `acked_by_delivery`.
#[allow(clippy::too_many_arguments)]
fn pump(
    srv: &mut Server,
    acc: AccId,
    stream: &str,
    retention: Retention,
    store: &Store,
    c: &mut Consumer,
    wants: &mut Vec<Instant>,
    acked_by_delivery: &mut Vec<u64>,
) {
    if c.deleted {
        return;
    }
    let now = Instant::now();
    let mut ack = Vec::new();
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
            ack_subject_len(stream, &c.name, &[dc_next, sseq, c.dseq + 1, msg.ts.max(0) as u64, pending_after]);
        let (hdr, data) = if c.cfg.headers_only {
            let mut h = if msg.hdr.is_empty() { b"NATS/1.0\r\n\r\n".to_vec() } else { msg.hdr.clone() };
            h.truncate(h.len().saturating_sub(2));
            h.extend_from_slice(format!("Nats-Msg-Size: {}\r\n\r\n", msg.data.len()).as_bytes());
            (h, Vec::new())
        } else {
            (msg.hdr, msg.data)
        };
        let size = (msg.subject.len() + reply_len + hdr.len() + data.len()) as i64;
        if let Some(r) = c.waiting.front_mut().filter(|_| !push) {
            if r.max_bytes > 0 && size > r.bytes_left {
                let hdrs = pending_hdrs(r);
                let to = r.reply.clone();
                c.waiting.pop_front();
                send_status(srv, acc, &to, "409 Message Size Exceeds MaxBytes", &hdrs);
                if redelivery && c.waiting.is_empty() {
                    // Taken for redelivery and given to nobody: it queues
                    // again behind the others, as in Go.
                    c.rdq.pop_front();
                    c.rdq.push_back(sseq);
                }
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
        ack_subject(&mut ack, stream, &c.name, &[dc, sseq, cseq, msg.ts.max(0) as u64, c.num_pending]);
        if c.cfg.ack_policy == AckPolicy::None {
            c.ack_floor_c = cseq;
            c.ack_floor_s = sseq;
            c.dirty = true;
            if retention == Retention::Interest {
                acked_by_delivery.push(sseq);
            }
        } else {
            let dl = now + c.ack_wait_for(dc);
            wants.push(dl);
            c.pending.insert(sseq, Pending { cseq, ts: wall, deadline: dl, queued: false });
        }
        c.dirty = true;
        let to: &[u8] =
            if push { c.cfg.deliver_subject.as_bytes() } else { c.waiting.front().map_or(&[][..], |r| &r.reply[..]) };
        srv.js_deliver(acc, to, &msg.subject, &ack, &hdr, &data);
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
    }
    // At the end of what there is to deliver (not when max_ack_pending
    // holds it back), no_wait requests end with 404, except one with an
    // expiry that got nothing yet: it waits for a message or its expiry.
    let held = c.cfg.ack_policy != AckPolicy::None
        && c.cfg.max_ack_pending > 0
        && c.pending.len() as i64 >= c.cfg.max_ack_pending;
    if c.cfg.is_pull() && !held {
        let mut keep = VecDeque::with_capacity(c.waiting.len());
        while let Some(r) = c.waiting.pop_front() {
            if r.no_wait && (r.expires.is_none() || r.delivered > 0) {
                send_status(srv, acc, &r.reply, "404 No Messages", &[]);
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
    pump_some(srv, js, acc, name, None);
}

/// Runs delivery for one consumer: what its own acks, pull requests and
/// flow control answers wake (Go wakes only that consumer's loop).
pub fn pump_consumer(srv: &mut Server, js: &mut JetStream, acc: AccId, stream: &str, name: &str) {
    pump_some(srv, js, acc, stream, Some(name));
}

fn pump_some(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, only: Option<&str>) {
    let mut wants = Vec::new();
    if let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) {
        let mut delivered = Vec::new();
        let Stream { store, consumers, cfg, .. } = &mut *s;
        for (cname, c) in consumers.iter_mut() {
            if only.is_some_and(|o| o != cname.as_str()) {
                continue;
            }
            pump(srv, acc, &cfg.name, cfg.retention, store, c, &mut wants, &mut delivered);
            if c.dirty {
                wants.push(Instant::now() + Duration::from_millis(100));
            }
        }
        // A delivery to an ack-none consumer is its ack.
        s.drop_unneeded(&delivered);
    }
    super::state::want_expiry(js, acc, name);
    for w in wants {
        js.want(w);
    }
}

/// Parses a pull request body (empty, an integer, or JSON) as Go does;
/// the error is the text of Go's decoder.
pub fn parse_pull(body: &[u8], reply: &[u8]) -> Result<(PullReq, next::NextRequest), String> {
    let n = next::parse(body)?;
    if n.heartbeat > 0 && n.heartbeat.saturating_mul(2) > n.expires {
        return Err("heartbeat value too large".into());
    }
    let now = Instant::now();
    let r = PullReq {
        reply: reply.to_vec(),
        batch: if n.batch <= 0 { 1 } else { n.batch },
        max_bytes: n.max_bytes.max(0),
        bytes_left: n.max_bytes.max(0),
        expires: (n.expires > 0).then(|| now + Duration::from_nanos(n.expires as u64)),
        no_wait: n.no_wait,
        hb: (n.heartbeat > 0).then(|| Duration::from_nanos(n.heartbeat as u64)),
        hb_next: (n.heartbeat > 0).then(|| now + Duration::from_nanos(n.heartbeat as u64)),
        delivered: 0,
    };
    Ok((r, n))
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
        no_responders(srv, m);
        return;
    };
    if !c.cfg.is_pull() {
        send_status(srv, acc, reply, "409 Consumer is push based", &[]);
        return;
    }
    let (r, n) = match parse_pull(body, reply) {
        Ok(r) => r,
        Err(e) => {
            send_status(srv, acc, reply, &format!("400 Bad Request - {e}"), &[]);
            return;
        }
    };
    if c.cfg.max_batch > 0 && n.batch > c.cfg.max_batch {
        send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestBatch of {}", c.cfg.max_batch), &[]);
        return;
    }
    if c.cfg.max_expires > 0 && n.expires > c.cfg.max_expires {
        let d = rnats_protocol::gotime::go_duration(Duration::from_nanos(c.cfg.max_expires as u64));
        send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestExpires of {d}"), &[]);
        return;
    }
    if c.cfg.max_bytes > 0 && n.max_bytes > c.cfg.max_bytes {
        send_status(srv, acc, reply, &format!("409 Exceeded MaxRequestMaxBytes of {}", c.cfg.max_bytes), &[]);
        return;
    }
    if n.json {
        // Priority groups: this server has no priority policies.
        let bad = if n.min_pending != 0 || n.min_ack_pending != 0 {
            Some("Not a Overflow Priority consumer")
        } else if !n.id.is_empty() {
            Some("Not a Pinned Client Priority consumer")
        } else if !(0..=9).contains(&n.priority) {
            Some("Priority must be between 0 and 9")
        } else {
            None
        };
        if let Some(b) = bad {
            send_status(srv, acc, reply, &format!("400 Bad Request - {b}"), &[]);
            return;
        }
    }
    // Requests whose requester went away no longer count.
    c.waiting.retain(|w| srv.js_has_interest(acc, &w.reply));
    if r.no_wait {
        let msgs = c.num_pending + c.rdq.len() as u64;
        if msgs == 0 && r.expires.is_none() {
            send_status(srv, acc, reply, "404 No Messages", &[]);
            return;
        }
        let batches: i64 = c.waiting.iter().map(|w| w.batch).sum();
        if msgs > 0 && (msgs as i64) < batches {
            send_status(srv, acc, reply, "408 Requests Pending", &[]);
            return;
        }
    }
    if c.waiting.len() as i64 >= c.cfg.max_waiting.max(1) {
        if r.hb.is_none() {
            send_status(srv, acc, reply, "409 Exceeded MaxWaiting", &[]);
        }
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
    pump_consumer(srv, js, acc, stream, name);
}

/// An ack: `$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>`.
pub fn handle_ack(srv: &mut Server, js: &mut JetStream, m: &Inbound) {
    let toks: Vec<&[u8]> = m.subject.split(|b| *b == b'.').collect();
    // Only consumers that take acks listen on their ack subjects: for
    // anything else the requester hears that nobody is there.
    let listening = |js: &mut JetStream| -> Option<(String, String)> {
        if toks.len() != 9 {
            return None;
        }
        let (stream, name) = (std::str::from_utf8(toks[2]).ok()?, std::str::from_utf8(toks[3]).ok()?);
        let c = js.account_mut(m.acc)?.streams.get(stream)?.consumers.get(name)?;
        (c.cfg.ack_policy != AckPolicy::None).then(|| (stream.to_string(), name.to_string()))
    };
    let Some((stream, name)) = listening(js) else {
        no_responders(srv, m);
        return;
    };
    let (stream, name) = (stream.as_str(), name.as_str());
    let token = |i: usize| std::str::from_utf8(toks[i]).ok().and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    let (sseq, dseq) = (token(5), token(6));
    let acc = m.acc;
    let body = m.data();
    let (verb, rest) = match body.iter().position(|b| *b == b' ') {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &b""[..]),
    };
    let mut next: Option<Vec<u8>> = None;
    let mut acked = None;
    let mut wants = Vec::new();
    // Go answers an ack of something not delivered yet (and an ack that
    // asks for more) with nothing, and any other ack payload.
    let mut answer = sseq != 0;
    {
        let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return };
        let Some(c) = s.consumers.get_mut(name) else { return };
        let now = Instant::now();
        c.idle_since = now;
        let delivered = sseq <= c.sseq || c.cfg.flow_control;
        match verb {
            b"" | b"+ACK" | b"+OK" => {
                answer &= delivered;
                acked = ack(c, sseq, dseq);
            }
            b"+NXT" => {
                answer = false;
                acked = ack(c, sseq, dseq);
                next = Some(rest.to_vec());
            }
            b"-NAK" => {
                let delay = parse_delay(rest);
                if let Some(p) = c.pending.get_mut(&sseq) {
                    // A delay re-dates the delivery; a plain NAK does not.
                    if delay.is_some() {
                        c.last_active = now_nanos();
                    }
                    match delay {
                        Some(d) if !d.is_zero() => {
                            // The tick queues it for redelivery then.
                            p.deadline = now + d;
                            p.queued = false;
                            wants.push(p.deadline);
                            c.rdq.retain(|q| *q != sseq);
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
                    c.last_active = now_nanos();
                    p.deadline = now + w;
                    wants.push(p.deadline);
                }
            }
            t if t.starts_with(b"+TERM") => {
                answer &= delivered;
                acked = ack(c, sseq, dseq);
            }
            _ => {}
        }
    }
    for w in wants {
        js.want(w);
    }
    if let Some(lo) = acked {
        after_ack(js, acc, stream, lo, sseq);
    }
    if let Some(reply) = m.reply.as_deref() {
        if let Some(req) = next {
            next_request(srv, js, m, stream, name, &req, reply);
        } else if answer {
            srv.js_publish(acc, reply, None, b"", b"");
        }
    }
    pump_consumer(srv, js, acc, stream, name);
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

/// Applies an ack of delivery (`dseq`, `sseq`) as Go does; when it
/// settled something pending, the lowest stream sequence it settled
/// (`sseq` but for an ack of all below).
fn ack(c: &mut Consumer, sseq: u64, dseq: u64) -> Option<u64> {
    if sseq > c.sseq {
        // Not delivered yet: ignored.
        return None;
    }
    match c.cfg.ack_policy {
        AckPolicy::None => None,
        AckPolicy::All => {
            if dseq <= c.ack_floor_c || sseq <= c.ack_floor_s {
                return None;
            }
            c.ack_floor_c = dseq;
            c.ack_floor_s = sseq;
            c.dseq = c.dseq.max(dseq);
            let below: Vec<u64> = c.pending.range(..=sseq).map(|(s, _)| *s).collect();
            for s in &below {
                c.pending.remove(s);
                c.rdc.remove(s);
            }
            c.ack_last_active = now_nanos();
            c.dirty = true;
            below.first().copied()
        }
        AckPolicy::Explicit => {
            let hit = c.settle(sseq);
            c.rdc.remove(&sseq);
            c.ack_last_active = now_nanos();
            hit.then_some(sseq)
        }
    }
}

/// Retention after an ack of `lo..=sseq`: a work queue forgets the
/// message, interest retention once every consumer that takes it is done
/// with it.
fn after_ack(js: &mut JetStream, acc: AccId, stream: &str, lo: u64, sseq: u64) {
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return };
    match s.cfg.retention {
        Retention::Limits => {}
        Retention::WorkQueue => {
            s.remove_msg(sseq);
        }
        Retention::Interest if lo == sseq => {
            let Some((subj, ..)) = s.store.meta(sseq) else { return };
            if s.consumers.values().filter(|c| c.takes(&subj)).all(|c| c.is_done_with(sseq)) {
                s.remove_msg(sseq);
            }
        }
        Retention::Interest => {
            let seqs: Vec<u64> = s.store.seqs_from(lo).take_while(|x| *x <= sseq).collect();
            s.drop_unneeded(&seqs);
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
    pump_consumer(srv, js, m.acc, stream, name);
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
                        c.give_up(seq);
                        continue;
                    }
                    if let Some(p) = c.pending.get_mut(&seq) {
                        p.queued = true;
                    }
                    c.rdq.push_back(seq);
                    pump_it = true;
                }
                // Pull requests. When one of them is due (its expiry or
                // heartbeat), no_wait requests still waiting (held back by
                // max_ack_pending) end as at the end of the stream: 404,
                // except one with an expiry that got nothing yet (Go
                // checks its waiting requests so on each such timer).
                let eos = c
                    .waiting
                    .iter()
                    .any(|r| r.expires.is_some_and(|e| e <= now) || r.hb_next.is_some_and(|h| h <= now));
                let mut keep = VecDeque::with_capacity(c.waiting.len());
                while let Some(mut r) = c.waiting.pop_front() {
                    if r.expires.is_some_and(|e| e <= now) {
                        send_status(srv, acc, &r.reply, "408 Request Timeout", &pending_hdrs(&r));
                        continue;
                    }
                    if eos && r.no_wait && (r.expires.is_none() || r.delivered > 0) {
                        send_status(srv, acc, &r.reply, "404 No Messages", &[]);
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
        // Messages nobody is interested in any more go, a slice now and
        // the rest in later passes.
        // Without consumers left the stream is purged (its first sequence
        // then follows its last, even when it was empty), as Go's.
        s.start_sweep(c.ack_floor_s + 1, true);
        s.sweep_step();
    }
    srv.js_advisory(js, acc, stream, Some(name), super::Action::Delete);
    true
}

#[cfg(test)]
mod tests {
    use super::{ack_subject, ack_subject_len};

    #[test]
    fn ack_subjects_and_their_lengths() {
        let mut out = Vec::new();
        for nums in [[1u64, 2, 3, 1_765_000_000_123_456_789, 0], [10, 99, 100, 9, u64::MAX]] {
            ack_subject(&mut out, "ORDERS", "c1", &nums);
            let want = format!("$JS.ACK.ORDERS.c1.{}.{}.{}.{}.{}", nums[0], nums[1], nums[2], nums[3], nums[4]);
            assert_eq!(out, want.as_bytes());
            assert_eq!(ack_subject_len("ORDERS", "c1", &nums), want.len());
        }
    }
}
