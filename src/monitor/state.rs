//! What monitoring keeps in the server between requests: the history of
//! closed connections and the route counts of the mesh page's last load;
//! and Go's refusal of an https monitoring port it cannot serve.

use std::rc::Rc;
use std::time::{Instant, SystemTime};

use crate::routing::sublist::Subscription;

/// `kind` and `type` of every `/connz` entry: rnats lists client
/// connections (over the NATS protocol or WebSocket) only.
pub const CLIENT_KIND: &str = "Client";
pub const CLIENT_TYPE: &str = "nats";
pub const WEBSOCKET_TYPE: &str = "websocket";

/// Closed client connections kept for `/connz?state=closed`, oldest dropped
/// first, bounded by count (`max_closed_clients`) and by an estimate of the
/// memory they hold (`closed_clients_memory`): a connection closed with
/// thousands of subscriptions must not pin megabytes.
#[derive(Default)]
pub struct ClosedConns {
    rows: std::collections::VecDeque<(ConnRow, usize)>,
    bytes: usize,
}

impl ClosedConns {
    /// Keeps `row`, dropping the oldest rows (and, if it alone is over the
    /// memory bound, the tail of its subscription list) to stay in bounds.
    pub fn push(&mut self, mut row: ConnRow, max_count: usize, max_bytes: usize) {
        if max_count == 0 {
            return;
        }
        while row.approx_bytes() > max_bytes && !row.subs.is_empty() {
            let keep = row.subs.len() / 2;
            row.subs.truncate(keep);
        }
        let size = row.approx_bytes();
        while !self.rows.is_empty() && (self.rows.len() >= max_count || self.bytes + size > max_bytes) {
            if let Some((_, n)) = self.rows.pop_front() {
                self.bytes -= n;
            }
        }
        self.bytes += size;
        self.rows.push_back((row, size));
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConnRow> {
        self.rows.iter().map(|(r, _)| r)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.rows.len()
    }
}

/// One `/connz` entry: a snapshot of an open connection, or what is kept
/// of a closed one.
#[derive(Debug, Clone)]
pub struct ConnRow {
    pub cid: u64,
    pub ip: String,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub stop: Option<SystemTime>,
    pub reason: Option<&'static str>,
    /// The client's account when not `$G`.
    pub account: Option<Rc<str>>,
    pub pending: usize,
    pub stats: crate::conn::ConnCounters,
    pub num_subs: usize,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    /// TLS version and cipher suite of a TLS connection.
    pub tls: Option<(&'static str, String)>,
    /// `tls_peer_certs`: subject, SHA-256 of the key info and of the
    /// certificate, per certificate the client presented (few, short).
    pub peer_certs: Vec<[String; 3]>,
    pub subs: Vec<Rc<Subscription>>,
    /// `type`: `nats`, or `websocket` for a WebSocket client.
    pub conn_type: &'static str,
}

/// Message counts of every route at one page load.
#[derive(Debug, Clone)]
pub struct RateSnapshot {
    pub at: Instant,
    /// (route connection id, in_msgs, out_msgs)
    pub rows: Vec<(u64, u64, u64)>,
}

/// Go's refusal of https monitoring without a `tls {}` block or beside
/// http monitoring (the server does not start).
pub fn https_refusal(o: &crate::config::options::Options) -> Option<String> {
    let port = o.https_port?;
    if let Some(http) = o.http_port {
        return Some(format!("can't specify both HTTP ({http}) and HTTPs ({port}) ports"));
    }
    if o.tls.is_none() {
        return Some("TLS cert and key required for HTTPS".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cid: u64, subs: usize) -> ConnRow {
        ConnRow {
            cid,
            ip: "127.0.0.1".into(),
            port: 1,
            start: SystemTime::UNIX_EPOCH,
            last_activity: SystemTime::UNIX_EPOCH,
            stop: None,
            reason: None,
            account: None,
            pending: 0,
            stats: Default::default(),
            num_subs: subs,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            user: String::new(),
            tls: None,
            peer_certs: Vec::new(),
            conn_type: CLIENT_TYPE,
            subs: (0..subs)
                .map(|i| {
                    Rc::new(Subscription::new(
                        0,
                        cid,
                        crate::conn::Kind::Client,
                        format!("some.subject.{i}").as_bytes(),
                        None,
                        i.to_string().as_bytes(),
                    ))
                })
                .collect(),
        }
    }

    #[test]
    fn bounded_by_count() {
        let mut c = ClosedConns::default();
        for cid in 0..10 {
            c.push(row(cid, 0), 3, usize::MAX);
        }
        assert_eq!(c.iter().map(|r| r.cid).collect::<Vec<_>>(), [7, 8, 9]);
    }

    #[test]
    fn bounded_by_memory() {
        let mut c = ClosedConns::default();
        let budget = 64 * 1024;
        for cid in 0..50 {
            c.push(row(cid, 1000), 10_000, budget);
            assert!(c.bytes <= budget, "{} > {budget}", c.bytes);
        }
        assert!(c.len() >= 1 && c.len() < 50);
        let last = c.iter().last().expect("newest kept");
        assert_eq!((last.cid, last.num_subs), (49, 1000), "count of subscriptions stays true");
        assert!(last.subs.len() < 1000 && !last.subs.is_empty());
        assert_eq!(c.bytes, c.iter().map(ConnRow::approx_bytes).sum::<usize>());
        c.push(row(99, 0), 0, budget);
        assert_eq!(c.iter().last().map(|r| r.cid), Some(49), "max_closed_clients 0 keeps nothing new");
    }
}
