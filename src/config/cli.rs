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

use crate::config::options::{Options, TlsOpts, COMPAT_VERSION, RNATS_VERSION};

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
/// comparisons ignore: `nats-server: v2.10.0+rnats.0.1.0`.
pub fn version_text() -> String {
    format!("nats-server: v{COMPAT_VERSION}+rnats.{RNATS_VERSION}\n")
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
