//! A stream: its configuration, its store, its consumers, the checks a
//! published message goes through before it is stored (Go's order and
//! errors), the limits applied after, and the stream's files
//! (`<account>/streams/<name>/meta.inf` and `msgs/`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rnats_protocol::json::{self, Value};

use super::config::{self, Obj, Retention, StreamConfig};
use super::state::{want_expiry, Stream, Sweep};
use super::store::{msg_size, write_atomic, Store};
use super::{header, now_nanos, time_text, ApiError, Inbound, JetStream, Resume, Rollup, ERASE_PER_PASS};
use crate::routing::accounts::AccId;
use crate::routing::sublist::Subscription;
use crate::server::Server;

/// Messages of the index a purge by a wildcard filter looks at in one pass.
const SCAN_PER_PASS: usize = 32 * 1024;

/// Most subjects one stream info answer lists (Go's `JSMaxSubjectDetails`).
pub const SUBJECT_DETAILS_LIMIT: usize = 100_000;

/// The directory of stream `name` in account directory `acc_dir`.
fn stream_dir(acc_dir: &Path, name: &str) -> PathBuf {
    acc_dir.join("streams").join(name)
}

impl Stream {
    /// A stream over `store`, with no consumer and nothing remembered yet.
    fn holding(cfg: StreamConfig, created: i64, store: Store, dir: Option<PathBuf>) -> Stream {
        Stream {
            cfg,
            created,
            store,
            dir,
            consumers: BTreeMap::new(),
            subs: Vec::new(),
            dedupe: HashMap::new(),
            dedupe_order: VecDeque::new(),
            last_msg_id: Vec::new(),
            sweep: None,
            rollup: None,
        }
    }

    pub fn new(cfg: StreamConfig, dir: Option<PathBuf>, sync_always: bool) -> std::io::Result<Stream> {
        let created = now_nanos();
        let store = match &dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                Store::open(&d.join("msgs"), sync_always)?.0
            }
            None => Store::memory(),
        };
        let mut s = Stream::holding(cfg, created, store, dir);
        if s.cfg.first_seq > 1 && s.store.last_seq == 0 {
            s.store.purge_to(s.cfg.first_seq)?;
        }
        s.write_meta()?;
        Ok(s)
    }

    pub fn write_meta(&self) -> std::io::Result<()> {
        let Some(d) = &self.dir else { return Ok(()) };
        let mut o = Obj::default();
        o.put("config", self.cfg.to_value());
        o.put("created", config::s(&time_text(self.created)));
        let mut out = Vec::new();
        json::write_value(&mut out, &o.done());
        write_atomic(&d.join("meta.inf"), &out)
    }

    /// The StreamState object Go reports.
    /// With a subjects filter, `state.subjects` holds the page of matching
    /// subjects (in order) that starts at `offset`; the number of matches
    /// is returned beside it.
    pub fn state_value(&self, deleted_details: bool, subjects_filter: Option<(&str, usize)>) -> (Value, usize) {
        let st = &self.store;
        let mut o = Obj::default();
        o.put("messages", config::u(st.msgs()));
        o.put("bytes", config::u(st.bytes));
        o.put("first_seq", config::u(st.first()));
        o.put("first_ts", config::s(&time_text(st.first_ts())));
        o.put("last_seq", config::u(st.last_seq));
        o.put("last_ts", config::s(&time_text(if st.last_seq == 0 { 0 } else { st.last_ts })));
        if st.num_subjects() > 0 {
            o.put("num_subjects", config::u(st.num_subjects() as u64));
        }
        let mut total = 0;
        if let Some((f, offset)) = subjects_filter.filter(|(f, _)| !f.is_empty()) {
            let mut subs: Vec<(String, Value)> = st
                .subjects()
                .filter(|(k, _)| config::subject_matches(f.as_bytes(), k))
                .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), config::u(v.msgs)))
                .collect();
            subs.sort_by(|a, b| a.0.cmp(&b.0));
            total = subs.len();
            let start = offset.min(total);
            subs.truncate(start.saturating_add(SUBJECT_DETAILS_LIMIT).min(total));
            subs.drain(..start);
            if !subs.is_empty() {
                o.put("subjects", Value::Object(subs));
            }
        }
        if deleted_details {
            let mut deleted = st.deleted();
            if self.cfg.file && st.first() == 0 && st.last_seq == 0 {
                // Go's file store counts sequence 0 of a stream never
                // written to as deleted when the details are asked for.
                deleted.push(0);
            }
            if !deleted.is_empty() {
                o.put("num_deleted", config::u(deleted.len() as u64));
                o.put("deleted", Value::Array(deleted.iter().map(|d| config::u(*d)).collect()));
            }
        } else if st.num_deleted() > 0 {
            o.put("num_deleted", config::u(st.num_deleted()));
        }
        o.put("consumer_count", config::u(self.consumers.len() as u64));
        (o.done(), total)
    }

    fn dedupe_prune(&mut self, now: i64) {
        let window = self.cfg.duplicate_window;
        while let Some((ts, _)) = self.dedupe_order.front() {
            if now - *ts < window {
                break;
            }
            if let Some((_, id)) = self.dedupe_order.pop_front() {
                self.dedupe.remove(&id);
            }
        }
    }

    /// Removes message `seq` for a limit, a purge or an ack, telling the
    /// consumers.
    pub fn remove_msg(&mut self, seq: u64) -> bool {
        let subj = self.store.meta(seq).map(|m| m.0);
        match self.store.remove(seq) {
            Ok(true) => {
                if let Some(subj) = subj {
                    for c in self.consumers.values_mut() {
                        c.on_removed(seq, &subj);
                    }
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                log::error!("JetStream stream '{}' could not erase message {seq}: {e}", self.cfg.name);
                false
            }
        }
    }

    /// Erases the messages among `seqs` (ascending) in one pass, telling
    /// consumers as `remove_msg` does; returns how many went.
    pub fn remove_msgs(&mut self, seqs: &[u64]) -> u64 {
        let consumers = &mut self.consumers;
        let r = self.store.remove_many(seqs, |seq, subj| {
            for c in consumers.values_mut() {
                c.on_removed(seq, subj);
            }
        });
        match r {
            Ok(n) => n,
            Err(e) => {
                log::error!("JetStream stream '{}' could not erase messages: {e}", self.cfg.name);
                0
            }
        }
    }

    /// Purges with Go's options, erasing at most [`ERASE_PER_PASS`]
    /// messages: false while more are left (call again with the same
    /// `r`). `r.erased` counts what went.
    pub fn purge(
        &mut self,
        filter: Option<&str>,
        seq: Option<u64>,
        keep: Option<u64>,
        r: &mut Resume,
    ) -> std::io::Result<bool> {
        if seq == Some(1) {
            // Up to but not including the first sequence: nothing.
            return Ok(true);
        }
        match filter.filter(|f| !f.is_empty() && *f != ">") {
            None => {
                let (upto, count) = match (seq, keep) {
                    (Some(s), _) => (s, None),
                    (None, Some(k)) if k > 0 => (self.store.last_seq + 1, Some(self.store.msgs().saturating_sub(k))),
                    _ => (self.store.last_seq + 1, None),
                };
                if count == Some(0) && r.erased == 0 {
                    return Ok(true);
                }
                let n = count.map_or(ERASE_PER_PASS, |c| (c as usize).min(ERASE_PER_PASS));
                // The first message left: beyond this pass's share, or the
                // first one to keep.
                let stop = self.store.seqs_from(0).take_while(|x| *x < upto).nth(n);
                let last_pass = stop.is_none() || count.is_some_and(|c| c as usize <= ERASE_PER_PASS);
                r.erased += self.store.purge_to(stop.unwrap_or(upto))?;
                if !last_pass {
                    return Ok(false);
                }
            }
            Some(f) => {
                // Matching messages below `upto` go: below `seq`, and below
                // the newest `keep` of them.
                let (from, upto) = match r.range {
                    Some(x) => x,
                    None => {
                        let mut upto = seq.unwrap_or(u64::MAX).min(self.store.last_seq + 1);
                        if let Some(k) = keep {
                            upto = self.store.kth_newest_matching(f.as_bytes(), upto, k).unwrap_or(0);
                        }
                        (0, upto)
                    }
                };
                let (now, next) = self.store.matching_in(f.as_bytes(), from, upto, ERASE_PER_PASS, SCAN_PER_PASS);
                r.erased += self.store.remove_many(&now, |_, _| {})?;
                if next < upto {
                    r.range = Some((next, upto));
                    return Ok(false);
                }
            }
        }
        // Which consumers the purge moves, and where to (Go's rules): all
        // for a purge of everything; for a purge by subject those whose
        // filters all lie inside it (to its first message left) and those
        // whose filters take it (to the stream's first message).
        let first = self.store.first();
        let filter = filter.filter(|f| !f.is_empty());
        let first_of_filter = filter.map(|f| self.store.first_matching(f.as_bytes()).unwrap_or(0));
        for c in self.consumers.values_mut() {
            let (start, wider) = match (filter, first_of_filter) {
                (Some(f), Some(ff)) => {
                    let filters = c.cfg.filters();
                    if !filters.is_empty() && filters.iter().all(|x| config::subject_is_subset(x, f)) {
                        (Some(ff), false)
                    } else if filters.is_empty() || filters.iter().any(|x| config::subject_is_subset(f, x)) {
                        (Some(first), true)
                    } else {
                        (None, false)
                    }
                }
                _ => (Some(first), false),
            };
            c.purged(&self.store, start, wider);
        }
        Ok(true)
    }

    /// Applies max_msgs, max_bytes and max_age (discard old).
    fn enforce_limits(&mut self, now: i64) {
        let over = self.store.over_limits(self.cfg.max_msgs, self.cfg.max_bytes, &[], usize::MAX);
        self.remove_msgs(&over);
        self.expire(now, usize::MAX);
    }

    /// Erases at most `max` messages older than max_age; false when more
    /// are left (and erasing works).
    fn expire(&mut self, now: i64, max: usize) -> bool {
        if self.cfg.max_age <= 0 {
            return true;
        }
        let old = self.store.older_than(now.saturating_sub(self.cfg.max_age), max);
        let n = self.remove_msgs(&old);
        old.len() < max || n == 0
    }

    /// Whether any consumer's filter takes `subject` (interest retention).
    /// Interest retention: removes the messages among `seqs` that every
    /// consumer taking them is done with (all of them when none takes
    /// them).
    pub fn drop_unneeded(&mut self, seqs: &[u64]) {
        if self.cfg.retention != Retention::Interest {
            return;
        }
        let done: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|&seq| {
                self.store.meta(seq).is_some_and(|(subject, ..)| {
                    self.consumers.values().filter(|c| c.takes(&subject)).all(|c| c.is_done_with(seq))
                })
            })
            .collect();
        self.remove_msgs(&done);
    }

    /// Interest retention: from `from` on, what nobody is interested in
    /// any more is to go (a sweep, run by [`Stream::sweep_step`]).
    pub fn start_sweep(&mut self, from: u64, purge: bool) {
        if self.cfg.retention != Retention::Interest {
            return;
        }
        let upto = self.store.last_seq;
        self.sweep = Some(match self.sweep {
            Some(w) => Sweep { next: w.next.min(from), upto: w.upto.max(upto), purge: w.purge || purge },
            None => Sweep { next: from, upto, purge },
        });
    }

    /// One slice of the sweep: erases at most [`ERASE_PER_PASS`] messages;
    /// true when the sweep is over.
    pub fn sweep_step(&mut self) -> bool {
        let Some(w) = self.sweep.take() else { return true };
        if self.cfg.retention != Retention::Interest {
            return true;
        }
        if w.purge && self.consumers.is_empty() {
            return match self.purge(None, None, None, &mut Resume::default()) {
                Ok(true) => true,
                Ok(false) => {
                    self.sweep = Some(w);
                    false
                }
                Err(e) => {
                    log::error!("JetStream stream '{}' could not erase messages: {e}", self.cfg.name);
                    true
                }
            };
        }
        let seqs: Vec<u64> = self.store.seqs_from(w.next).take_while(|x| *x <= w.upto).take(ERASE_PER_PASS).collect();
        self.drop_unneeded(&seqs);
        match seqs.last() {
            Some(&last) if seqs.len() == ERASE_PER_PASS && last < w.upto => {
                self.sweep = Some(Sweep { next: last + 1, ..w });
                false
            }
            _ => true,
        }
    }

    /// Runs the whole sweep now (before a consumer is added).
    pub fn finish_sweep(&mut self) {
        while !self.sweep_step() {}
    }

    fn has_consumer_for(&self, subject: &[u8]) -> bool {
        self.consumers.values().any(|c| c.takes(subject))
    }

    /// Go's checks and the store; Ok((seq, duplicate)).
    fn process(&mut self, js_limits: (i64, u64), m: &Inbound) -> Result<(u64, bool), ApiError> {
        let hdr = m.hdr();
        let data = m.data();
        if self.cfg.sealed {
            return Err(ApiError::new(400, 10109, "invalid operation on sealed stream"));
        }
        // Sizes come before any header expectation, as in Go.
        if self.cfg.max_msg_size >= 0 && (hdr.len() + data.len()) as i64 > self.cfg.max_msg_size {
            return Err(ApiError::new(400, 10054, "message size exceeds maximum allowed"));
        }
        if hdr.len() > 65535 {
            return Err(ApiError::new(400, 10097, "header size exceeds maximum allowed of 64k"));
        }
        if let Some(e) = header(hdr, "Nats-Expected-Stream") {
            if e != self.cfg.name.as_bytes() {
                return Err(ApiError::new(400, 10060, "expected stream does not match"));
            }
        }
        let now = now_nanos();
        let msg_id = header(hdr, "Nats-Msg-Id").filter(|v| !v.is_empty());
        if let Some(id) = msg_id {
            self.dedupe_prune(now);
            if let Some(seq) = self.dedupe.get(id) {
                return Ok((*seq, true));
            }
        }
        // The subject whose last message is checked may be another one, a
        // wildcard too (Go 2.11+).
        let checked = header(hdr, "Nats-Expected-Last-Subject-Sequence-Subject").filter(|v| !v.is_empty());
        if let Some(v) = header(hdr, "Nats-Expected-Last-Subject-Sequence") {
            let want: u64 = std::str::from_utf8(v).ok().and_then(|t| t.parse().ok()).unwrap_or(0);
            let have = match checked {
                Some(s) => self.store.last_matching(s),
                None => self.store.last_on(&m.subject),
            };
            let have = have.unwrap_or(0);
            if want != have {
                return Err(ApiError::new(400, 10071, &format!("wrong last sequence: {have}")));
            }
        } else if checked.is_some() {
            return Err(ApiError::new(400, 10193, "missing sequence for expected last sequence per subject"));
        }
        if let Some(v) = header(hdr, "Nats-Expected-Last-Sequence") {
            let want: u64 = std::str::from_utf8(v).ok().and_then(|t| t.parse().ok()).unwrap_or(0);
            if want != self.store.last_seq {
                return Err(ApiError::new(400, 10071, &format!("wrong last sequence: {}", self.store.last_seq)));
            }
        }
        if let Some(v) = header(hdr, "Nats-Expected-Last-Msg-Id").filter(|v| !v.is_empty()) {
            if v != self.last_msg_id.as_slice() {
                return Err(ApiError::new(
                    400,
                    10070,
                    &format!("wrong last msg ID: {}", String::from_utf8_lossy(&self.last_msg_id)),
                ));
            }
        }
        let rollup = header(hdr, "Nats-Rollup");
        if let Some(r) = rollup {
            if !self.cfg.allow_rollup || self.cfg.deny_purge {
                return Err(ApiError::new(500, 10111, "rollup not permitted"));
            }
            if r != b"sub" && r != b"all" {
                return Err(ApiError::new(
                    500,
                    10111,
                    &format!("rollup value invalid: {:?}", String::from_utf8_lossy(r)),
                ));
            }
        }
        let size = msg_size(self.cfg.file, m.subject.len(), hdr.len(), data.len());
        let (server_limit, server_used) = js_limits;
        if server_limit >= 0 && server_used + size > server_limit as u64 {
            log::error!(
                "JetStream {} resource limits exceeded for server",
                if self.cfg.file { "file" } else { "memory" }
            );
            return Err(ApiError::new(503, 10023, "insufficient resources"));
        }
        // Interest retention keeps nothing nobody takes: no limit refuses it.
        let kept = self.cfg.retention != Retention::Interest || self.has_consumer_for(&m.subject);
        if self.cfg.discard_new && kept {
            // At its subject's limit the message replaces the subject's
            // oldest, so the stream's limits only refuse it if that does not
            // make room; discard_new_per_subject refuses it unless it is a
            // rollup (which restores the limit).
            let mmp = self.cfg.max_msgs_per_subject;
            let at_subject_limit = self.store.subject_state(&m.subject).filter(|st| mmp > 0 && st.msgs >= mmp as u64);
            if at_subject_limit.is_some() && self.cfg.discard_new_per_subject && rollup.is_none() {
                return Err(ApiError::new(503, 10077, "maximum messages per subject exceeded"));
            }
            if self.cfg.max_msgs > 0 && self.store.msgs() >= self.cfg.max_msgs as u64 && at_subject_limit.is_none() {
                return Err(ApiError::new(503, 10077, "maximum messages exceeded"));
            }
            if self.cfg.max_bytes > 0 && self.store.bytes + size > self.cfg.max_bytes as u64 {
                let freed = at_subject_limit
                    .and_then(|st| self.store.meta(st.first))
                    .map_or(0, |(subject, _, h, d)| msg_size(self.cfg.file, subject.len(), h, d));
                if freed < size {
                    return Err(ApiError::new(503, 10077, "maximum bytes exceeded"));
                }
            }
        }
        let seq = if !kept {
            self.store.skip(now).map_err(store_error)?
        } else {
            self.store.append(now, &m.subject, hdr, data).map_err(store_error)?
        };
        self.last_msg_id = msg_id.map(<[u8]>::to_vec).unwrap_or_default();
        if let Some(id) = msg_id {
            self.dedupe.insert(id.into(), seq);
            self.dedupe_order.push_back((now, id.into()));
        }
        if self.store.contains(seq) {
            for c in self.consumers.values_mut() {
                c.on_stored(seq, &m.subject);
            }
        }
        if self.cfg.max_msgs_per_subject > 0 {
            let limit = self.cfg.max_msgs_per_subject as u64;
            while self.store.subject_state(&m.subject).is_some_and(|s| s.msgs > limit) {
                let Some(first) = self.store.first_on(&m.subject) else { break };
                if !self.remove_msg(first) {
                    break;
                }
            }
        }
        self.enforce_limits(now);
        // The rollup follows the limits, which the store applies as it
        // stores the message (Go).
        let purge = match rollup {
            // Go purges by the subject as a filter (a subject with wildcard
            // tokens takes every subject they match), keeping the newest
            // message.
            Some(b"sub") => std::str::from_utf8(&m.subject).ok().map(|f| Rollup {
                filter: Some(f.to_string()),
                seq: None,
                keep: Some(1),
                stored: seq,
            }),
            Some(b"all") => Some(Rollup { filter: None, seq: Some(seq), keep: None, stored: seq }),
            _ => None,
        };
        if let Some(p) = purge {
            let mut r = Resume::default();
            if !self.rollup_slice(&p, &mut r) {
                self.rollup = Some((p, r));
            }
        }
        Ok((seq, false))
    }

    /// One slice of a rollup's purge; true when it is over (or failed:
    /// the message is stored, the error logged).
    fn rollup_slice(&mut self, p: &Rollup, r: &mut Resume) -> bool {
        self.purge(p.filter.as_deref(), p.seq, p.keep, r).unwrap_or_else(|e| {
            log::error!("JetStream stream '{}' could not erase messages: {e}", self.cfg.name);
            true
        })
    }

    /// Rebuilds the duplicate window from stored `Nats-Msg-Id` headers.
    fn rebuild_dedupe(&mut self) {
        let now = now_nanos();
        let window = self.cfg.duplicate_window;
        let seqs: Vec<u64> = self.store.seqs_from(0).collect();
        for s in seqs {
            let Some((_, ts, hl, _)) = self.store.meta(s) else { continue };
            if hl == 0 || now - ts >= window {
                continue;
            }
            if let Some(m) = self.store.get(s) {
                if let Some(id) = header(&m.hdr, "Nats-Msg-Id") {
                    self.dedupe.insert(id.into(), s);
                    self.dedupe_order.push_back((ts, id.into()));
                }
            }
        }
        if let Some(m) = self.store.get(self.store.last_seq) {
            self.last_msg_id = header(&m.hdr, "Nats-Msg-Id").map(<[u8]>::to_vec).unwrap_or_default();
        }
    }
}

fn store_error(e: std::io::Error) -> ApiError {
    if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
        log::error!("JetStream out of storage: {e}");
        ApiError::new(500, 10047, "insufficient storage resources available")
    } else {
        log::error!("JetStream store write failed: {e}");
        ApiError::new(503, 10077, &e.to_string())
    }
}

/// A message published on a stream's subjects.
pub fn handle_publish(srv: &mut Server, js: &mut JetStream, m: &Inbound) {
    if let Some(mut r) = js.resume.take() {
        // The rest of this rollup message's purge, then its PubAck.
        let Some(p) = r.rollup.take() else { return };
        let Some(s) = js.account_mut(m.acc).and_then(|a| a.streams.get_mut(&*m.stream)) else { return };
        if !s.rollup_slice(&p, &mut r) {
            r.rollup = Some(p);
            js.resume = Some(r);
            return;
        }
        let (name, no_ack) = (s.cfg.name.clone(), s.cfg.no_ack);
        publish_answer(srv, js, m, &name, no_ack, Ok((p.stored, false)));
        return;
    }
    let server_limit = |file: bool| if file { js.max_store } else { js.max_memory };
    let Some(a) = js.accounts.iter().find(|a| a.acc == m.acc) else { return };
    let Some(s) = a.streams.get(&*m.stream) else { return };
    let file = s.cfg.file;
    let acc_limit = if file { a.limits.max_store } else { a.limits.max_memory };
    let acc_used = a.usage(file);
    let used = js.usage(file);
    let limit = server_limit(file);
    let Some(a) = js.account_mut(m.acc) else { return };
    let Some(s) = a.streams.get_mut(&*m.stream) else { return };
    let r = if acc_limit >= 0
        && acc_used + msg_size(file, m.subject.len(), m.hdr().len(), m.data().len()) > acc_limit as u64
    {
        Err(ApiError::new(400, 10002, "resource limits exceeded for account"))
    } else {
        s.process((limit, used), m)
    };
    let name = s.cfg.name.clone();
    let no_ack = s.cfg.no_ack;
    if let Some((p, mut r)) = s.rollup.take() {
        // Answered once the last slice of its purge is done.
        r.rollup = Some(p);
        js.resume = Some(r);
        return;
    }
    publish_answer(srv, js, m, &name, no_ack, r);
}

/// The PubAck (or error) of a published message, then deliveries.
fn publish_answer(
    srv: &mut Server,
    js: &mut JetStream,
    m: &Inbound,
    name: &str,
    no_ack: bool,
    r: Result<(u64, bool), ApiError>,
) {
    let domain = js.opts.domain.clone();
    if let Some(reply) = m.reply.as_deref().filter(|_| !no_ack) {
        let mut o = Obj::default();
        match r {
            Ok((seq, dup)) => {
                o.put("stream", config::s(name));
                if let Some(d) = &domain {
                    o.put("domain", config::s(d));
                }
                o.put("seq", config::u(seq));
                if dup {
                    o.put("duplicate", Value::Bool(true));
                }
            }
            Err(e) => {
                o.put("error", e.to_value());
                o.put("stream", config::s(name));
                o.put("seq", config::n(0));
            }
        }
        srv.js_respond(m.acc, reply, &o.done());
    }
    super::consumer::pump_stream(srv, js, m.acc, &m.stream);
}

/// Time-driven stream work: max_age.
pub fn tick(srv: &mut Server, js: &mut JetStream, now: Instant) {
    let wall = now_nanos();
    let mut wants = Vec::new();
    let mut touched = Vec::new();
    // A request being answered in slices runs its own sweep.
    let busy = js.resume.is_some();
    for a in &mut js.accounts {
        for s in a.streams.values_mut() {
            if s.sweep.is_some() && !busy {
                if !s.sweep_step() {
                    wants.push(now);
                }
                touched.push((a.acc, s.cfg.name.clone()));
            }
            if s.cfg.max_age > 0 {
                let before = s.store.msgs();
                if !s.expire(wall, ERASE_PER_PASS) {
                    wants.push(now);
                }
                if s.store.msgs() != before {
                    touched.push((a.acc, s.cfg.name.clone()));
                }
                if let Some((_, ts)) = s.store.oldest() {
                    let left = (ts + s.cfg.max_age - wall).max(0) as u64;
                    wants.push(
                        now + Duration::from_nanos(left)
                            .max(Duration::from_millis(250).min(Duration::from_nanos(s.cfg.max_age as u64))),
                    );
                }
            }
        }
    }
    for w in wants {
        js.want(w);
    }
    for (acc, name) in touched {
        super::consumer::pump_stream(srv, js, acc, &name);
    }
}

/// Reads an account's streams and consumers back from its directory.
pub fn recover_account(srv: &mut Server, js: &mut JetStream, acc: AccId) {
    let Some(name) = js.account(acc).map(|a| a.name.clone()) else { return };
    let dir = js.account_dir(&name).join("streams");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let sync_always = js.opts.sync_always;
    for d in dirs {
        let meta = match std::fs::read(d.join("meta.inf")) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("  Error reading stream metadata in {:?}: {e}", d);
                continue;
            }
        };
        let Some((cfg, created)) = json::parse(&meta).ok().and_then(|v| {
            let mut cfg = StreamConfig::parse(v.get("config")?).ok()?;
            cfg.normalize().ok()?;
            let created = v.get("created").and_then(Value::as_str).and_then(super::parse_rfc3339).unwrap_or(0);
            Some((cfg, created))
        }) else {
            log::warn!("  Error unmarshalling stream metadata for {:?}", d);
            continue;
        };
        if !cfg.file {
            continue;
        }
        let (store, cut) = match Store::open(&d.join("msgs"), sync_always) {
            Ok(x) => x,
            Err(e) => {
                log::warn!("  Error recreating stream {:?}: {e}", cfg.name);
                continue;
            }
        };
        if cut > 0 {
            log::warn!(
                "Stream '{} > {}': {cut} bytes of a damaged or incomplete tail cut from its file",
                name,
                cfg.name
            );
        }
        log::info!("  Restored {} messages for stream '{} > {}'", store.msgs(), name, cfg.name);
        let mut s = Stream::holding(cfg, created, store, Some(d.clone()));
        s.rebuild_dedupe();
        s.enforce_limits(now_nanos());
        super::consumer::recover(&mut s, &d.join("obs"));
        if s.consumers.is_empty() && s.store.msgs() > 0 {
            // An interest stream without consumers keeps nothing (what a
            // sweep cut short by the stop left goes now).
            s.start_sweep(0, false);
            js.want(Instant::now());
        }
        let sname = s.cfg.name.clone();
        s.subs = subscribe_stream(srv, acc, &s.cfg);
        if let Some(a) = js.account_mut(acc) {
            a.streams.insert(sname.clone(), s);
        }
        want_expiry(js, acc, &sname);
    }
}

/// Subscribes a stream to its subjects.
pub fn subscribe_stream(srv: &mut Server, acc: AccId, cfg: &StreamConfig) -> Vec<Rc<Subscription>> {
    let mut sid = Vec::with_capacity(cfg.name.len() + 1);
    sid.push(b'S');
    sid.extend_from_slice(cfg.name.as_bytes());
    cfg.subjects.iter().map(|subj| srv.internal_subscribe(acc, subj.as_bytes(), &sid)).collect()
}

pub fn stream_dir_of(js: &JetStream, acc: AccId, name: &str) -> Option<PathBuf> {
    let a = js.account(acc)?;
    Some(stream_dir(&js.account_dir(&a.name), name))
}
