//! A connection's life on the reactor: reading into the shared buffer and
//! feeding the role's parser (partial ops parked in `inb`), writing queued
//! output (write deadline for a peer that stopped reading), the ping timer,
//! and closing in two steps (marked, then removed at the end of the pass).

use std::io;

use std::time::{Duration, Instant};

use rnats_protocol::ParseError;

use crate::conn::CloseReason;
use crate::logging::trace_enabled;
use crate::server::timer::TimerKind;
use crate::server::Conn;
use crate::server::Server;

/// Shared read buffer size: one read never takes more than this. Large,
/// so that a publisher that keeps its socket full costs one read system
/// call per megabyte rather than per 64 KiB (docs/benchmarks.md); the
/// buffer's pages are touched only by reads that fill them, and the bytes
/// handled between two flushes stay bounded by `READ_BUDGET`.
pub const READ_CHUNK: usize = 1024 * 1024;
/// Bytes read from one connection per event before others get a turn.
const READ_BUDGET: usize = 1024 * 1024;
/// One read per event, of at most this much, for a connection whose last
/// read produced more output than it took in (a fan-out): the output is
/// flushed while it is still in cache instead of growing to several times
/// the budget first (the fan-out rows of docs/benchmarks.md).
const FANOUT_READ: usize = 256 * 1024;
/// Routes are pinged at least this often.
const ROUTE_PING_MAX: Duration = Duration::from_secs(30);
/// Bytes already written that are dropped from the front of a partially
/// flushed outbound buffer.
const OUT_KEEP: usize = 256 * 1024;
/// Buffers above this capacity are released when found empty by the
/// connection's ping timer (not on every flush: shrinking and growing again
/// under load would cost an allocation per burst).
pub const BUF_KEEP: usize = 64 * 1024;

/// One wire protocol the reactor can feed: how much a parked op still
/// needs, and how to parse and handle the next op of a buffer.
pub trait Protocol {
    /// See `ClientParser::body_needed`.
    fn body_needed(conn: &Conn, buffered: usize) -> Option<usize>;
    /// Parses the op at the start of `buf` and handles it. `Ok(None)`: the
    /// op is incomplete; `Ok(Some((len, go_on)))`: it spanned `len` bytes and
    /// `go_on` is false when the connection's remaining input must be dropped.
    fn step(server: &mut Server, slot: usize, buf: &[u8]) -> Result<Option<(usize, bool)>, ParseError>;
}

impl Server {
    /// A PONG arrived: no ping is outstanding any more, and a role that
    /// measures round trips takes the time since its PING.
    pub fn pong_received(&mut self, slot: usize) {
        let c = &mut self.conns[slot];
        c.pings_out = 0;
        c.role.pong_received();
    }

    /// Appends a one-line protocol message (`PONG\r\n`, `+OK\r\n`, ...) to a
    /// connection's output, traced as Go traces it.
    pub fn send_proto(&mut self, slot: usize, line: &[u8]) {
        let Some(c) = self.conns.get_mut(slot) else { return };
        c.out.extend_from_slice(line);
        if trace_enabled() {
            let text = String::from_utf8_lossy(line.strip_suffix(b"\r\n").unwrap_or(line));
            log::trace!("{} - ->> [{}]", c.prefix, text.trim_start_matches('+'));
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// Answers a parse error as Go does (the `-ERR` where Go sends one)
    /// and closes the connection once that is written.
    pub fn parse_error(&mut self, slot: usize, e: ParseError) {
        if let Some(c) = self.conns.get(slot) {
            if c.role.is_server_link() {
                log::error!("{} - {} parser ERROR: {e}", c.prefix, c.role.log_name());
            } else {
                log::debug!("{} - {} parser ERROR: {e}", c.prefix, c.role.log_name());
            }
        }
        let (text, reason) = crate::conn::parse_error_reply(e);
        if let Some(t) = text {
            self.send_err(slot, t);
        }
        self.close_after_flush(slot, reason);
    }

    /// Arms a new connection's ping timer, as Go does from accept or dial:
    /// the first PING after `first` or the ping interval if shorter (plus up
    /// to 20 %), so a peer that never speaks is found stale.
    pub fn start_ping_timer(&mut self, slot: usize, first: Duration) {
        let Some(cid) = self.conns.get(slot).map(|c| c.cid) else {
            return;
        };
        let d = self.jitter(first.min(self.opts.ping_interval), 20);
        self.timers.add_in(d, TimerKind::Ping { slot, cid });
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
        let is_route = c.role.is_server_link();
        log::debug!("{} - {} Ping Timer", c.prefix, c.role.ping_label());
        if c.pings_out + 1 > ping_max {
            self.send_err(slot, "Stale Connection");
            self.close_after_flush(slot, CloseReason::StaleConnection);
            return;
        }
        // Links to other servers are pinged regardless of traffic.
        if is_route || !c.pinged || !c.active {
            c.pinged = true;
            c.pings_out += 1;
            c.role.ping_sent(Instant::now());
            c.out.extend_from_slice(b"PING\r\n");
            if trace_enabled() {
                log::trace!("{} - ->> [PING]", c.prefix);
            }
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
        c.active = false;
        // Give back memory a burst left behind.
        if c.pending() == 0 && c.out.capacity() > BUF_KEEP {
            c.out = Vec::new();
            c.out_pos = 0;
        }
        if c.inb.is_empty() && c.inb.capacity() > BUF_KEEP {
            c.inb = Vec::new();
        }
        let interval = if is_route { interval.min(ROUTE_PING_MAX) } else { interval };
        self.timers.add_in(interval, TimerKind::Ping { slot, cid });
    }

    /// Reads until the socket is drained or the budget is used, handing each
    /// chunk to the protocol handler as it arrives.
    pub fn on_readable(&mut self, slot: usize, hup: bool) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if conn.closing.is_some() || conn.close_after_flush {
                return;
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            let fanout = conn.fanout_reads;
            let limit = conn.sock.max_read().min(if fanout { FANOUT_READ } else { scratch.len() });
            let res = conn.sock.read(&mut scratch[..limit]);
            if conn.sock.take_leaf_switch() {
                self.ws_leaf_accepted(slot);
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                self.scratch = scratch;
                return;
            };
            let n = match res {
                Ok(0) => {
                    self.scratch = scratch;
                    self.mark_close(slot, CloseReason::ClientClosed);
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.scratch = scratch;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.scratch = scratch;
                    continue;
                }
                Err(e) => {
                    self.scratch = scratch;
                    if let Some(hs) = e.get_ref().and_then(|x| x.downcast_ref::<crate::conn::HandshakeFailed>()) {
                        let route = conn.role.is_server_link();
                        let what = if route { "TLS route" } else { "TLS" };
                        // A client that does not speak TLS at all (a probe)
                        // is logged at debug level, as newer Go servers do.
                        let level = if hs.probe && !route { log::Level::Debug } else { log::Level::Error };
                        log::log!(level, "{} - {what} handshake error: {hs}", conn.prefix);
                        self.mark_close(slot, CloseReason::TlsHandshakeError);
                    } else {
                        log::debug!("{} - Read error: {e}", conn.prefix);
                        self.mark_close(slot, CloseReason::ReadError);
                    }
                    return;
                }
            };
            let out_before = self.stats.out_bytes;
            self.role_input(slot, &scratch[..n]);
            self.scratch = scratch;
            // Payload bytes delivered for this input (to clients and routes).
            let produced = self.stats.out_bytes - out_before;
            if let Some(c) = self.conns.get_mut(slot) {
                c.fanout_reads = produced > n as u64;
            }
            // A short read means the socket is drained: edge triggering will
            // report anything that arrives later, unless the peer already
            // hung up, in which case read on to see the end of stream.
            if n < limit && !hup {
                return;
            }
            budget = if fanout { 0 } else { budget.saturating_sub(n) };
            if budget == 0 {
                if let Some(c) = self.conns.get_mut(slot) {
                    if !c.readable_queued {
                        c.readable_queued = true;
                        self.still_readable.push(slot);
                    }
                }
                return;
            }
        }
    }

    pub fn on_writable(&mut self, slot: usize) {
        let c = &self.conns[slot];
        if c.pending() > 0 || c.holds_output {
            self.write_out(slot);
        }
    }

    /// Queues `slot` for the flush before the next poll.
    #[inline]
    pub fn queue_flush(pending: &mut Vec<usize>, conn: &mut Conn, slot: usize) {
        if !conn.flush_queued {
            conn.flush_queued = true;
            pending.push(slot);
        }
    }

    pub fn flush_pending(&mut self) {
        let mut list = std::mem::take(&mut self.pending_flush);
        for slot in list.drain(..) {
            if let Some(c) = self.conns.get_mut(slot) {
                c.flush_queued = false;
                self.write_out(slot);
            }
        }
        self.pending_flush = list;
        self.close_marked();
    }

    /// Writes as much of the outbound queue as the socket takes.
    pub fn write_out(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        if c.role.connecting() {
            // Flushed once the dial completes (the WRITABLE edge).
            return;
        }
        let before = c.out_pos;
        while c.out_pos < c.out.len() {
            match c.sock.write(&c.out[c.out_pos..]) {
                Ok(0) => break,
                Ok(n) => c.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    Server::write_failed(&mut self.to_close, c, slot);
                    return;
                }
            }
        }
        // What the transport holds (TLS records) goes after `out`.
        let mut held = false;
        if c.holds_output && c.out_pos == c.out.len() {
            match c.sock.flush() {
                Ok(done) => held = !done,
                Err(_) => {
                    Server::write_failed(&mut self.to_close, c, slot);
                    return;
                }
            }
        }
        if c.out_pos < c.out.len() || held {
            // The socket is full: the peer has write_deadline from the last
            // byte it took to take more. One timer per connection at a time,
            // re-armed while output stays queued (no WRITABLE edge may ever
            // come if the peer never reads again).
            let progressed = c.out_pos > before;
            if progressed || c.write_blocked_since.is_none() {
                c.write_blocked_since = Some(Instant::now());
            }
            if !c.write_timer_armed {
                c.write_timer_armed = true;
                let (cid, deadline) = (c.cid, self.opts.write_deadline);
                self.timers.add_in(deadline, TimerKind::WriteDeadline { slot, cid });
            }
            if !progressed {
                return;
            }
        } else {
            c.write_blocked_since = None;
        }
        if c.out_pos == c.out.len() {
            c.out.clear();
            c.out_pos = 0;
            if c.close_after_flush && c.closing.is_none() && !held {
                c.closing = Some(c.pending_reason.unwrap_or(CloseReason::ClientClosed));
                self.to_close.push(slot);
            }
        } else if c.out_pos > OUT_KEEP {
            c.out.drain(..c.out_pos);
            c.out_pos = 0;
        }
    }

    /// A write failed: the queued output is dropped and the connection
    /// closes as a write error.
    fn write_failed(to_close: &mut Vec<usize>, c: &mut Conn, slot: usize) {
        c.out.clear();
        c.out_pos = 0;
        if c.closing.is_none() {
            c.closing = Some(CloseReason::WriteError);
            to_close.push(slot);
        }
    }

    /// A connection whose peer stopped reading: closed once no byte could be
    /// written for `write_deadline`, as a slow consumer.
    pub fn check_write_deadline(&mut self, slot: usize, cid: u64) {
        let deadline = self.opts.write_deadline;
        let Some(c) = self.conns.get_mut(slot).filter(|c| c.cid == cid) else { return };
        c.write_timer_armed = false;
        match c.write_blocked_since {
            Some(t) if t.elapsed() >= deadline && (c.pending() > 0 || c.holds_output) => {
                log::info!("{} - Slow Consumer Detected: WriteDeadline of {:?} exceeded", c.prefix, deadline);
                c.out = Vec::new();
                c.out_pos = 0;
                let kind = c.kind();
                self.stats.count_slow_consumer(kind);
                self.mark_close(slot, CloseReason::SlowConsumerWriteDeadline);
            }
            Some(t) => {
                let left = deadline.saturating_sub(t.elapsed()).max(Duration::from_millis(10));
                c.write_timer_armed = true;
                self.timers.add_in(left, TimerKind::WriteDeadline { slot, cid });
            }
            None => {}
        }
    }

    /// Appends `-ERR '<text>'` to a connection's output.
    pub fn send_err(&mut self, slot: usize, text: &str) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        rnats_protocol::encode::write_err(&mut c.out, text.as_bytes());
        if crate::logging::trace_enabled() {
            log::trace!("{} - ->> [-ERR {text}]", c.prefix);
        }
        if c.role.logs_errors_sent() {
            log::error!("{} - {}", c.prefix, text);
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }

    /// Marks a connection to be closed at the end of this pass.
    pub fn mark_close(&mut self, slot: usize, reason: CloseReason) {
        if let Some(c) = self.conns.get_mut(slot) {
            if c.closing.is_none() {
                c.closing = Some(reason);
                self.to_close.push(slot);
            }
        }
    }

    /// Stops reading from a connection and closes it once its output is
    /// written (or the write deadline passes).
    pub fn close_after_flush(&mut self, slot: usize, reason: CloseReason) {
        let deadline = self.opts.write_deadline;
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        if c.closing.is_some() || c.close_after_flush {
            return;
        }
        c.close_after_flush = true;
        if c.pending() == 0 {
            c.closing = Some(reason);
            self.to_close.push(slot);
            return;
        }
        // Remember the real reason for the log line.
        c.pending_reason = Some(reason);
        let cid = c.cid;
        Server::queue_flush(&mut self.pending_flush, c, slot);
        self.timers.add_in(deadline, TimerKind::CloseDeadline { slot, cid });
    }

    pub fn close_marked(&mut self) {
        while let Some(slot) = self.to_close.pop() {
            self.close_now(slot);
        }
    }

    /// Removes a connection: a last write attempt, its subscriptions out of
    /// the sublist, the socket deregistered and dropped.
    pub fn close_now(&mut self, slot: usize) {
        if !self.conns.contains(slot) {
            return;
        }
        self.write_out(slot);
        let mut c = self.conns.remove(slot);
        let reason = c.closing.or(c.pending_reason).unwrap_or(CloseReason::ClientClosed);
        c.sock.closing(reason);
        if let Some(source) = c.sock.source() {
            let _ = self.poll.registry().deregister(source);
        }
        c.sock.shutdown();
        self.role_closed(slot, &mut c, reason);
    }

    /// Feeds freshly read bytes through a connection's parser. An op left
    /// unfinished by the previous read is completed first, copying into
    /// `inb` only the bytes it still needs; whole ops are then parsed
    /// straight from `data`, and only a trailing partial op is kept.
    pub fn feed<P: Protocol>(&mut self, slot: usize, mut data: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.active = true;
        conn.last_activity = Instant::now();
        if !conn.inb.is_empty() {
            let mut inb = std::mem::take(&mut conn.inb);
            loop {
                let Some(conn) = self.conns.get(slot) else {
                    return;
                };
                let take = match P::body_needed(conn, inb.len()) {
                    Some(need) => need.min(data.len()),
                    None => memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1),
                };
                inb.extend_from_slice(&data[..take]);
                data = &data[take..];
                match P::step(self, slot, &inb) {
                    Ok(Some((_, false))) => return,
                    Ok(Some((len, true))) => {
                        inb.drain(..len);
                        if inb.is_empty() {
                            break;
                        }
                    }
                    Ok(None) => {
                        if data.is_empty() {
                            if let Some(conn) = self.conns.get_mut(slot) {
                                conn.inb = inb;
                            }
                            return;
                        }
                    }
                    Err(e) => {
                        self.parse_error(slot, e);
                        return;
                    }
                }
            }
            // Keep the emptied buffer only if it is small.
            if inb.capacity() <= 64 * 1024 {
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.inb = inb;
                }
            }
        }
        let mut pos = 0;
        while pos < data.len() {
            match P::step(self, slot, &data[pos..]) {
                Ok(Some((_, false))) => return,
                Ok(Some((len, true))) => pos += len,
                Ok(None) => {
                    if let Some(conn) = self.conns.get_mut(slot) {
                        conn.inb.extend_from_slice(&data[pos..]);
                    }
                    return;
                }
                Err(e) => {
                    self.parse_error(slot, e);
                    return;
                }
            }
        }
    }
}
