//! The remotes of `leafnodes {}`: one connection to a hub per remote,
//! dialed at start and again `reconnect` (1 s) after it drops, trying the
//! remote's URLs in turn. A dial must connect within 1 s, and the hub's
//! first INFO must follow within 1 s; the ping timer starts once the TCP
//! connection exists.

use std::net::ToSocketAddrs;
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::route::RouteParser;

use crate::conn::{CloseReason, Conn, Plain, Role};
use crate::leaf::state::LeafState;
use crate::routing::accounts::AccId;
use crate::server::timer::TimerKind;
use crate::server::Server;
use crate::sys::netaddr::{leaf_url, RouteUrl};

/// A dial that has not connected by then failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// The hub's INFO must arrive this soon after connecting.
const FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(1);
/// First PING on a new leaf connection.
const FIRST_PING: Duration = Duration::from_secs(1);

/// One configured remote and the connection serving it.
pub struct LeafRemote {
    pub urls: Vec<RouteUrl>,
    /// The URL dialed last (and the next to try after a failure).
    pub current: usize,
    pub account: AccId,
    pub slot: Option<usize>,
    pub cid: u64,
    /// Dials that failed in a row (to log the first one only).
    pub failures: u64,
}

impl LeafRemote {
    pub fn url(&self) -> &RouteUrl {
        &self.urls[self.current % self.urls.len()]
    }
}

impl Server {
    /// Checks the remotes of the options and dials each one.
    pub fn start_leaf_remotes(&mut self) -> Result<(), String> {
        let remotes = self.opts.leaf_remotes.clone();
        for r in remotes {
            let account = match &r.account {
                None => crate::routing::accounts::GLOBAL,
                Some(name) => self
                    .accounts
                    .id(name.as_bytes())
                    .ok_or_else(|| format!("cannot find local account {name:?} specified in leafnode authorization"))?,
            };
            let urls = r.urls.iter().map(|u| leaf_url(u)).collect::<Result<Vec<_>, _>>()?;
            if urls.is_empty() {
                continue;
            }
            let idx = self.leaf_remotes.len();
            self.leaf_remotes.push(LeafRemote { urls, current: 0, account, slot: None, cid: 0, failures: 0 });
            self.timers.add_in(Duration::ZERO, TimerKind::LeafDial { remote: idx });
        }
        Ok(())
    }

    /// Dials remote `idx` (a LeafDial timer fired).
    pub fn dial_leaf(&mut self, idx: usize) {
        let Some(r) = self.leaf_remotes.get(idx) else { return };
        if r.slot.is_some() {
            return;
        }
        let url = r.url().clone();
        let account = r.account;
        log::debug!("Trying to connect as leafnode to remote server on {:?}", url.host_port());
        let addr = (url.host.as_str(), url.port.max(0) as u16).to_socket_addrs().ok().and_then(|mut a| a.next());
        let sock = match addr.map(TcpStream::connect) {
            Some(Ok(s)) => s,
            other => {
                let e = match other {
                    Some(Err(e)) => e.to_string(),
                    _ => format!("cannot resolve {}", url.host),
                };
                self.leaf_dial_failed(idx, &url, &e);
                return;
            }
        };
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        let (line, payload) = self.opts.server_link_limits();
        let state = LeafState::new(RouteParser::leaf(line, payload), Some(idx), account);
        let peer = addr.unwrap_or_else(|| ([0, 0, 0, 0], 0).into());
        let conn = Conn::new(cid, Role::Leaf(Box::new(state)), Box::new(Plain(sock)), peer);
        let slot = self.conns.insert(conn);
        if let Err(e) = self.register(slot) {
            log::error!("Error registering leafnode connection: {e}");
            self.conns.remove(slot);
            self.leaf_dial_failed(idx, &url, &e.to_string());
            return;
        }
        if let Some(r) = self.leaf_remotes.get_mut(idx) {
            r.slot = Some(slot);
            r.cid = cid;
        }
        self.timers.add_in(DIAL_TIMEOUT, TimerKind::LeafDialTimeout { slot, cid });
    }

    fn leaf_dial_failed(&mut self, idx: usize, url: &RouteUrl, e: &str) {
        let Some(r) = self.leaf_remotes.get_mut(idx) else { return };
        r.failures += 1;
        if r.failures == 1 {
            log::error!("Error trying to connect as leafnode to remote server {:?}: {e}", url.host_port());
        } else {
            log::debug!("Error trying to connect as leafnode to remote server {:?}: {e}", url.host_port());
        }
        self.leaf_remote_lost(idx, false);
    }

    /// The connection of remote `idx` is gone or never came: next URL, and
    /// a dial after the reconnect delay (30 s after a loop).
    pub fn leaf_remote_lost(&mut self, idx: usize, looped: bool) {
        let delay = if looped { crate::leaf::LOOP_BACKOFF } else { self.opts.leaf_reconnect };
        let jitter = Duration::from_millis(self.rand() % 100);
        let Some(r) = self.leaf_remotes.get_mut(idx) else { return };
        r.slot = None;
        r.current = (r.current + 1) % r.urls.len().max(1);
        self.timers.add_in(delay + jitter, TimerKind::LeafDial { remote: idx });
    }

    /// A dial still not connected (or a hub still silent) in time failed.
    pub fn leaf_dial_timeout(&mut self, slot: usize, cid: u64) {
        let Some(c) = self.conns.get_mut(slot).filter(|c| c.cid == cid && c.closing.is_none()) else { return };
        let Some(l) = c.leaf() else { return };
        if l.connecting {
            log::debug!("Error trying to connect as leafnode to remote server: dial tcp {}: i/o timeout", c.peer);
            c.quiet_close = true;
            self.mark_close(slot, CloseReason::ReadError);
        } else if !l.info_seen {
            log::error!("{} - Leafnode Error: no INFO from the hub within {:?}", c.prefix, FIRST_INFO_TIMEOUT);
            self.mark_close(slot, CloseReason::ReadError);
        }
    }

    /// A dialed leaf connection reported its first event: connected (the
    /// timers start now) or failed.
    pub fn leaf_connected(&mut self, slot: usize) -> bool {
        let c = &mut self.conns[slot];
        if !c.leaf().is_some_and(|l| l.connecting) {
            return true;
        }
        match c.sock.connect_state() {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                log::debug!("Error trying to connect as leafnode to remote server: {e}");
                c.closing = Some(CloseReason::ReadError);
                c.quiet_close = true;
                self.queue_close(slot);
                return false;
            }
        }
        if let Some(l) = c.leaf_mut() {
            l.connecting = false;
        }
        c.start = std::time::SystemTime::now();
        let (cid, acc) = (c.cid, c.leaf().map_or(crate::routing::accounts::GLOBAL, |l| l.account));
        let acc = String::from_utf8_lossy(self.accounts.name(acc)).into_owned();
        // (Go writes this line with a blank at its end.)
        log::info!("{} - Leafnode connection created for account: {acc} ", self.conns[slot].prefix);
        self.timers.add_in(FIRST_INFO_TIMEOUT, TimerKind::LeafDialTimeout { slot, cid });
        self.start_ping_timer(slot, FIRST_PING);
        true
    }
}
