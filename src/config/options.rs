//! The option types: what the command line (`config::cli`) and the
//! configuration file (`config::file`) fill in, with Go's defaults.

use std::path::PathBuf;
use std::time::Duration;

/// The Go server version whose client-facing features rnats has (the
/// JetStream API of 2.10, nothing of 2.11+). INFO, `/varz` and `--version`
/// report it so client libraries enable exactly the features this server
/// has.
pub const COMPAT_VERSION: &str = "2.10.0";
/// rnats' own version.
pub const RNATS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `jetstream {}` and `-js`/`-sd`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsOpts {
    pub store_dir: Option<PathBuf>,
    pub max_memory: Option<i64>,
    pub max_file: Option<i64>,
    pub sync_interval: Duration,
    pub sync_always: bool,
    pub domain: Option<String>,
    pub strict: bool,
}

impl Default for JsOpts {
    fn default() -> Self {
        JsOpts {
            store_dir: None,
            max_memory: None,
            max_file: None,
            sync_interval: Duration::from_secs(120),
            sync_always: false,
            domain: None,
            strict: true,
        }
    }
}

/// An account's JetStream limits (-1: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsLimits {
    pub max_memory: i64,
    pub max_store: i64,
    pub max_streams: i64,
    pub max_consumers: i64,
    pub max_ack_pending: i64,
    /// Largest `max_bytes` a memory / file stream may have (-1: any).
    pub mem_max_stream_bytes: i64,
    pub disk_max_stream_bytes: i64,
    /// Streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

impl Default for JsLimits {
    fn default() -> Self {
        JsLimits {
            max_memory: -1,
            max_store: -1,
            max_streams: -1,
            max_consumers: -1,
            max_ack_pending: -1,
            mem_max_stream_bytes: -1,
            disk_max_stream_bytes: -1,
            max_bytes_required: false,
        }
    }
}

/// `64MB`, `1G`, `512KiB`, plain bytes.
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: i64 = s[..digits].parse().ok()?;
    let unit = s[digits..].trim().to_ascii_uppercase();
    let mult: i64 = match unit.as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The client `tls {}` block (or the `--tls*` flags), as Go 2.9 reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOpts {
    pub cert_file: String,
    pub key_file: String,
    /// CA of client certificates (used with `verify`).
    pub ca_file: String,
    /// Clients must present a certificate signed by `ca_file`.
    pub verify: bool,
    /// TLS before INFO (Go 2.10's `handshake_first: true`).
    pub handshake_first: bool,
    /// With `handshake_first`: how long to wait for the client's first
    /// bytes before sending INFO in clear and going on as without it (Go
    /// 2.10's `handshake_first: auto` or a duration). `None`: no fallback,
    /// clients must start with the handshake.
    pub handshake_first_fallback: Option<Duration>,
    /// `verify_and_map`: the user is taken from the client certificate.
    pub map: bool,
}

/// Everything the server needs to know at startup.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    pub port: i64,
    pub server_name: Option<String>,
    pub http_host: Option<String>,
    pub http_port: Option<i64>,
    /// Monitoring over TLS with the client `tls {}` certificate.
    pub https_port: Option<i64>,
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub logtime_utc: bool,
    pub log_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub max_traced_msg_len: usize,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    pub auth_timeout: Duration,
    /// `auth_timeout` was set by the file (else it follows `tls_timeout`).
    pub auth_timeout_set: bool,
    /// TLS on client connections.
    pub tls: Option<TlsOpts>,
    /// The TLS handshake must complete within this (Go's default 2 s).
    pub tls_timeout: Duration,
    /// Mutual TLS on routes (`cluster { tls {} }`); `verify` is implied.
    pub cluster_tls: Option<TlsOpts>,
    pub cluster_tls_timeout: Duration,
    pub max_payload: usize,
    pub max_control_line: usize,
    pub max_connections: usize,
    /// 0 means unlimited, as in Go.
    pub max_subscriptions: usize,
    pub max_pending: usize,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    pub cluster_listen: Option<String>,
    pub routes: Vec<String>,
    /// `leafnodes { remotes }`: hubs this server joins as a leaf node.
    pub leaf_remotes: Vec<LeafRemoteOpts>,
    /// `leafnodes { reconnect }`: wait before dialing a hub again.
    pub leaf_reconnect: Duration,
    /// `leafnodes { listen | host, port }`: where leaf nodes connect to this
    /// server (no listener without a port).
    pub leaf_listen: Option<(String, i64)>,
    /// `leafnodes { advertise }`: the address given to leaf nodes instead.
    pub leaf_advertise: Option<String>,
    /// `leafnodes { no_advertise }`: keep our leaf URL out of route INFO.
    pub leaf_no_advertise: bool,
    /// `leafnodes { authorization {} }`.
    pub leaf_auth: LeafAuthOpts,
    /// `websocket {}`: the WebSocket listener for clients.
    pub websocket: Option<WsOpts>,
    /// `jetstream {}` or `-js`: JetStream on this server.
    pub jetstream: Option<JsOpts>,
    /// `-sd`/`store_dir` given outside a `jetstream {}` block.
    pub store_dir: Option<PathBuf>,
    /// Accounts of `accounts {}` with `jetstream` enabled, and their limits.
    pub account_js: Vec<(String, JsLimits)>,
    /// `leafnodes { tls {} }`: TLS on the leaf port (after the INFO).
    pub leaf_tls: Option<TlsOpts>,
    pub leaf_tls_timeout: Duration,
    pub cluster_name: Option<String>,
    pub cluster_advertise: Option<String>,
    pub no_advertise: bool,
    pub connect_retries: u32,
    pub client_advertise: Option<String>,
    /// Credentials routes must present (and that implicit routes send).
    pub cluster_auth: Option<(String, String)>,
    /// Users from `authorization { users = [...] }`.
    pub users: Vec<crate::auth::User>,
    /// NKey users from the same list: each named by its public key.
    pub nkeys: Vec<crate::auth::User>,
    /// Accounts of `accounts {}` other than `$G`, in file order; their
    /// users are in `users` and `nkeys`, each naming its account.
    pub accounts: Vec<String>,
    /// User assumed for clients that send no credentials.
    pub no_auth_user: Option<String>,
    /// With TLS configured: clients may also connect without it (INFO says
    /// `tls_available` instead of `tls_required`; a client whose first byte
    /// is not a TLS handshake record goes on in clear). Go's
    /// `allow_non_tls`.
    pub allow_non_tls: bool,
    pub config_file: Option<PathBuf>,
    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,
    /// The command line, kept so a reload can apply it over the file again.
    pub cli_args: Vec<String>,
    /// Closed client connections kept for `/connz?state=closed` (Go's
    /// default 10 000), and the memory they may hold (estimated).
    pub max_closed_clients: usize,
    pub closed_clients_memory: usize,
    /// Where to write `<executable>_<pid>.ports` with the bound URLs.
    pub ports_file_dir: Option<PathBuf>,
    /// Flags given that this server accepts without acting on: logged at start.
    pub warnings: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "0.0.0.0".into(),
            port: 4222,
            server_name: None,
            http_host: None,
            http_port: None,
            https_port: None,
            debug: false,
            trace: false,
            logtime: true,
            logtime_utc: false,
            log_file: None,
            pid_file: None,
            max_traced_msg_len: 0,
            user: None,
            pass: None,
            auth_token: None,
            auth_timeout: Duration::from_secs(2),
            auth_timeout_set: false,
            tls: None,
            tls_timeout: Duration::from_secs(2),
            cluster_tls: None,
            cluster_tls_timeout: Duration::from_secs(2),
            max_payload: 1024 * 1024,
            max_control_line: 4096,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            max_pending: 64 * 1024 * 1024,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            cluster_listen: None,
            routes: Vec::new(),
            leaf_remotes: Vec::new(),
            leaf_reconnect: Duration::from_secs(1),
            leaf_listen: None,
            leaf_advertise: None,
            leaf_no_advertise: false,
            leaf_auth: LeafAuthOpts::default(),
            leaf_tls: None,
            websocket: None,
            jetstream: None,
            store_dir: None,
            account_js: Vec::new(),
            leaf_tls_timeout: Duration::from_secs(2),
            cluster_name: None,
            cluster_advertise: None,
            no_advertise: false,
            connect_retries: 0,
            client_advertise: None,
            cluster_auth: None,
            users: Vec::new(),
            nkeys: Vec::new(),
            accounts: Vec::new(),
            no_auth_user: None,
            allow_non_tls: false,
            config_file: None,
            lame_duck_duration: Duration::from_secs(120),
            lame_duck_grace_period: Duration::from_secs(10),
            cli_args: Vec::new(),
            ports_file_dir: None,
            warnings: Vec::new(),
            max_closed_clients: 10_000,
            closed_clients_memory: 4 * 1024 * 1024,
        }
    }
}

impl Options {
    /// Whether clients must authenticate.
    pub fn auth_required(&self) -> bool {
        self.user.is_some() || self.auth_token.is_some() || !self.users.is_empty() || !self.nkeys.is_empty()
    }

    /// Client INFO carries a nonce for nkey users to sign.
    pub fn nonce_required(&self) -> bool {
        !self.nkeys.is_empty()
    }
}

impl Options {
    /// Limits of a connection to another server, route or leaf (control
    /// line, payload), as the newer Go servers bound them: a control line up
    /// to 16 times a client's (queue lists make relayed lines long), and a
    /// message no bigger than a client of ours could ever be sent
    /// (max_pending; Go keeps max_payload at or below it).
    pub fn server_link_limits(&self) -> (usize, usize) {
        (self.max_control_line.saturating_mul(16), self.max_pending.max(self.max_payload))
    }
}

/// One `leafnodes.remotes` entry: the hub's URLs (tried in turn), the
/// local account the connection is bound to (`$G` when not given), how we
/// prove who we are, TLS, and the subjects kept off the link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafRemoteOpts {
    pub urls: Vec<String>,
    pub account: Option<String>,
    /// A `.creds` file: its JWT goes in CONNECT, its seed signs the nonce.
    pub credentials: Option<String>,
    /// A user seed (`SU…`): its public key goes in CONNECT, it signs the
    /// nonce.
    pub nkey: Option<String>,
    /// `tls {}`: TLS to the hub (after its first INFO, as Go).
    pub tls: Option<LeafTlsOpts>,
    /// Subjects never sent to the hub (`deny_exports`) or taken from it
    /// (`deny_imports`, also sent in CONNECT as `deny_pub`).
    pub deny_exports: Vec<String>,
    pub deny_imports: Vec<String>,
    /// `ws_no_masking`: ask a WebSocket hub for unmasked frames.
    pub ws_no_masking: bool,
    /// `hub: true`: on this link we are the hub (CONNECT `is_hub`).
    pub hub: bool,
}

/// A leaf remote's `tls {}`: the CA that signs the hub's certificate
/// (the system's when not given), our certificate if the hub asks for one,
/// and the name checked in the hub's certificate (the URL's host when not
/// given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafTlsOpts {
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    pub server_name: Option<String>,
    pub timeout: Option<Duration>,
}

/// `websocket {}`: where WebSocket clients connect (no listener without a
/// port), TLS or not, the origin checks, and who may connect (`user` or
/// `token` replace the server's rules for WebSocket clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsOpts {
    pub host: String,
    pub port: i64,
    pub advertise: Option<String>,
    pub no_tls: bool,
    pub tls: Option<TlsOpts>,
    pub tls_timeout: Option<Duration>,
    pub same_origin: bool,
    pub allowed_origins: Vec<String>,
    pub handshake_timeout: Option<Duration>,
    pub user: Option<String>,
    pub pass: String,
    pub token: Option<String>,
    pub auth_timeout: Option<Duration>,
    pub no_auth_user: Option<String>,
    pub headers: Vec<(String, String)>,
    /// permessage-deflate when a client offers it.
    pub compression: bool,
}

impl Default for WsOpts {
    fn default() -> Self {
        WsOpts {
            host: "0.0.0.0".into(),
            port: 0,
            advertise: None,
            no_tls: false,
            tls: None,
            tls_timeout: None,
            same_origin: false,
            allowed_origins: Vec::new(),
            handshake_timeout: None,
            user: None,
            pass: String::new(),
            token: None,
            auth_timeout: None,
            no_auth_user: None,
            headers: Vec::new(),
            compression: false,
        }
    }
}

impl WsOpts {
    /// `authorization { user | token }` or `no_auth_user`: WebSocket
    /// clients follow these instead of the server's rules.
    pub fn overrides_auth(&self) -> bool {
        self.user.is_some() || self.token.is_some() || self.no_auth_user.is_some()
    }
}

/// `leafnodes { authorization {} }`: who may connect on the leaf port and
/// the account each is bound to. Empty: the clients' rules apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafAuthOpts {
    pub user: Option<String>,
    pub pass: String,
    /// The single user's account (`$G` when not given).
    pub account: Option<String>,
    pub users: Vec<LeafUser>,
    /// Time allowed for CONNECT (the server's auth timeout when not given).
    pub timeout: Option<Duration>,
}

/// An entry of `leafnodes.authorization.users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafUser {
    pub name: String,
    pub password: String,
    pub account: Option<String>,
}

/// The global account's name.
pub const GLOBAL_ACCOUNT: &[u8] = b"$G";

/// Go's default name of the system account.
pub const SYSTEM_ACCOUNT: &str = "$SYS";

/// Accounts a server can hold, `$G` included (an account's index is a
/// `u16`).
pub const MAX_ACCOUNTS: usize = u16::MAX as usize;

/// Whether `name` can name an account on routes: not empty, no blank or
/// control character (it is written into RS+ and RMSG lines).
pub fn valid_account_name(name: &str) -> bool {
    !name.is_empty() && !name.bytes().any(|b| b <= b' ' || b == 0x7f)
}
