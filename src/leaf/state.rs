//! What leaf node links hold: each configured remote (its URLs, the one
//! dialed, the connection serving it) and, per leaf connection, its parser,
//! which side of the link we are, the bound account, the handshake, the
//! peer's interest and what we announced to it.

use std::time::{Duration, Instant};

use rnats_protocol::route::RouteParser;

use crate::routing::accounts::AccId;
use crate::routing::fxhash::FxHashMap;
use crate::routing::sublist::SidIndex;
use crate::sys::netaddr::{leaf_url, RouteUrl};

pub struct LeafState {
    pub parser: RouteParser,
    /// Index of the `leafnodes.remotes` entry this connection serves; None
    /// for a leaf node that connected to our leaf port (we are its hub).
    pub remote: Option<usize>,
    /// The local account bound to the link.
    pub account: AccId,
    /// Dialed and not yet known to be connected.
    pub connecting: bool,
    /// The first INFO arrived (spoke: our CONNECT went out) or CONNECT
    /// arrived (hub).
    pub info_seen: bool,
    /// Handshake over: interest flows both ways.
    pub established: bool,
    pub remote_id: String,
    pub remote_name: String,
    /// We are the hub on this link: by default when we accepted it; a
    /// remote with `hub: true` (and a leaf that says `is_hub`) swap it.
    /// Interest and messages follow the hub/spoke rules by this.
    pub hub: bool,
    /// The peer's cluster: the hub's from its INFO, a leaf's from CONNECT.
    /// Interest and messages from that cluster never go back to it.
    pub remote_cluster: String,
    /// `remote_cluster` of a leaf node of ours, shared with the messages
    /// it sends on to routes (LMSG names it); None when it has none.
    pub origin: Option<std::rc::Rc<[u8]>>,
    /// The peer takes HMSG.
    pub headers: bool,
    /// The nonce of the INFO we sent (hub side).
    pub nonce: String,
    /// The peer's interest, keyed by its LS+ arguments as sent.
    pub remote_subs: SidIndex,
    /// Interest we announced, by `subject[ queue]`: how many subscriptions
    /// (queue: members, summed weights) stand behind each LS+.
    pub announced: FxHashMap<Box<[u8]>, u32>,
    /// Subjects never sent over the link (a remote's `deny_exports`) and
    /// never taken from it or asked for (`deny_imports`).
    pub deny_exports: Vec<String>,
    pub deny_imports: Vec<String>,
    /// A leaf node of ours bound to a user with permissions, in the
    /// user's terms: `publish` what the leaf may send us (and so the
    /// interest we announce to it), `subscribe` what it may ask for and
    /// receive (its deny list is in `deny_exports` too).
    pub perms: Option<std::rc::Rc<crate::auth::Permissions>>,
    /// The peer or we found a loop: dial again only after a long wait.
    pub loop_detected: bool,
    /// When the oldest unanswered PING was queued, and the last round trip.
    pub ping_sent: Option<Instant>,
    pub rtt: Option<Duration>,
}

impl LeafState {
    pub fn new(parser: RouteParser, remote: Option<usize>, account: AccId) -> LeafState {
        LeafState {
            parser,
            remote,
            account,
            connecting: remote.is_some(),
            hub: remote.is_none(),
            info_seen: false,
            established: false,
            remote_id: String::new(),
            remote_name: String::new(),
            remote_cluster: String::new(),
            origin: None,
            perms: None,
            headers: false,
            nonce: String::new(),
            remote_subs: SidIndex::default(),
            announced: FxHashMap::default(),
            deny_exports: Vec::new(),
            deny_imports: Vec::new(),
            loop_detected: false,
            ping_sent: None,
            rtt: None,
        }
    }

    /// JetStream's API and the key-value and object stores never cross a
    /// leaf connection in either direction (Go adds these denies to every
    /// leaf connection of an account other than the system account); a
    /// domain's `$JS.<domain>.API.>` does.
    pub const JS_DENIES: [&'static str; 3] = ["$JS.API.>", "$KV.>", "$OBJ.>"];

    /// Adds [`Self::JS_DENIES`] to both deny lists.
    pub fn add_js_denies(&mut self) {
        for d in Self::JS_DENIES {
            for list in [&mut self.deny_exports, &mut self.deny_imports] {
                if !list.iter().any(|x| x == d) {
                    list.push(d.to_string());
                }
            }
        }
    }

    /// Whether a deny list holds a pattern matching `subject`.
    pub fn denied(list: &[String], subject: &[u8]) -> bool {
        list.iter().any(|p| rnats_protocol::subject::matches(p.as_bytes(), subject))
    }

    /// Whether the link hears of interest in `subject`: a leaf node of
    /// ours bound to a user with publish permissions only of what it may
    /// publish (the loop-detection subject always).
    pub fn may_hear_of(&self, subject: &[u8]) -> bool {
        match self.perms.as_ref().and_then(|p| p.publish.as_ref()) {
            None => true,
            Some(pp) => subject.starts_with(b"$LDS.") || pp.allows_subscribe(subject, None),
        }
    }

    /// We are the hub on this link (see `hub`): the peer is a leaf node of
    /// ours as far as interest and messages go.
    #[inline]
    pub fn is_hub_side(&self) -> bool {
        self.hub
    }

    /// We accepted the connection (the peer dialed our leaf port): we send
    /// the first INFO and take its CONNECT.
    #[inline]
    pub fn accepted(&self) -> bool {
        self.remote.is_none()
    }
}

/// One configured remote and the connection serving it.
pub struct LeafRemote {
    pub urls: Vec<RouteUrl>,
    /// URLs the hub's cluster announced (`leafnode_urls`), tried after ours.
    pub learned: Vec<RouteUrl>,
    /// The URL dialed last (and the next to try after a failure), an index
    /// into `urls` followed by `learned`.
    pub current: usize,
    pub account: AccId,
    pub slot: Option<usize>,
    pub cid: u64,
    /// Dials that failed in a row (to log the first one only).
    pub failures: u64,
    /// Credentials, TLS and deny lists from the configuration.
    pub opts: crate::config::options::LeafRemoteOpts,
    /// Taken out by a reload: its connection closed, never dialed again.
    pub removed: bool,
    /// The TLS client configuration, when the remote has `tls {}`.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl LeafRemote {
    pub fn url(&self) -> &RouteUrl {
        let n = self.urls.len() + self.learned.len();
        let i = self.current % n.max(1);
        self.urls.get(i).or_else(|| self.learned.get(i - self.urls.len())).unwrap_or(&self.urls[0])
    }

    /// The remote dials WebSocket ports.
    pub fn is_ws(&self) -> bool {
        self.opts.urls.first().is_some_and(|u| crate::sys::netaddr::is_ws_url(u))
    }

    /// For a WebSocket remote: whether the current URL is `wss`, and the
    /// path to upgrade on.
    pub fn ws_target(&self) -> Option<(bool, String)> {
        if !self.is_ws() {
            return None;
        }
        let i = self.current % self.opts.urls.len().max(1);
        let (_, wss, path) = crate::sys::netaddr::leaf_ws_url(self.opts.urls.get(i)?).ok()?;
        Some((wss, path))
    }

    /// The user and password to send: the current URL's, else those of the
    /// first configured URL that has any (as Go reuses them for URLs the
    /// hub announced).
    pub fn userinfo(&self) -> (Option<String>, Option<String>) {
        let u = self.url();
        if u.user.is_some() {
            return (u.user.clone(), u.pass.clone());
        }
        self.urls.iter().find(|u| u.user.is_some()).map_or((None, None), |u| (u.user.clone(), u.pass.clone()))
    }

    /// The hub's cluster announced its leaf URLs (its WebSocket URLs, for
    /// a remote that dials WebSocket, taken with the scheme of ours): those
    /// not configured are kept to try after ours.
    pub fn learn_urls(&mut self, urls: &[String]) {
        let current = self.url().clone();
        self.learned.clear();
        for u in urls {
            let url = if self.is_ws() { leaf_url(&format!("nats://{u}")) } else { leaf_url(u) };
            let Ok(url) = url else { continue };
            let known = |x: &RouteUrl| x.host == url.host && x.port == url.port;
            if !self.urls.iter().any(known) && !self.learned.iter().any(known) {
                self.learned.push(url);
            }
        }
        // Keep pointing at the URL in use.
        let n = self.urls.len() + self.learned.len();
        self.current = (0..n)
            .find(|i| {
                let u = self.urls.get(*i).or_else(|| self.learned.get(*i - self.urls.len()));
                u.is_some_and(|u| u.host == current.host && u.port == current.port)
            })
            .unwrap_or(0);
    }
}
