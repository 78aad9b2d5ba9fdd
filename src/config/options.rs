//! Command-line options, parsed the way Go's `flag` package parses them.
//!
//! Go users type `-cluster nats://…`, `--port 4222`, `-p=4222`, `-p -1`,
//! `-DV`, `-T=false`. clap cannot take single-dash long names or a value that
//! starts with a dash, so [`normalise`] first rewrites argv into one
//! `--canonical=value` token per flag (a value flag takes the next argument
//! whatever it is; a bool flag never does), then clap checks the tokens
//! and their types. The help text is printed by [`usage`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};

/// The Go server version whose client and route protocol level rnats
/// implements. INFO, `/varz` and `--version` report it so client libraries
/// enable exactly the features this server has.
pub const COMPAT_VERSION: &str = "2.9.0";
/// rnats' own version.
pub const RNATS_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Bool,
}

/// (names accepted after one or two dashes, canonical clap id, kind, help)
const FLAGS: &[(&[&str], &str, Kind, &str)] = &[
    (&["p", "port"], "port", Kind::Int, "Client port (-1 picks a random port)"),
    (&["a", "addr", "net"], "addr", Kind::Str, "Client bind address"),
    (&["n", "name", "server_name"], "name", Kind::Str, "Server name (default: the server id)"),
    (&["m", "http_port"], "http_port", Kind::Int, "HTTP monitoring port (-1 picks a random port)"),
    (&["ms", "https_port"], "https_port", Kind::Int, "HTTPS monitoring port (needs the tls {} certificate)"),
    (&["c", "config"], "config", Kind::Str, "Configuration file"),
    (&["t"], "test_config", Kind::Bool, "Check the configuration file and exit"),
    (&["P", "pid"], "pid", Kind::Str, "Write the process id to this file"),
    (&["ports_file_dir"], "ports_file_dir", Kind::Str, "Write <executable>_<pid>.ports (JSON of the bound URLs) here"),
    (&["l", "log"], "log", Kind::Str, "Log to this file instead of stderr"),
    (&["log_size_limit"], "log_size_limit", Kind::Int, "Log file size limit (accepted, ignored)"),
    (&["T", "logtime"], "logtime", Kind::Bool, "Timestamp log lines (default true)"),
    (&["logtime_utc"], "logtime_utc", Kind::Bool, "Log timestamps in UTC"),
    (&["s", "syslog"], "syslog", Kind::Bool, "Log to syslog (accepted, ignored)"),
    (&["r", "remote_syslog"], "remote_syslog", Kind::Str, "Remote syslog address (accepted, ignored)"),
    (&["D", "debug"], "debug", Kind::Bool, "Enable debug log lines"),
    (&["V", "trace"], "trace", Kind::Bool, "Trace the raw protocol"),
    (&["VV"], "VV", Kind::Bool, "Verbose trace"),
    (&["DV"], "DV", Kind::Bool, "Debug and trace"),
    (&["DVV"], "DVV", Kind::Bool, "Debug and verbose trace"),
    (&["max_traced_msg_len"], "max_traced_msg_len", Kind::Int, "Cut traced payloads at this many bytes"),
    (&["user"], "user", Kind::Str, "User required for client connections"),
    (&["pass"], "pass", Kind::Str, "Password required for client connections"),
    (&["auth"], "auth", Kind::Str, "Token required for client connections"),
    (&["routes"], "routes", Kind::Str, "Comma-separated route URLs to solicit"),
    (&["cluster", "cluster_listen"], "cluster", Kind::Str, "Cluster listen URL (nats://host:port)"),
    (&["cluster_name"], "cluster_name", Kind::Str, "Cluster name"),
    (&["cluster_advertise"], "cluster_advertise", Kind::Str, "Cluster URL advertised to other servers"),
    (&["no_advertise"], "no_advertise", Kind::Bool, "Do not advertise known cluster members to clients"),
    (&["connect_retries"], "connect_retries", Kind::Int, "Connect retries for implicit routes"),
    (&["client_advertise"], "client_advertise", Kind::Str, "Client URL advertised to other servers"),
    (&["tls"], "tls", Kind::Bool, "Enable TLS, do not verify clients (default: false)"),
    (&["tlscert"], "tlscert", Kind::Str, "Server certificate file"),
    (&["tlskey"], "tlskey", Kind::Str, "Private key for server certificate"),
    (&["tlscacert"], "tlscacert", Kind::Str, "Client certificate CA for verification"),
    (&["tlsverify"], "tlsverify", Kind::Bool, "Enable TLS, verify client certificates"),
    (&["js", "jetstream"], "jetstream", Kind::Bool, "Enable JetStream"),
    (&["sd", "store_dir"], "store_dir", Kind::Str, "JetStream store directory"),
    (&["profile"], "profile", Kind::Int, "Profiling HTTP port (accepted, ignored)"),
    (
        &["sl", "signal"],
        "signal",
        Kind::Str,
        "Send a signal to a running server: stop|quit|term|reopen|reload|ldm[=PID|PIDFILE]",
    ),
    (&["v", "version"], "version", Kind::Bool, "Print the version and exit"),
    (&["h", "help"], "help", Kind::Bool, "Show this help"),
    (&["help_tls"], "help_tls", Kind::Bool, "TLS help"),
];

/// Flags that would protect traffic or start a service this server does not
/// have: refused at start (exit status 1) rather than ignored.
const REFUSED_FLAGS: &[&str] = &[];

/// The client TLS flags: without the `tls` feature they are refused too.
const TLS_FLAGS: &[&str] = &["tls", "tlscert", "tlskey", "tlscacert", "tlsverify"];

/// Flags accepted and ignored with a warning: nothing is less protected
/// without them.
const IGNORED_FLAGS: &[(&str, &str)] = &[
    ("syslog", "logging to syslog is not supported, the log goes to stderr or --log"),
    ("remote_syslog", "logging to syslog is not supported, the log goes to stderr or --log"),
    ("log_size_limit", "the log file is not rotated by size (SIGUSR1 reopens it)"),
    ("profile", "there is no profiling port"),
];

#[cfg(feature = "tls")]
const TLS_HELP: &str = "TLS Options:
    --tls                            Enable TLS, do not verify clients (default: false)
    --tlscert <file>                 Server certificate file
    --tlskey <file>                  Private key for server certificate
    --tlsverify                      Enable TLS, verify client certificates
    --tlscacert <file>               Client certificate CA for verification

Any of these flags replaces the tls {} block of the configuration file
(--tlscert and --tlskey are then required); --tls=false turns TLS off.
The same certificate serves https monitoring (-ms). Route TLS is configured
in the file (cluster { tls {} }), as are verify_and_map and handshake_first.
";
#[cfg(not(feature = "tls"))]
const TLS_HELP: &str = "TLS is not supported by this build of the server (built without the \"tls\"\n\
feature): the --tls, --tlscert, --tlskey, --tlscacert and --tlsverify flags and\n\
tls {} configuration blocks are refused.\n";

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

/// What the command line asks for.
pub enum Action {
    Run(Box<Options>),
    /// Print this to stdout and exit with this status.
    Exit(String, i32),
    /// Print this to stderr and exit with this status.
    ExitStderr(String, i32),
}

/// A command-line problem: printed as `nats-server: <msg>` with status 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// clap checks the normalised `--id=value` tokens and their types; the help
/// text is our own (`usage`), in Go's layout.
fn command() -> Command {
    let mut cmd = Command::new("rnats-server").disable_help_flag(true).disable_version_flag(true);
    for (_, id, kind, _) in FLAGS {
        let arg = Arg::new(*id).long(*id).action(ArgAction::Set);
        let arg = match kind {
            Kind::Bool => arg.value_parser(clap::value_parser!(bool)),
            Kind::Int => arg.value_parser(clap::value_parser!(i64)).allow_negative_numbers(true),
            Kind::Str => arg.allow_hyphen_values(true),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// The usage text printed by `-h` and after a flag error.
pub fn usage() -> String {
    let mut out = String::from("Usage: rnats-server [options]\n\nOptions:\n");
    for (names, _, kind, help) in FLAGS {
        let mut shown: Vec<String> =
            names.iter().map(|n| if n.len() == 1 { format!("-{n}") } else { format!("--{n}") }).collect();
        if *kind != Kind::Bool {
            if let Some(last) = shown.last_mut() {
                last.push_str(if *kind == Kind::Int { " <int>" } else { " <string>" });
            }
        }
        out.push_str(&format!("    {:<40} {help}\n", shown.join(", ")));
    }
    out
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: decimal, `0x`, `0o`, `0b`, leading-zero
/// octal, `_` between digits.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let v = i64::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Rewrites Go-style argv into `--id=value` tokens for clap. Returns the
/// tokens and the positional arguments.
fn normalise(args: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut out = vec!["rnats-server".to_string()];
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            positional.push(a.clone());
            positional.extend(args[i..].iter().cloned());
            break;
        }
        let body = a.strip_prefix("--").unwrap_or(&a[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(format!("bad flag syntax: {a}"));
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some((_, id, kind, _)) = FLAGS.iter().find(|(names, ..)| names.contains(&name)) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let value = match kind {
            Kind::Bool => match value {
                None => "true".to_string(),
                Some(v) => parse_go_bool(&v)
                    .ok_or_else(|| format!("invalid boolean value {v:?} for -{name}: parse error"))?
                    .to_string(),
            },
            _ => {
                let v = match value {
                    Some(v) => v,
                    None => {
                        let Some(v) = args.get(i) else {
                            return Err(format!("flag needs an argument: -{name}"));
                        };
                        i += 1;
                        v.clone()
                    }
                };
                if *kind == Kind::Int {
                    parse_go_int(&v)
                        .ok_or_else(|| format!("invalid value {v:?} for flag -{name}: parse error"))?
                        .to_string()
                } else {
                    v
                }
            }
        };
        out.push(format!("--{id}={value}"));
    }
    Ok((out, positional))
}

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Action, CliError> {
    let (tokens, positional) = match normalise(args) {
        Ok(t) => t,
        Err(msg) => {
            // Go prints the flag error on stderr and the usage on stdout, then exits 0.
            eprintln!("{msg}");
            return Ok(Action::Exit(usage(), 0));
        }
    };
    let m = command().try_get_matches_from(tokens).map_err(|e| CliError(e.to_string()))?;
    let flag = |id: &str| m.get_one::<bool>(id).copied();
    let string = |id: &str| m.get_one::<String>(id).cloned();
    let int = |id: &str| m.get_one::<i64>(id).copied();

    if let Some(p) = positional.first() {
        match p.to_ascii_lowercase().as_str() {
            "version" => return Ok(Action::Exit(version_text(), 0)),
            "help" => return Ok(Action::Exit(usage(), 0)),
            _ => return Err(CliError(format!("unrecognized command: {p:?}"))),
        }
    }
    if flag("help") == Some(true) {
        return Ok(Action::Exit(usage(), 0));
    }
    if flag("version") == Some(true) {
        return Ok(Action::Exit(version_text(), 0));
    }

    if flag("help_tls") == Some(true) {
        return Ok(Action::Exit(TLS_HELP.into(), 0));
    }
    // A flag counts when it was given and is not a bool flag set to false.
    let given = |id: &str| {
        m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            && m.try_get_one::<bool>(id).ok().flatten() != Some(&false)
    };
    for id in REFUSED_FLAGS {
        if given(id) {
            return Err(CliError(format!("the --{id} option is not supported by this server yet")));
        }
    }
    if !cfg!(feature = "tls") {
        for id in TLS_FLAGS {
            if given(id) {
                return Err(CliError(format!(
                    "the --{id} option is not supported by this build of the server (built without the \"tls\" feature)"
                )));
            }
        }
    }
    let mut warnings = Vec::new();
    for (id, why) in IGNORED_FLAGS {
        if given(id) {
            warnings.push(format!("the --{id} option is accepted and ignored: {why}"));
        }
    }

    if let Some(cmd) = string("signal") {
        return send_signal(&cmd).map(|()| Action::Exit(String::new(), 0)).map_err(CliError);
    }

    let mut o = Options { cli_args: args.to_vec(), ..Default::default() };
    o.warnings = warnings;
    let config = string("config").filter(|c| !c.is_empty());
    if let Some(path) = &config {
        match crate::config::file::load(path, &mut o) {
            Ok(warnings) => {
                if flag("test_config") == Some(true) && !warnings.is_empty() {
                    return Err(CliError(warnings.join("\n")));
                }
                for w in warnings {
                    // Printed before logging starts, as Go does.
                    eprintln!("{w}");
                }
            }
            Err(e) => return Err(CliError(e)),
        }
        o.config_file = Some(PathBuf::from(path));
    }
    if flag("test_config") == Some(true) {
        let Some(path) = config else {
            return Err(CliError("must specify [-c, --config] option to check configuration file syntax".into()));
        };
        return Ok(Action::ExitStderr(format!("nats-server: configuration file {path} is valid\n"), 0));
    }

    // Flags given on the command line override the file.
    if let Some(p) = int("port") {
        o.port = p;
    }
    if let Some(a) = string("addr") {
        o.host = a;
    }
    if let Some(n) = string("name") {
        o.server_name = Some(n);
    }
    if o.server_name.as_deref().is_some_and(|n| n.contains(' ')) {
        return Err(CliError("server name cannot contain spaces".into()));
    }
    if let Some(p) = int("http_port") {
        o.http_port = Some(p);
    }
    if let Some(p) = int("https_port") {
        o.https_port = Some(p);
    }
    if let Some(v) = flag("debug") {
        o.debug = v;
    }
    if let Some(v) = flag("trace") {
        o.trace = v;
    }
    if let Some(v) = flag("VV") {
        o.trace = v;
    }
    if let Some(v) = flag("DV") {
        o.debug = v;
        o.trace = v;
    }
    if let Some(v) = flag("DVV") {
        o.debug = v;
        o.trace = v;
    }
    if let Some(v) = flag("logtime") {
        o.logtime = v;
    }
    if let Some(v) = flag("logtime_utc") {
        o.logtime_utc = v;
    }
    if let Some(l) = string("log") {
        o.log_file = Some(PathBuf::from(l));
    }
    if let Some(p) = string("pid") {
        o.pid_file = Some(PathBuf::from(p));
    }
    if let Some(n) = int("max_traced_msg_len") {
        o.max_traced_msg_len = n.max(0) as usize;
    }
    if let Some(u) = string("user") {
        o.user = Some(u);
    }
    if let Some(p) = string("pass") {
        o.pass = Some(p);
    }
    if let Some(t) = string("auth") {
        o.auth_token = Some(t);
    }
    if let Some(r) = string("routes") {
        o.routes = r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    if let Some(c) = string("cluster") {
        o.cluster_listen = Some(c).filter(|s| !s.is_empty());
        // Credentials come from the URL alone once the flag is given.
        o.cluster_auth = None;
        if let Some(url) = &o.cluster_listen {
            let u = crate::sys::netaddr::RouteUrl::parse(url).map_err(CliError)?;
            if let Some(user) = u.user {
                let Some(pass) = u.pass else {
                    return Err(CliError("expected cluster password to be set".into()));
                };
                o.cluster_auth = Some((user, pass));
            }
        }
    }
    if let Some(n) = string("cluster_name") {
        o.cluster_name = Some(n);
    }
    if let Some(a) = string("cluster_advertise") {
        o.cluster_advertise = Some(a);
    }
    if let Some(v) = flag("no_advertise") {
        o.no_advertise = v;
    }
    if let Some(n) = int("connect_retries") {
        o.connect_retries = n.max(0) as u32;
    }
    if let Some(a) = string("client_advertise") {
        o.client_advertise = Some(a);
    }
    if let Some(d) = string("ports_file_dir") {
        o.ports_file_dir = Some(PathBuf::from(d));
    }
    if let Some(d) = string("store_dir") {
        o.store_dir = Some(PathBuf::from(d));
    }
    match flag("jetstream") {
        Some(true) => {
            o.jetstream.get_or_insert_with(Default::default);
        }
        Some(false) => o.jetstream = None,
        None => {}
    }
    if let (Some(js), Some(d)) = (o.jetstream.as_mut(), o.store_dir.as_ref()) {
        if string("store_dir").is_some() || js.store_dir.is_none() {
            js.store_dir = Some(d.clone());
        }
    }
    if o.jetstream.is_some() && !cfg!(feature = "jetstream") {
        return Err(CliError(
            "JetStream is not supported by this build of the server (built without the \"jetstream\" feature)".into(),
        ));
    }
    if o.jetstream.is_some() && (o.cluster_listen.is_some() || !o.routes.is_empty()) {
        return Err(CliError(
            "JetStream in a cluster (replicated streams) is not supported by this server yet: \
             run JetStream on a server without routes"
                .into(),
        ));
    }

    // TLS flags as Go applies them: --tls=false turns TLS off (the file's
    // block too); any other TLS flag replaces the file's block with one
    // made of the flags alone, which needs a certificate and a key.
    let from_cli = |id: &str| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    if from_cli("tls") && flag("tls") == Some(false) {
        o.tls = None;
    } else if TLS_FLAGS.iter().any(|id| from_cli(id)) {
        let Some(cert_file) = string("tlscert").filter(|s| !s.is_empty()) else {
            return Err(CliError("TLS Server certificate must be present and valid".into()));
        };
        let Some(key_file) = string("tlskey").filter(|s| !s.is_empty()) else {
            return Err(CliError("TLS Server private key must be present and valid".into()));
        };
        o.tls = Some(TlsOpts {
            cert_file,
            key_file,
            ca_file: string("tlscacert").unwrap_or_default(),
            verify: flag("tlsverify") == Some(true),
            handshake_first: false,
            handshake_first_fallback: None,
            map: false,
        });
    }
    // Go's default auth timeout with TLS: the TLS timeout plus a second.
    if o.tls.is_some() && !o.auth_timeout_set {
        o.auth_timeout = o.tls_timeout + Duration::from_secs(1);
    }

    if !o.routes.is_empty() && o.cluster_listen.is_none() {
        return Err(CliError("solicited routes require cluster capabilities, e.g. --cluster".into()));
    }
    Ok(Action::Run(Box::new(o)))
}

/// `--signal <cmd>[=<pid or pid file>]`: sends the signal Go's server would
/// and returns; without a pid, the one running rnats-server is targeted.
fn send_signal(arg: &str) -> Result<(), String> {
    let parts: Vec<&str> = arg.split('=').collect();
    if parts.len() > 2 {
        return Err(format!("invalid signal parameters: {:?}", &parts[1..]));
    }
    let cmd = parts[0];
    let sig = match cmd {
        "stop" => libc::SIGKILL,
        "quit" => libc::SIGINT,
        "term" => libc::SIGTERM,
        "reopen" => libc::SIGUSR1,
        "reload" => libc::SIGHUP,
        "ldm" => libc::SIGUSR2,
        _ => return Err(format!("unknown signal {cmd:?}")),
    };
    let pid: i32 = match parts.get(1).filter(|p| !p.is_empty()) {
        Some(p) => {
            let text = std::fs::read_to_string(p).unwrap_or_else(|_| p.to_string());
            text.trim().parse().map_err(|_| format!("invalid pid: {}", text.trim()))?
        }
        None => {
            let me = std::process::id() as i32;
            let pids: Vec<i32> = std::fs::read_dir("/proc")
                .map_err(|e| e.to_string())?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|pid| *pid != me)
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "rnats-server")
                })
                .collect();
            match pids.as_slice() {
                [] => return Err("no rnats-server processes running".into()),
                [one] => *one,
                many => {
                    let list: Vec<String> = many.iter().map(|p| p.to_string()).collect();
                    return Err(format!("multiple rnats-server processes running:\n{}", list.join("\n")));
                }
            }
        }
    };
    if let Err(e) = crate::sys::kill(pid, sig) {
        return Err(format!("signal {cmd:?} {pid}: {}", e.to_string().to_lowercase()));
    }
    Ok(())
}

/// `--version` output in the Go format that client test kits parse. rnats'
/// own version rides along as semver build metadata, which version
/// comparisons ignore: `nats-server: v2.9.0+rnats.0.1.0`.
pub fn version_text() -> String {
    format!("nats-server: v{COMPAT_VERSION}+rnats.{RNATS_VERSION}\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse_args(&args) {
            Ok(Action::Run(o)) => *o,
            Ok(Action::Exit(..) | Action::ExitStderr(..)) => panic!("unexpected exit"),
            Err(e) => panic!("error: {e}"),
        }
    }

    #[test]
    fn go_flag_spellings() {
        assert_eq!(run(&["-p", "4333"]).port, 4333);
        assert_eq!(run(&["--port", "4333"]).port, 4333);
        assert_eq!(run(&["-port=4333"]).port, 4333);
        assert_eq!(run(&["-p", "-1"]).port, -1);
        assert_eq!(run(&["-p=0x10"]).port, 16);
        let o = run(&["-DV", "-T=false", "-a", "127.0.0.1", "-n", "srv"]);
        assert!(o.debug && o.trace && !o.logtime);
        assert_eq!(o.host, "127.0.0.1");
        assert_eq!(o.server_name.as_deref(), Some("srv"));
        let o = run(&["--user", "-a-", "--pass", "b", "-auth", "t"]);
        assert_eq!(o.user.as_deref(), Some("-a-"));
        assert_eq!(o.auth_token.as_deref(), Some("t"));
    }

    #[test]
    fn errors() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches!(parse_args(&args(&["-bogus"])), Ok(Action::Exit(_, 0))));
        assert!(matches!(parse_args(&args(&["-VD"])), Ok(Action::Exit(_, 0))));
        assert!(parse_args(&args(&["-T", "false"])).is_err());
        assert!(parse_args(&args(&["-routes", "nats://a:1"])).is_err());
        assert!(matches!(parse_args(&args(&["version"])), Ok(Action::Exit(_, 0))));
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("4222"), Some(4222));
        assert_eq!(parse_go_int("-1"), Some(-1));
        assert_eq!(parse_go_int("0x5DE2"), Some(24034));
        assert_eq!(parse_go_int("010"), Some(8));
        assert_eq!(parse_go_int("1_000"), Some(1000));
        assert_eq!(parse_go_int("abc"), None);
    }
}
