//! The subject trie: which subscriptions match a published subject.
//!
//! Each level maps a literal token to a node and has separate slots for the
//! `*` and `>` wildcards. A node keeps plain subscriptions apart from queue
//! subscriptions (grouped by queue name), so a match result can give every
//! plain subscriber a copy and each queue group exactly one.
//!
//! Results for literal subjects are cached (bounded); inserting or removing a
//! subscription drops the cached results it could change. A hit hands out a
//! shared `Rc`. A miss fills a reused scratch result instead, without
//! allocating, and the subject is cached only when it misses a second time
//! shortly after: a working set larger than the cache (thousands of devices,
//! each on its own subject) does not churn the cache with results used once.

use std::cell::Cell;
use std::rc::Rc;

use rnats_protocol::subject;

use crate::hash::FxHashMap;

/// Who receives messages for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A client connection's subscription.
    Client,
    /// Interest announced by a route peer: matching messages are forwarded
    /// to that route once.
    Route,
}

/// One subscription. Identity is the `Rc` pointer.
#[derive(Debug)]
pub struct Subscription {
    /// Slab slot of the owning connection.
    pub slot: usize,
    /// Connection id of the owner, guarding against slot reuse.
    pub cid: u64,
    pub owner: Owner,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    pub sid: Box<[u8]>,
    /// Auto-unsubscribe after this many deliveries (0 = never).
    pub max: Cell<u64>,
    pub delivered: Cell<u64>,
    /// Queue weight announced by a route (members of the group over there).
    pub weight: Cell<u32>,
}

/// Everything matching one subject.
#[derive(Debug, Default)]
pub struct MatchResult {
    pub psubs: Vec<Rc<Subscription>>,
    /// One entry per queue name; deliver to one member of each.
    pub qsubs: Vec<Vec<Rc<Subscription>>>,
}

impl MatchResult {
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }

    fn clear(&mut self) {
        self.psubs.clear();
        self.qsubs.clear();
    }
}

/// Members of one queue group under one node.
type QueueGroup = (Box<[u8]>, Vec<Rc<Subscription>>);

#[derive(Default)]
struct Node {
    next: Option<Box<Level>>,
    psubs: Vec<Rc<Subscription>>,
    qsubs: Vec<QueueGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty() && self.next.as_ref().is_none_or(|l| l.is_empty())
    }

    fn add_to(&self, r: &mut MatchResult) {
        r.psubs.extend(self.psubs.iter().cloned());
        for (q, members) in &self.qsubs {
            // Groups of the same name found under different patterns merge.
            match r.qsubs.iter_mut().find(|g| g.first().and_then(|s| s.queue.as_deref()) == Some(&**q)) {
                Some(g) => g.extend(members.iter().cloned()),
                None => r.qsubs.push(members.clone()),
            }
        }
    }
}

#[derive(Default)]
struct Level {
    nodes: FxHashMap<Box<[u8]>, Node>,
    pwc: Option<Box<Node>>,
    fwc: Option<Box<Node>>,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }
}

const CACHE_MAX: usize = 1024;
/// Slots remembering recent misses (by hash) for cache admission.
const RECENT_MISSES: usize = 4096;

pub struct Sublist {
    root: Level,
    count: usize,
    cache: FxHashMap<Box<[u8]>, Rc<MatchResult>>,
    /// The result of an uncached match, refilled in place by the next one
    /// once its previous holder let it go.
    scratch: Rc<MatchResult>,
    /// Shared by every match that can have no subscriber.
    empty: Rc<MatchResult>,
    /// A tag of the subject that last missed in each slot: a subject is
    /// cached when it misses again while its tag is still there.
    recent: Box<[u32]>,
    pub stats: SublistStats,
}

impl Default for Sublist {
    fn default() -> Self {
        Sublist {
            root: Level::default(),
            count: 0,
            cache: FxHashMap::default(),
            scratch: Rc::default(),
            empty: Rc::default(),
            recent: vec![0; RECENT_MISSES].into_boxed_slice(),
            stats: SublistStats::default(),
        }
    }
}

/// Counters shown by `/subsz`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SublistStats {
    pub inserts: u64,
    pub removes: u64,
    pub matches: u64,
    pub cache_hits: u64,
}

impl Sublist {
    /// Number of subscriptions stored.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Number of cached match results.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// (largest, average) number of receivers over the cached results.
    pub fn cache_fanout(&self) -> (usize, f64) {
        let sizes = self.cache.values().map(|r| r.psubs.len() + r.qsubs.len());
        let (max, sum) = sizes.fold((0, 0), |(m, s), n| (m.max(n), s + n));
        let avg = if self.cache.is_empty() { 0.0 } else { sum as f64 / self.cache.len() as f64 };
        (max, avg)
    }

    /// Adds a subscription whose subject is already validated.
    pub fn insert(&mut self, sub: Rc<Subscription>) {
        let mut level = &mut self.root;
        let mut tokens = sub.subject.split(|c| *c == b'.').peekable();
        let node = loop {
            let Some(t) = tokens.next() else { return };
            let node: &mut Node = match t {
                b"*" => level.pwc.get_or_insert_with(Default::default),
                b">" => level.fwc.get_or_insert_with(Default::default),
                _ => level.nodes.entry(t.into()).or_default(),
            };
            if tokens.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Default::default);
        };
        match &sub.queue {
            None => node.psubs.push(sub.clone()),
            Some(q) => match node.qsubs.iter_mut().find(|(name, _)| name == q) {
                Some((_, members)) => members.push(sub.clone()),
                None => node.qsubs.push((q.clone(), vec![sub.clone()])),
            },
        }
        self.count += 1;
        self.stats.inserts += 1;
        self.invalidate(&sub.subject);
    }

    /// Removes a subscription; returns whether it was present.
    pub fn remove(&mut self, sub: &Rc<Subscription>) -> bool {
        let tokens: Vec<&[u8]> = sub.subject.split(|c| *c == b'.').collect();
        let removed = remove_from(&mut self.root, &tokens, sub);
        if removed {
            self.count -= 1;
            self.stats.removes += 1;
            self.invalidate(&sub.subject);
        }
        removed
    }

    fn invalidate(&mut self, pattern: &[u8]) {
        if self.cache.is_empty() {
            return;
        }
        if subject::is_valid_literal_subject(pattern) {
            self.cache.remove(pattern);
        } else {
            self.cache.retain(|k, _| !subject::matches(pattern, k));
        }
    }

    /// All subscriptions matching the literal `subject`. The cache-hit path
    /// is inlined into the delivery loop; a miss is a call.
    #[inline(always)]
    pub fn matches(&mut self, subject: &[u8]) -> Rc<MatchResult> {
        self.stats.matches += 1;
        if let Some(r) = self.cache.get(subject) {
            self.stats.cache_hits += 1;
            return r.clone();
        }
        self.match_uncached(subject)
    }

    /// A cache miss: walks the trie into the scratch result (no allocation
    /// once its vectors have grown); the result is cached, as a copy, when
    /// the subject missed recently as well.
    #[inline(never)]
    fn match_uncached(&mut self, subject: &[u8]) -> Rc<MatchResult> {
        if has_line_break(subject) {
            // Only a PUB can carry such a subject, and no MSG line can hold it.
            return self.empty.clone();
        }
        let mut tokens = [&b""[..]; 32];
        let mut n = 0;
        let mut overflow: Vec<&[u8]> = Vec::new();
        for t in subject.split(|c| *c == b'.') {
            if t.is_empty() {
                // An empty token (`a.`, `.a`, `a..b`, ``) matches nothing,
                // not even `>`; not cached, so it cannot evict real entries.
                return self.empty.clone();
            }
            if n < tokens.len() {
                tokens[n] = t;
                n += 1;
            } else {
                if overflow.is_empty() {
                    overflow.extend_from_slice(&tokens);
                }
                overflow.push(t);
            }
        }
        let toks: &[&[u8]] = if overflow.is_empty() { &tokens[..n] } else { &overflow };
        if Rc::get_mut(&mut self.scratch).is_none() {
            // Still held by a caller (a match inside a delivery).
            self.scratch = Rc::default();
        }
        let Some(r) = Rc::get_mut(&mut self.scratch) else {
            return self.empty.clone();
        };
        r.clear();
        match_level(&self.root, toks, r);
        let hash = crate::hash::hash_bytes(subject);
        let slot = (hash as usize) % RECENT_MISSES;
        // Never 0, the value of an empty slot.
        let tag = ((hash >> 32) as u32) | 1;
        if self.recent[slot] != tag {
            self.recent[slot] = tag;
            return self.scratch.clone();
        }
        self.recent[slot] = 0;
        if self.cache.len() >= CACHE_MAX {
            // Drop about half, arbitrary entries: cheap and keeps the map bounded.
            let mut i = 0usize;
            self.cache.retain(|_, _| {
                i += 1;
                i.is_multiple_of(2)
            });
        }
        let shared = Rc::new(MatchResult { psubs: self.scratch.psubs.clone(), qsubs: self.scratch.qsubs.clone() });
        self.cache.insert(subject.into(), shared.clone());
        shared
    }
}

fn match_level(level: &Level, toks: &[&[u8]], r: &mut MatchResult) {
    let Some((first, rest)) = toks.split_first() else {
        return;
    };
    if let Some(f) = &level.fwc {
        f.add_to(r);
    }
    // Go's order: deeper `*` matches before deeper literal ones, but on the
    // last token the literal node before the `*` node.
    let literal = level.nodes.get(*first);
    if rest.is_empty() {
        if let Some(n) = literal {
            n.add_to(r);
        }
        if let Some(p) = &level.pwc {
            p.add_to(r);
        }
        return;
    }
    if let Some(p) = &level.pwc {
        visit(p, rest, r);
    }
    if let Some(n) = literal {
        visit(n, rest, r);
    }
}

fn visit(node: &Node, rest: &[&[u8]], r: &mut MatchResult) {
    if rest.is_empty() {
        node.add_to(r);
    } else if let Some(next) = &node.next {
        match_level(next, rest, r);
    }
}

fn remove_from(level: &mut Level, toks: &[&[u8]], sub: &Rc<Subscription>) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return false;
    };
    let (removed, empty) = {
        let node: Option<&mut Node> = match *first {
            b"*" => level.pwc.as_deref_mut(),
            b">" => level.fwc.as_deref_mut(),
            t => level.nodes.get_mut(t),
        };
        let Some(node) = node else { return false };
        let removed = if rest.is_empty() {
            remove_sub(node, sub)
        } else {
            match node.next.as_deref_mut() {
                Some(next) => {
                    let removed = remove_from(next, rest, sub);
                    if next.is_empty() {
                        node.next = None;
                    }
                    removed
                }
                None => false,
            }
        };
        (removed, node.is_empty())
    };
    if empty {
        match *first {
            b"*" => level.pwc = None,
            b">" => level.fwc = None,
            t => {
                level.nodes.remove(t);
            }
        }
    }
    removed
}

fn remove_sub(node: &mut Node, sub: &Rc<Subscription>) -> bool {
    match &sub.queue {
        None => match node.psubs.iter().position(|s| Rc::ptr_eq(s, sub)) {
            Some(i) => {
                node.psubs.swap_remove(i);
                true
            }
            None => false,
        },
        Some(q) => {
            let Some(gi) = node.qsubs.iter().position(|(name, _)| name == q) else {
                return false;
            };
            let members = &mut node.qsubs[gi].1;
            let Some(i) = members.iter().position(|s| Rc::ptr_eq(s, sub)) else {
                return false;
            };
            members.swap_remove(i);
            if members.is_empty() {
                node.qsubs.swap_remove(gi);
            }
            true
        }
    }
}

/// Whether `t` holds a CR or LF (a plain loop: these are short and memchr's
/// set-up costs more than the scan).
#[inline]
pub fn has_line_break(t: &[u8]) -> bool {
    t.iter().any(|c| *c == b'\r' || *c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(subject: &str, queue: Option<&str>, sid: &str) -> Rc<Subscription> {
        Rc::new(Subscription {
            slot: 0,
            cid: 1,
            owner: Owner::Client,
            subject: subject.as_bytes().into(),
            queue: queue.map(|q| q.as_bytes().into()),
            sid: sid.as_bytes().into(),
            max: Cell::new(0),
            delivered: Cell::new(0),
            weight: Cell::new(1),
        })
    }

    fn sids(r: &MatchResult) -> Vec<String> {
        let mut v: Vec<String> = r.psubs.iter().map(|s| String::from_utf8_lossy(&s.sid).into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn wildcards_and_literals() {
        let mut sl = Sublist::default();
        for (s, id) in [("foo.bar", "1"), ("foo.*", "2"), ("foo.>", "3"), (">", "4"), ("*.bar", "5"), ("foo", "6")] {
            sl.insert(sub(s, None, id));
        }
        assert_eq!(sids(&sl.matches(b"foo.bar")), ["1", "2", "3", "4", "5"]);
        assert_eq!(sids(&sl.matches(b"foo.baz.x")), ["3", "4"]);
        assert_eq!(sids(&sl.matches(b"foo")), ["4", "6"]);
        assert_eq!(sids(&sl.matches(b"bar")), ["4"]);
        assert_eq!(sl.count(), 6);
    }

    #[test]
    fn empty_tokens_match_nothing() {
        let mut sl = Sublist::default();
        for (s, id) in [(">", "1"), ("w.*", "2"), ("w.>", "3"), ("*.w", "4"), ("w.*.x", "5")] {
            sl.insert(sub(s, None, id));
        }
        for bad in [&b"w."[..], b".w", b"w..x", b"", b".", b"w.x."] {
            assert!(sl.matches(bad).is_empty(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(sl.cache_len(), 0);
        assert_eq!(sids(&sl.matches(b"w.y.x")), ["1", "3", "5"]);
    }

    #[test]
    fn cache_invalidated_on_change() {
        let mut sl = Sublist::default();
        let a = sub("a.*", None, "1");
        assert!(sl.matches(b"a.b").is_empty());
        sl.insert(a.clone());
        assert_eq!(sids(&sl.matches(b"a.b")), ["1"]);
        assert!(sl.remove(&a));
        assert!(sl.matches(b"a.b").is_empty());
        assert!(!sl.remove(&a));
        assert_eq!(sl.count(), 0);
        assert!(sl.root.is_empty(), "empty nodes are pruned");
    }

    #[test]
    fn a_subject_is_cached_when_it_misses_twice() {
        let mut sl = Sublist::default();
        sl.insert(sub("dev.*", None, "1"));
        sl.insert(sub("dev.7", Some("g"), "2"));
        let first = sl.matches(b"dev.7");
        assert_eq!(sids(&first), ["1"]);
        assert_eq!(first.qsubs.len(), 1);
        assert_eq!(sl.cache_len(), 0, "the first miss is not cached");
        // Held by the caller: the next miss cannot refill it in place.
        let other = sl.matches(b"dev.8");
        assert_eq!((sids(&first), sids(&other)), (vec!["1".to_string()], vec!["1".to_string()]));
        assert_eq!((first.qsubs.len(), other.qsubs.len()), (1, 0));
        drop((first, other));
        let second = sl.matches(b"dev.7");
        assert_eq!(sl.cache_len(), 1, "the second miss is");
        assert_eq!((sids(&second), second.qsubs.len()), (vec!["1".to_string()], 1));
        drop(second);
        let third = sl.matches(b"dev.7");
        assert_eq!(sl.stats.cache_hits, 1);
        assert_eq!(third.qsubs.len(), 1);
        // Other subjects in between do not disturb the cached result.
        for i in 0..100 {
            let m = sl.matches(format!("dev.{i}x").as_bytes());
            assert_eq!(sids(&m), ["1"]);
        }
        assert_eq!(sl.cache_len(), 1);
        assert_eq!((sids(&third), third.qsubs.len()), (vec!["1".to_string()], 1));
    }

    #[test]
    fn queue_groups_merge_by_name() {
        let mut sl = Sublist::default();
        sl.insert(sub("q.x", Some("g"), "1"));
        sl.insert(sub("q.*", Some("g"), "2"));
        sl.insert(sub("q.x", Some("h"), "3"));
        sl.insert(sub("q.x", None, "4"));
        let r = sl.matches(b"q.x");
        assert_eq!(sids(&r), ["4"]);
        let mut sizes: Vec<usize> = r.qsubs.iter().map(|g| g.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [1, 2]);
    }
}
