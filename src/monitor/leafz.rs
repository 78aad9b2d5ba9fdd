//! `/leafz`: the leaf node connections, with Go's fields (those of 2.10;
//! no connection is `null`, as from 2.9); `?subs=1` lists the hub's interest, `?acc=NAME` keeps one
//! account's connections.

use std::time::SystemTime;

use crate::leaf::state::LeafState;
use crate::monitor::connz::Query;
use crate::monitor::go_format::JsonOut;
use crate::server::Conn;
use crate::server::Server;
use rnats_protocol::gotime::{go_duration, rfc3339};

impl Server {
    /// The established leaf connections by id: what `/leafz` lists.
    pub fn leaf_rows(&self) -> Vec<(&Conn, &LeafState)> {
        let mut leafs: Vec<_> =
            self.conns.iter().filter_map(|(_, c)| Some((c, c.leaf().filter(|l| l.established)?))).collect();
        leafs.sort_by_key(|(c, _)| c.cid);
        leafs
    }

    /// The name `/leafz` gives a connection: the peer server's name (its id
    /// when it has none).
    pub fn leaf_name(l: &LeafState) -> &str {
        if l.remote_name.is_empty() {
            &l.remote_id
        } else {
            &l.remote_name
        }
    }

    pub fn leafz(&self, query: &str) -> Result<Vec<u8>, String> {
        let q = Query::parse(query);
        let with_subs = q.bool("subs")?;
        let acc = q.get("acc").filter(|a| !a.is_empty());
        let leafs: Vec<_> = self
            .leaf_rows()
            .into_iter()
            .filter(|(_, l)| acc.is_none_or(|a| self.accounts.name(l.account) == a.as_bytes()))
            .collect();
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rfc3339(SystemTime::now()));
        j.num("leafnodes", leafs.len());
        if leafs.is_empty() {
            // As Go 2.9 writes an empty list.
            j.num("leafs", "null");
            j.close(b'}');
            return Ok(j.buf);
        }
        j.open(Some("leafs"), b'[');
        for (c, l) in leafs {
            j.open(None, b'{');
            j.str("name", Server::leaf_name(l));
            j.bool("is_spoke", !l.is_hub_side());
            j.str("account", &String::from_utf8_lossy(self.accounts.name(l.account)));
            j.str("ip", &c.peer.ip().to_string());
            j.num("port", c.peer.port());
            j.str("rtt", &go_duration(l.rtt.unwrap_or_default()));
            j.num("in_msgs", c.stats.in_msgs);
            j.num("out_msgs", c.stats.out_msgs);
            j.num("in_bytes", c.stats.in_bytes);
            j.num("out_bytes", c.stats.out_bytes);
            j.num("subscriptions", l.remote_subs.len());
            if with_subs {
                let mut subs: Vec<String> =
                    l.remote_subs.values().map(|s| String::from_utf8_lossy(s.subject()).into_owned()).collect();
                subs.sort();
                j.open(Some("subscriptions_list"), b'[');
                for s in &subs {
                    j.item_str(s);
                }
                j.close(b']');
            }
            j.str("compression", "off");
            j.close(b'}');
        }
        j.close(b']');
        j.close(b'}');
        Ok(j.buf)
    }
}
