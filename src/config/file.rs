//! Reading a configuration file into [`Options`]: the file is parsed by
//! `rnats_protocol::conf` (which does no I/O; includes and environment
//! variables come through [`FsEnv`]), then each key is applied the way the
//! Go server applies it. Keys are matched case-insensitively; a key the Go
//! server knows but this server does not implement is reported with a
//! warning naming it; any other unknown key is an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::rc::Rc;

use rnats_protocol::conf::{self, Env, Item, Value};

use crate::auth::{Permissions, SubjectPerms, User};

use crate::config::options::Options;

/// Includes deeper than this are refused (and break include cycles).
const MAX_INCLUDE_DEPTH: usize = 10;

/// Gives the config parser the file system and the environment.
struct FsEnv {
    dir: PathBuf,
    depth: usize,
}

impl Env for FsEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn include(&mut self, path: &str) -> Result<Vec<(String, Item)>, String> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(format!("error parsing include file '{path}', includes nested too deeply"));
        }
        let full = self.dir.join(path);
        let text = std::fs::read_to_string(&full).map_err(|e| format!("error parsing include file '{path}', {e}"))?;
        let mut env = FsEnv { dir: full.parent().map(Path::to_path_buf).unwrap_or_default(), depth: self.depth + 1 };
        conf::parse(&text, &mut env)
            .map(|p| p.entries)
            .map_err(|e| format!("error parsing include file '{path}', {}:{}: {}", e.line, e.col, e.msg))
    }
}

/// Keys of the Go server that this server does not implement and that
/// either restrict who may connect, what they may do or how traffic is
/// protected, or open a service the user would rely on (leaf node,
/// gateway, WebSocket and MQTT listeners, JetStream storage, subject
/// mappings): a file with any of them is refused at start, never run
/// believing it works.
const REFUSED_TOP: &[&str] = &[
    "gateway",
    "mqtt",
    "mappings",
    "maps",
    "system_account",
    "system",
    "tls",
    "operator",
    "operators",
    "resolver",
    "resolver_preload",
    "resolver_tls",
    "trusted",
    "trusted_keys",
];

/// Keys of the Go server that this server accepts but ignores, with a
/// warning: none of them weakens protection or opens anything when ignored.
const IGNORED_TOP: &[&str] = &[
    "no_system_account",
    "server_tags",
    "server_metadata",
    "syslog",
    "remote_syslog",
    "log_size_limit",
    "logfile_size_limit",
    "log_max_num",
    "logfile_max_num",
    "http_base_path",
    "prof_port",
    "no_header_support",
    "disable_sublist_cache",
    "connect_error_reports",
    "reconnect_error_reports",
    "write_timeout",
];

struct Loader<'a> {
    file: &'a str,
    used_vars: Vec<String>,
    warnings: Vec<String>,
}

impl Loader<'_> {
    fn err(&self, it: &Item, msg: impl std::fmt::Display) -> String {
        format!("{}:{}:{}: {msg}", self.file, it.line, it.col)
    }

    fn warn(&mut self, it: &Item, msg: impl std::fmt::Display) {
        let w = format!("{}:{}:{}: {msg}", self.file, it.line, it.col);
        self.warnings.push(w);
    }

    fn type_err(&self, it: &Item, want: &str) -> String {
        let got = it.value.go_type_name();
        self.err(it, format!("interface conversion: interface {{}} is {got}, not {want}"))
    }

    fn string(&self, it: &Item) -> Result<String, String> {
        match &it.value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.type_err(it, "string")),
        }
    }

    fn int(&self, it: &Item) -> Result<i64, String> {
        match &it.value {
            Value::Integer(n) => Ok(*n),
            _ => Err(self.type_err(it, "int64")),
        }
    }

    fn bool(&self, it: &Item) -> Result<bool, String> {
        match &it.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.type_err(it, "bool")),
        }
    }

    fn usize(&self, it: &Item) -> Result<usize, String> {
        let n = self.int(it)?;
        usize::try_from(n).map_err(|_| self.err(it, format!("invalid value {n}")))
    }

    /// A duration: a Go duration string, or (with a warning) integer seconds.
    fn duration(&mut self, key: &str, it: &Item) -> Result<Duration, String> {
        match &it.value {
            Value::String(s) => parse_go_duration(s)
                .ok_or_else(|| self.err(it, format!("error parsing {key}: time: invalid duration {s:?}"))),
            Value::Integer(n) if *n >= 0 => {
                self.warn(it, format!("invalid use of field {key:?}: {key} should be converted to a duration"));
                Ok(Duration::from_secs(*n as u64))
            }
            _ => Err(self.type_err(it, "string")),
        }
    }

    /// Seconds as int, float or duration string (`authorization.timeout`).
    fn seconds(&self, it: &Item) -> Result<Duration, String> {
        match &it.value {
            Value::Integer(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
            Value::Float(f) if *f >= 0.0 && f.is_finite() => Ok(Duration::from_secs_f64(*f)),
            Value::String(s) => parse_go_duration(s).ok_or_else(|| self.err(it, format!("invalid duration {s:?}"))),
            _ => Err(self.type_err(it, "float64")),
        }
    }

    fn map<'m>(&self, it: &'m Item) -> Result<&'m [(String, Item)], String> {
        match &it.value {
            Value::Map(m) => Ok(m),
            _ => Err(self.type_err(it, "map[string]interface {}")),
        }
    }

    fn unknown(&self, key: &str, it: &Item) -> Result<(), String> {
        if self.used_vars.iter().any(|v| v == key) {
            return Ok(());
        }
        Err(self.err(it, format!("unknown field {key:?}")))
    }

    /// `host:port` or a bare port.
    fn listen(&self, it: &Item) -> Result<(Option<String>, i64), String> {
        match &it.value {
            Value::Integer(p) => Ok((None, *p)),
            Value::String(s) => {
                let Some((h, p)) = s.rsplit_once(':') else {
                    return Err(self.err(it, format!("could not parse address string {s:?}")));
                };
                let port = p.parse::<i64>().map_err(|_| self.err(it, format!("could not parse port {p:?}")))?;
                Ok((Some(h.trim_start_matches('[').trim_end_matches(']').to_string()), port))
            }
            _ => Err(self.type_err(it, "string")),
        }
    }

    /// A size: an integer (the lexer reads `64MB` as one) or a string with
    /// a unit (`1G`, `512MiB`).
    fn size(&self, it: &Item) -> Result<i64, String> {
        match &it.value {
            Value::Integer(n) => Ok(*n),
            Value::String(s) => {
                crate::config::options::parse_size(s).ok_or_else(|| self.err(it, format!("invalid size {s:?}")))
            }
            _ => Err(self.type_err(it, "int64")),
        }
    }

    /// `jetstream: true|false|enabled|disabled` or `jetstream { ... }`.
    fn jetstream(&mut self, o: &mut Options, it: &Item) -> Result<(), String> {
        let on = |o: &mut Options, on: bool| {
            if on {
                o.jetstream.get_or_insert_with(Default::default);
            } else {
                o.jetstream = None;
            }
        };
        match &it.value {
            Value::Bool(b) => on(o, *b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "enabled" | "enable" | "true" => on(o, true),
                "disabled" | "disable" | "false" => on(o, false),
                _ => return Err(self.err(it, format!("Expected 'enabled' or 'disabled' for string value, got '{s}'"))),
            },
            Value::Map(m) => {
                let mut js = crate::config::options::JsOpts::default();
                let mut enabled = true;
                for (key, v) in m {
                    match key.to_ascii_lowercase().as_str() {
                        "store" | "store_dir" | "storedir" => js.store_dir = Some(PathBuf::from(self.string(v)?)),
                        "max_memory_store" | "max_mem_store" | "max_mem" => js.max_memory = Some(self.size(v)?),
                        "max_file_store" | "max_file" => js.max_file = Some(self.size(v)?),
                        "sync_interval" | "sync" => match &v.value {
                            Value::String(s) if s.eq_ignore_ascii_case("always") => js.sync_always = true,
                            _ => js.sync_interval = self.duration(key, v)?,
                        },
                        "domain" => js.domain = Some(self.string(v)?).filter(|d| !d.is_empty()),
                        "enabled" | "enable" => enabled = self.bool(v)?,
                        "strict" => js.strict = self.bool(v)?,
                        "key" | "ek" | "encryption_key" | "prev_key" | "cipher" => {
                            return Err(self.err(
                                v,
                                format!("jetstream {key:?}: encryption at rest is not supported by this server yet"),
                            ))
                        }
                        "limits"
                        | "unique_tag"
                        | "max_outstanding_catchup"
                        | "request_queue_limit"
                        | "extension_hint"
                        | "max_buffered_msgs"
                        | "max_buffered_size" => {
                            return Err(self.err(v, format!("jetstream {key:?} is not supported by this server yet")))
                        }
                        _ => self.unknown(key, v)?,
                    }
                }
                if let Some(d) = &js.domain {
                    if !rnats_protocol::jetstream::config::valid_name(d) {
                        return Err(self.err(it, format!("invalid domain name: {d:?}")));
                    }
                }
                o.jetstream = enabled.then_some(js);
            }
            _ => return Err(self.type_err(it, "map[string]interface {}")),
        }
        Ok(())
    }

    /// An account's `jetstream`: enabled (unlimited), disabled, or limits.
    fn account_jetstream(&mut self, it: &Item) -> Result<Option<crate::config::options::JsLimits>, String> {
        let unlimited = crate::config::options::JsLimits::default();
        match &it.value {
            Value::Bool(b) => Ok(b.then_some(unlimited)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "enabled" | "enable" | "true" => Ok(Some(unlimited)),
                "disabled" | "disable" | "false" => Ok(None),
                _ => Err(self.err(it, format!("Expected 'enabled' or 'disabled' for string value, got '{s}'"))),
            },
            Value::Map(m) => {
                let mut l = unlimited;
                for (key, v) in m {
                    match key.to_ascii_lowercase().as_str() {
                        "max_memory" | "max_mem" | "mem" | "memory" => l.max_memory = self.size(v)?,
                        "max_store" | "max_file" | "max_disk" | "store" | "disk" => l.max_store = self.size(v)?,
                        "max_streams" | "streams" => l.max_streams = self.int(v)?,
                        "max_consumers" | "consumers" => l.max_consumers = self.int(v)?,
                        "max_ack_pending" => l.max_ack_pending = self.int(v)?,
                        "max_bytes_required" | "max_stream_bytes" | "max_bytes" => {
                            l.max_bytes_required = self.bool(v)?
                        }
                        "mem_max_stream_bytes" | "memory_max_stream_bytes" => l.mem_max_stream_bytes = self.size(v)?,
                        "disk_max_stream_bytes" | "store_max_stream_bytes" => l.disk_max_stream_bytes = self.size(v)?,
                        "tiers" => {
                            return Err(
                                self.err(v, format!("account jetstream {key:?} is not supported by this server yet"))
                            )
                        }
                        _ => self.unknown(key, v)?,
                    }
                }
                Ok(Some(l))
            }
            _ => Err(self.type_err(it, "map[string]interface {}")),
        }
    }

    fn top(&mut self, o: &mut Options, entries: &[(String, Item)]) -> Result<(), String> {
        for (key, it) in entries {
            let k = key.to_ascii_lowercase();
            match k.as_str() {
                "listen" => {
                    let (h, p) = self.listen(it)?;
                    if let Some(h) = h {
                        o.host = h;
                    }
                    o.port = p;
                }
                "host" | "net" => o.host = self.string(it)?,
                "port" => o.port = self.int(it)?,
                "server_name" => {
                    let n = self.string(it)?;
                    if n.contains(' ') {
                        return Err("server name cannot contain spaces".into());
                    }
                    o.server_name = Some(n);
                }
                "client_advertise" => o.client_advertise = Some(self.string(it)?),
                "http" => {
                    let (h, p) = self.listen(it)?;
                    o.http_host = h;
                    o.http_port = Some(p);
                }
                "http_port" | "monitor_port" => o.http_port = Some(self.int(it)?),
                "https" => {
                    let (h, p) = self.listen(it)?;
                    o.http_host = h;
                    o.https_port = Some(p);
                }
                "https_port" => o.https_port = Some(self.int(it)?),
                "max_payload" => o.max_payload = self.usize(it)?,
                "max_control_line" => o.max_control_line = self.usize(it)?,
                "max_connections" | "max_conn" => o.max_connections = self.usize(it)?,
                "max_pending" => o.max_pending = self.usize(it)?,
                "max_subscriptions" | "max_subs" => o.max_subscriptions = self.usize(it)?,
                "ping_interval" => o.ping_interval = self.duration(&k, it)?,
                "ping_max" => o.ping_max = self.usize(it)? as u32,
                "write_deadline" => o.write_deadline = self.duration(&k, it)?,
                "debug" => o.debug = self.bool(it)?,
                "trace" => o.trace = self.bool(it)?,
                "trace_verbose" => o.trace = self.bool(it)? || o.trace,
                "logtime" => o.logtime = self.bool(it)?,
                "logtime_utc" => o.logtime_utc = self.bool(it)?,
                "log_file" | "logfile" => o.log_file = Some(PathBuf::from(self.string(it)?)),
                "pid_file" | "pidfile" => o.pid_file = Some(PathBuf::from(self.string(it)?)),
                "max_traced_msg_len" => o.max_traced_msg_len = self.usize(it)?,
                "lame_duck_duration" => {
                    let Value::String(_) = &it.value else { return Err(self.type_err(it, "string")) };
                    o.lame_duck_duration = self.duration(&k, it)?;
                }
                "lame_duck_grace_period" => {
                    let Value::String(_) = &it.value else { return Err(self.type_err(it, "string")) };
                    o.lame_duck_grace_period = self.duration(&k, it)?;
                }
                "no_auth_user" => o.no_auth_user = Some(self.string(it)?),
                "allow_non_tls" => o.allow_non_tls = self.bool(it)?,
                "max_closed_clients" => o.max_closed_clients = self.usize(it)?,
                "closed_clients_memory" => o.closed_clients_memory = self.usize(it)?,
                "ports_file_dir" => o.ports_file_dir = Some(PathBuf::from(self.string(it)?)),
                "authorization" => self.authorization(o, it)?,
                "cluster" => self.cluster(o, it)?,
                "leafnodes" | "leaf" => self.leafnodes(o, it)?,
                "websocket" | "ws" => o.websocket = Some(self.websocket(it)?),
                "jetstream" => self.jetstream(o, it)?,
                "store_dir" => o.store_dir = Some(PathBuf::from(self.string(it)?)),
                "accounts" => self.accounts(o, it)?,
                "tls" if cfg!(feature = "tls") => {
                    let (t, timeout) = self.tls(it)?;
                    o.tls = Some(t);
                    o.tls_timeout = timeout.unwrap_or(o.tls_timeout);
                }
                "tls" => {
                    return Err(self.err(
                        it,
                        "\"tls\" is not supported by this build of the server (built without the \"tls\" feature)",
                    ))
                }
                _ if REFUSED_TOP.contains(&k.as_str()) => {
                    return Err(self.err(it, format!("{key:?} is not supported by this server yet")))
                }
                _ if IGNORED_TOP.contains(&k.as_str()) => {
                    self.warn(it, format!("{key:?} is not supported by this server and is ignored"))
                }
                _ => self.unknown(key, it)?,
            }
        }
        Ok(())
    }

    /// A `tls {}` block (the client one or the cluster's), keys as Go reads
    /// them, and its `timeout` if set. Keys that would change who is let in
    /// or how (mapping certificates to users, pinned certificates, cipher
    /// and curve choices, OCSP) are refused.
    fn tls(&mut self, it: &Item) -> Result<(crate::config::options::TlsOpts, Option<Duration>), String> {
        let mut t = crate::config::options::TlsOpts::default();
        let mut timeout = None;
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "cert_file" => t.cert_file = self.tls_file(v, "cert_file")?,
                "key_file" => t.key_file = self.tls_file(v, "key_file")?,
                "ca_file" => t.ca_file = self.tls_file(v, "ca_file")?,
                "verify" => {
                    let Value::Bool(b) = v.value else {
                        return Err(self.err(v, "error parsing tls config, expected 'verify' to be a boolean"));
                    };
                    t.verify = b;
                }
                "timeout" => {
                    let d = match &v.value {
                        Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
                        Value::Float(f) if *f >= 0.0 && f.is_finite() => Duration::from_secs_f64(*f),
                        Value::String(s) => parse_go_duration(s).ok_or_else(|| {
                            self.err(v, format!("error parsing tls config, 'timeout' time: invalid duration {s:?}"))
                        })?,
                        _ => return Err(self.err(v, "error parsing tls config, 'timeout' wrong type")),
                    };
                    // 0 is Go's "not set": the default stays.
                    if !d.is_zero() {
                        timeout = Some(d);
                    }
                }
                "handshake_first" | "first" | "immediate" => {
                    // Go 2.10+: a boolean, "true"/"on", "false"/"off",
                    // "auto" (a 50 ms fallback delay) or a fallback delay.
                    let invalid = || self.err(v, format!("field {key:?}'s value {:?} is invalid", v.value));
                    let (first, fallback) = match &v.value {
                        Value::Bool(b) => (*b, None),
                        Value::String(s) => match s.to_ascii_lowercase().as_str() {
                            "true" | "on" => (true, None),
                            "false" | "off" => (false, None),
                            "auto" | "auto_fallback" => (true, Some(Duration::from_millis(50))),
                            _ => (true, Some(parse_go_duration(s).ok_or_else(invalid)?)),
                        },
                        _ => {
                            return Err(self.err(v, format!("field {key:?} should be a boolean or a string")));
                        }
                    };
                    t.handshake_first = first;
                    // A zero delay is Go's "no fallback".
                    t.handshake_first_fallback = fallback.filter(|d| !d.is_zero());
                }
                "verify_and_map" => {
                    let Value::Bool(b) = v.value else {
                        return Err(self.err(v, "error parsing tls config, expected 'verify_and_map' to be a boolean"));
                    };
                    // As in Go: true also turns verify on; false leaves it.
                    t.verify |= b;
                    t.map = b;
                }
                "verify_cert_and_check_known_urls"
                | "pinned_certs"
                | "cipher_suites"
                | "curve_preferences"
                | "insecure"
                | "connection_rate_limit"
                | "ocsp_peer"
                | "cert_store"
                | "cert_match"
                | "cert_match_by"
                | "ca_certs_match"
                | "min_version"
                | "certs" => return Err(self.err(v, format!("tls {key:?} is not supported by this server yet"))),
                _ => return Err(self.err(v, format!("error parsing tls config, unknown field [{key:?}]"))),
            }
        }
        Ok((t, timeout))
    }

    fn tls_file(&self, it: &Item, key: &str) -> Result<String, String> {
        match &it.value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.err(it, format!("error parsing tls config, expected '{key}' to be filename"))),
        }
    }

    fn authorization(&mut self, o: &mut Options, it: &Item) -> Result<(), String> {
        let mut default_perms = None;
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "user" | "username" => o.user = Some(self.string(v)?),
                "password" | "pass" => o.pass = Some(self.password(v)?),
                "token" => o.auth_token = Some(self.password(v)?),
                "timeout" => {
                    o.auth_timeout = self.seconds(v)?;
                    o.auth_timeout_set = true;
                }
                "users" => self.users(o, v, None)?,
                "default_permissions" | "default_permission" | "permissions" => {
                    default_perms = Some(Rc::new(self.permissions(v)?));
                }
                _ => self.unknown(key, v)?,
            }
        }
        if let Some(d) = default_perms {
            // Users of accounts get their account's defaults, not these.
            for u in o.users.iter_mut().chain(&mut o.nkeys).filter(|u| u.permissions.is_none() && u.account.is_none()) {
                u.permissions = Some(d.clone());
            }
        }
        if o.auth_token.is_some() && (o.user.is_some() || o.pass.is_some()) {
            return Err("Cannot have a user/pass and token".into());
        }
        if (!o.users.is_empty() || !o.nkeys.is_empty()) && (o.user.is_some() || o.auth_token.is_some()) {
            return Err("Can not have a single user/pass and a users array".into());
        }
        Ok(())
    }

    /// A `users` list of `authorization` (`account` None) or of an account:
    /// password users and nkey users, each name unique among every user
    /// defined so far in the file, as in Go (which checks an account's nkey
    /// users before its password users, and the authorization block's the
    /// other way round).
    fn users(&mut self, o: &mut Options, v: &Item, account: Option<&str>) -> Result<(), String> {
        let Value::Array(list) = &v.value else { return Err(self.type_err(v, "[]interface {}")) };
        let (mut users, mut nkeys) = (Vec::new(), Vec::new());
        for entry in list {
            let (mut user, mut pass, mut perms, mut nkey) = (None, String::new(), None, String::new());
            for (uk, uv) in self.map(entry)? {
                match uk.to_ascii_lowercase().as_str() {
                    "user" | "username" => user = Some(self.string(uv)?),
                    "password" | "pass" => pass = self.password(uv)?,
                    "permissions" | "permission" | "authorization" => perms = Some(self.permissions(uv)?),
                    "nkey" => nkey = self.string(uv)?,
                    _ => self.unknown(uk, uv)?,
                }
            }
            let account = account.map(String::from);
            if !nkey.is_empty() {
                self.nkey_user(entry, &nkey, user.is_some() || !pass.is_empty())?;
                nkeys.push((entry, User { name: nkey, password: pass, permissions: perms.map(Rc::new), account }));
                continue;
            }
            let Some(user) = user else { return Err(self.err(entry, "User entry requires a user")) };
            users.push((entry, User { name: user, password: pass, permissions: perms.map(Rc::new), account }));
        }
        let taken = |o: &Options, name: &str| o.users.iter().chain(&o.nkeys).any(|x| x.name == name);
        let mut add_users = |o: &mut Options| -> Result<(), String> {
            for (entry, u) in users.drain(..) {
                if taken(o, &u.name) {
                    return Err(self.err(entry, format!("Duplicate user {:?} detected", u.name)));
                }
                o.users.push(u);
            }
            Ok(())
        };
        if account.is_none() {
            add_users(o)?;
        }
        for (entry, u) in nkeys {
            if taken(o, &u.name) {
                return Err(self.err(entry, format!("Duplicate nkey {:?} detected", u.name)));
            }
            o.nkeys.push(u);
        }
        add_users(o)
    }

    /// `accounts { NAME: { users: [...], default_permissions: {...} } ... }`
    /// or a list of names. Each account is its own subject space; what
    /// else Go lets an account configure (exports, imports, JetStream,
    /// mappings, limits, an account nkey) is refused, since running without
    /// it would change what the account's users can reach.
    fn accounts(&mut self, o: &mut Options, it: &Item) -> Result<(), String> {
        match &it.value {
            Value::Array(list) => {
                for n in list {
                    let name = self.string(n)?;
                    self.account_name(o, n, &name)?;
                    o.accounts.push(name);
                }
            }
            Value::Map(m) => {
                for (name, v) in m {
                    if self.used_vars.iter().any(|u| u == name) {
                        continue;
                    }
                    let Value::Map(entries) = &v.value else {
                        return Err(self.err(v, "Expected map entries for accounts"));
                    };
                    self.account_name(o, v, name)?;
                    o.accounts.push(name.clone());
                    let (mut users, mut defaults) = (None, None);
                    for (k, av) in entries {
                        match k.to_ascii_lowercase().as_str() {
                            "users" => users = Some(av),
                            "default_permissions" => defaults = Some(Rc::new(self.permissions(av)?)),
                            "jetstream" => {
                                if let Some(l) = self.account_jetstream(av)? {
                                    o.account_js.push((name.clone(), l));
                                }
                            }
                            "nkey" | "imports" | "exports" | "mappings" | "maps" | "limits" => {
                                return Err(self
                                    .err(av, format!("account {name:?}: {k:?} is not supported by this server yet")))
                            }
                            _ => self.unknown(k, av)?,
                        }
                    }
                    if let Some(uv) = users {
                        if matches!(&uv.value, Value::Array(l) if !l.is_empty()) {
                            if o.user.is_some() {
                                return Err(self.err(uv, "Can not have a single user/pass and accounts"));
                            }
                            if o.auth_token.is_some() {
                                return Err(self.err(uv, "Can not have a token and accounts"));
                            }
                        }
                        self.users(o, uv, Some(name))?;
                    }
                    if let Some(d) = defaults {
                        let mine = |u: &&mut User| u.permissions.is_none() && u.account.as_deref() == Some(name);
                        for u in o.users.iter_mut().chain(&mut o.nkeys).filter(mine) {
                            u.permissions = Some(d.clone());
                        }
                    }
                }
            }
            _ => return Err(self.type_err(it, "map[string]interface {}")),
        }
        Ok(())
    }

    /// Checks a new account's name: not `$G` (Go's reserved name), not the
    /// system account (not supported), not defined twice, usable on routes.
    fn account_name(&self, o: &Options, it: &Item, name: &str) -> Result<(), String> {
        if name.as_bytes() == super::options::GLOBAL_ACCOUNT {
            return Err(self.err(it, format!("{name:?} is a Reserved Account")));
        }
        if name == super::options::SYSTEM_ACCOUNT {
            return Err(self.err(it, format!("the system account {name:?} is not supported by this server yet")));
        }
        if o.accounts.iter().any(|a| a == name) {
            return Err(self.err(it, format!("Duplicate Account Entry: {name}")));
        }
        if !super::options::valid_account_name(name) {
            return Err(
                self.err(it, format!("account name {name:?} must not be empty or hold blanks or control characters"))
            );
        }
        if o.accounts.len() + 1 >= super::options::MAX_ACCOUNTS {
            return Err(self.err(it, "too many accounts"));
        }
        Ok(())
    }

    /// Checks an nkey user entry as Go does: a user's public key (its
    /// checksum checked), without a user name or password. A build without
    /// the crypto provider that checks signatures refuses nkey users.
    fn nkey_user(&self, entry: &Item, nkey: &str, has_user_or_pass: bool) -> Result<(), String> {
        if !cfg!(feature = "tls") {
            return Err(self.err(
                entry,
                "nkey users are not supported by this build of the server (built without the \"tls\" feature)",
            ));
        }
        if crate::auth::nkeys::decode_user_key(nkey).is_err() {
            return Err(self.err(entry, "Not a valid public nkey for a user"));
        }
        if has_user_or_pass {
            return Err(self.err(entry, "Nkey users do not take usernames or passwords"));
        }
        Ok(())
    }

    /// A permissions map: `publish`/`pub`/`import` and
    /// `subscribe`/`sub`/`export`, each a subject, a list of subjects (an
    /// allow list) or `{ allow, deny }`.
    fn permissions(&mut self, it: &Item) -> Result<Permissions, String> {
        let mut p = Permissions::default();
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "publish" | "pub" | "import" => p.publish = Some(self.subject_perms(v)?),
                "subscribe" | "sub" | "export" => p.subscribe = Some(self.subject_perms(v)?),
                "allow_responses" | "publish_allow_responses" => p.responses = self.allow_responses(v)?,
                _ => self.unknown(key, v)?,
            }
        }
        Ok(p)
    }

    /// `allow_responses: true|false` or `{ max: N, expires: "1m" }` (0: Go's
    /// default, negative: no limit).
    fn allow_responses(&self, it: &Item) -> Result<Option<crate::auth::ResponsePerm>, String> {
        use crate::auth::ResponsePerm;
        let m = match &it.value {
            Value::Bool(false) => return Ok(None),
            Value::Bool(true) => return Ok(Some(ResponsePerm::DEFAULT)),
            Value::Map(m) => m,
            _ => return Err(self.err(it, "error parsing response permissions, expected a boolean or a map")),
        };
        let mut rp = ResponsePerm::DEFAULT;
        for (k, v) in m {
            match k.to_ascii_lowercase().as_str() {
                "max" | "max_msgs" | "max_messages" | "max_responses" => {
                    rp.max = match self.int(v)? {
                        0 => ResponsePerm::DEFAULT.max,
                        n if n < 0 => 0,
                        n => u32::try_from(n).unwrap_or(u32::MAX),
                    }
                }
                "expires" | "expiration" | "ttl" => {
                    let Value::String(d) = &v.value else {
                        return Err(self.err(v, "error parsing expires, not a duration string"));
                    };
                    rp.expires = if d.starts_with('-') {
                        None
                    } else {
                        match parse_go_duration(d) {
                            Some(Duration::ZERO) => ResponsePerm::DEFAULT.expires,
                            Some(x) => Some(x),
                            None => {
                                return Err(self.err(v, format!("error parsing expires: time: invalid duration {d:?}")))
                            }
                        }
                    };
                }
                _ => return Err(self.err(v, format!("Unknown field {k:?} parsing permissions"))),
            }
        }
        Ok(Some(rp))
    }

    fn subject_list(&self, it: &Item) -> Result<Vec<String>, String> {
        let list = match &it.value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().map(|i| self.string(i)).collect::<Result<_, _>>()?,
            _ => return Err(self.type_err(it, "string")),
        };
        for s in &list {
            let subj = s.split(' ').next().unwrap_or("");
            if !rnats_protocol::subject::is_valid_subject(subj.as_bytes()) {
                return Err(self.err(it, format!("subject {s:?} is not a valid subject")));
            }
        }
        Ok(list)
    }

    fn subject_perms(&mut self, it: &Item) -> Result<SubjectPerms, String> {
        match &it.value {
            Value::Map(m) => {
                let mut sp = SubjectPerms::default();
                for (k, v) in m {
                    match k.to_ascii_lowercase().as_str() {
                        "allow" => sp.allow = self.subject_list(v)?,
                        "deny" => sp.deny = self.subject_list(v)?,
                        _ => self.unknown(k, v)?,
                    }
                }
                Ok(sp)
            }
            _ => Ok(SubjectPerms { allow: self.subject_list(it)?, deny: Vec::new() }),
        }
    }

    /// A password: plain text or a bcrypt hash (`$2a$…`).
    fn password(&self, it: &Item) -> Result<String, String> {
        let p = self.string(it)?;
        if p.starts_with("$2") && !crate::auth::bcrypt::is_hash(&p) && p.len() > 4 && p.as_bytes()[3] == b'$' {
            return Err(self.err(it, "invalid bcrypt password hash"));
        }
        Ok(p)
    }

    /// `leafnodes {}`: the port leaf nodes connect to (with its
    /// authorization and TLS) and the remotes this server dials as a leaf
    /// node; S2 compression and the keys not listed here are refused.
    fn leafnodes(&mut self, o: &mut Options, it: &Item) -> Result<(), String> {
        let (mut host, mut port) = (None::<String>, None::<i64>);
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "remotes" => {
                    let Value::Array(list) = &v.value else { return Err(self.type_err(v, "[]interface {}")) };
                    for r in list {
                        let mut remote = crate::config::options::LeafRemoteOpts::default();
                        for (rk, rv) in self.map(r)? {
                            match rk.to_ascii_lowercase().as_str() {
                                "url" | "urls" => match &rv.value {
                                    Value::Array(urls) => {
                                        for u in urls {
                                            remote.urls.push(self.string(u)?);
                                        }
                                    }
                                    _ => remote.urls.push(self.string(rv)?),
                                },
                                "account" | "local" => remote.account = Some(self.string(rv)?),
                                "no_randomize" | "dont_randomize" => {
                                    self.bool(rv)?;
                                }
                                #[cfg(not(feature = "tls"))]
                                "credentials" | "creds" | "nkey" | "seed" => return Err(self.no_signing(rv, rk)),
                                #[cfg(feature = "tls")]
                                "credentials" | "creds" => remote.credentials = Some(self.leaf_creds(rv)?),
                                #[cfg(feature = "tls")]
                                "nkey" | "seed" => {
                                    let seed = self.string(rv)?;
                                    crate::auth::nkeys::decode_user_seed(&seed)
                                        .map_err(|e| self.err(rv, format!("leafnode remote nkey: {e}")))?;
                                    remote.nkey = Some(seed);
                                }
                                "deny_exports" | "deny_export" => remote.deny_exports = self.subject_list(rv)?,
                                "deny_imports" | "deny_import" => remote.deny_imports = self.subject_list(rv)?,
                                "tls" => remote.tls = Some(self.leaf_remote_tls(rv)?),
                                "ws_no_masking" | "websocket_no_masking" => remote.ws_no_masking = self.bool(rv)?,
                                "hub" => remote.hub = self.bool(rv)?,
                                "ws_compression" | "ws_compress" | "websocket_compress" | "websocket_compression" => {
                                    if self.bool(rv)? {
                                        return Err(self.err(
                                            rv,
                                            format!("leafnode remote {rk:?} is not supported by this server yet"),
                                        ));
                                    }
                                }
                                _ => {
                                    return Err(self.err(
                                        rv,
                                        format!("leafnode remote {rk:?} is not supported by this server yet"),
                                    ))
                                }
                            }
                        }
                        if remote.urls.is_empty() {
                            return Err(self.err(r, "leafnode remote has no url"));
                        }
                        if remote.credentials.is_some() && remote.nkey.is_some() {
                            return Err(self.err(r, "leafnode remote can not have both credentials and nkey"));
                        }
                        let ws = remote.urls.iter().filter(|u| crate::sys::netaddr::is_ws_url(u)).count();
                        if ws > 0 && ws < remote.urls.len() {
                            return Err(self.err(
                                r,
                                format!(
                                    "remote leaf node configuration cannot have a mix of websocket and non-websocket urls: {:?}",
                                    remote.urls
                                ),
                            ));
                        }
                        for u in &remote.urls {
                            let parsed = if ws > 0 {
                                crate::sys::netaddr::leaf_ws_url(u).map(|_| ())
                            } else {
                                crate::sys::netaddr::leaf_url(u).map(|_| ())
                            };
                            parsed.map_err(|e| self.err(r, format!("leafnode remote url {u:?}: {e}")))?;
                        }
                        if ws > 0 && (remote.tls.is_some() || remote.urls.iter().any(|u| u.to_ascii_lowercase().starts_with("wss")))
                            && !cfg!(feature = "tls")
                        {
                            return Err(self.err(r, "leafnode remote \"wss\" is not supported by this build of the server (built without the \"tls\" feature)"));
                        }
                        o.leaf_remotes.push(remote);
                    }
                }
                "reconnect" | "reconnect_delay" | "reconnect_interval" => {
                    o.leaf_reconnect = match &v.value {
                        Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
                        _ => self.duration(key, v)?,
                    }
                }
                "listen" => {
                    let (h, p) = self.listen(v)?;
                    host = h.or(host);
                    port = Some(p);
                }
                "host" | "net" => host = Some(self.string(v)?),
                "port" => port = Some(self.int(v)?),
                "advertise" | "leafnode_advertise" => o.leaf_advertise = Some(self.string(v)?),
                "no_advertise" => o.leaf_no_advertise = self.bool(v)?,
                "authorization" => o.leaf_auth = self.leaf_authorization(v)?,
                "tls" if cfg!(feature = "tls") => {
                    let (t, timeout) = self.tls(v)?;
                    if t.handshake_first || t.map {
                        return Err(self.err(
                            v,
                            "leafnodes tls \"handshake_first\" and \"verify_and_map\" are not supported by this server yet",
                        ));
                    }
                    o.leaf_tls = Some(t);
                    o.leaf_tls_timeout = timeout.unwrap_or(o.leaf_tls_timeout);
                }
                "tls" => {
                    return Err(self.err(
                        v,
                        "leafnodes \"tls\" is not supported by this build of the server (built without the \"tls\" feature)",
                    ))
                }
                "compression" if matches!(&v.value, Value::String(m) if m.eq_ignore_ascii_case("off")) => {}
                "compression" if matches!(&v.value, Value::Bool(false)) => {}
                _ => return Err(self.err(v, format!("leafnodes {key:?} is not supported by this server yet"))),
            }
        }
        if let Some(p) = port.filter(|p| *p != 0) {
            o.leaf_listen = Some((host.unwrap_or_else(|| "0.0.0.0".into()), p));
        }
        Ok(())
    }

    /// `websocket {}`: the WebSocket listener for clients. Compression,
    /// the cookie keys and `ping_interval` are refused until implemented.
    fn websocket(&mut self, it: &Item) -> Result<crate::config::options::WsOpts, String> {
        let mut w = crate::config::options::WsOpts::default();
        let mut port = None;
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "listen" => {
                    let (h, p) = self.listen(v)?;
                    if let Some(h) = h {
                        w.host = h;
                    }
                    port = Some(p);
                }
                "host" | "net" => w.host = self.string(v)?,
                "port" => port = Some(self.int(v)?),
                "advertise" => w.advertise = Some(self.string(v)?),
                "no_tls" => w.no_tls = self.bool(v)?,
                "tls" if cfg!(feature = "tls") => {
                    let (t, timeout) = self.tls(v)?;
                    if t.handshake_first || t.map {
                        return Err(self.err(
                            v,
                            "websocket tls \"handshake_first\" and \"verify_and_map\" are not supported by this server yet",
                        ));
                    }
                    w.tls = Some(t);
                    w.tls_timeout = timeout;
                }
                "tls" => {
                    return Err(self.err(
                        v,
                        "websocket \"tls\" is not supported by this build of the server (built without the \"tls\" feature)",
                    ))
                }
                "same_origin" => w.same_origin = self.bool(v)?,
                "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin" | "origins" | "origin" => {
                    w.allowed_origins = match &v.value {
                        Value::Array(list) => list.iter().map(|i| self.string(i)).collect::<Result<_, _>>()?,
                        _ => vec![self.string(v)?],
                    }
                }
                "handshake_timeout" => {
                    w.handshake_timeout = Some(match &v.value {
                        Value::Integer(n) if *n >= 0 => Duration::from_secs(*n as u64),
                        _ => self.duration(key, v)?,
                    })
                }
                "compression" | "compress" => {
                    w.compression = self.bool(v)?;
                    if w.compression && !cfg!(feature = "deflate") {
                        return Err(self.err(
                            v,
                            "websocket \"compression\" is not supported by this build of the server (built without the \"deflate\" feature)",
                        ));
                    }
                }
                "authorization" | "authentication" => {
                    for (ak, av) in self.map(v)? {
                        match ak.to_ascii_lowercase().as_str() {
                            "user" | "username" => w.user = Some(self.string(av)?),
                            "password" | "pass" => w.pass = self.password(av)?,
                            "token" => w.token = Some(self.password(av)?),
                            "timeout" => w.auth_timeout = Some(self.seconds(av)?),
                            _ => {
                                return Err(self.err(
                                    av,
                                    format!("websocket authorization {ak:?} is not supported by this server yet"),
                                ))
                            }
                        }
                    }
                }
                "no_auth_user" => w.no_auth_user = Some(self.string(v)?),
                "headers" => {
                    for (hk, hv) in self.map(v)? {
                        let lower = hk.to_ascii_lowercase();
                        let reserved = ["host", "content-length", "connection", "upgrade", "nats-no-masking"];
                        if reserved.contains(&lower.as_str()) || lower.starts_with("sec-websocket-") {
                            return Err(self.err(hv, format!("websocket: invalid header {hk:?}, not allowed")));
                        }
                        w.headers.push((hk.clone(), self.string(hv)?));
                    }
                }
                _ => return Err(self.err(v, format!("websocket {key:?} is not supported by this server yet"))),
            }
        }
        w.port = port.unwrap_or(0);
        if w.tls.is_none() && !w.no_tls && w.port != 0 {
            return Err(self.err(it, "websocket requires TLS configuration"));
        }
        if w.token.is_some() && w.user.is_some() {
            return Err(self.err(it, "websocket authorization: cannot have a user/pass and token"));
        }
        rnats_protocol::websocket::OriginPolicy::new(w.same_origin, &w.allowed_origins)
            .map_err(|e| self.err(it, format!("websocket allowed_origins: {e}")))?;
        Ok(w)
    }

    /// A remote's credentials file: it must hold a JWT and a user seed.
    #[cfg(feature = "tls")]
    fn leaf_creds(&mut self, it: &Item) -> Result<String, String> {
        let path = self.string(it)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| self.err(it, format!("leafnode remote credentials {path:?}: {e}")))?;
        let Some((_, seed)) = crate::auth::nkeys::parse_creds(&text) else {
            return Err(self.err(it, format!("leafnode remote credentials {path:?}: Credentials file malformed")));
        };
        crate::auth::nkeys::decode_user_seed(&seed)
            .map_err(|e| self.err(it, format!("leafnode remote credentials {path:?}: {e}")))?;
        Ok(path)
    }

    /// Signing a hub's nonce needs the crypto of the `tls` feature.
    #[cfg(not(feature = "tls"))]
    fn no_signing(&self, it: &Item, key: &str) -> String {
        self.err(
            it,
            format!("leafnode remote {key:?} is not supported by this build of the server (built without the \"tls\" feature)"),
        )
    }

    /// A remote's `tls {}`.
    fn leaf_remote_tls(&mut self, it: &Item) -> Result<crate::config::options::LeafTlsOpts, String> {
        if !cfg!(feature = "tls") {
            return Err(self.err(
                it,
                "leafnode remote \"tls\" is not supported by this build of the server (built without the \"tls\" feature)",
            ));
        }
        let mut t = crate::config::options::LeafTlsOpts::default();
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "ca_file" => t.ca_file = self.tls_file(v, "ca_file")?,
                "cert_file" => t.cert_file = self.tls_file(v, "cert_file")?,
                "key_file" => t.key_file = self.tls_file(v, "key_file")?,
                "server_name" => t.server_name = Some(self.string(v)?),
                "timeout" => t.timeout = Some(self.seconds(v)?),
                "verify" => {
                    if !self.bool(v)? {
                        return Err(
                            self.err(v, "leafnode remote tls \"verify\": false is not supported by this server")
                        );
                    }
                }
                _ => {
                    return Err(self.err(v, format!("leafnode remote tls {key:?} is not supported by this server yet")))
                }
            }
        }
        if t.cert_file.is_empty() != t.key_file.is_empty() {
            return Err(self.err(it, "leafnode remote tls needs both 'cert_file' and 'key_file'"));
        }
        Ok(t)
    }

    /// `leafnodes { authorization { user, password, account, timeout,
    /// users } }` (users: `user`, `password`, `account` only, as in Go).
    fn leaf_authorization(&mut self, it: &Item) -> Result<crate::config::options::LeafAuthOpts, String> {
        use crate::config::options::{LeafAuthOpts, LeafUser};
        let mut a = LeafAuthOpts::default();
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "user" | "username" => a.user = Some(self.string(v)?),
                "password" | "pass" => a.pass = self.password(v)?,
                "account" => a.account = Some(self.string(v)?),
                "timeout" => a.timeout = Some(self.seconds(v)?),
                "users" => {
                    let Value::Array(list) = &v.value else { return Err(self.type_err(v, "[]interface {}")) };
                    for entry in list {
                        let mut u = LeafUser::default();
                        for (uk, uv) in self.map(entry)? {
                            match uk.to_ascii_lowercase().as_str() {
                                "user" | "username" => u.name = self.string(uv)?,
                                "password" | "pass" => u.password = self.password(uv)?,
                                "account" => u.account = Some(self.string(uv)?),
                                _ => return Err(self.err(uv, format!("Unknown field {uk:?} parsing leafnode user"))),
                            }
                        }
                        a.users.push(u);
                    }
                }
                _ => {
                    return Err(
                        self.err(v, format!("leafnodes authorization {key:?} is not supported by this server yet"))
                    )
                }
            }
        }
        if a.user.is_some() && !a.users.is_empty() {
            return Err(self.err(it, "can not have a single user/pass and a users array"));
        }
        Ok(a)
    }

    fn cluster(&mut self, o: &mut Options, it: &Item) -> Result<(), String> {
        let (mut host, mut port) = (None::<String>, None::<i64>);
        for (key, v) in self.map(it)? {
            match key.to_ascii_lowercase().as_str() {
                "name" => {
                    let n = self.string(v)?;
                    if n.contains(' ') {
                        return Err(self.err(v, "cluster name cannot contain spaces"));
                    }
                    o.cluster_name = Some(n);
                }
                "listen" => {
                    let (h, p) = self.listen(v)?;
                    if h.is_some() {
                        host = h;
                    }
                    port = Some(p);
                }
                "host" | "net" => host = Some(self.string(v)?),
                "port" => port = Some(self.int(v)?),
                "advertise" | "cluster_advertise" => o.cluster_advertise = Some(self.string(v)?),
                "no_advertise" => o.no_advertise = self.bool(v)?,
                "connect_retries" => o.connect_retries = self.usize(v)? as u32,
                "routes" => {
                    let Value::Array(list) = &v.value else { return Err(self.type_err(v, "[]interface {}")) };
                    for r in list {
                        let url = self.string(r)?;
                        if o.routes.contains(&url) {
                            self.warn(r, "Duplicate route entry detected");
                            continue;
                        }
                        o.routes.push(url);
                    }
                }
                "authorization" => {
                    let (mut user, mut pass) = (None, String::new());
                    for (ak, av) in self.map(v)? {
                        match ak.to_ascii_lowercase().as_str() {
                            "user" | "username" => user = Some(self.string(av)?),
                            "password" | "pass" => pass = self.password(av)?,
                            "timeout" => {
                                o.auth_timeout = self.seconds(av)?;
                                o.auth_timeout_set = true;
                            }
                            "users" => return Err(self.err(av, "Cluster authorization does not allow multiple users")),
                            "token" => return Err(self.err(av, "Cluster authorization does not support tokens")),
                            _ => self.unknown(ak, av)?,
                        }
                    }
                    o.cluster_auth = user.map(|u| (u, pass));
                }
                "pool_size" | "compression" | "accounts" | "ping_interval" | "ping_max" | "write_deadline"
                | "connect_backoff" => {
                    self.warn(v, format!("cluster {key:?} is not supported by this server and is ignored"))
                }
                "tls" if cfg!(feature = "tls") => {
                    let (t, timeout) = self.tls(v)?;
                    if t.map {
                        return Err(self.err(v, "cluster tls \"verify_and_map\" is not supported by this server yet"));
                    }
                    o.cluster_tls = Some(t);
                    o.cluster_tls_timeout = timeout.unwrap_or(o.cluster_tls_timeout);
                }
                "tls" => return Err(self.err(
                    v,
                    "cluster \"tls\" is not supported by this build of the server (built without the \"tls\" feature)",
                )),
                "permissions" => {
                    return Err(self.err(v, format!("cluster {key:?} is not supported by this server yet")))
                }
                _ => self.unknown(key, v)?,
            }
        }
        if host.is_some() || port.is_some() {
            let h = host.unwrap_or_else(|| "0.0.0.0".into());
            let p = port.unwrap_or(0);
            o.cluster_listen = Some(format!("nats://{}", crate::sys::netaddr::display_host_port(&h, p.max(0) as u16)));
            if p < 0 {
                o.cluster_listen = Some(format!("nats://{h}:-1"));
            }
        }
        Ok(())
    }
}

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2h45m`, units ns us µs ms s m h.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    if !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// Reads `path` into `o`. Returns the warnings (to print before logging
/// starts), or the error that stops the server.
pub fn load(path: &str, o: &mut Options) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("open {path}: {e}"))?;
    let dir = Path::new(path).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut env = FsEnv { dir, depth: 0 };
    let parsed = conf::parse(&text, &mut env).map_err(|e| format!("{path}:{}:{}: {}", e.line, e.col, e.msg))?;
    let mut loader = Loader { file: path, used_vars: parsed.used_vars.clone(), warnings: Vec::new() };
    loader.top(o, &parsed.entries)?;
    if let Some(n) = &o.no_auth_user {
        if !o.users.iter().chain(&o.nkeys).any(|u| u.name == *n) {
            return Err(format!(
                "no_auth_user: {n:?} not present as user or nkey in authorization block or account configuration"
            ));
        }
    }
    if o.lame_duck_duration < Duration::from_secs(30) {
        return Err(format!("invalid lame_duck_duration of {:?}, minimum is 30 seconds", o.lame_duck_duration));
    }
    if o.lame_duck_grace_period >= o.lame_duck_duration {
        return Err("invalid lame_duck_grace_period, needs to be less than lame_duck_duration".into());
    }
    if o.max_payload > o.max_pending {
        return Err(format!("max_payload ({}) cannot be higher than max_pending ({})", o.max_payload, o.max_pending));
    }
    Ok(loader.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    fn load_str(text: &str) -> Result<(Options, Vec<String>), String> {
        let dir = std::env::temp_dir().join(format!("rnats-conf-test-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join("t.conf");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let mut o = Options::default();
        let r = load(path.to_str().unwrap_or_default(), &mut o).map(|w| (o, w));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn tls_block() {
        let text = "tls { cert_file: c.pem, key_file: k.pem, ca_file: ca.pem, verify: true, timeout: 0.5 }\n";
        if cfg!(feature = "tls") {
            let (o, _) = load_str(text).expect("valid");
            let t = o.tls.expect("tls");
            assert_eq!((t.cert_file.as_str(), t.key_file.as_str(), t.ca_file.as_str()), ("c.pem", "k.pem", "ca.pem"));
            assert!(t.verify && !t.handshake_first);
            assert_eq!(o.tls_timeout, Duration::from_millis(500));
            let (o, _) =
                load_str("tls { cert_file: c, key_file: k, handshake_first: true, timeout: \"3s\" }\n").expect("valid");
            assert!(o.tls.is_some_and(|t| t.handshake_first));
            assert_eq!(o.tls_timeout, Duration::from_secs(3));
            // Go 2.10+ fallback delays: "auto" is 50 ms, a duration is
            // that delay, 0 is none.
            for (v, first, fallback) in [
                ("\"300ms\"", true, Some(Duration::from_millis(300))),
                ("300ms", true, Some(Duration::from_millis(300))),
                ("auto", true, Some(Duration::from_millis(50))),
                ("\"off\"", false, None),
                ("\"on\"", true, None),
                ("\"0s\"", true, None),
            ] {
                let (o, _) =
                    load_str(&format!("tls {{ cert_file: c, key_file: k, handshake_first: {v} }}\n")).expect(v);
                let t = o.tls.expect("tls");
                assert_eq!((t.handshake_first, t.handshake_first_fallback), (first, fallback), "{v}");
            }
            let e = load_str("tls { cert_file: c, key_file: k, handshake_first: soon }\n").expect_err("invalid");
            assert!(e.contains("is invalid"), "{e}");
            let (o, _) = load_str("allow_non_tls: true\n").expect("valid");
            assert!(o.allow_non_tls);
            for refused in ["pinned_certs: []", "cipher_suites: [x]", "insecure: true"] {
                let e = load_str(&format!("tls {{ cert_file: c, key_file: k, {refused} }}\n")).expect_err(refused);
                assert!(e.contains("not supported by this server yet"), "{refused}: {e}");
            }
            let (o, _) =
                load_str("tls { cert_file: c, key_file: k, ca_file: a, verify_and_map: true }\n").expect("valid");
            assert!(o.tls.is_some_and(|t| t.map && t.verify));
            let e = load_str(
                "cluster { listen: 4248, tls { cert_file: c, key_file: k, ca_file: a, verify_and_map: true } }\n",
            )
            .expect_err("refused");
            assert!(e.contains("not supported by this server yet"), "{e}");
            assert!(load_str("tls { bogus: 1 }\n").unwrap_err().contains("unknown field"));
            assert!(load_str("tls { verify: 1 }\n").unwrap_err().contains("to be a boolean"));
            let (o, _) = load_str(
                "cluster { listen: 4248, tls { cert_file: c, key_file: k, ca_file: a, timeout: 3 } }\nhttps: 8443\n",
            )
            .expect("valid");
            assert!(o.cluster_tls.is_some_and(|t| t.ca_file == "a") && o.tls.is_none());
            assert_eq!((o.cluster_tls_timeout, o.https_port), (Duration::from_secs(3), Some(8443)));
        } else {
            let e = load_str(text).expect_err("refused");
            assert!(e.contains("built without the \"tls\" feature"), "{e}");
        }
    }

    #[test]
    fn seed_conf() {
        let (o, w) = load_str(
            "# Cluster Seed Node\n\nlisten: 127.0.0.1:4222\nhttp: 8222\n\ncluster {\n  listen: 127.0.0.1:4248\n}\n",
        )
        .expect("valid");
        assert!(w.is_empty());
        assert_eq!((o.host.as_str(), o.port, o.http_port), ("127.0.0.1", 4222, Some(8222)));
        assert_eq!(o.cluster_listen.as_deref(), Some("nats://127.0.0.1:4248"));
    }

    #[test]
    fn keys_and_errors() {
        let (o, w) = load_str(
            "Server_Name: n1\nmax_payload: 512KB\nping_interval: \"30s\"\nwrite_deadline: 5\nauthorization { users = [ {user: a, password: b} ], timeout: 0.5 }\nno_auth_user: a\ncluster { name: C, host: 127.0.0.1, port: 4249, routes: [nats://x:1], authorization { user: r, password: p } }\nsyslog: true\n",
        )
        .expect("valid");
        assert_eq!(o.server_name.as_deref(), Some("n1"));
        assert_eq!(o.max_payload, 512 * 1024);
        assert_eq!(o.ping_interval, Duration::from_secs(30));
        assert_eq!(o.write_deadline, Duration::from_secs(5));
        assert_eq!(o.users.len(), 1);
        assert_eq!((o.users[0].name.as_str(), o.users[0].password.as_str()), ("a", "b"));
        assert_eq!(o.auth_timeout, Duration::from_millis(500));
        assert_eq!(o.cluster_listen.as_deref(), Some("nats://127.0.0.1:4249"));
        assert_eq!(o.cluster_auth, Some(("r".to_string(), "p".to_string())));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("write_deadline should be converted to a duration"));
        assert!(w[1].contains("\"syslog\" is not supported"));
        assert!(load_str("foo: 1\n").unwrap_err().contains("unknown field \"foo\""));
        for refused in [
            "operator: /x.jwt",
            "resolver: MEMORY",
            "resolver_preload: { A: b }",
            "trusted_keys: [ABC]",
            "trusted: ABC",
            "system_account: A",
            "leafnodes { remotes: [ { url: \"nats://hub:7422\", ws_compression: true } ] }",
            "leafnodes { port: 7422, tls { cert_file: c, key_file: k, handshake_first: true } }",
            "leafnodes { port: 7422, authorization { nkey: UABC } }",
            "leafnodes { port: 7422, compression: s2_auto }",
            "gateway { name: G, port: 7222 }",
            "websocket { port: 8080, no_tls: true, jwt_cookie: jwt }",
            "mqtt { port: 1883 }",
            "mappings { a: b }",
        ] {
            let e = load_str(&format!("{refused}\n")).expect_err(refused);
            // A build without TLS refuses a tls block for that reason first.
            assert!(
                e.contains("not supported by this server yet") || e.contains("built without the \"tls\" feature"),
                "{refused}: {e}"
            );
        }
        let (o, _) = load_str(
            "leafnodes { listen: \"127.0.0.1:7500\", authorization { users: [ {user: a, password: b, account: A} ] } }\n",
        )
        .expect("valid");
        assert_eq!(o.leaf_listen, Some(("127.0.0.1".to_string(), 7500)));
        assert_eq!(o.leaf_auth.users[0].account.as_deref(), Some("A"));
        let (o, _) = load_str("leafnodes { host: 127.0.0.1 }\n").expect("valid");
        assert_eq!(o.leaf_listen, None, "no port, no leaf listener");
        assert!(load_str("leafnodes { port: 1, authorization { user: a, users: [ {user: b} ] } }\n")
            .unwrap_err()
            .contains("can not have a single user/pass and a users array"));
        assert!(load_str("port: \"4222\"\n").unwrap_err().contains("is string, not int64"));
        assert!(load_str("authorization { user: a, pass: b, token: c }\n")
            .unwrap_err()
            .contains("Cannot have a user/pass and token"));
        assert!(load_str("cluster { listen: 4248, bogus: 1 }\n").unwrap_err().contains("unknown field \"bogus\""));
        assert!(load_str("TOKEN: \"s\"\nauthorization { token: $TOKEN }\n").is_ok());
        assert!(load_str("TOKEN: \"s\"\nauthorization { token: \"x\" }\n")
            .unwrap_err()
            .contains("unknown field \"TOKEN\""));
    }

    #[test]
    fn leaf_remote_nkey_and_credentials_need_the_tls_build() {
        let seed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
        let text = format!("leafnodes {{ remotes: [ {{ url: \"nats://h:7422\", nkey: {seed} }} ] }}\n");
        let creds = "leafnodes { remotes: [ { url: \"nats://h:7422\", credentials: /nonexistent/u.creds } ] }\n";
        if cfg!(feature = "tls") {
            let (o, _) = load_str(&text).expect("nkey remote");
            assert_eq!(o.leaf_remotes[0].nkey.as_deref(), Some(seed));
            assert!(load_str(creds).unwrap_err().contains("leafnode remote credentials \"/nonexistent/u.creds\""));
            return;
        }
        let refused = "is not supported by this build of the server (built without the \"tls\" feature)";
        let e = load_str(&text).unwrap_err();
        assert!(e.contains(&format!("leafnode remote \"nkey\" {refused}")), "{e}");
        let e = load_str(creds).unwrap_err();
        assert!(e.contains(&format!("leafnode remote \"credentials\" {refused}")), "{e}");
    }

    #[test]
    fn nkey_users() {
        const U1: &str = "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L";
        const U2: &str = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4";
        let text = format!(
            "authorization {{ default_permissions: {{ publish: d }}\n users = [ {{nkey: {U1}, permissions: {{ publish: a }} }}, {{nkey: {U2}}}, {{user: x, password: y}} ] }}\nno_auth_user: {U2}\n"
        );
        if !cfg!(feature = "tls") {
            let e = load_str(&text).unwrap_err();
            assert!(e.contains("nkey users are not supported by this build"), "{e}");
            return;
        }
        let (o, _) = load_str(&text).expect("mixed users");
        assert_eq!(o.nkeys.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), [U1, U2]);
        assert_eq!(o.users.len(), 1);
        let publish = |u: &User| u.permissions.as_ref().and_then(|p| p.publish.clone()).map(|p| p.allow);
        assert_eq!(publish(&o.nkeys[0]), Some(vec!["a".to_string()]));
        assert_eq!(publish(&o.nkeys[1]), Some(vec!["d".to_string()]), "default permissions");
        assert!(o.auth_required() && o.nonce_required());
        for (users, err) in [
            ("{nkey: UABC}", "Not a valid public nkey for a user"),
            (&format!("{{nkey: {}}}", U1.replace('K', "L")), "Not a valid public nkey for a user"),
            (&format!("{{nkey: {U1}, user: a}}"), "Nkey users do not take usernames or passwords"),
            (&format!("{{nkey: {U1}, password: a}}"), "Nkey users do not take usernames or passwords"),
            (&format!("{{nkey: {U1}}}, {{nkey: {U1}}}"), "Duplicate nkey"),
            (&format!("{{nkey: {U1}}}, {{user: {U1}, password: p}}"), "Duplicate nkey"),
        ] {
            let e = load_str(&format!("authorization {{ users = [ {users} ] }}\n")).expect_err(users);
            assert!(e.contains(err), "{users}: {e}");
        }
        let e =
            load_str(&format!("authorization {{ user: a, password: b, users = [ {{nkey: {U1}}} ] }}\n")).unwrap_err();
        assert!(e.contains("Can not have a single user/pass and a users array"), "{e}");
    }

    #[test]
    fn accounts() {
        let (o, w) = load_str(
            "accounts {\n  DEREK: { users: [ { user: \"derek@nats.io\", permissions: { publish: \"foo\" } } ] }\n  IVAN: { users: [ { user: \"ivan@nats.io\", password: p, permissions: { publish: \"bar\" } }, { user: i2 } ], default_permissions: { subscribe: \"s\" } }\n  EMPTY: {}\n}\nauthorization { users: [ { user: top } ], default_permissions: { publish: \"d\" } }\nno_auth_user: \"ivan@nats.io\"\n",
        )
        .expect("valid");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.accounts, ["DEREK", "IVAN", "EMPTY"]);
        let find = |n: &str| o.users.iter().find(|u| u.name == n).expect(n);
        let publish = |u: &User| u.permissions.as_ref().and_then(|p| p.publish.clone()).map(|p| p.allow);
        let subscribe = |u: &User| u.permissions.as_ref().and_then(|p| p.subscribe.clone()).map(|p| p.allow);
        assert_eq!(find("derek@nats.io").account.as_deref(), Some("DEREK"));
        assert_eq!(publish(find("derek@nats.io")), Some(vec!["foo".to_string()]));
        assert_eq!(find("ivan@nats.io").account.as_deref(), Some("IVAN"));
        assert_eq!(find("ivan@nats.io").password, "p");
        // An account's defaults go to its users without permissions; the
        // authorization block's defaults only to its own users.
        assert_eq!(subscribe(find("i2")), Some(vec!["s".to_string()]));
        assert_eq!(publish(find("i2")), None);
        assert_eq!(subscribe(find("derek@nats.io")), None);
        assert_eq!((find("top").account.as_deref(), publish(find("top"))), (None, Some(vec!["d".to_string()])));
        assert!(o.auth_required());

        let (o, _) = load_str("accounts: [A, B]\n").expect("list form");
        assert_eq!(o.accounts, ["A", "B"]);
        assert!(!o.auth_required());

        const U1: &str = "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L";
        if cfg!(feature = "tls") {
            let (o, _) = load_str(&format!("accounts {{ A: {{ users: [ {{ nkey: {U1} }} ] }} }}\n")).expect("nkey");
            assert_eq!((o.nkeys[0].name.as_str(), o.nkeys[0].account.as_deref()), (U1, Some("A")));
        }

        for (text, err) in [
            ("accounts { A: { exports: [ { stream: x } ] } }", "account \"A\": \"exports\" is not supported"),
            ("accounts { A: { imports: [] } }", "\"imports\" is not supported"),
            ("accounts { A: { jetstream: { tiers: {} } } }", "account jetstream \"tiers\" is not supported"),
            ("accounts { A: { mappings: { a: b } } }", "\"mappings\" is not supported"),
            ("accounts { A: { limits: { max_connections: 1 } } }", "\"limits\" is not supported"),
            ("accounts { A: { nkey: ABC } }", "\"nkey\" is not supported"),
            ("accounts { A: { bogus: 1 } }", "unknown field \"bogus\""),
            ("accounts { A: 1 }", "Expected map entries for accounts"),
            ("accounts: 1", "is int64, not map"),
            ("accounts { $G: {} }", "\"$G\" is a Reserved Account"),
            ("accounts: [\"$G\"]", "\"$G\" is a Reserved Account"),
            ("accounts { $SYS: {} }", "system account \"$SYS\" is not supported"),
            ("accounts: [A, A]", "Duplicate Account Entry: A"),
            ("accounts: [\"a b\"]", "must not be empty or hold blanks"),
            ("accounts { A: { users: [{user: u}] }, B: { users: [{user: u}] } }", "Duplicate user \"u\" detected"),
            ("accounts { A: { users: [{user: u}] } }\nauthorization { users: [{user: u}] }", "Duplicate user \"u\""),
            ("authorization { users: [{user: u}] }\naccounts { A: { users: [{user: u}] } }", "Duplicate user \"u\""),
            (
                "authorization { user: x, password: y }\naccounts { A: { users: [{user: u}] } }",
                "single user/pass and accounts",
            ),
            ("authorization { token: t }\naccounts { A: { users: [{user: u}] } }", "Can not have a token and accounts"),
            (
                "accounts { A: { users: [{user: u}] } }\nauthorization { user: x, password: y }",
                "single user/pass and a users array",
            ),
            ("accounts { A: { users: [{user: u}] } }\nno_auth_user: v", "not present as user or nkey"),
            ("system_account: A\naccounts { A: {} }", "\"system_account\" is not supported"),
        ] {
            let e = load_str(&format!("{text}\n")).expect_err(text);
            assert!(e.contains(err), "{text}: {e}");
        }
    }
}
