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

    mod handlers {
        use crate::auth::User;
        use crate::config::options::Options;
        use crate::testkit::{client, cluster_server, output, route, route_handshake, send, server};

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
