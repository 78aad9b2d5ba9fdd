//! The reactor: one thread, one `mio::Poll`, every connection in a slab.
//!
//! A loop pass: flush every connection with queued output, poll (timeout =
//! nearest timer, zero while some connection still has unread input), handle
//! events, give connections that used up their read budget another turn, run
//! due timers, then close the connections marked for closing. Closing at the
//! end of the pass means a slab slot is never reused while an event or a
//! queued flush for its old occupant is still being handled; timers carry
//! the connection id as well, so a late timer never hits a new occupant.
//!
//! Input: bytes are read into one shared buffer and whole ops are parsed
//! straight out of it; only an op cut by the end of a read is copied into
//! the connection's own `inb` and completed from the next read.
//! Output: delivering appends to the receiver's `out` and puts it on the
//! pending-flush list; writes happen once per pass per connection, and only
//! a short write waits for the WRITABLE edge.

pub mod deliver;
pub mod lameduck;
pub mod lifecycle;
pub mod portsfile;
pub mod reload;
pub mod roles;
pub mod signals;
#[cfg(test)]
pub mod testkit;
pub mod timer;

pub use roles::{Conn, Role};

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};

use slab::Slab;

use crate::config::options::{Options, COMPAT_VERSION};
use crate::conn::{CloseReason, Kind};
use crate::route::state::Cluster;
use crate::routing::sublist::Sublist;
use crate::server::lifecycle::READ_CHUNK;
use crate::server::signals::SignalPipe;
use crate::server::timer::{TimerKind, Timers};
use crate::sys::netaddr::{display_host_port, listen, RouteUrl};

const CLIENT_LISTENER: Token = Token(0);
const HTTP_LISTENER: Token = Token(1);
const SIGNAL: Token = Token(2);
pub const ROUTE_LISTENER: Token = Token(3);
pub const LEAF_LISTENER: Token = Token(4);
pub const WS_LISTENER: Token = Token(5);
/// Connection tokens are slab keys offset past the fixed tokens.
const CONN_BASE: usize = 16;

/// Wait before accepting again after an accept failed.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Interest of leaf nodes by account, `subject[ queue]` and origin cluster.
pub type OriginKey = (crate::routing::accounts::AccId, Box<[u8]>, Box<[u8]>);

/// Server-wide message and connection counters shown in `/varz`.
#[derive(Debug, Default)]
pub struct ServerCounters {
    pub in_msgs: u64,
    pub in_bytes: u64,
    pub out_msgs: u64,
    pub out_bytes: u64,
    pub slow_consumers: u64,
    /// `slow_consumers` by the kind of connection cut.
    pub slow_consumers_by_kind: crate::conn::SlowConsumers,
    pub total_connections: u64,
}

impl ServerCounters {
    /// Counts a connection of `kind` cut as a slow consumer.
    pub fn count_slow_consumer(&mut self, kind: Kind) {
        self.slow_consumers += 1;
        *self.slow_consumers_by_kind.of_mut(kind) += 1;
    }
}

pub struct Server {
    pub opts: Options,
    /// The TLS configurations (certificates loaded at start and on reload).
    #[cfg(feature = "tls")]
    pub tls: crate::tls::Configs,
    pub poll: Poll,
    listener: Option<TcpListener>,
    http_listener: Option<TcpListener>,
    /// Signals from the handlers (none in unit tests, which install none).
    signals: Option<SignalPipe>,
    pub conns: Slab<Conn>,
    /// The global account's subscriptions.
    pub sublist: Sublist,
    /// The other accounts' names and subscriptions.
    pub accounts: crate::routing::accounts::Accounts,
    pub timers: Timers,
    pub pending_flush: Vec<usize>,
    pub to_close: Vec<usize>,
    pub still_readable: Vec<usize>,
    pub scratch: Vec<u8>,
    next_cid: u64,
    pub server_id: String,
    pub server_name: String,
    /// Client INFO up to and including `max_payload`; each client's id and
    /// address are appended per connection.
    pub info_head: Vec<u8>,
    /// Client INFO after the client's id and address: cluster name and
    /// the cluster's client URLs.
    pub info_tail: Vec<u8>,
    pub cluster: Option<Cluster>,
    /// This server's own interest: (account, `subject` or `subject queue`)
    /// -> number of local subscriptions; what routes and hubs are told.
    pub local_interest: crate::routing::fxhash::FxHashMap<(crate::routing::accounts::AccId, Box<[u8]>), u32>,
    /// The interest of leaf nodes connected to us, as routes are told of it
    /// (summed with `local_interest`): subscriptions, queue weights.
    pub leaf_node_interest: crate::routing::fxhash::FxHashMap<(crate::routing::accounts::AccId, Box<[u8]>), u32>,
    /// The part of `leaf_node_interest` from leaf nodes with a cluster, by
    /// (account, key, origin cluster), and its sum by (account, key).
    pub leaf_origin_interest: crate::routing::fxhash::FxHashMap<OriginKey, u32>,
    pub leaf_origin_total: crate::routing::fxhash::FxHashMap<(crate::routing::accounts::AccId, Box<[u8]>), u32>,
    /// While a route's LMSG is delivered: the origin cluster it names.
    pub lmsg_origin: Vec<u8>,
    /// The hubs of `leafnodes { remotes }` and the connection of each.
    pub leaf_remotes: Vec<crate::leaf::state::LeafRemote>,
    /// Each account's loop-detection subject, once a leaf connection used it.
    pub leaf_lds: Vec<(crate::routing::accounts::AccId, Box<[u8]>)>,
    /// Leaf connections past their handshake.
    pub leaf_count: usize,
    /// The leaf node port (`leafnodes { listen }`) and its bound address.
    pub leaf_listener: Option<TcpListener>,
    pub leaf_addr: Option<SocketAddr>,
    /// The WebSocket listener (`websocket {}`), its address and what its
    /// connections share.
    pub ws_listener: Option<TcpListener>,
    pub ws_addr: Option<SocketAddr>,
    pub ws_settings: Option<std::rc::Rc<crate::conn::transport::websocket::WsSettings>>,
    /// The cluster's leaf URLs as our leaf nodes last heard them.
    pub leaf_urls_sent: Vec<String>,
    /// Per-message scratch: routes to forward to, and the queue members
    /// picked on each route. Kept here so forwarding does not allocate.
    pub route_sends: Vec<(usize, u64)>,
    pub route_qpicks: Vec<(usize, std::rc::Rc<crate::routing::sublist::Subscription>)>,
    pub stats: ServerCounters,
    pub rng: u64,
    pub client_count: usize,
    pub start: SystemTime,
    pub client_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub http_req_stats: Vec<(String, u64)>,
    pub shutdown: bool,
    pub lame_duck: bool,
    /// Recently closed clients, for `/connz?state=closed`.
    pub closed: crate::monitor::state::ClosedConns,
    /// Clients present when lame duck closing began.
    pub lame_duck_closing_started: Option<usize>,
    last_accept_error: Option<Instant>,
    accept_retry_pending: bool,
    /// The ports file written at start, removed at shutdown.
    ports_file: Option<std::path::PathBuf>,
    /// Route message counts at the previous load of the mesh page.
    pub mesh_prev: Option<crate::monitor::state::RateSnapshot>,
    /// JetStream, when enabled; its received messages; its output buffer.
    pub jetstream: Option<Box<crate::jetstream::state::JetStream>>,
    pub js_inbox: std::collections::VecDeque<crate::jetstream::state::Inbound>,
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub js_out: Vec<u8>,
}

/// A 56-character id in the shape of a Go server id (`N` + base32),
/// from the kernel's random source mixed with `seed`.
fn new_server_id(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = [0u8; 55];
    crate::sys::fill_random(&mut bytes);
    let mut x = seed | 1;
    let mut id = String::from("N");
    for b in bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        id.push(ALPHABET[((b as u64 ^ x) % 32) as usize] as char);
    }
    id
}

impl Server {
    pub fn new(opts: Options) -> io::Result<Server> {
        let mut server = Server::without_signals(opts)?;
        let mut sigs = signals::install()?;
        server.poll.registry().register(&mut sigs.rx, SIGNAL, Interest::READABLE)?;
        server.signals = Some(sigs);
        Ok(server)
    }

    /// The start of every INFO this server sends (clients, routes, leaf
    /// links): id, name, version, `proto`, and the `host` key, whose value
    /// the caller writes next.
    pub fn info_start(&self, v: &mut Vec<u8>, proto: u8) {
        use rnats_protocol::json::write_str;
        v.extend_from_slice(b"{\"server_id\":");
        write_str(v, self.server_id.as_bytes());
        v.extend_from_slice(b",\"server_name\":");
        write_str(v, self.server_name.as_bytes());
        v.extend_from_slice(b",\"version\":");
        write_str(v, COMPAT_VERSION.as_bytes());
        v.extend_from_slice(b",\"proto\":");
        v.push(b'0' + proto % 10);
        v.extend_from_slice(b",\"go\":\"rnats\",\"host\":");
    }

    /// A server that has installed no signal handlers (and opened no
    /// socket): what `new` builds on, and what unit tests drive directly.
    pub fn without_signals(opts: Options) -> io::Result<Server> {
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64
            ^ ((std::process::id() as u64) << 32);
        let server_id = new_server_id(seed);
        let server_name = opts.server_name.clone().unwrap_or_else(|| server_id.clone());
        let cluster = match &opts.cluster_listen {
            Some(u) => {
                let url = RouteUrl::parse(u).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                if url.user.is_some() && url.pass.is_none() {
                    return Err(io::Error::new(io::ErrorKind::InvalidInput, "expected cluster password to be set"));
                }
                Some(Cluster::new(url, opts.cluster_name.clone(), seed.rotate_left(17)))
            }
            None => None,
        };
        if let Some(e) = crate::monitor::state::https_refusal(&opts) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        #[cfg(feature = "tls")]
        let tls = crate::tls::Configs::build(&opts).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        #[cfg(not(feature = "tls"))]
        if opts.tls.is_some() || opts.cluster_tls.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS is not supported by this build of the server (built without the \"tls\" feature)",
            ));
        }
        let poll = Poll::new()?;
        let accounts = crate::routing::accounts::Accounts::new(&opts.accounts);
        Ok(Server {
            opts,
            #[cfg(feature = "tls")]
            tls,
            poll,
            listener: None,
            http_listener: None,
            signals: None,
            conns: Slab::new(),
            sublist: Sublist::default(),
            accounts,
            timers: Timers::default(),
            pending_flush: Vec::new(),
            to_close: Vec::new(),
            still_readable: Vec::new(),
            scratch: vec![0u8; READ_CHUNK],
            next_cid: 1,
            server_id,
            server_name,
            info_head: Vec::new(),
            info_tail: Vec::new(),
            cluster,
            local_interest: Default::default(),
            leaf_node_interest: Default::default(),
            leaf_origin_interest: Default::default(),
            leaf_origin_total: Default::default(),
            lmsg_origin: Vec::new(),
            leaf_remotes: Vec::new(),
            leaf_lds: Vec::new(),
            leaf_count: 0,
            leaf_listener: None,
            leaf_addr: None,
            leaf_urls_sent: Vec::new(),
            ws_listener: None,
            ws_addr: None,
            ws_settings: None,
            route_sends: Vec::new(),
            route_qpicks: Vec::new(),
            stats: ServerCounters::default(),
            rng: seed | 1,
            client_count: 0,
            start: SystemTime::now(),
            client_addr: None,
            http_addr: None,
            http_req_stats: Vec::new(),
            shutdown: false,
            lame_duck: false,
            closed: Default::default(),
            lame_duck_closing_started: None,
            last_accept_error: None,
            accept_retry_pending: false,
            ports_file: None,
            mesh_prev: None,
            jetstream: None,
            js_inbox: std::collections::VecDeque::new(),
            js_out: Vec::new(),
        })
    }

    /// The sublist of account `acc`.
    #[inline(always)]
    pub fn sublist_mut(&mut self, acc: crate::routing::accounts::AccId) -> &mut Sublist {
        if acc == crate::routing::accounts::GLOBAL {
            &mut self.sublist
        } else {
            self.accounts.sublist_mut(acc)
        }
    }

    /// Subscriptions stored, over every account.
    pub fn sub_count(&self) -> usize {
        self.sublist.count() + self.accounts.sublists().map(Sublist::count).sum::<usize>()
    }

    /// The next connection id (shared by clients and routes, as in Go).
    pub fn next_cid(&mut self) -> u64 {
        let cid = self.next_cid;
        self.next_cid += 1;
        cid
    }

    pub fn register_listener(&mut self, l: &mut TcpListener, token: Token) -> Result<(), String> {
        self.poll.registry().register(l, token, Interest::READABLE).map_err(|e| e.to_string())
    }

    /// Queues a connection (already marked `closing`) for removal.
    pub fn queue_close(&mut self, slot: usize) {
        self.to_close.push(slot);
    }

    /// A cheap pseudo-random number (xorshift), for queue member choice and
    /// timer jitter.
    pub fn rand(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// `d` plus up to `pct` percent of random jitter.
    pub fn jitter(&mut self, d: Duration, pct: u64) -> Duration {
        let ms = d.as_millis() as u64;
        let extra = if ms == 0 || pct == 0 { 0 } else { self.rand() % (ms * pct / 100 + 1) };
        d + Duration::from_millis(extra)
    }

    /// Stops accepting clients (lame duck mode, shutdown).
    pub fn stop_client_listener(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    /// Opens the listeners and logs the start-up banner. Errors are fatal.
    pub fn start(&mut self) -> Result<(), String> {
        log::info!("Starting nats-server");
        log::info!("  Version:  {COMPAT_VERSION}");
        log::info!("  rnats:    {}", crate::config::options::RNATS_VERSION);
        log::info!("  Git:      [not set]");
        log::debug!("  Go build: rnats");
        log::info!("  Name:     {}", self.server_name);
        log::info!("  ID:       {}", self.server_id);
        for w in &self.opts.warnings {
            log::warn!("{w}");
        }
        let plain = |p: &str| !crate::auth::bcrypt::is_hash(p);
        if self.opts.pass.as_deref().is_some_and(plain) || self.opts.users.iter().any(|u| plain(&u.password)) {
            log::warn!("Plaintext passwords detected, use nkeys or bcrypt");
        }
        if let Some(hp) = self.opts.http_port.or(self.opts.https_port) {
            let host = self.opts.http_host.clone().unwrap_or_else(|| self.opts.host.clone());
            let mut l = listen(&host, hp).map_err(|e| format!("Can't listen to the monitor port: {e}"))?;
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            log::info!("Starting {} monitor on {}", self.monitor_scheme(), display_host_port(&host, addr.port()));
            self.poll.registry().register(&mut l, HTTP_LISTENER, Interest::READABLE).map_err(|e| e.to_string())?;
            self.http_addr = Some(addr);
            self.http_listener = Some(l);
        }
        let host = self.opts.host.clone();
        let mut l = listen(&host, self.opts.port).map_err(|e| {
            format!(
                "Error listening on port: {}, {:?}",
                display_host_port(&host, self.opts.port.max(0) as u16),
                e.to_string()
            )
        })?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        self.poll.registry().register(&mut l, CLIENT_LISTENER, Interest::READABLE).map_err(|e| e.to_string())?;
        self.client_addr = Some(addr);
        self.listener = Some(l);
        self.build_info_head();
        self.build_info_tail();
        log::info!("Listening for client connections on {}", display_host_port(&host, addr.port()));
        if let Some(t) = &self.opts.tls {
            log::info!("TLS required for client connections");
            if t.handshake_first && t.handshake_first_fallback.is_none() {
                log::warn!("Clients that are not using \"TLS Handshake First\" option will fail to connect");
            }
        }
        self.start_jetstream()?;
        log::info!("Server is ready");
        self.start_cluster()?;
        self.start_leaf_listener()?;
        self.start_ws_listener()?;
        self.start_leaf_remotes()?;
        self.write_ports_file();
        Ok(())
    }

    /// Writes the ports file (`ports_file_dir`) once every listener is bound.
    fn write_ports_file(&mut self) {
        let Some(dir) = &self.opts.ports_file_dir else {
            return;
        };
        use crate::server::portsfile::{contents, listener_urls, path};
        let scheme = |tls: bool| if tls { "tls" } else { "nats" };
        let cluster = self.cluster.as_ref().and_then(|c| c.listener.as_ref()).and_then(|l| l.local_addr().ok());
        let text = contents(&[
            ("nats", self.client_addr.map(|a| listener_urls(scheme(self.opts.tls.is_some()), a)).unwrap_or_default()),
            ("monitoring", self.http_addr.map(|a| listener_urls(self.monitor_scheme(), a)).unwrap_or_default()),
            ("cluster", cluster.map(|a| listener_urls(scheme(self.opts.cluster_tls.is_some()), a)).unwrap_or_default()),
        ]);
        let file = path(dir);
        match std::fs::write(&file, text) {
            Ok(()) => self.ports_file = Some(file),
            Err(e) => log::error!("Error writing ports file ({}): {e}", file.display()),
        }
    }

    /// Runs until a shutdown signal; returns the exit status.
    pub fn run(&mut self) -> i32 {
        let mut events = Events::with_capacity(1024);
        loop {
            self.flush_pending();
            let now = Instant::now();
            let timeout = if self.still_readable.is_empty() { self.timers.timeout(now) } else { Some(Duration::ZERO) };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("Poll error: {e}");
                    return 1;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    CLIENT_LISTENER => self.accept_clients(),
                    HTTP_LISTENER => self.accept_http(),
                    ROUTE_LISTENER => self.accept_routes(),
                    LEAF_LISTENER => self.accept_leafs(),
                    WS_LISTENER => self.accept_ws_clients(),
                    SIGNAL => self.handle_signals(),
                    Token(t) => {
                        let slot = t - CONN_BASE;
                        if !self.conns.contains(slot) {
                            continue;
                        }
                        if !self.role_ready(slot) {
                            continue;
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.on_readable(slot, ev.is_read_closed() || ev.is_error());
                        }
                        if ev.is_writable() {
                            self.on_writable(slot);
                        }
                    }
                }
            }
            if !self.still_readable.is_empty() {
                let list = std::mem::take(&mut self.still_readable);
                for slot in list {
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.readable_queued = false;
                        self.on_readable(slot, false);
                    }
                }
            }
            self.run_timers();
            if !self.js_inbox.is_empty() {
                self.run_jetstream();
            }
            self.close_marked();
            if self.shutdown {
                self.shutdown_now();
                return 0;
            }
        }
    }

    fn accept_clients(&mut self) {
        loop {
            let Some(l) = &self.listener else { return };
            match l.accept() {
                Ok((sock, peer)) => self.accept_client(sock, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.accept_failed("client", e);
                    return;
                }
            }
        }
    }

    /// An accept failed for lack of resources (file descriptors, memory):
    /// the pending connection stays queued and no new readiness edge will
    /// come for it, so retry on a timer instead of spinning. Logged at most
    /// once a second.
    pub fn accept_failed(&mut self, what: &str, e: io::Error) {
        let now = Instant::now();
        if self.last_accept_error.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            log::error!("Error accepting {what} connection: {e}");
            self.last_accept_error = Some(now);
        }
        if !self.accept_retry_pending {
            self.accept_retry_pending = true;
            self.timers.add_in(ACCEPT_RETRY, TimerKind::AcceptRetry);
        }
    }

    pub fn register(&mut self, slot: usize) -> io::Result<()> {
        let Some(source) = self.conns[slot].sock.source() else {
            return Ok(());
        };
        self.poll.registry().register(source, Token(slot + CONN_BASE), Interest::READABLE | Interest::WRITABLE)
    }

    fn accept_http(&mut self) {
        loop {
            let Some(l) = &self.http_listener else { return };
            match l.accept() {
                Ok((sock, peer)) => {
                    let cid = self.next_cid();
                    let Some(conn) = self.http_conn(cid, sock, peer) else { continue };
                    let slot = self.conns.insert(conn);
                    if self.register(slot).is_err() {
                        self.conns.remove(slot);
                        continue;
                    }
                    self.timers.add_in(self.opts.write_deadline, TimerKind::CloseDeadline { slot, cid });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.accept_failed("monitoring", e);
                    return;
                }
            }
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                TimerKind::Ping { slot, cid } => self.ping_timer(slot, cid),
                TimerKind::RouteDial { id } => self.dial_route(id),
                TimerKind::RouteDialTimeout { slot, cid } => self.route_dial_timeout(slot, cid),
                TimerKind::LeafDial { remote } => self.dial_leaf(remote),
                TimerKind::LeafDialTimeout { slot, cid } => self.leaf_dial_timeout(slot, cid),
                TimerKind::AcceptRetry => {
                    self.accept_retry_pending = false;
                    self.accept_clients();
                    self.accept_http();
                    self.accept_routes();
                    self.accept_leafs();
                    self.accept_ws_clients();
                }
                TimerKind::WriteDeadline { slot, cid } => self.check_write_deadline(slot, cid),
                TimerKind::LameDuckClose => self.lame_duck_close_next(),
                TimerKind::JetStream => self.jetstream_tick(),
                TimerKind::TlsTimeout { slot, cid } => {
                    if let Some(c) = self.conns.get_mut(slot).filter(|c| c.cid == cid) {
                        if c.closing.is_none() && c.sock.handshaking() {
                            if c.sock.wait_over() {
                                // allow_non_tls: nothing from the client in
                                // time, it goes on in clear.
                                self.write_out(slot);
                            } else {
                                if c.sock.websocket() {
                                    log::debug!("{} - websocket handshake timeout", c.prefix);
                                } else if c.role.is_server_link() {
                                    log::error!("{} - TLS handshake timeout", c.prefix);
                                } else {
                                    // Newer Go servers log a client's timeout
                                    // at debug level, with the read error
                                    // after it.
                                    log::debug!("{} - TLS handshake timeout", c.prefix);
                                    if let Some((local, peer)) = c.sock.addrs() {
                                        log::debug!(
                                            "{} - TLS handshake error: read tcp {local}->{peer}: i/o timeout",
                                            c.prefix
                                        );
                                    }
                                }
                                self.mark_close(slot, CloseReason::TlsHandshakeError);
                            }
                        }
                    }
                }
                TimerKind::TlsFallback { slot, cid } => {
                    if let Some(c) = self.conns.get_mut(slot).filter(|c| c.cid == cid && c.closing.is_none()) {
                        if c.sock.wait_over() {
                            log::debug!(
                                "{} - TLS handshake first fallback delay passed, sending INFO in clear",
                                c.prefix
                            );
                            self.write_out(slot);
                        }
                    }
                }
                TimerKind::AuthTimeout { slot, cid } => {
                    // Over TLS the auth timer runs from the end of the
                    // handshake, as in Go.
                    let auth_timeout = self.opts.auth_timeout;
                    if let Some(c) = self.conns.get(slot).filter(|c| c.cid == cid && c.holds_output) {
                        let due = c.sock.handshake_done_at().map(|t| t + auth_timeout);
                        if c.sock.handshaking() || due.is_some_and(|d| d > now) {
                            let at = due.unwrap_or(now + auth_timeout);
                            self.timers.add(at, TimerKind::AuthTimeout { slot, cid });
                            continue;
                        }
                    }
                    if let Some(c) = self.conns.get(slot) {
                        let authed = c.role.authenticated();
                        if c.cid == cid && !authed && c.closing.is_none() {
                            self.send_err(slot, "Authentication Timeout");
                            self.close_after_flush(slot, CloseReason::AuthenticationTimeout);
                        }
                    }
                }
                TimerKind::CloseDeadline { slot, cid } => {
                    if let Some(c) = self.conns.get(slot).filter(|c| c.cid == cid) {
                        let reason = c.pending_reason.unwrap_or(CloseReason::ClientClosed);
                        self.mark_close(slot, reason);
                    }
                }
            }
        }
    }

    fn handle_signals(&mut self) {
        let sigs = self.signals.as_mut().map(|s| s.take()).unwrap_or_default();
        for sig in sigs {
            log::debug!("Trapped {:?} signal", signals::name(sig));
            match sig {
                libc::SIGINT => self.shutdown = true,
                // A lame duck finishes its own schedule.
                libc::SIGTERM if !self.lame_duck => self.shutdown = true,
                libc::SIGUSR1 => match crate::logging::reopen() {
                    Ok(true) => log::info!("File log re-opened"),
                    Ok(false) => log::info!("File log re-open ignored, not a file logger"),
                    Err(e) => log::error!("Error re-opening log file: {e}"),
                },
                libc::SIGHUP => self.reload(),
                libc::SIGUSR2 => self.enter_lame_duck(),
                _ => {}
            }
        }
    }

    /// Graceful stop: no more accepts, every connection flushed and closed.
    fn shutdown_now(&mut self) {
        log::info!("Initiating Shutdown...");
        self.stop_jetstream();
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.http_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.leaf_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.ws_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let slots: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in slots {
            self.mark_close(slot, CloseReason::ServerShutdown);
        }
        self.close_marked();
        if let Some(f) = self.ports_file.take() {
            if let Err(e) = std::fs::remove_file(&f) {
                log::error!("Error cleaning up ports file {}: {e}", f.display());
            }
        }
        log::info!("Server Exiting..");
    }
}
