//! Accounts: isolated subject spaces. Every client belongs to one account
//! and its messages reach only subscriptions of that account; the global
//! account `$G` holds the clients of users outside `accounts {}` and
//! unauthenticated clients. Each account has its own sublist; a client's
//! state carries its account's index, so a message finds its sublist
//! without a lookup by name, and the global account's sublist stays the
//! server's own `sublist` field.
//!
//! Routes carry the account name in RS+/RS-/RMSG; a name this server does
//! not know is ignored as Go ignores it (interest logged and dropped,
//! messages dropped).

use crate::routing::fxhash::FxHashMap;
use crate::routing::sublist::Sublist;

pub use crate::routing::{AccId, GLOBAL};

use crate::config::options::GLOBAL_ACCOUNT;

/// The configured accounts (names and sublists); the global account's
/// sublist is `Server::sublist`.
pub struct Accounts {
    /// Names by index; index 0 is `$G`.
    names: Vec<Box<[u8]>>,
    /// Sublists of the accounts other than `$G`, index - 1.
    sublists: Vec<Sublist>,
    /// Indexes by name (of the configured accounts only: names looked up
    /// come from route peers, but are never inserted).
    by_name: FxHashMap<Box<[u8]>, AccId>,
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new(&[])
    }
}

impl Accounts {
    /// `$G` and the named accounts (checked by the configuration loader:
    /// unique, not reserved, at most `AccId::MAX` of them).
    pub fn new(names: &[String]) -> Accounts {
        let mut all: Vec<Box<[u8]>> = vec![GLOBAL_ACCOUNT.into()];
        all.extend(names.iter().take(AccId::MAX as usize).map(|n| n.as_bytes().into()));
        let sublists = (1..all.len()).map(|_| Sublist::default()).collect();
        let by_name = all.iter().enumerate().skip(1).map(|(i, n)| (n.clone(), i as AccId)).collect();
        Accounts { names: all, sublists, by_name }
    }

    /// The index of the account named `name`.
    #[inline]
    pub fn id(&self, name: &[u8]) -> Option<AccId> {
        if name == GLOBAL_ACCOUNT {
            return Some(GLOBAL);
        }
        self.by_name.get(name).copied()
    }

    /// The name of account `id` (`$G` for an index out of range, which no
    /// caller holds).
    #[inline]
    pub fn name(&self, id: AccId) -> &[u8] {
        self.names.get(id as usize).map_or(GLOBAL_ACCOUNT, |n| n)
    }

    /// The name as text (names come from the configuration file).
    pub fn name_str(&self, id: AccId) -> &str {
        std::str::from_utf8(self.name(id)).unwrap_or("$G")
    }

    /// The sublist of account `id` other than `$G`.
    #[inline]
    pub fn sublist_mut(&mut self, id: AccId) -> &mut Sublist {
        &mut self.sublists[id as usize - 1]
    }

    /// The sublists of the accounts other than `$G`.
    pub fn sublists(&self) -> impl Iterator<Item = &Sublist> {
        self.sublists.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes() {
        let a = Accounts::new(&["A".into(), "B".into()]);
        assert_eq!(a.id(b"$G"), Some(GLOBAL));
        assert_eq!(a.id(b"A"), Some(1));
        assert_eq!(a.id(b"B"), Some(2));
        assert_eq!(a.id(b"C"), None);
        assert_eq!(a.id(b"$SYS"), None);
        assert_eq!((a.name(0), a.name(1), a.name(2)), (&b"$G"[..], &b"A"[..], &b"B"[..]));
        assert_eq!(a.sublists().count(), 2);
        use crate::config::options::valid_account_name as valid;
        assert!(valid("DEREK") && valid("a.b-c"));
        assert!(!valid("") && !valid("a b") && !valid("a\r") && !valid("a\tb"));
    }
}
