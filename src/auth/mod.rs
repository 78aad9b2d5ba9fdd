//! Users, their publish/subscribe permissions, and the identity a CONNECT
//! presents.
//!
//! A permission list is an allow list and a deny list of subject patterns.
//! An empty allow list allows everything not denied. Publish checks the
//! literal subject; subscribe checks the subscription subject (wildcards in
//! it are compared token by token, so `foo.>` allows subscribing to
//! `foo.*`), and an allow entry `"subject queue"` allows that queue only.
//! Because a wildcard subscription can overlap a denied subject, delivery to
//! a client with subscribe deny rules checks each message subject too.

pub mod bcrypt;
pub mod nkeys;

use std::rc::Rc;

use rnats_protocol::subject;

/// The identity fields of a CONNECT (client or leaf node).
#[derive(Debug, Clone, Default)]
pub struct ConnectCreds {
    pub user: String,
    pub pass: String,
    pub token: String,
    pub account: String,
    pub new_account: bool,
    /// The public key and its signature of `nonce` (nkey users).
    pub nkey: String,
    pub sig: String,
    /// The nonce this connection's INFO carried (empty: none).
    pub nonce: String,
}

/// Allow and deny lists for one direction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectPerms {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl SubjectPerms {
    /// Whether publishing to the literal `subj` is allowed.
    pub fn allows_publish(&self, subj: &[u8]) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| subject::matches(p.as_bytes(), subj));
        allowed && !self.denies(subj)
    }

    /// Whether a message on the literal `subj` falls under a deny rule.
    pub fn denies(&self, subj: &[u8]) -> bool {
        self.deny.iter().any(|p| subject::matches(p.as_bytes(), subj))
    }

    /// Whether subscribing to `subj` (with `queue`) is allowed.
    pub fn allows_subscribe(&self, subj: &[u8], queue: Option<&[u8]>) -> bool {
        let entry_matches = |entry: &String| {
            let (pattern, q) = match entry.split_once(' ') {
                Some((p, q)) => (p, Some(q.trim())),
                None => (entry.as_str(), None),
            };
            subject::matches(pattern.as_bytes(), subj) && q.is_none_or(|q| queue == Some(q.as_bytes()))
        };
        let allowed = self.allow.is_empty() || self.allow.iter().any(entry_matches);
        allowed && !self.deny.iter().any(|d| !d.contains(' ') && subject::matches(d.as_bytes(), subj))
    }
}

/// Compares a password given by a client (or route) with the configured
/// one, which may be a bcrypt hash.
pub fn password_matches(configured: &str, given: &str) -> bool {
    if configured.starts_with("$2") && crate::auth::bcrypt::is_hash(configured) {
        return crate::auth::bcrypt::verify(given.as_bytes(), configured);
    }
    // Plain text, compared without an early exit.
    configured.len() == given.len() && configured.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What one user may do. `None` for a direction means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Option<SubjectPerms>,
    pub subscribe: Option<SubjectPerms>,
    /// `allow_responses`: replies to messages this user received.
    pub responses: Option<ResponsePerm>,
}

/// `allow_responses`: the user may publish to the reply subject of a message
/// delivered to it, at most `max` times (0: no limit) within `expires`
/// (`None`: no limit) of the delivery. With it, a user without a publish
/// allow list may publish nothing else (as in Go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePerm {
    pub max: u32,
    pub expires: Option<std::time::Duration>,
}

impl ResponsePerm {
    /// Go's defaults for `allow_responses: true`: one reply within 2 minutes.
    pub const DEFAULT: ResponsePerm = ResponsePerm { max: 1, expires: Some(std::time::Duration::from_secs(120)) };
}

impl Permissions {
    /// Whether the allow/deny lists let this user publish to `subj` (tracked
    /// replies aside).
    pub fn publish_listed(&self, subj: &[u8]) -> bool {
        match (&self.publish, self.responses.is_some()) {
            (None, false) => true,
            (None, true) => false,
            // With allow_responses an absent allow list is an empty one.
            (Some(p), true) if p.allow.is_empty() => false,
            (Some(p), _) => p.allows_publish(subj),
        }
    }
}

/// Reply subjects a client with `allow_responses` received, with when and
/// how often it answered; bounded (expired entries pruned, then about half).
#[derive(Debug, Default)]
pub struct Replies {
    /// Keys come from publishers: a keyed (SipHash) map, not the fast one.
    map: std::collections::HashMap<Box<[u8]>, (std::time::Instant, u32)>,
    /// Size at which the next pruning pass runs (amortised: it doubles
    /// when pruning frees little).
    prune_at: usize,
}

/// Entries kept before expired ones are pruned, and at most.
const REPLIES_PRUNE_AT: usize = 4096;
const REPLIES_MAX: usize = 65536;

impl Replies {
    /// A message with reply subject `reply` was delivered: it may be
    /// answered (again) from now on.
    pub fn record(&mut self, reply: &[u8], perm: &ResponsePerm, now: std::time::Instant) {
        if self.map.len() >= self.prune_at.max(REPLIES_PRUNE_AT) && !self.map.contains_key(reply) {
            self.prune(perm, now);
            self.prune_at = (self.map.len() * 2).clamp(REPLIES_PRUNE_AT, REPLIES_MAX);
            if self.map.len() >= REPLIES_MAX {
                // Still full of live entries: drop about half, arbitrary ones.
                let mut i = 0usize;
                self.map.retain(|_, _| {
                    i += 1;
                    i.is_multiple_of(2)
                });
            }
        }
        match self.map.get_mut(reply) {
            Some(e) => *e = (now, 0),
            None => {
                self.map.insert(reply.into(), (now, 0));
            }
        }
    }

    /// Whether `subj` may be published as a reply now; counts the use.
    pub fn allow(&mut self, subj: &[u8], perm: &ResponsePerm, now: std::time::Instant) -> bool {
        let Some((t, n)) = self.map.get_mut(subj) else {
            return false;
        };
        *n += 1;
        let over = perm.max > 0 && *n > perm.max;
        let expired = perm.expires.is_some_and(|e| now.duration_since(*t) > e);
        if over || expired {
            self.map.remove(subj);
            return false;
        }
        true
    }

    fn prune(&mut self, perm: &ResponsePerm, now: std::time::Instant) {
        self.map.retain(|_, (t, n)| {
            let used_up = perm.max > 0 && *n >= perm.max;
            let expired = perm.expires.is_some_and(|e| now.duration_since(*t) > e);
            !used_up && !expired
        });
    }
}

/// A configured user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
    pub permissions: Option<Rc<Permissions>>,
    /// The account of a user defined in `accounts {}` (`None`: `$G`).
    pub account: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(allow: &[&str], deny: &[&str]) -> SubjectPerms {
        SubjectPerms {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn publish_rules() {
        let p = perms(&["a.>", "b"], &["a.secret"]);
        assert!(p.allows_publish(b"a.x"));
        assert!(p.allows_publish(b"b"));
        assert!(!p.allows_publish(b"c"));
        assert!(!p.allows_publish(b"a.secret"));
        let open = perms(&[], &["x.*"]);
        assert!(open.allows_publish(b"y"));
        assert!(!open.allows_publish(b"x.y"));
    }

    #[test]
    fn responses() {
        use std::time::{Duration, Instant};
        let mut p = Permissions { responses: Some(ResponsePerm::DEFAULT), ..Default::default() };
        assert!(!p.publish_listed(b"anything"), "no allow list: only replies");
        p.publish = Some(perms(&[], &["x"]));
        assert!(!p.publish_listed(b"y"), "a deny list alone still allows nothing");
        p.publish = Some(perms(&["ok.>"], &[]));
        assert!(p.publish_listed(b"ok.1") && !p.publish_listed(b"no"));

        let t0 = Instant::now();
        let one = ResponsePerm::DEFAULT;
        let mut r = Replies::default();
        assert!(!r.allow(b"_INBOX.1", &one, t0));
        r.record(b"_INBOX.1", &one, t0);
        assert!(r.allow(b"_INBOX.1", &one, t0));
        assert!(!r.allow(b"_INBOX.1", &one, t0), "max 1");
        r.record(b"_INBOX.2", &one, t0);
        assert!(!r.allow(b"_INBOX.2", &one, t0 + Duration::from_secs(121)), "expired");
        let unlimited = ResponsePerm { max: 0, expires: None };
        r.record(b"_INBOX.3", &unlimited, t0);
        for _ in 0..5 {
            assert!(r.allow(b"_INBOX.3", &unlimited, t0 + Duration::from_secs(1000)));
        }
        for i in 0..(REPLIES_MAX + 10) {
            r.record(format!("r.{i}").as_bytes(), &unlimited, t0);
        }
        assert!(r.map.len() <= REPLIES_MAX);
    }

    #[test]
    fn subscribe_rules() {
        let p = perms(&["_INBOX.>", "jobs g1"], &["secret.>"]);
        assert!(p.allows_subscribe(b"_INBOX.abc", None));
        assert!(p.allows_subscribe(b"_INBOX.*", None));
        assert!(p.allows_subscribe(b"jobs", Some(b"g1")));
        assert!(!p.allows_subscribe(b"jobs", None));
        assert!(!p.allows_subscribe(b"jobs", Some(b"g2")));
        let d = perms(&[], &["secret.>"]);
        assert!(!d.allows_subscribe(b"secret.x", None));
        assert!(d.allows_subscribe(b">", None), "overlap is checked per message");
        assert!(d.denies(b"secret.x"));
    }
}
