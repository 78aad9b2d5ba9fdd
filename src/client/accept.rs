//! Taking a new client connection: its INFO, the connection limit, the
//! transport (plain, TLS, or either as the client's first bytes decide) and
//! the handshake, auth and ping timers.

use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use rnats_protocol::client::ClientParser;

use crate::auth::ConnectCreds;
use crate::client::state::ClientState;
use crate::conn::{CloseReason, Plain};
use crate::server::timer::TimerKind;
use crate::server::Server;
use crate::server::{Conn, Role};

/// First server PING on a new client connection.
const FIRST_PING: Duration = Duration::from_secs(2);

impl Server {
    /// A new client's state: its parser, and the nonce its INFO carries
    /// when NKey users must sign one (a fresh one, sent in this first INFO
    /// only).
    pub fn new_client_state(&self, info_version: u64) -> ClientState {
        let mut parser = ClientParser::new(self.opts.max_control_line, self.opts.max_payload);
        parser.set_headers(false);
        let mut state = ClientState::new(parser);
        state.info_version = info_version;
        let nonce = if self.opts.nonce_required() { crate::auth::nkeys::new_nonce() } else { None };
        if let Some(nonce) = nonce {
            state.creds = Some(Box::new(ConnectCreds { nonce, ..Default::default() }));
        }
        state
    }

    /// Puts a new client connection on the reactor; `None` (and the
    /// connection dropped) when the poll refuses its socket.
    pub fn insert_client(&mut self, conn: Conn, what: &str) -> Option<usize> {
        let slot = self.conns.insert(conn);
        if let Err(e) = self.register(slot) {
            log::error!("Error registering {what} connection: {e}");
            self.conns.remove(slot);
            return None;
        }
        self.client_count += 1;
        log::debug!("{} - Client connection created", self.conns[slot].prefix);
        Some(slot)
    }

    /// A client connection accepted: INFO (with a nonce for NKey users),
    /// the connection limit, TLS, auth and ping timers.
    pub fn accept_client(&mut self, sock: TcpStream, peer: SocketAddr) {
        let _ = sock.set_nodelay(true);
        let cid = self.next_cid();
        self.stats.total_connections += 1;
        let state = self.new_client_state(self.urls_version());
        let mut info = Vec::new();
        self.write_client_info(&mut info, cid, peer.ip(), state.nonce());
        let over_limit = self.client_count + 1 > self.opts.max_connections;
        let Some(conn) = self.client_conn(cid, state, sock, peer, info, over_limit) else { return };
        let tls = conn.holds_output;
        let Some(slot) = self.insert_client(conn, "client") else { return };
        if tls && !over_limit {
            log::debug!("{} - Starting TLS client connection handshake", self.conns[slot].prefix);
            // With a handshake_first fallback delay the handshake (or the
            // sniff of allow_non_tls) gets its timeout after that delay.
            let fallback =
                self.opts.tls.as_ref().and_then(|t| t.handshake_first_fallback.filter(|_| t.handshake_first));
            if let Some(delay) = fallback {
                self.timers.add_in(delay, TimerKind::TlsFallback { slot, cid });
            }
            let timeout = self.opts.tls_timeout + fallback.unwrap_or_default();
            self.timers.add_in(timeout, TimerKind::TlsTimeout { slot, cid });
        }
        if over_limit {
            if tls {
                // The -ERR went out in clear after INFO, as from Go.
                log::error!("{} - maximum connections exceeded", self.conns[slot].prefix);
                self.close_after_flush(slot, CloseReason::MaxConnectionsExceeded);
            } else {
                self.send_err(slot, "maximum connections exceeded");
                self.close_after_flush(slot, CloseReason::MaxConnectionsExceeded);
            }
        } else if self.auth_enforced() {
            self.timers.add_in(self.opts.auth_timeout, TimerKind::AuthTimeout { slot, cid });
        }
        self.start_ping_timer(slot, FIRST_PING);
        self.write_out(slot);
    }

    /// A new client connection: plain, or TLS when configured. Over TLS
    /// (Go 2.9 flow) INFO, and the refusal of a client over the connection
    /// limit, go out in clear before the handshake; with `handshake_first`
    /// INFO is the first thing sent inside TLS. With `allow_non_tls`, or a
    /// `handshake_first` fallback delay, what the client sends first
    /// decides (`tls::TlsOrPlain`).
    #[allow(unused_variables)]
    fn client_conn(
        &self,
        cid: u64,
        state: ClientState,
        sock: TcpStream,
        peer: SocketAddr,
        info: Vec<u8>,
        over_limit: bool,
    ) -> Option<Conn> {
        #[cfg(feature = "tls")]
        if let (Some(cfg), Some(t)) = (&self.tls.client, &self.opts.tls) {
            // INFO sent inside TLS says TLS is required, also when
            // allow_non_tls offers it only (as from Go).
            let tls_first_info = |info: &[u8]| {
                if self.opts.allow_non_tls {
                    with_tls_required(info)
                } else {
                    info.to_vec()
                }
            };
            if !over_limit && (t.handshake_first_fallback.is_some() || self.opts.allow_non_tls) {
                let mixed = match (t.handshake_first, t.handshake_first_fallback) {
                    (true, Some(_)) => crate::conn::transport::tls::TlsOrPlain::first(
                        sock,
                        cfg.clone(),
                        tls_first_info(&info),
                        info,
                        self.opts.allow_non_tls,
                    ),
                    (false, _) => crate::conn::transport::tls::TlsOrPlain::sniff(sock, cfg.clone(), info),
                    // handshake_first without fallback requires TLS first,
                    // allow_non_tls or not.
                    (true, None) => {
                        let out = tls_first_info(&info);
                        return tls_conn(cid, state, sock, peer, cfg.clone(), Vec::new(), out);
                    }
                };
                let mut conn = Conn::new(cid, Role::Client(state), Box::new(mixed), peer);
                conn.holds_output = true;
                return Some(conn);
            }
            let mut clear = Vec::new();
            let mut out = Vec::new();
            if t.handshake_first && !over_limit {
                out = info;
            } else {
                clear = info;
                if over_limit {
                    rnats_protocol::encode::write_err(&mut clear, b"maximum connections exceeded");
                }
            }
            return tls_conn(cid, state, sock, peer, cfg.clone(), clear, out);
        }
        let mut conn = Conn::new(cid, Role::Client(state), Box::new(Plain(sock)), peer);
        conn.out = info;
        Some(conn)
    }
}

/// A client connection over a TLS session: `clear` goes out before the
/// handshake, `out` inside it.
#[cfg(feature = "tls")]
fn tls_conn(
    cid: u64,
    state: ClientState,
    sock: TcpStream,
    peer: SocketAddr,
    cfg: std::sync::Arc<rustls::ServerConfig>,
    clear: Vec<u8>,
    out: Vec<u8>,
) -> Option<Conn> {
    let transport = match crate::conn::transport::tls::Tls::new(sock, cfg, clear) {
        Ok(t) => t,
        Err(e) => {
            log::error!("{} - TLS session: {e}", crate::sys::netaddr::canonical_peer(peer));
            return None;
        }
    };
    let mut conn = Conn::new(cid, Role::Client(state), Box::new(transport), peer);
    conn.holds_output = true;
    conn.out = out;
    Some(conn)
}

/// `info` (an INFO line of a server with allow_non_tls, which offers TLS
/// with `tls_available`) saying `tls_required`, for a client that started
/// with the TLS handshake. Go's field order: tls_required, tls_verify,
/// tls_available. (String values are JSON-escaped, so the keys cannot
/// appear inside them.)
#[cfg(feature = "tls")]
fn with_tls_required(info: &[u8]) -> Vec<u8> {
    const REQUIRED: &[u8] = b",\"tls_required\":true";
    let at =
        [&b",\"tls_verify\":true"[..], b",\"tls_available\":true"].iter().find_map(|k| memchr::memmem::find(info, k));
    let Some(at) = at else { return info.to_vec() };
    let mut v = Vec::with_capacity(info.len() + REQUIRED.len());
    v.extend_from_slice(&info[..at]);
    v.extend_from_slice(REQUIRED);
    v.extend_from_slice(&info[at..]);
    v
}
