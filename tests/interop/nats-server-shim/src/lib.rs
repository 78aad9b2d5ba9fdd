//! The part of the async-nats test helper API that its TLS, NKey,
//! WebSocket, JetStream, key-value and object-store tests use: start
//! `nats-server` (the first on PATH) with a config file and a random or given
//! client port, find its client address in the log, restart it on the same
//! port and store, start three of them as a JetStream cluster, and stop them
//! when the handle is dropped.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running `nats-server`, killed on drop.
pub struct Server {
    child: Child,
    /// The arguments it was started with, for `restart`.
    args: Vec<String>,
    log: PathBuf,
    pid: PathBuf,
    store: PathBuf,
}

/// Three `nats-server`s routed to each other as one JetStream cluster, killed
/// on drop.
pub struct Cluster {
    servers: Vec<Server>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Starts `nats-server -c CFG` on a random client port.
pub fn run_server(cfg: &str) -> Server {
    run_server_with_port(cfg, None)
}

/// Starts `nats-server -c CFG` on `port` (a random one when `None`), with the
/// arguments the upstream helper passes: a store directory, the port, a log
/// file and a pid file.
pub fn run_server_with_port(cfg: &str, port: Option<&str>) -> Server {
    start(cfg, port.unwrap_or("-1"), &[])
}

/// Starts three servers with the configuration `cfg`, each with its own name
/// and store, on random client ports, in cluster `shim` (routes between all
/// three on 127.0.0.1). `client_url` is the first one's.
pub fn run_cluster(cfg: &str) -> Cluster {
    let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let routes = route_ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let servers = route_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let extra = [
                "--server_name".to_string(),
                format!("shim-{i}"),
                "--cluster_name".to_string(),
                "shim".to_string(),
                "--cluster".to_string(),
                format!("nats://127.0.0.1:{p}"),
                "--routes".to_string(),
                routes.clone(),
            ];
            start(cfg, "-1", &extra)
        })
        .collect();
    Cluster { servers }
}

impl Cluster {
    /// The first server's client URL.
    pub fn client_url(&self) -> String {
        self.servers[0].client_url()
    }
}

/// A port nothing listens on now (the kernel's choice for port 0).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port")
}

fn start(cfg: &str, port: &str, extra: &[String]) -> Server {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tag = format!("{}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), nanos);
    let tmp = std::env::temp_dir();
    let log = tmp.join(format!("nats-server-shim-{tag}.log"));
    let pid = tmp.join(format!("nats-server-shim-{tag}.pid"));
    let store = tmp.join(format!("nats-server-shim-store-{tag}"));
    let mut args: Vec<String> = vec!["--store_dir".into(), store.display().to_string(), "-p".into(), port.into()];
    args.extend(["-l".into(), log.display().to_string(), "-P".into(), pid.display().to_string()]);
    if !cfg.is_empty() {
        args.extend(["-c".into(), cfg.into()]);
    }
    args.extend(extra.iter().cloned());
    let child = spawn(&args);
    Server { child, args, log, pid, store }
}

fn spawn(args: &[String]) -> Child {
    Command::new("nats-server").args(args).spawn().unwrap_or_else(|e| panic!("cannot run nats-server from PATH: {e}"))
}

impl Server {
    /// Kills the server (SIGKILL) and starts it again with the same
    /// arguments: the same port (when one was given) and store directory.
    /// Returns once the new process logs its client listener (at most 10 s).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The new process's log lines only, so that client_addr reads its
        // listener and not the previous one's.
        let _ = std::fs::remove_file(&self.log);
        self.child = spawn(&self.args);
        let _ = self.client_addr();
    }

    /// `nats://localhost:PORT`, or `tls://...` when the server's INFO says
    /// TLS is required. Reads the INFO the server sends in clear, so it
    /// waits out a `handshake_first` fallback delay.
    pub fn client_url(&self) -> String {
        let (port, tls) = self.info();
        let scheme = if tls { "tls" } else { "nats" };
        format!("{scheme}://localhost:{port}")
    }

    /// The client port from the server's INFO.
    pub fn client_port(&self) -> u16 {
        self.info().0
    }

    /// Host and port from the "client connections on" log line, waiting up
    /// to 10 s for it.
    fn client_addr(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.log) {
                for line in text.lines() {
                    if let Some(i) = line.find("client connections on ") {
                        let rest = &line[i + "client connections on ".len()..];
                        if let Some(addr) = rest.split_whitespace().next() {
                            return addr.replace("0.0.0.0", "localhost");
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                panic!("no client address in {}", self.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn info(&self) -> (u16, bool) {
        let addr = self.client_addr();
        let stream = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("did not receive INFO");
        let json = line.strip_prefix("INFO ").expect("first line is not INFO");
        (
            field(json, "port").and_then(|v| v.parse().ok()).expect("INFO without port"),
            field(json, "tls_required") == Some("true"),
        )
    }
}

/// The unquoted value of a top-level scalar `"key":value` in INFO's JSON.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = json.find(&pat)? + pat.len();
    let rest = json[start..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.pid);
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
