//! The remotes of `leafnodes {}`: one connection to a hub per remote,
//! dialed at start and again `reconnect` (1 s) after it drops, trying the
//! remote's URLs in turn. A dial must connect within 1 s, and the hub's
//! first INFO must follow within 1 s; the ping timer starts once the TCP
//! connection exists.

use std::net::ToSocketAddrs;
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::route::RouteParser;

use crate::conn::{CloseReason, Plain};
use crate::leaf::state::{LeafRemote, LeafState};
use crate::server::timer::TimerKind;
use crate::server::Server;
use crate::server::{Conn, Role};
use crate::sys::netaddr::{leaf_url, RouteUrl};

/// A dial that has not connected by then failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// The hub's INFO must arrive this soon after connecting.
const FIRST_INFO_TIMEOUT: Duration = Duration::from_secs(1);
/// First PING on a new leaf connection.
const FIRST_PING: Duration = Duration::from_secs(1);

/// The TLS client configuration of a remote with `tls {}`.
#[cfg(feature = "tls")]
fn leaf_remote_tls(r: &crate::config::options::LeafRemoteOpts) -> Result<LeafTls, String> {
    r.tls.as_ref().map(crate::tls::config::leaf_client_config).transpose()
}

#[cfg(not(feature = "tls"))]
fn leaf_remote_tls(_r: &crate::config::options::LeafRemoteOpts) -> Result<LeafTls, String> {
    Ok(())
}

/// What a reload does to the remotes, worked out before anything changes:
/// remotes are told apart by their URLs, account and credentials (Go's
/// remote name); one that is gone is removed, a new one is added, and one
/// that stays takes its new `tls {}`. Any other change to a remote that
/// stays refuses the whole reload.
pub struct LeafReload {
    removed: Vec<usize>,
    kept: Vec<(usize, crate::config::options::LeafRemoteOpts, LeafTls)>,
    added: Vec<LeafRemote>,
}

#[cfg(feature = "tls")]
type LeafTls = Option<std::sync::Arc<rustls::ClientConfig>>;
#[cfg(not(feature = "tls"))]
type LeafTls = ();

/// A remote's name as Go logs it (`urls=[...], account="..."`), with the
/// passwords in its URLs replaced.
pub fn remote_safe_name(r: &crate::config::options::LeafRemoteOpts) -> String {
    let urls: Vec<String> = r
        .urls
        .iter()
        .map(|u| {
            let Some((scheme, rest)) = u.split_once("://") else { return u.clone() };
            match rest.split_once('@') {
                Some((info, host)) if info.contains(':') => {
                    let user = info.split(':').next().unwrap_or("");
                    format!("{scheme}://{user}:xxxxx@{host}")
                }
                _ => u.clone(),
            }
        })
        .map(|u| format!("{u:?}"))
        .collect();
    let mut name = format!("urls=[{}], account={:?}", urls.join(" "), r.account.as_deref().unwrap_or("$G"));
    if let Some(c) = &r.credentials {
        name.push_str(&format!(", credentials={c:?}"));
    } else if r.nkey.is_some() {
        name.push_str(", nkey=\"[REDACTED]\"");
    }
    name
}

/// Two remotes are the same remote when Go's names for them match.
fn same_remote(a: &crate::config::options::LeafRemoteOpts, b: &crate::config::options::LeafRemoteOpts) -> bool {
    a.urls == b.urls
        && a.account.as_deref().unwrap_or("$G") == b.account.as_deref().unwrap_or("$G")
        && a.credentials == b.credentials
        && a.nkey == b.nkey
}

/// The first setting, other than `tls`, that differs between two
/// configurations of one remote: Go's field name and both values.
fn remote_change(
    a: &crate::config::options::LeafRemoteOpts,
    b: &crate::config::options::LeafRemoteOpts,
) -> Option<String> {
    let field = |name: &str, old: &dyn std::fmt::Debug, new: &dyn std::fmt::Debug| {
        Some(format!("field {name:?}: old={old:?}, new={new:?}"))
    };
    if a.deny_exports != b.deny_exports {
        return field("DenyExports", &a.deny_exports, &b.deny_exports);
    }
    if a.deny_imports != b.deny_imports {
        return field("DenyImports", &a.deny_imports, &b.deny_imports);
    }
    if a.hub != b.hub {
        return field("Hub", &a.hub, &b.hub);
    }
    if a.ws_no_masking != b.ws_no_masking {
        return field("Websocket", &a.ws_no_masking, &b.ws_no_masking);
    }
    None
}

impl Server {
    /// Checks the remotes of the options and dials each one.
    pub fn start_leaf_remotes(&mut self) -> Result<(), String> {
        for r in self.opts.leaf_remotes.clone() {
            if let Some(remote) = self.new_leaf_remote(r)? {
                self.add_leaf_remote(remote);
            }
        }
        Ok(())
    }

    /// A configured remote, checked (its account exists, its URLs parse,
    /// its TLS files load); None when it has no URL.
    fn new_leaf_remote(&self, r: crate::config::options::LeafRemoteOpts) -> Result<Option<LeafRemote>, String> {
        let account = match &r.account {
            None => crate::routing::accounts::GLOBAL,
            Some(name) => self
                .accounts
                .id(name.as_bytes())
                .ok_or_else(|| format!("cannot find local account {name:?} specified in leafnode authorization"))?,
        };
        let ws = r.urls.iter().any(|u| crate::sys::netaddr::is_ws_url(u));
        let urls = r
            .urls
            .iter()
            .map(|u| if ws { crate::sys::netaddr::leaf_ws_url(u).map(|w| w.0) } else { leaf_url(u) })
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Ok(None);
        }
        #[cfg(feature = "tls")]
        let tls = leaf_remote_tls(&r)?;
        Ok(Some(LeafRemote {
            urls,
            learned: Vec::new(),
            current: 0,
            account,
            slot: None,
            cid: 0,
            failures: 0,
            opts: r,
            removed: false,
            #[cfg(feature = "tls")]
            tls,
        }))
    }

    /// Takes a remote in and dials it now.
    fn add_leaf_remote(&mut self, remote: LeafRemote) {
        let idx = self.leaf_remotes.len();
        self.leaf_remotes.push(remote);
        self.timers.add_in(Duration::ZERO, TimerKind::LeafDial { remote: idx });
    }

    /// The remotes of a reloaded configuration against those in use: an
    /// error (Go's wording after `LeafNode: `) when a remote that stays
    /// changed something other than its `tls {}`.
    pub fn plan_leaf_reload(&self, new: &crate::config::options::Options) -> Result<LeafReload, String> {
        let mut plan = LeafReload { removed: Vec::new(), kept: Vec::new(), added: Vec::new() };
        let mut unmatched: Vec<&crate::config::options::LeafRemoteOpts> = new.leaf_remotes.iter().collect();
        for (idx, r) in self.leaf_remotes.iter().enumerate().filter(|(_, r)| !r.removed) {
            let Some(pos) = unmatched.iter().position(|n| same_remote(&r.opts, n)) else {
                plan.removed.push(idx);
                continue;
            };
            let n = unmatched.swap_remove(pos);
            if let Some(change) = remote_change(&r.opts, n) {
                return Err(format!("remote {}: {change}", remote_safe_name(n)));
            }
            plan.kept.push((idx, n.clone(), leaf_remote_tls(n)?));
        }
        for n in unmatched {
            if let Some(remote) = self.new_leaf_remote(n.clone())? {
                plan.added.push(remote);
            }
        }
        Ok(plan)
    }

    /// Applies a reload's plan for the remotes: removed ones are closed
    /// and not dialed again, kept ones take their new TLS settings for
    /// their next dial, new ones are dialed.
    pub fn apply_leaf_reload(&mut self, plan: LeafReload) {
        for idx in plan.removed {
            let Some(r) = self.leaf_remotes.get_mut(idx) else { continue };
            r.removed = true;
            log::info!("Reloaded: LeafNode Remote {} removed", remote_safe_name(&r.opts));
            if let Some(slot) = r.slot {
                self.mark_close(slot, CloseReason::ClientClosed);
            }
        }
        for (idx, opts, tls) in plan.kept {
            let Some(r) = self.leaf_remotes.get_mut(idx) else { continue };
            r.opts = opts;
            #[cfg(feature = "tls")]
            {
                r.tls = tls;
            }
            #[cfg(not(feature = "tls"))]
            let _: LeafTls = tls;
        }
        for remote in plan.added {
            self.add_leaf_remote(remote);
        }
    }

    /// Dials remote `idx` (a LeafDial timer fired).
    pub fn dial_leaf(&mut self, idx: usize) {
        let Some(r) = self.leaf_remotes.get(idx) else { return };
        if r.slot.is_some() || r.removed {
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
        let mut state = LeafState::new(RouteParser::leaf(line, payload), Some(idx), account);
        if let Some(r) = self.leaf_remotes.get(idx) {
            state.deny_exports = r.opts.deny_exports.clone();
            state.deny_imports = r.opts.deny_imports.clone();
            state.hub = r.opts.hub;
        }
        state.add_js_denies();
        let peer = addr.unwrap_or_else(|| ([0, 0, 0, 0], 0).into());
        let ws = self.leaf_remotes.get(idx).and_then(|r| r.ws_target().map(|t| (t, r.opts.ws_no_masking)));
        let is_ws = ws.is_some();
        let transport: Box<dyn crate::conn::Transport> = match ws {
            None => Box::new(Plain(sock)),
            Some(((wss, path), no_masking)) => {
                let inner: Box<dyn crate::conn::Transport> = if wss {
                    match self.leaf_wss_inner(idx, sock, &url.host) {
                        Some(t) => t,
                        None => {
                            self.leaf_dial_failed(idx, &url, "TLS session could not start");
                            return;
                        }
                    }
                } else {
                    Box::new(Plain(sock))
                };
                let host = crate::sys::netaddr::display_host_port(&url.host, url.port.max(0) as u16);
                let label = format!("{peer} - lid_ws:{cid}");
                Box::new(crate::conn::transport::websocket::WebSocket::dial(inner, &host, &path, no_masking, label))
            }
        };
        let mut conn = Conn::new(cid, Role::Leaf(Box::new(state)), transport, peer);
        conn.holds_output = is_ws;
        if is_ws {
            conn.prefix = format!("{peer} - lid_ws:{cid}");
        }
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

    /// The TLS session under a `wss://` remote: the remote's `tls {}`, or
    /// the system's CA bundle.
    #[cfg(feature = "tls")]
    fn leaf_wss_inner(&self, idx: usize, sock: TcpStream, host: &str) -> Option<Box<dyn crate::conn::Transport>> {
        let r = self.leaf_remotes.get(idx)?;
        let config = match &r.tls {
            Some(c) => c.clone(),
            None => crate::tls::config::leaf_client_config(&Default::default()).ok()?,
        };
        let name = r.opts.tls.as_ref().and_then(|t| t.server_name.clone()).unwrap_or_else(|| host.to_string());
        crate::conn::transport::tls::Tls::client(sock, config, &name)
            .ok()
            .map(|t| Box::new(t) as Box<dyn crate::conn::Transport>)
    }

    #[cfg(not(feature = "tls"))]
    fn leaf_wss_inner(&self, _idx: usize, _sock: TcpStream, _host: &str) -> Option<Box<dyn crate::conn::Transport>> {
        None
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
        if r.removed {
            return;
        }
        r.current = (r.current + 1) % (r.urls.len() + r.learned.len()).max(1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::options::LeafRemoteOpts;

    fn remote(urls: &[&str]) -> LeafRemoteOpts {
        LeafRemoteOpts { urls: urls.iter().map(|u| u.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn safe_names_read_as_go_logs_them() {
        let mut r = remote(&["nats-leaf://a:secret@h1:7422", "nats-leaf://h2:7422"]);
        assert_eq!(remote_safe_name(&r), r#"urls=["nats-leaf://a:xxxxx@h1:7422" "nats-leaf://h2:7422"], account="$G""#);
        r.account = Some("A".into());
        r.credentials = Some("/etc/x.creds".into());
        assert_eq!(
            remote_safe_name(&r),
            r#"urls=["nats-leaf://a:xxxxx@h1:7422" "nats-leaf://h2:7422"], account="A", credentials="/etc/x.creds""#
        );
    }

    #[test]
    fn a_remote_is_known_by_its_urls_account_and_credentials() {
        let a = remote(&["nats-leaf://h:1"]);
        let mut b = a.clone();
        b.account = Some("$G".into());
        b.deny_exports = vec!["x".into()];
        assert!(same_remote(&a, &b));
        assert!(remote_change(&a, &b).is_some_and(|c| c.starts_with("field \"DenyExports\"")));
        b.nkey = Some("SU".into());
        assert!(!same_remote(&a, &b));
    }
}
