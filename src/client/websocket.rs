//! Clients over WebSocket (`websocket {}`): the listener, the INFO such a
//! client gets (the WebSocket listener's address, `tls_required` when it
//! runs TLS, the cluster's WebSocket URLs as `connect_urls`), and its
//! authentication, which
//! `websocket { authorization { user | token }, no_auth_user }` replaces
//! for these clients, as in Go. The connection itself is an ordinary
//! client over the WebSocket transport (`conn::transport::websocket`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::websocket::OriginPolicy;

use crate::auth::ConnectCreds;
use crate::auth::{password_matches, Permissions};
use crate::config::options::COMPAT_VERSION;
use crate::conn::transport::websocket::{WebSocket, WsSettings};
use crate::conn::{Plain, Transport};
use crate::server::timer::TimerKind;
use crate::server::{Conn, Role};
use crate::server::{Server, WS_LISTENER};
use crate::sys::netaddr::display_host_port;

/// First server PING on a new client connection.
const FIRST_PING: Duration = Duration::from_secs(2);

impl Server {
    /// Opens the WebSocket listener when `websocket` has a port.
    pub fn start_ws_listener(&mut self) -> Result<(), String> {
        let Some(w) = self.opts.websocket.clone() else { return Ok(()) };
        if w.port == 0 {
            return Ok(());
        }
        if let Some(n) = &w.no_auth_user {
            if !self.opts.users.iter().chain(&self.opts.nkeys).any(|u| u.name == *n) {
                return Err(format!("websocket no_auth_user {n:?} not present as user or nkey in authorization block"));
            }
        }
        let origins = OriginPolicy::new(w.same_origin, &w.allowed_origins).map_err(|e| e.to_string())?;
        let mut l = crate::sys::netaddr::listen(&w.host, w.port).map_err(|e| {
            format!("Error listening on websocket port: {}, {e}", display_host_port(&w.host, w.port.max(0) as u16))
        })?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        self.register_listener(&mut l, WS_LISTENER)?;
        let scheme = if w.tls.is_some() { "wss" } else { "ws" };
        log::info!("Listening for websocket clients on {scheme}://{}", display_host_port(&w.host, addr.port()));
        if w.no_tls {
            log::warn!("Websocket not configured with TLS. DO NOT USE IN PRODUCTION!");
        }
        self.ws_settings = Some(Rc::new(WsSettings {
            tls: w.tls.is_some(),
            compression: w.compression,
            max_payload: self.opts.max_payload,
            leaf: self.leaf_listener.is_some(),
            origins: origins.is_active().then_some(origins),
            headers: w.headers.clone(),
        }));
        self.ws_addr = Some(addr);
        self.ws_listener = Some(l);
        Ok(())
    }

    pub fn accept_ws_clients(&mut self) {
        loop {
            let Some(l) = &self.ws_listener else { return };
            match l.accept() {
                Ok((sock, peer)) => self.accept_ws_client(sock, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.accept_failed("websocket", e);
                    return;
                }
            }
        }
    }

    fn accept_ws_client(&mut self, sock: TcpStream, peer: SocketAddr) {
        let Some(settings) = self.ws_settings.clone() else { return };
        let Some(w) = self.opts.websocket.clone() else { return };
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        self.stats.total_connections += 1;
        let state = self.new_client_state(self.cluster.as_ref().map_or(0, |c| c.ws_urls_version));
        let mut info = Vec::new();
        self.write_ws_client_info(&mut info, cid, peer.ip(), state.nonce());
        let inner: Box<dyn Transport> = match self.ws_inner(sock, peer) {
            Some(t) => t,
            None => return,
        };
        let ws = WebSocket::new(inner, settings, format!("{peer} - wid:{cid}"));
        let mut conn = Conn::new(cid, Role::Client(state), Box::new(ws), peer);
        conn.holds_output = true;
        conn.out = info;
        conn.prefix = format!("{peer} - wid:{cid}");
        let Some(slot) = self.insert_client(conn, "websocket") else { return };
        if self.client_count > self.opts.max_connections {
            self.send_err(slot, "maximum connections exceeded");
            self.close_after_flush(slot, crate::conn::CloseReason::MaxConnectionsExceeded);
            return;
        }
        // The upgrade (and a TLS handshake before it) must end in time.
        let handshake = w.handshake_timeout.filter(|d| !d.is_zero()).unwrap_or(self.opts.auth_timeout);
        let handshake = handshake + w.tls_timeout.unwrap_or(self.opts.tls_timeout) * u32::from(w.tls.is_some());
        self.timers.add_in(handshake, TimerKind::TlsTimeout { slot, cid });
        if self.ws_auth_enforced() {
            let t = w.auth_timeout.unwrap_or(self.opts.auth_timeout);
            self.timers.add_in(t, TimerKind::AuthTimeout { slot, cid });
        }
        self.start_ping_timer(slot, FIRST_PING);
        self.write_out(slot);
    }

    /// The stream under the WebSocket: TLS when `websocket { tls {} }`.
    #[allow(unused_variables)]
    fn ws_inner(&self, sock: TcpStream, peer: SocketAddr) -> Option<Box<dyn Transport>> {
        #[cfg(feature = "tls")]
        if let Some(cfg) = &self.tls.websocket {
            return match crate::conn::transport::tls::Tls::new(sock, cfg.clone(), Vec::new()) {
                Ok(t) => Some(Box::new(t)),
                Err(e) => {
                    log::error!("{} - TLS session: {e}", crate::sys::netaddr::canonical_peer(peer));
                    None
                }
            };
        }
        Some(Box::new(Plain(sock)))
    }

    /// WebSocket clients must authenticate before anything else.
    pub fn ws_auth_enforced(&self) -> bool {
        match &self.opts.websocket {
            Some(w) if w.overrides_auth() => w.user.is_some() || w.token.is_some(),
            _ => self.auth_enforced(),
        }
    }

    /// The INFO line of a WebSocket client.
    pub fn write_ws_client_info(&self, out: &mut Vec<u8>, cid: u64, ip: IpAddr, nonce: Option<&str>) {
        use rnats_protocol::json::write_str;
        let Some(w) = &self.opts.websocket else { return };
        let port = self.ws_addr.map_or(0, |a| a.port());
        let (host, port) = match &w.advertise {
            Some(a) => match a.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().unwrap_or(port)),
                None => (a.clone(), port),
            },
            None => (w.host.clone(), port),
        };
        out.extend_from_slice(b"INFO {\"server_id\":");
        write_str(out, self.server_id.as_bytes());
        out.extend_from_slice(b",\"server_name\":");
        write_str(out, self.server_name.as_bytes());
        out.extend_from_slice(b",\"version\":");
        write_str(out, COMPAT_VERSION.as_bytes());
        out.extend_from_slice(b",\"proto\":1,\"go\":\"rnats\",\"host\":");
        write_str(out, host.as_bytes());
        out.extend_from_slice(format!(",\"port\":{port},\"headers\":true").as_bytes());
        if self.ws_auth_enforced() {
            out.extend_from_slice(b",\"auth_required\":true");
        }
        if w.tls.is_some() {
            out.extend_from_slice(b",\"tls_required\":true,\"tls_available\":true");
        }
        out.extend_from_slice(format!(",\"max_payload\":{},\"client_id\":", self.opts.max_payload).as_bytes());
        rnats_protocol::encode::write_u64(out, cid);
        out.extend_from_slice(b",\"client_ip\":");
        write_str(out, ip.to_string().as_bytes());
        if let Some(n) = nonce {
            out.extend_from_slice(b",\"nonce\":");
            write_str(out, n.as_bytes());
        }
        if let Some(c) = self.cluster.as_ref().filter(|c| !c.name.is_empty()) {
            out.extend_from_slice(b",\"cluster\":");
            write_str(out, c.name.as_bytes());
        }
        if let Some(urls) = self.cluster_ws_urls() {
            out.extend_from_slice(b",\"connect_urls\":[");
            for (i, u) in urls.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, u.as_bytes());
            }
            out.push(b']');
        }
        out.extend_from_slice(b"} \r\n");
    }

    /// Whether `websocket {}` replaces the server's rules for the
    /// WebSocket client `slot`.
    pub fn ws_overrides_auth(&self, slot: usize) -> bool {
        self.conns.get(slot).is_some_and(|c| c.sock.websocket())
            && self.opts.websocket.as_ref().is_some_and(|w| w.overrides_auth())
    }

    /// The WebSocket rules (see [`Server::ws_overrides_auth`]): the token,
    /// or the user and password, of `websocket { authorization }`; a client
    /// naming no one becomes `no_auth_user`; with only `no_auth_user` set,
    /// a client that names someone follows the server's rules.
    pub fn ws_authenticate(&self, slot: usize, creds: &ConnectCreds) -> Option<(String, Option<Rc<Permissions>>)> {
        let w = self.opts.websocket.as_ref()?;
        let anonymous =
            creds.user.is_empty() && creds.pass.is_empty() && creds.token.is_empty() && creds.nkey.is_empty();
        if anonymous {
            if let Some(n) = &w.no_auth_user {
                let u = self.opts.users.iter().chain(&self.opts.nkeys).find(|u| u.name == *n)?;
                return Some((u.name.clone(), u.permissions.clone()));
            }
        }
        if let Some(t) = &w.token {
            return (creds.token == *t).then(|| (String::new(), None));
        }
        if let Some(u) = &w.user {
            let ok = creds.user == *u && password_matches(&w.pass, &creds.pass);
            return ok.then(|| (u.clone(), None));
        }
        self.authenticate(slot, creds)
    }
}
