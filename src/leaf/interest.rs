//! What each leaf link hears of: every interest change of an account goes
//! to the leaf links that may carry it, as Go forwards interest.
//!
//! | interest learned from        | hub-side links (leafs of ours) | spoke-side links (our hubs) |
//! |------------------------------|--------------------------------|-----------------------------|
//! | a local client               | yes                            | yes                         |
//! | a route                      | yes                            | no                          |
//! | a leaf of ours               | yes, not back to it            | yes                         |
//! | a hub of ours                | yes                            | no                          |
//!
//! Interest never goes to a link whose peer cluster is the one it came
//! from; loop-detection subjects (`$LDS.`) go to every other link. Each
//! link keeps what it was told (`LeafState::announced`): a plain subject is
//! announced when its count leaves 0 and withdrawn when it returns to 0, a
//! queue group's weight (its members: a local client or a peer's
//! subscription counts one) is announced on every change.

use rnats_protocol::encode;

use crate::leaf::state::LeafState;
use crate::logging::trace_enabled;
use crate::routing::accounts::AccId;
use crate::routing::interest::{interest_key, Source};
use crate::routing::sublist::Subscription;
use crate::server::Server;
use crate::server::{Conn, Role};

/// Whether leaf link `slot` (`l`) hears of interest from `src`.
fn reaches(src: &Source, slot: usize, subject: &[u8], l: &LeafState) -> bool {
    let lds = subject.starts_with(b"$LDS.");
    match *src {
        Source::Local => true,
        Source::Route { cluster } => {
            (lds || l.is_hub_side()) && (cluster.is_empty() || cluster != l.remote_cluster.as_bytes())
        }
        Source::Leaf { slot: from, hub_side, cluster } => {
            from != slot && (cluster.is_empty() || cluster != l.remote_cluster) && (lds || hub_side || l.is_hub_side())
        }
    }
}

/// Applies `delta` to what link `l` was told about `key` and writes the
/// `LS+`/`LS-` the change calls for into `out`.
fn apply(
    l: &mut crate::leaf::state::LeafState,
    key: &[u8],
    subject: &[u8],
    queue: Option<&[u8]>,
    delta: i64,
    out: &mut Vec<u8>,
) {
    let before = l.announced.get(key).copied().unwrap_or(0);
    let after = (i64::from(before) + delta).clamp(0, i64::from(u32::MAX)) as u32;
    if after == 0 {
        l.announced.remove(key);
    } else {
        l.announced.insert(key.into(), after);
    }
    match queue {
        None if before == 0 && after > 0 => encode::write_ls_plus(out, subject, None),
        None if before > 0 && after == 0 => encode::write_ls_minus(out, subject, None),
        Some(q) if after > 0 && after != before => encode::write_ls_plus(out, subject, Some((q, after))),
        Some(q) if after == 0 && before > 0 => encode::write_ls_minus(out, subject, Some(q)),
        _ => {}
    }
}

impl Server {
    /// Interest of account `acc` in `subject` (`queue`) changed by `delta`
    /// subscriptions (queue members or weight) at `src`: each leaf link
    /// that hears of it is told what changes for it.
    pub fn leaf_interest_delta(
        &mut self,
        acc: AccId,
        subject: &[u8],
        queue: Option<&[u8]>,
        delta: i64,
        src: Source<'_>,
    ) {
        if self.leaf_count == 0 || delta == 0 {
            return;
        }
        let key = interest_key(subject, queue);
        let mut line = Vec::new();
        for (slot, c) in self.conns.iter_mut() {
            let Conn { role: Role::Leaf(l), .. } = c else { continue };
            if !l.established || l.account != acc || c.closing.is_some() || !reaches(&src, slot, subject, l) {
                continue;
            }
            if !l.deny_imports.is_empty() && LeafState::denied(&l.deny_imports, subject) {
                continue;
            }
            if !l.may_hear_of(subject) {
                continue;
            }
            line.clear();
            apply(l, &key, subject, queue, delta, &mut line);
            if line.is_empty() {
                continue;
            }
            if trace_enabled() {
                log::trace!("{} - ->> [{}]", c.prefix, String::from_utf8_lossy(&line[..line.len() - 2]));
            }
            c.out.extend_from_slice(&line);
            Server::queue_flush(&mut self.pending_flush, c, slot);
        }
    }

    /// A peer's subscription `sub` came (`sign` 1) or went (-1): it counts
    /// one, queue member or not (a queue weight changes the count only
    /// when the peer changes it, as Go counts).
    pub fn peer_interest_changed(&mut self, sub: &Subscription, sign: i64, src: Source<'_>) {
        self.leaf_interest_delta(sub.account, sub.subject(), sub.queue(), sign, src);
    }

    /// Everything link `slot` must hear of when it comes up: the local
    /// interest of its account, the routes' (for a leaf of ours), the other
    /// leaf links' as `Source::reaches` says, and the account's loop
    /// detection subject. Written as one batch.
    pub fn leaf_initial_interest(&mut self, slot: usize) -> Vec<u8> {
        let Some(l) = self.conns[slot].leaf() else { return Vec::new() };
        let acc = l.account;
        let mut changes: Vec<(Box<[u8]>, i64)> = Vec::new();
        for ((a, key), n) in &self.local_interest {
            if *a == acc {
                changes.push((key.clone(), i64::from(*n)));
            }
        }
        for (s, c) in self.conns.iter() {
            if c.closing.is_some() || c.close_after_flush {
                // Going (a duplicate being replaced): its interest with it.
                continue;
            }
            let (subs, src) = match &c.role {
                Role::Route(r) => (&r.remote_subs, Source::Route { cluster: b"" }),
                Role::Leaf(o) if o.established => {
                    (&o.remote_subs, Source::Leaf { slot: s, hub_side: o.is_hub_side(), cluster: &o.remote_cluster })
                }
                _ => continue,
            };
            let Some(l) = self.conns[slot].leaf() else { break };
            for sub in subs.values().filter(|sub| sub.account == acc) {
                let src = match src {
                    Source::Route { .. } => Source::Route { cluster: crate::routing::interest::key_origin(sub.sid()) },
                    other => other,
                };
                if reaches(&src, slot, sub.subject(), l) {
                    // A queue member's weight counts here, where changes
                    // count a member one (as Go announces them).
                    let n = if sub.queue().is_some() { i64::from(sub.weight.get()) } else { 1 };
                    changes.push((interest_key(sub.subject(), sub.queue()), n));
                }
            }
        }
        let lds = self.leaf_lds(acc);
        changes.push((lds, 1));
        let Some(l) = self.conns[slot].leaf_mut() else { return Vec::new() };
        if !l.deny_imports.is_empty() || l.perms.is_some() {
            let subject = |k: &[u8]| k.split(|b| *b == b' ').next().unwrap_or_default().to_vec();
            changes.retain(|(k, _)| {
                let s = subject(k);
                !LeafState::denied(&l.deny_imports, &s) && l.may_hear_of(&s)
            });
        }
        for (key, n) in changes {
            let e = l.announced.entry(key).or_insert(0);
            *e = (i64::from(*e) + n).clamp(0, i64::from(u32::MAX)) as u32;
        }
        let mut out = Vec::new();
        for (key, n) in &l.announced {
            match key.iter().position(|b| *b == b' ') {
                None => encode::write_ls_plus(&mut out, key, None),
                Some(i) => encode::write_ls_plus(&mut out, &key[..i], Some((&key[i + 1..], *n))),
            }
        }
        out
    }
}
