//! Users and their publish/subscribe permissions.
//!
//! A permission list is an allow list and a deny list of subject patterns.
//! An empty allow list allows everything not denied. Publish checks the
//! literal subject; subscribe checks the subscription subject (wildcards in
//! it are compared token by token, so `foo.>` allows subscribing to
//! `foo.*`), and an allow entry `"subject queue"` allows that queue only.
//! Because a wildcard subscription can overlap a denied subject, delivery to
//! a client with subscribe deny rules checks each message subject too.

use std::rc::Rc;

use rnats_protocol::subject;

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
    if configured.starts_with("$2") && crate::bcrypt::is_hash(configured) {
        return crate::bcrypt::verify(given.as_bytes(), configured);
    }
    // Plain text, compared without an early exit.
    configured.len() == given.len() && configured.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// What one user may do. `None` for a direction means unrestricted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Option<SubjectPerms>,
    pub subscribe: Option<SubjectPerms>,
}

/// A configured user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
    pub permissions: Option<Rc<Permissions>>,
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
