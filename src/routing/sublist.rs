//! Which subscriptions match a published subject.
//!
//! Subscriptions on literal subjects (no `*` or `>` token) sit in one hash
//! set keyed by their subject, so a literal is found with one lookup however
//! deep it is; only wildcard subscriptions live in the token trie. Each level
//! of the trie maps a literal token to a node and has separate slots for the
//! `*` and `>` wildcards. Every node keeps plain subscriptions apart from
//! queue subscriptions (grouped by queue name), so a match result can give
//! every plain subscriber a copy and each queue group exactly one. A match
//! lists its receivers in the order of Go's trie walk: the literal subject's
//! own subscribers come after every wildcard match except a trailing `*`
//! under the same literal prefix.
//!
//! Results for literal subjects are cached (bounded); inserting or removing a
//! subscription drops the cached results it could change. A hit hands out a
//! shared `Rc`. A miss fills a reused scratch result instead, without
//! allocating, and the subject is cached only when it misses a second time
//! shortly after: a working set larger than the cache (thousands of devices,
//! each on its own subject) does not churn the cache with results used once.
//!
//! Memory per subscription is kept small for boxes holding hundreds of
//! thousands of them: a subscription's subject, queue name and sid share one
//! allocation, the literal set and the owners' sid indexes borrow their keys
//! from the subscriptions, and a node with one subscriber stores it inline.

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use rnats_protocol::subject;

use crate::conn::Kind;
use crate::routing::fxhash::{FxBuild, FxHashMap};

/// One subscription. Identity is the `Rc` pointer.
#[derive(Debug)]
pub struct Subscription {
    /// Slab slot of the owning connection.
    pub slot: usize,
    /// Connection id of the owner, guarding against slot reuse.
    pub cid: u64,
    /// Subject, queue name and sid, one after the other.
    text: Box<[u8]>,
    subject_len: usize,
    /// Where the sid starts (the queue name, if any, ends there).
    sid_start: usize,
    /// Auto-unsubscribe after this many deliveries (0 = never).
    pub max: Cell<u64>,
    pub delivered: Cell<u64>,
    /// Queue weight announced by a route (members of the group over there).
    pub weight: Cell<u32>,
    pub owner: Kind,
    has_queue: bool,
    /// The account whose sublist holds it (set before it is shared).
    pub account: crate::routing::AccId,
}

impl Subscription {
    pub fn new(slot: usize, cid: u64, owner: Kind, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) -> Self {
        let q = queue.unwrap_or_default();
        let mut text = Vec::with_capacity(subject.len() + q.len() + sid.len());
        text.extend_from_slice(subject);
        text.extend_from_slice(q);
        text.extend_from_slice(sid);
        Subscription {
            slot,
            cid,
            text: text.into_boxed_slice(),
            subject_len: subject.len(),
            sid_start: subject.len() + q.len(),
            max: Cell::new(0),
            delivered: Cell::new(0),
            weight: Cell::new(1),
            owner,
            has_queue: queue.is_some(),
            account: crate::routing::GLOBAL,
        }
    }

    #[inline]
    pub fn subject(&self) -> &[u8] {
        &self.text[..self.subject_len]
    }

    #[inline]
    pub fn queue(&self) -> Option<&[u8]> {
        self.has_queue.then(|| &self.text[self.subject_len..self.sid_start])
    }

    #[inline]
    pub fn sid(&self) -> &[u8] {
        &self.text[self.sid_start..]
    }
}

/// A connection's subscriptions by sid (a client's sids, or a route's RS+
/// keys), borrowing each key from its subscription.
#[derive(Default)]
pub struct SidIndex {
    set: HashSet<BySid, FxBuild>,
}

struct BySid(Rc<Subscription>);

impl Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        self.0.sid()
    }
}

impl Hash for BySid {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.sid().hash(h)
    }
}

impl PartialEq for BySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid() == other.0.sid()
    }
}

impl Eq for BySid {}

impl SidIndex {
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn get(&self, sid: &[u8]) -> Option<&Rc<Subscription>> {
        self.set.get(sid).map(|s| &s.0)
    }

    pub fn contains(&self, sid: &[u8]) -> bool {
        self.set.contains(sid)
    }

    /// Adds `sub` under its sid unless that sid is taken.
    pub fn insert(&mut self, sub: Rc<Subscription>) -> bool {
        self.set.insert(BySid(sub))
    }

    pub fn remove(&mut self, sid: &[u8]) -> Option<Rc<Subscription>> {
        self.set.take(sid).map(|s| s.0)
    }

    pub fn values(&self) -> impl Iterator<Item = &Rc<Subscription>> {
        self.set.iter().map(|s| &s.0)
    }

    pub fn drain(&mut self) -> impl Iterator<Item = Rc<Subscription>> + '_ {
        self.set.drain().map(|s| s.0)
    }
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

/// The plain subscribers of a node: one inline, more in a vector.
#[derive(Debug)]
enum Plain {
    Many(Vec<Rc<Subscription>>),
    One(Rc<Subscription>),
}

impl Default for Plain {
    fn default() -> Self {
        Plain::Many(Vec::new())
    }
}

impl Plain {
    #[inline]
    fn as_slice(&self) -> &[Rc<Subscription>] {
        match self {
            Plain::Many(v) => v,
            Plain::One(s) => std::slice::from_ref(s),
        }
    }

    fn push(&mut self, sub: Rc<Subscription>) {
        match self {
            Plain::Many(v) if v.is_empty() => *self = Plain::One(sub),
            Plain::Many(v) => v.push(sub),
            Plain::One(first) => *self = Plain::Many(vec![first.clone(), sub]),
        }
    }

    fn remove(&mut self, sub: &Rc<Subscription>) -> bool {
        match self {
            Plain::One(s) if Rc::ptr_eq(s, sub) => *self = Plain::default(),
            Plain::One(_) => return false,
            Plain::Many(v) => match v.iter().position(|s| Rc::ptr_eq(s, sub)) {
                Some(i) => {
                    v.swap_remove(i);
                    if v.len() == 1 {
                        if let Some(last) = v.pop() {
                            *self = Plain::One(last);
                        }
                    }
                }
                None => return false,
            },
        }
        true
    }
}

/// The subscriptions on one subject pattern. A queue group is never empty;
/// its name is its members' queue name.
#[derive(Debug, Default)]
struct Subs {
    plain: Plain,
    /// Boxed: one pointer in the many nodes without queue subscribers.
    #[allow(clippy::box_collection)]
    groups: Option<Box<Vec<Vec<Rc<Subscription>>>>>,
}

impl Subs {
    fn is_empty(&self) -> bool {
        self.plain.as_slice().is_empty() && self.groups.is_none()
    }

    fn first(&self) -> Option<&Rc<Subscription>> {
        self.plain.as_slice().first().or_else(|| self.groups.as_ref()?.first()?.first())
    }

    fn add(&mut self, sub: Rc<Subscription>) {
        let Some(q) = sub.queue() else {
            self.plain.push(sub);
            return;
        };
        let groups = self.groups.get_or_insert_with(Default::default);
        match groups.iter_mut().find(|g| g.first().and_then(|s| s.queue()) == Some(q)) {
            Some(members) => members.push(sub),
            None => groups.push(vec![sub]),
        }
    }

    fn remove(&mut self, sub: &Rc<Subscription>) -> bool {
        let Some(q) = sub.queue() else {
            return self.plain.remove(sub);
        };
        let Some(groups) = self.groups.as_mut() else {
            return false;
        };
        let Some(gi) = groups.iter().position(|g| g.first().and_then(|s| s.queue()) == Some(q)) else {
            return false;
        };
        let members = &mut groups[gi];
        let Some(i) = members.iter().position(|s| Rc::ptr_eq(s, sub)) else {
            return false;
        };
        members.swap_remove(i);
        if members.is_empty() {
            groups.swap_remove(gi);
            if groups.is_empty() {
                self.groups = None;
            }
        }
        true
    }

    #[inline]
    fn add_to(&self, r: &mut MatchResult) {
        r.psubs.extend(self.plain.as_slice().iter().cloned());
        let Some(groups) = &self.groups else { return };
        for members in groups.iter() {
            let q = members.first().and_then(|s| s.queue());
            // Groups of the same name found under different patterns merge.
            match r.qsubs.iter_mut().find(|g| g.first().and_then(|s| s.queue()) == q) {
                Some(g) => g.extend(members.iter().cloned()),
                None => r.qsubs.push(members.clone()),
            }
        }
    }
}

/// The subscriptions on one literal subject, found by that subject (which
/// every one of them carries).
#[derive(Default)]
struct Literal(Subs);

impl Borrow<[u8]> for Literal {
    fn borrow(&self) -> &[u8] {
        self.0.first().map_or(&[], |s| s.subject())
    }
}

impl Hash for Literal {
    fn hash<H: Hasher>(&self, h: &mut H) {
        Borrow::<[u8]>::borrow(self).hash(h)
    }
}

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        Borrow::<[u8]>::borrow(self) == Borrow::<[u8]>::borrow(other)
    }
}

impl Eq for Literal {}

#[derive(Default)]
struct Node {
    next: Option<Box<Level>>,
    subs: Subs,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.next.as_ref().is_none_or(|l| l.is_empty())
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
    /// Subscriptions on literal subjects.
    literals: HashSet<Literal, FxBuild>,
    /// Subscriptions with a wildcard token.
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
            literals: HashSet::default(),
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

/// Whether a (valid) subject has no wildcard token.
fn is_literal(subject: &[u8]) -> bool {
    subject.split(|c| *c == b'.').all(|t| t != b"*" && t != b">")
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
        let subject = sub.subject();
        if is_literal(subject) {
            let mut lit = self.literals.take(subject).unwrap_or_default();
            lit.0.add(sub.clone());
            self.literals.insert(lit);
        } else {
            let mut level = &mut self.root;
            let mut tokens = subject.split(|c| *c == b'.').peekable();
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
            node.subs.add(sub.clone());
        }
        self.count += 1;
        self.stats.inserts += 1;
        self.invalidate(sub.subject());
    }

    /// Removes a subscription; returns whether it was present.
    pub fn remove(&mut self, sub: &Rc<Subscription>) -> bool {
        let subject = sub.subject();
        let removed = if is_literal(subject) {
            match self.literals.take(subject) {
                Some(mut lit) => {
                    let removed = lit.0.remove(sub);
                    if !lit.0.is_empty() {
                        self.literals.insert(lit);
                    }
                    removed
                }
                None => false,
            }
        } else {
            let tokens: Vec<&[u8]> = subject.split(|c| *c == b'.').collect();
            remove_from(&mut self.root, &tokens, sub)
        };
        if removed {
            self.count -= 1;
            self.stats.removes += 1;
            self.invalidate(subject);
        }
        removed
    }

    fn invalidate(&mut self, pattern: &[u8]) {
        if self.cache.is_empty() {
            return;
        }
        if is_literal(pattern) {
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
        if self.count == 0 {
            // Nothing to find (a publisher-only server): no hashing.
            return self.empty.clone();
        }
        if let Some(r) = self.cache.get(subject) {
            self.stats.cache_hits += 1;
            return r.clone();
        }
        self.match_uncached(subject)
    }

    /// A cache miss: the literal subject's own subscribers and a walk of the
    /// wildcard trie, into the scratch result (no allocation once its
    /// vectors have grown); the result is cached, as a copy, when the
    /// subject missed recently as well.
    #[inline(never)]
    fn match_uncached(&mut self, subject: &[u8]) -> Rc<MatchResult> {
        if has_line_break(subject) {
            // Only a PUB can carry such a subject, and no MSG line can hold it.
            return self.empty.clone();
        }
        if Rc::get_mut(&mut self.scratch).is_none() {
            // Still held by a caller (a match inside a delivery).
            self.scratch = Rc::default();
        }
        let Some(r) = Rc::get_mut(&mut self.scratch) else {
            return self.empty.clone();
        };
        r.clear();
        let lit = self.literals.get(subject).map(|l| &l.0);
        if self.root.is_empty() {
            // No wildcard subscription: the literal set has the answer (a
            // subject with an empty token is never in it).
            if let Some(l) = lit {
                l.add_to(r);
            }
        } else {
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
            let mut lit = lit;
            match_level(&self.root, toks, r, &mut lit);
            if let Some(l) = lit {
                // The trie has no node on the literal path: nothing after it.
                l.add_to(r);
            }
        }
        let hash = crate::routing::fxhash::hash_bytes(subject);
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

/// Walks one trie level. `lit` holds the literal subject's subscribers while
/// the walk is on the all-literal path, where Go's trie would have kept
/// them: they go in just before that path's last-token `*` node.
fn match_level(level: &Level, toks: &[&[u8]], r: &mut MatchResult, lit: &mut Option<&Subs>) {
    let Some((first, rest)) = toks.split_first() else {
        return;
    };
    if let Some(f) = &level.fwc {
        f.subs.add_to(r);
    }
    // Go's order: deeper `*` matches before deeper literal ones, but on the
    // last token the literal node before the `*` node.
    let literal = level.nodes.get(*first);
    if rest.is_empty() {
        if let Some(n) = literal {
            n.subs.add_to(r);
        }
        if let Some(l) = lit.take() {
            l.add_to(r);
        }
        if let Some(p) = &level.pwc {
            p.subs.add_to(r);
        }
        return;
    }
    if let Some(p) = &level.pwc {
        visit(p, rest, r, &mut None);
    }
    if let Some(n) = literal {
        visit(n, rest, r, lit);
    }
}

fn visit(node: &Node, rest: &[&[u8]], r: &mut MatchResult, lit: &mut Option<&Subs>) {
    if rest.is_empty() {
        node.subs.add_to(r);
    } else if let Some(next) = &node.next {
        match_level(next, rest, r, lit);
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
            node.subs.remove(sub)
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
        Rc::new(Subscription::new(0, 1, Kind::Client, subject.as_bytes(), queue.map(str::as_bytes), sid.as_bytes()))
    }

    fn sids(r: &MatchResult) -> Vec<String> {
        let mut v: Vec<String> = r.psubs.iter().map(|s| String::from_utf8_lossy(s.sid()).into_owned()).collect();
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
        assert!(sl.root.is_empty() && sl.literals.is_empty(), "empty nodes are pruned");
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

    fn order(r: &MatchResult) -> Vec<String> {
        r.psubs.iter().map(|s| String::from_utf8_lossy(s.sid()).into_owned()).collect()
    }

    /// Receivers come in the order of Go's trie walk, with literal
    /// subscriptions (kept outside the trie) where Go's trie has them.
    #[test]
    fn results_in_go_trie_order() {
        let mut sl = Sublist::default();
        let pats = [">", "a.>", "*.b.c", "a.*.c", "a.b.c", "a.b.*", "a.b.>", "*.>"];
        for (i, p) in pats.iter().enumerate() {
            sl.insert(sub(p, None, &(i + 1).to_string()));
        }
        assert_eq!(order(&sl.matches(b"a.b.c")), ["1", "8", "3", "2", "4", "7", "5", "6"]);

        let mut sl = Sublist::default();
        sl.insert(sub("x.*", None, "1"));
        sl.insert(sub("x.y", None, "2"));
        assert_eq!(order(&sl.matches(b"x.y")), ["2", "1"]);

        let mut sl = Sublist::default();
        sl.insert(sub("*.*", None, "1"));
        sl.insert(sub("p.q", None, "2"));
        assert_eq!(order(&sl.matches(b"p.q")), ["1", "2"]);
    }

    /// The compact layout is what keeps a subscription near 200 bytes.
    #[test]
    fn compact_records() {
        assert!(std::mem::size_of::<Subscription>() <= 72);
        assert!(std::mem::size_of::<Literal>() <= 32);
        let s = Subscription::new(3, 4, Kind::Route, b"a.b", Some(b"q1"), b"sid 7");
        assert_eq!((s.subject(), s.queue(), s.sid()), (&b"a.b"[..], Some(&b"q1"[..]), &b"sid 7"[..]));
        let s = Subscription::new(3, 4, Kind::Client, b"a.b", None, b"");
        assert_eq!((s.subject(), s.queue(), s.sid()), (&b"a.b"[..], None, &b""[..]));
        let s = Subscription::new(3, 4, Kind::Client, b"a", Some(b""), b"1");
        assert_eq!(s.queue(), Some(&b""[..]));
    }

    #[test]
    fn sid_index_borrows_its_keys() {
        let mut ix = SidIndex::default();
        let a = sub("a", None, "1");
        assert!(ix.insert(a.clone()));
        assert!(!ix.insert(sub("b", None, "1")), "a sid is taken once");
        assert!(ix.insert(sub("b", None, "2")));
        assert_eq!(ix.len(), 2);
        assert!(Rc::ptr_eq(ix.get(b"1").expect("present"), &a));
        assert!(ix.remove(b"1").is_some_and(|s| Rc::ptr_eq(&s, &a)));
        assert!(!ix.contains(b"1") && ix.contains(b"2"));
        assert_eq!(ix.drain().count(), 1);
        assert!(ix.is_empty());
    }

    /// Random inserts, removals and matches against a plain scan of every
    /// stored pattern: same receivers, same queue groups, nothing left over.
    #[test]
    fn agrees_with_a_plain_scan() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let tokens = ["a", "b", "c", "*", ">"];
        let mut sl = Sublist::default();
        let mut live: Vec<Rc<Subscription>> = Vec::new();
        for round in 0..4000 {
            if next(3) > 0 || live.is_empty() {
                let n = 1 + next(4) as usize;
                let mut toks: Vec<&str> = (0..n).map(|_| tokens[next(5) as usize]).collect();
                if let Some(i) = toks.iter().position(|t| *t == ">") {
                    toks.truncate(i + 1);
                }
                let queue = match next(4) {
                    0 => Some("g"),
                    1 => Some("h"),
                    _ => None,
                };
                let s = sub(&toks.join("."), queue, &round.to_string());
                sl.insert(s.clone());
                live.push(s);
            } else {
                let s = live.swap_remove(next(live.len() as u64) as usize);
                assert!(sl.remove(&s));
                assert!(!sl.remove(&s));
            }
            let n = 1 + next(4) as usize;
            let subject: Vec<&str> = (0..n).map(|_| tokens[next(3) as usize]).collect();
            let subject = subject.join(".");
            let r = sl.matches(subject.as_bytes());
            let mut want: Vec<String> = live
                .iter()
                .filter(|s| s.queue().is_none() && subject::matches(s.subject(), subject.as_bytes()))
                .map(|s| String::from_utf8_lossy(s.sid()).into_owned())
                .collect();
            want.sort();
            assert_eq!(sids(&r), want, "{subject}");
            let mut groups: Vec<(String, usize)> = r
                .qsubs
                .iter()
                .map(|g| (String::from_utf8_lossy(g[0].queue().unwrap_or_default()).into_owned(), g.len()))
                .collect();
            groups.sort();
            let mut want_groups: Vec<(String, usize)> = Vec::new();
            for q in ["g", "h"] {
                let n = live
                    .iter()
                    .filter(|s| s.queue() == Some(q.as_bytes()) && subject::matches(s.subject(), subject.as_bytes()))
                    .count();
                if n > 0 {
                    want_groups.push((q.to_string(), n));
                }
            }
            assert_eq!(groups, want_groups, "{subject}");
            assert_eq!(sl.count(), live.len());
        }
        for s in live.drain(..) {
            assert!(sl.remove(&s));
        }
        assert!(sl.root.is_empty() && sl.literals.is_empty());
    }
}
