//! One delivery path for every message, whoever sent it: the fan-out over
//! the subscriptions that match (plain subscribers, one member per queue
//! group, each interested route once) and the one place that appends a
//! message to a connection's output and does the accounting that goes with
//! it (trace line, counters, slow-consumer cut).

use std::rc::Rc;
use std::time::Instant;

use rnats_protocol::encode;

use crate::conn::CloseReason;
use crate::conn::Kind;
use crate::logging::trace_enabled;
use crate::routing::accounts::{AccId, GLOBAL};
use crate::routing::sublist::Subscription;
use crate::server::{Conn, Role};
use crate::server::{Server, ServerCounters};

/// Go answers a request nobody listens to with this status-only header.
const NO_RESPONDERS_HDR: &[u8] = b"NATS/1.0 503\r\n\r\n";

/// A message on its way, borrowed from the publisher's read buffer.
#[derive(Clone, Copy, Debug)]
pub struct Msg<'a> {
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Length of the header block at the start of `payload` (HPUB/HMSG).
    pub header_len: Option<usize>,
    /// Headers (if any) and body.
    pub payload: &'a [u8],
}

impl<'a> Msg<'a> {
    /// The payload without its header block, for a receiver that does not
    /// take headers.
    #[inline]
    fn body(&self) -> &'a [u8] {
        match self.header_len {
            Some(h) => &self.payload[h.min(self.payload.len())..],
            None => self.payload,
        }
    }
}

/// Where a message comes from.
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// A client (the slot's own subscriptions see it only with echo).
    Client,
    /// A route peer, which picked this server for the queue groups named
    /// in `queues` (blank-separated). The origin cluster an LMSG names is
    /// in `Server::lmsg_origin` while it is delivered.
    Route { queues: Option<&'a [u8]> },
    /// A leaf link (a hub of ours or a leaf node of ours), naming the
    /// queue groups it picked this server for.
    Leaf { queues: Option<&'a [u8]> },
}

/// After a message was appended to `c.out` from `before` on: the trace
/// line, the counters, and either a flush queued or, over `max_pending`,
/// the output dropped (a peer that stopped reading must not take the
/// server's memory). Returns true when the caller must close `slot`.
#[inline(always)]
fn after_append(
    c: &mut Conn,
    slot: usize,
    before: usize,
    bytes: u64,
    stats: &mut ServerCounters,
    pending_flush: &mut Vec<usize>,
    max_pending: usize,
) -> bool {
    if trace_enabled() {
        let end = c.out[before..].iter().position(|b| *b == b'\r').unwrap_or(0);
        log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&c.out[before..before + end]));
    }
    c.stats.out_msgs += 1;
    c.stats.out_bytes += bytes;
    stats.out_msgs += 1;
    stats.out_bytes += bytes;
    if c.pending() > max_pending {
        // Cut without an -ERR, as Go does, with the queue dropped at once.
        log::info!("{} - Slow Consumer Detected: MaxPending of {max_pending} Exceeded", c.prefix);
        c.out = Vec::new();
        c.out_pos = 0;
        stats.count_slow_consumer(c.kind());
        return true;
    }
    Server::queue_flush(pending_flush, c, slot);
    false
}

impl Server {
    /// Delivers a message to every matching subscription: local clients
    /// (one member per queue group) and, for a message from a client, each
    /// route with interest, once, with the queue groups picked for it. A
    /// message from a route goes to local clients only, and to queue groups
    /// only if the sender named them. Only subscriptions of account `acc`
    /// (the publisher's) match. Returns whether anyone received it.
    #[inline(always)]
    pub fn deliver(&mut self, from: usize, acc: AccId, origin: Origin<'_>, m: Msg<'_>) -> bool {
        // The global account's delivery is compiled apart, without a trace
        // of the other accounts.
        if acc == GLOBAL {
            self.deliver_in::<true>(from, GLOBAL, origin, m)
        } else {
            self.deliver_in::<false>(from, acc, origin, m)
        }
    }

    fn deliver_in<const IN_GLOBAL: bool>(&mut self, from: usize, acc: AccId, origin: Origin<'_>, m: Msg<'_>) -> bool {
        let acc = if IN_GLOBAL { GLOBAL } else { acc };
        let result =
            if IN_GLOBAL { self.sublist.matches(m.subject) } else { self.accounts.sublist_mut(acc).matches(m.subject) };
        if result.is_empty() {
            return false;
        }
        // From another server: local clients, and other links only as
        // `relays` allows (one hop between routes).
        let from_route = !matches!(origin, Origin::Client);
        let mut delivered = false;
        let mut expired: Vec<Rc<Subscription>> = Vec::new();
        let mut sends = std::mem::take(&mut self.route_sends);
        let mut picks = std::mem::take(&mut self.route_qpicks);
        for sub in &result.psubs {
            if sub.owner == Kind::Client {
                delivered |= self.deliver_to(from, sub, m, &mut expired);
            } else if sub.owner == Kind::Internal {
                self.js_enqueue(from, acc, sub, m);
                delivered = true;
            } else if sub.owner != Kind::Http
                && (!from_route || self.relays(from, sub.slot))
                && !sends.iter().any(|(s, _)| *s == sub.slot)
            {
                // A route's or a leaf link's interest: the message goes
                // there once.
                sends.push((sub.slot, sub.cid));
            }
        }
        for group in &result.qsubs {
            let n = group.len();
            if let Origin::Route { queues } | Origin::Leaf { queues } = origin {
                let name = group[0].queue().unwrap_or_default();
                if !queues.is_some_and(|q| q.split(|b| matches!(b, b' ' | b'\t')).any(|x| x == name)) {
                    continue;
                }
                // The sender picked this server for the group: one local
                // member, chosen uniformly among the local ones; with none
                // able to take it, the first route member (as Go falls back).
                let locals = group.iter().filter(|s| s.owner == Kind::Client).count();
                let mut taken = false;
                if locals > 0 {
                    let k = (self.rand() % locals as u64) as usize;
                    let start =
                        group.iter().enumerate().filter(|(_, s)| s.owner == Kind::Client).nth(k).map_or(0, |(i, _)| i);
                    for i in 0..n {
                        let sub = &group[(start + i) % n];
                        if sub.owner == Kind::Client && self.deliver_to(from, sub, m, &mut expired) {
                            taken = true;
                            break;
                        }
                    }
                }
                if !taken && (matches!(origin, Origin::Route { .. }) || self.relays(from, usize::MAX)) {
                    if let Some(rsub) = group.iter().find(|s| s.owner == Kind::Route && s.weight.get() > 0) {
                        if !sends.iter().any(|(s, _)| *s == rsub.slot) {
                            sends.push((rsub.slot, rsub.cid));
                        }
                        picks.push((rsub.slot, rsub.clone()));
                        taken = true;
                    }
                }
                if !taken && self.leaf_count > 0 {
                    taken = self.relayed_leaf_fallback(from, group, &mut sends, &mut picks);
                }
                delivered |= taken;
                continue;
            }
            // Each local member counts once, a route's member as often as
            // the route's weight (0: nobody there), so the pick is
            // proportional cluster-wide.
            'group: {
                if let Some(start) = pick_weighted(group, self.rand()) {
                    for i in 0..n {
                        let sub = &group[(start + i) % n];
                        if sub.owner != Kind::Client {
                            if sub.owner == Kind::Route && sub.weight.get() > 0 {
                                if !sends.iter().any(|(s, _)| *s == sub.slot) {
                                    sends.push((sub.slot, sub.cid));
                                }
                                picks.push((sub.slot, sub.clone()));
                                delivered = true;
                                break 'group;
                            }
                            continue;
                        }
                        if self.deliver_to(from, sub, m, &mut expired) {
                            delivered = true;
                            break 'group;
                        }
                    }
                }
                if self.leaf_count > 0 {
                    delivered |= leaf_fallback(group, &mut sends, &mut picks);
                }
            }
        }
        // A subscription this message took to its auto-unsubscribe limit
        // leaves before the message goes to the routes: Go announces the
        // RS- as it delivers and forwards to routes last.
        for sub in expired {
            self.remove_client_sub(&sub);
        }
        if !sends.is_empty() {
            delivered |= self.forward_all(from, acc, matches!(origin, Origin::Leaf { .. }), m, &sends, &picks);
        }
        sends.clear();
        picks.clear();
        self.route_sends = sends;
        self.route_qpicks = picks;
        delivered
    }

    /// Delivers a JetStream consumer's message sent on `lookup` (a deliver
    /// subject or a pull request's reply) that local clients see under
    /// `m.subject` (the subject it was stored with), as Go's consumers
    /// deliver. Routes and leaf links get it under `lookup`, which is what
    /// the other side routes by, with `@<subject>` after the reply, as Go
    /// sends it. `from` is the link it came over (`usize::MAX`: from this
    /// server's JetStream).
    #[cold]
    #[inline(never)]
    pub fn deliver_shown(&mut self, from: usize, acc: AccId, lookup: &[u8], m: Msg<'_>) -> bool {
        let result = self.sublist_mut(acc).matches(lookup);
        if result.is_empty() {
            return false;
        }
        let mut reply_at = Vec::new();
        if let Some(r) = m.reply {
            reply_at.extend_from_slice(r);
            reply_at.push(b'@');
            reply_at.extend_from_slice(m.subject);
        }
        let routed = Msg { subject: lookup, reply: m.reply.map(|_| &reply_at[..]), ..m };
        let local = from == usize::MAX;
        let mut delivered = false;
        let mut expired: Vec<Rc<Subscription>> = Vec::new();
        let mut sends: Vec<(usize, u64)> = Vec::new();
        for sub in &result.psubs {
            match sub.owner {
                Kind::Client => delivered |= self.deliver_to(from, sub, m, &mut expired),
                Kind::Internal => {
                    self.js_enqueue(from, acc, sub, Msg { subject: lookup, ..m });
                    delivered = true;
                }
                Kind::Route | Kind::Leaf => {
                    if (local || self.relays(from, sub.slot)) && !sends.iter().any(|(s, _)| *s == sub.slot) {
                        sends.push((sub.slot, sub.cid));
                    }
                }
                Kind::Http => {}
            }
        }
        for group in &result.qsubs {
            let n = group.len();
            let start = (self.rand() % n as u64) as usize;
            let mut taken = false;
            for i in 0..n {
                let sub = &group[(start + i) % n];
                if sub.owner == Kind::Client && self.deliver_to(from, sub, m, &mut expired) {
                    taken = true;
                    break;
                }
            }
            if !taken && local {
                if let Some(rsub) = group.iter().find(|s| matches!(s.owner, Kind::Route | Kind::Leaf)) {
                    if !sends.iter().any(|(s, _)| *s == rsub.slot) {
                        sends.push((rsub.slot, rsub.cid));
                    }
                }
            }
        }
        for sub in expired {
            self.remove_client_sub(&sub);
        }
        for (slot, cid) in sends {
            delivered |= self.forward_to_route(slot, cid, acc, routed, &[], b"");
        }
        delivered
    }

    /// A message from a route or leaf link whose reply is a JetStream ack
    /// with `@<subject>` after it: delivered by its subject to clients that
    /// see the stored subject. Go 2.10+ takes the first `@` after at least
    /// eight dots, Go 2.9 the last one; they agree on the ack subjects
    /// JetStream makes.
    #[cold]
    #[inline(never)]
    pub fn deliver_js_relayed(&mut self, from: usize, acc: AccId, m: Msg<'_>) -> bool {
        let Some(r) = m.reply else { return false };
        let mut dots = 0;
        let at = r.iter().enumerate().position(|(_, b)| {
            if *b == b'.' {
                dots += 1;
            }
            *b == b'@' && dots >= 8
        });
        let Some(i) = at else { return false };
        let shown = Msg { subject: &r[i + 1..], reply: Some(&r[..i]), ..m };
        self.deliver_shown(from, acc, m.subject, shown);
        true
    }

    /// Whether a message that came from server link `from` goes on to
    /// link `to` (`usize::MAX`: to any route), as Go forwards: from a route
    /// to leaf nodes of ours; from a leaf node of ours to routes and every
    /// other leaf link; from a hub of ours to leaf nodes of ours. Never back
    /// to where it came from, nor to a link of the cluster it came from
    /// (from a route: the origin its LMSG named, `lmsg_origin`).
    #[cold]
    #[inline(never)]
    fn relays(&self, from: usize, to: usize) -> bool {
        if self.leaf_count == 0 {
            return false;
        }
        let Some(Role::Leaf(src)) = self.conns.get(from).map(|c| &c.role) else {
            // From a route: to leaf nodes of ours only, not to those of
            // the cluster the message came from.
            let cluster = &self.lmsg_origin;
            return matches!(self.conns.get(to).map(|c| &c.role), Some(Role::Leaf(d))
                if d.is_hub_side() && (cluster.is_empty() || d.remote_cluster.as_bytes() != &cluster[..]));
        };
        match self.conns.get(to).map(|c| &c.role) {
            None => to == usize::MAX && src.is_hub_side(),
            Some(Role::Route(_)) => src.is_hub_side(),
            Some(Role::Leaf(dst)) => {
                from != to
                    && (src.is_hub_side() || dst.is_hub_side())
                    && (src.remote_cluster.is_empty() || src.remote_cluster != dst.remote_cluster)
            }
            _ => false,
        }
    }

    /// A queue group named by a server link with no local member to take
    /// the message: the first member behind a link the message may go on
    /// to (see `relays`).
    #[cold]
    #[inline(never)]
    fn relayed_leaf_fallback(
        &self,
        from: usize,
        group: &[Rc<Subscription>],
        sends: &mut Vec<(usize, u64)>,
        picks: &mut Vec<(usize, Rc<Subscription>)>,
    ) -> bool {
        let Some(lsub) = group.iter().find(|s| s.owner == Kind::Leaf && self.relays(from, s.slot)) else {
            return false;
        };
        if !sends.iter().any(|(s, _)| *s == lsub.slot) {
            sends.push((lsub.slot, lsub.cid));
        }
        picks.push((lsub.slot, lsub.clone()));
        true
    }

    /// The message goes to each link in `sends` once. From a leaf node of
    /// ours with a cluster (`from_leaf`), routes that take it learn the
    /// message's origin (LMSG).
    #[inline(never)]
    fn forward_all(
        &mut self,
        from: usize,
        acc: AccId,
        from_leaf: bool,
        m: Msg<'_>,
        sends: &[(usize, u64)],
        picks: &[(usize, Rc<Subscription>)],
    ) -> bool {
        let leaf_origin = if from_leaf { self.conns.get(from).and_then(|c| c.leaf()?.origin.clone()) } else { None };
        let origin: &[u8] = leaf_origin.as_deref().unwrap_or_default();
        let mut delivered = false;
        for &(slot, cid) in sends {
            delivered |= self.forward_to_route(slot, cid, acc, m, picks, origin);
        }
        delivered
    }

    /// Appends one RMSG (or HMSG) of account `acc` for route `slot`, naming
    /// the queue groups picked on it; an LMSG naming `origin` (the cluster
    /// of the leaf node of ours it came from, when not empty) to a route
    /// peer that takes it.
    fn forward_to_route(
        &mut self,
        slot: usize,
        cid: u64,
        acc: AccId,
        m: Msg<'_>,
        picks: &[(usize, Rc<Subscription>)],
        origin: &[u8],
    ) -> bool {
        let Some(c) = self.conns.get_mut(slot) else {
            return false;
        };
        if c.cid != cid || c.closing.is_some() {
            return false;
        }
        let (headers, leaf, lnoc) = match &c.role {
            Role::Route(r) => (r.headers, false, r.lnoc),
            Role::Leaf(l) => {
                if !l.deny_exports.is_empty() && crate::leaf::state::LeafState::denied(&l.deny_exports, m.subject) {
                    return false;
                }
                (l.headers, true, false)
            }
            _ => return false,
        };
        let (hdr, body) = match m.header_len {
            Some(h) if headers => (Some(h), m.payload),
            _ => (None, m.body()),
        };
        let before = c.out.len();
        let mut queues = picks.iter().filter(|(s, _)| *s == slot).filter_map(|(_, q)| q.queue());
        if leaf {
            encode::write_lmsg(&mut c.out, m.subject, m.reply, &mut queues, hdr, body);
        } else if lnoc && !origin.is_empty() {
            let account = self.accounts.name(acc);
            encode::write_route_lmsg(&mut c.out, origin, account, m.subject, m.reply, &mut queues, hdr, body);
        } else {
            encode::write_rmsg(&mut c.out, self.accounts.name(acc), m.subject, m.reply, &mut queues, hdr, body);
        }
        let max_pending = self.opts.max_pending;
        if after_append(c, slot, before, body.len() as u64, &mut self.stats, &mut self.pending_flush, max_pending) {
            self.mark_close(slot, CloseReason::SlowConsumerPendingBytes);
        }
        true
    }

    /// Appends one message to a subscriber's output. False if the
    /// subscription could not take it (gone, closing, no echo, denied by
    /// the subscriber's permissions, or past its auto-unsubscribe limit).
    #[inline]
    fn deliver_to(
        &mut self,
        from: usize,
        sub: &Rc<Subscription>,
        m: Msg<'_>,
        expired: &mut Vec<Rc<Subscription>>,
    ) -> bool {
        let Some(c) = self.conns.get_mut(sub.slot) else {
            return false;
        };
        if c.cid != sub.cid || c.closing.is_some() || c.close_after_flush {
            return false;
        }
        let Conn { role: Role::Client(cl), out, .. } = c else {
            return false;
        };
        if sub.slot == from && !cl.opts.echo {
            return false;
        }
        if let Some(perms) = cl.perms.as_deref() {
            // A wildcard subscription may overlap subjects this user must not see.
            if perms.subscribe.as_ref().is_some_and(|p| !p.deny.is_empty() && p.denies(m.subject)) {
                return false;
            }
            if let (Some(rp), Some(r)) = (&perms.responses, m.reply) {
                cl.replies.get_or_insert_with(Default::default).record(r, rp, Instant::now());
            }
        }
        let max = sub.max.get();
        if max > 0 && sub.delivered.get() >= max {
            return false;
        }
        let before = out.len();
        match m.header_len {
            Some(h) if cl.opts.headers => encode::write_hmsg(out, m.subject, sub.sid(), m.reply, h, m.payload),
            _ => encode::write_msg(out, m.subject, sub.sid(), m.reply, m.body()),
        }
        sub.delivered.set(sub.delivered.get() + 1);
        if max > 0 && sub.delivered.get() >= max {
            expired.push(sub.clone());
        }
        let max_pending = self.opts.max_pending;
        if after_append(
            c,
            sub.slot,
            before,
            m.payload.len() as u64,
            &mut self.stats,
            &mut self.pending_flush,
            max_pending,
        ) {
            self.mark_close(sub.slot, CloseReason::SlowConsumerPendingBytes);
        }
        true
    }

    /// Sends the 503 status to the publisher's own subscription on `reply`.
    #[cold]
    #[inline(never)]
    pub fn send_no_responders(&mut self, slot: usize, acc: AccId, reply: &[u8]) {
        // The publisher's first plain subscription in match order, as Go's.
        let cid = self.conns[slot].cid;
        let result = self.sublist_mut(acc).matches(reply);
        let Some(sub) =
            result.psubs.iter().find(|s| s.owner == Kind::Client && s.slot == slot && s.cid == cid).cloned()
        else {
            return;
        };
        let c = &mut self.conns[slot];
        encode::write_hmsg(&mut c.out, reply, sub.sid(), None, NO_RESPONDERS_HDR.len(), NO_RESPONDERS_HDR);
        if trace_enabled() {
            log::trace!(
                "{} - ->> [HMSG {} {} {} {}]",
                c.prefix,
                String::from_utf8_lossy(reply),
                String::from_utf8_lossy(sub.sid()),
                NO_RESPONDERS_HDR.len(),
                NO_RESPONDERS_HDR.len()
            );
        }
        Server::queue_flush(&mut self.pending_flush, c, slot);
    }
}

/// Members behind a hub are a queue group's last resort (as Go's leaf
/// members): the first one with a weight takes the message.
#[cold]
#[inline(never)]
fn leaf_fallback(
    group: &[Rc<Subscription>],
    sends: &mut Vec<(usize, u64)>,
    picks: &mut Vec<(usize, Rc<Subscription>)>,
) -> bool {
    // A leaf member counts whatever weight its link gave (as Go).
    let Some(lsub) = group.iter().find(|s| s.owner == Kind::Leaf) else {
        return false;
    };
    if !sends.iter().any(|(s, _)| *s == lsub.slot) {
        sends.push((lsub.slot, lsub.cid));
    }
    picks.push((lsub.slot, lsub.clone()));
    true
}

/// The queue member to try first: local members weigh 1, a route's member
/// its route's weight, and `r` (a random number) picks proportionally.
/// None when the whole group weighs nothing.
fn pick_weighted(group: &[Rc<Subscription>], r: u64) -> Option<usize> {
    // A member behind a hub weighs nothing here (it is the last resort).
    // (A client's subscription weighs 1, a route's its announced weight.)
    let weight = |s: &Subscription| s.weight.get() as u64 * u64::from(s.owner != Kind::Leaf);
    let mut total = 0;
    let mut all_local = true;
    for s in group {
        total += weight(s);
        all_local &= s.owner == Kind::Client;
    }
    if total == 0 {
        return None;
    }
    if all_local {
        // Every member weighs 1: the pick is the index itself.
        return Some((r % total) as usize);
    }
    let mut r = r % total;
    for (i, s) in group.iter().enumerate() {
        let w = weight(s);
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(owner: Kind, weight: u32) -> Rc<Subscription> {
        let s = Subscription::new(0, 0, owner, b"q", Some(b"g"), b"1");
        s.weight.set(weight);
        Rc::new(s)
    }

    #[test]
    fn queue_pick_is_proportional_to_weights() {
        let group = vec![member(Kind::Client, 1), member(Kind::Route, 3), member(Kind::Client, 1)];
        let mut hits = [0usize; 3];
        for r in 0..500u64 {
            hits[pick_weighted(&group, r).expect("group has weight")] += 1;
        }
        assert_eq!(hits, [100, 300, 100]);
    }

    #[test]
    fn route_members_of_weight_zero_are_never_picked() {
        let group = vec![member(Kind::Route, 0), member(Kind::Client, 1)];
        assert!((0..50).all(|r| pick_weighted(&group, r) == Some(1)));
        assert_eq!(pick_weighted(&[member(Kind::Route, 0)], 7), None);
    }

    #[test]
    fn a_receiver_without_headers_gets_the_body_only() {
        let m = Msg { subject: b"s", reply: None, header_len: Some(12), payload: b"NATS/1.0\r\n\r\nhi" };
        assert_eq!(m.body(), b"hi");
        let bad = Msg { header_len: Some(99), ..m };
        assert_eq!(bad.body(), b"");
        let plain = Msg { header_len: None, ..m };
        assert_eq!(plain.body(), m.payload);
    }

    mod handlers {
        use std::rc::Rc;

        use crate::auth::{Permissions, SubjectPerms, User};
        use crate::config::options::Options;
        use crate::conn::CloseReason;
        use crate::server::testkit::{client, output, send, server};

        const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

        #[test]
        fn echo_off_keeps_a_publisher_from_its_own_subscription() {
            let mut s = server(Options::default());
            let a = client(&mut s);
            let b = client(&mut s);
            send(&mut s, a, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\n");
            send(&mut s, b, &format!("{QUIET}SUB foo 7\r\n"));
            output(&mut s, a);
            output(&mut s, b);
            send(&mut s, a, "PUB foo 2\r\nhi\r\n");
            assert_eq!(output(&mut s, a), "");
            assert_eq!(output(&mut s, b), "MSG foo 7 2\r\nhi\r\n");
        }

        #[test]
        fn each_message_reaches_one_member_of_a_queue_group() {
            let mut s = server(Options::default());
            let members: Vec<usize> = (0..3).map(|_| client(&mut s)).collect();
            for (i, m) in members.iter().enumerate() {
                send(&mut s, *m, &format!("{QUIET}SUB work grp {i}\r\n"));
                output(&mut s, *m);
            }
            let p = client(&mut s);
            send(&mut s, p, QUIET);
            for _ in 0..60 {
                send(&mut s, p, "PUB work 1\r\nx\r\n");
            }
            let got: Vec<usize> = members.iter().map(|m| output(&mut s, *m).matches("MSG work").count()).collect();
            assert_eq!(got.iter().sum::<usize>(), 60, "{got:?}");
            assert!(got.iter().all(|n| *n > 0), "every member gets some: {got:?}");
        }

        #[test]
        fn a_wildcard_subscription_does_not_see_denied_subjects() {
            let perms = Permissions {
                subscribe: Some(SubjectPerms { allow: vec![], deny: vec!["secret.>".into()] }),
                ..Default::default()
            };
            let users =
                vec![User { name: "u".into(), password: "p".into(), permissions: Some(Rc::new(perms)), account: None }];
            let mut s = server(Options { users, ..Options::default() });
            let sub = client(&mut s);
            let publisher = client(&mut s);
            send(&mut s, sub, "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB > 1\r\n");
            send(&mut s, publisher, "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n");
            output(&mut s, sub);
            send(&mut s, publisher, "PUB secret.x 1\r\na\r\nPUB open.x 1\r\nb\r\n");
            assert_eq!(output(&mut s, sub), "MSG open.x 1 1\r\nb\r\n");
        }

        #[test]
        fn a_subscriber_over_max_pending_is_cut_as_a_slow_consumer() {
            let mut s = server(Options { max_pending: 64, ..Options::default() });
            let slow = client(&mut s);
            let other = client(&mut s);
            let p = client(&mut s);
            send(&mut s, slow, &format!("{QUIET}SUB big 1\r\n"));
            send(&mut s, other, &format!("{QUIET}SUB small 1\r\n"));
            send(&mut s, p, QUIET);
            send(&mut s, p, &format!("PUB big 100\r\n{}\r\nPUB small 1\r\nz\r\n", "x".repeat(100)));
            assert_eq!(s.conns[slow].closing, Some(CloseReason::SlowConsumerPendingBytes));
            assert_eq!(s.conns[slow].pending(), 0, "its queue is dropped at once");
            assert_eq!(s.stats.slow_consumers, 1);
            assert_eq!(output(&mut s, other), "MSG small 1 1\r\nz\r\n");
        }

        #[test]
        fn auto_unsubscribe_stops_after_the_limit() {
            let mut s = server(Options::default());
            let sub = client(&mut s);
            let p = client(&mut s);
            send(&mut s, sub, &format!("{QUIET}SUB n 5\r\nUNSUB 5 2\r\n"));
            send(&mut s, p, QUIET);
            for _ in 0..4 {
                send(&mut s, p, "PUB n 0\r\n\r\n");
            }
            assert_eq!(output(&mut s, sub).matches("MSG n 5 0").count(), 2);
            assert_eq!(s.sublist.count(), 0);
        }

        #[test]
        fn headers_go_only_to_clients_that_asked_for_them() {
            let mut s = server(Options::default());
            let plain = client(&mut s);
            let hdr = client(&mut s);
            let p = client(&mut s);
            send(&mut s, plain, &format!("{QUIET}SUB h 1\r\n"));
            send(&mut s, hdr, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB h 2\r\n");
            send(&mut s, p, "CONNECT {\"verbose\":false,\"headers\":true}\r\n");
            send(&mut s, p, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
            assert_eq!(output(&mut s, plain), "MSG h 1 2\r\nhi\r\n");
            assert_eq!(output(&mut s, hdr), "HMSG h 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
        }

        #[test]
        fn a_request_nobody_listens_to_gets_no_responders() {
            let mut s = server(Options::default());
            let c = client(&mut s);
            send(&mut s, c, "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n");
            send(&mut s, c, "SUB _INBOX.1 9\r\nPUB nobody _INBOX.1 0\r\n\r\n");
            assert_eq!(output(&mut s, c), "HMSG _INBOX.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n");
        }
    }

    /// Delivery keeps accounts apart, on this server and over routes.
    mod accounts {
        use crate::auth::User;
        use crate::config::options::Options;
        use crate::server::testkit::{client, cluster_server, output, route, route_handshake, send, server};

        fn user(name: &str, account: Option<&str>) -> User {
            User { name: name.into(), password: "p".into(), permissions: None, account: account.map(String::from) }
        }

        /// Users `a` (account A), `b` (account B) and `g` (`$G`).
        fn opts() -> Options {
            Options {
                accounts: vec!["A".into(), "B".into()],
                users: vec![user("a", Some("A")), user("b", Some("B")), user("g", None)],
                ..Options::default()
            }
        }

        fn login(name: &str) -> String {
            format!("CONNECT {{\"verbose\":false,\"user\":\"{name}\",\"pass\":\"p\"}}\r\n")
        }

        #[test]
        fn a_message_reaches_only_subscriptions_of_its_account() {
            let mut s = server(opts());
            let (a1, a2, b, g) = (client(&mut s), client(&mut s), client(&mut s), client(&mut s));
            for (slot, name) in [(a1, "a"), (a2, "a"), (b, "b"), (g, "g")] {
                send(&mut s, slot, &format!("{}SUB x.* 1\r\n", login(name)));
                assert_eq!(output(&mut s, slot), "");
            }
            send(&mut s, a2, "PUB x.1 2\r\nhi\r\n");
            assert_eq!(output(&mut s, a1), "MSG x.1 1 2\r\nhi\r\n");
            assert_eq!(output(&mut s, a2), "MSG x.1 1 2\r\nhi\r\n");
            assert_eq!(output(&mut s, b), "");
            assert_eq!(output(&mut s, g), "");
            send(&mut s, g, "PUB x.2 1\r\ng\r\n");
            assert_eq!((output(&mut s, a1), output(&mut s, b)), (String::new(), String::new()));
            assert_eq!(output(&mut s, g), "MSG x.2 1 1\r\ng\r\n");
            assert_eq!((s.sublist.count(), s.sub_count()), (1, 4));
            // A closing client's subscriptions leave its account's sublist.
            s.client_count = 4; // the test kit adds clients without counting them
            s.mark_close(a1, crate::conn::CloseReason::ClientClosed);
            s.close_marked();
            assert_eq!(s.sub_count(), 3);
        }

        #[test]
        fn no_auth_user_may_be_an_account_user() {
            let mut s = server(Options { no_auth_user: Some("b".into()), ..opts() });
            let (anon, b) = (client(&mut s), client(&mut s));
            send(&mut s, anon, "CONNECT {\"verbose\":false}\r\nSUB q 1\r\n");
            send(&mut s, b, &format!("{}PUB q 1\r\nx\r\n", login("b")));
            assert_eq!(output(&mut s, anon), "MSG q 1 1\r\nx\r\n");
            assert_eq!(s.conns[anon].client().map(|c| c.account), Some(2));
        }

        #[test]
        fn routes_carry_the_account_name_both_ways() {
            let mut s = cluster_server(opts());
            let (a, g) = (client(&mut s), client(&mut s));
            send(&mut s, a, &format!("{}SUB before 1\r\n", login("a")));
            send(&mut s, g, &format!("{}SUB before 1\r\n", login("g")));
            let r = route(&mut s);
            route_handshake(&mut s, r, "NPEER1", false);
            let got = output(&mut s, r);
            assert!(got.contains("RS+ A before\r\n") && got.contains("RS+ $G before\r\n"), "{got}");
            send(&mut s, a, "SUB q.x grp 2\r\nUNSUB 1\r\n");
            assert_eq!(output(&mut s, r), "RS+ A q.x grp 1\r\nRS- A before\r\n");
            // Interest of account B: only B's messages go to the peer.
            send(&mut s, r, "RS+ B foo\r\n");
            let b = client(&mut s);
            send(&mut s, b, &format!("{}PUB foo 1\r\nb\r\n", login("b")));
            send(&mut s, a, "PUB foo 1\r\na\r\n");
            send(&mut s, g, "PUB foo 1\r\ng\r\n");
            assert_eq!(output(&mut s, r), "RMSG B foo 1\r\nb\r\n");
            // A routed message is delivered in the account it names.
            send(&mut s, b, "SUB z 5\r\n");
            send(&mut s, g, "SUB z 5\r\n");
            output(&mut s, r);
            send(&mut s, r, "RMSG B z 2\r\nhi\r\n");
            assert_eq!(output(&mut s, b), "MSG z 5 2\r\nhi\r\n");
            assert_eq!(output(&mut s, g), "");
            send(&mut s, r, "RMSG $G z 1\r\ng\r\n");
            assert_eq!(output(&mut s, g), "MSG z 5 1\r\ng\r\n");
            assert_eq!(output(&mut s, b), "");
            // The route's interest leaves with it.
            s.mark_close(r, crate::conn::CloseReason::ClientClosed);
            s.close_marked();
            assert_eq!(s.accounts.sublists().map(|l| l.count()).sum::<usize>(), 2);
        }

        #[test]
        fn unknown_accounts_on_a_route_are_ignored() {
            let mut s = cluster_server(opts());
            let r = route(&mut s);
            route_handshake(&mut s, r, "NPEER1", true);
            output(&mut s, r);
            send(&mut s, r, "RS+ C foo\r\nRS+ $SYS bar\r\nRS- C foo\r\n");
            assert_eq!(output(&mut s, r), "", "no +OK for interest not taken");
            assert_eq!(s.sub_count(), 0);
            let c = client(&mut s);
            send(&mut s, c, &format!("{}SUB foo 1\r\n", login("a")));
            assert_eq!(output(&mut s, r), "RS+ A foo\r\n");
            send(&mut s, r, "RMSG C foo 1\r\nx\r\n");
            assert_eq!(output(&mut s, c), "");
            assert!(s.conns[r].closing.is_none(), "the route stays");
            assert_eq!(output(&mut s, r), "+OK\r\n", "a message is acknowledged whatever its account");
            send(&mut s, r, "RS+ A foo\r\nRS- A foo\r\n");
            assert_eq!(output(&mut s, r), "+OK\r\n+OK\r\n");
        }
    }
}
