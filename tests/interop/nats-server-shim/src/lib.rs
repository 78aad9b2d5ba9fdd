//! The part of the async-nats test helper API that its TLS and NKey tests
//! use: start `nats-server` (the first on PATH) with a config file and a
//! random or given client port, find its client address in the log, and
//! stop it when the handle is dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running `nats-server`, killed on drop.
pub struct Server {
    child: Child,
    log: PathBuf,
    pid: PathBuf,
    store: PathBuf,
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
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let tag = format!("{}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed), nanos);
    let tmp = std::env::temp_dir();
    let log = tmp.join(format!("nats-server-shim-{tag}.log"));
    let pid = tmp.join(format!("nats-server-shim-{tag}.pid"));
    let store = tmp.join(format!("nats-server-shim-store-{tag}"));
    let mut cmd = Command::new("nats-server");
    cmd.arg("--store_dir").arg(&store).arg("-p").arg(port.unwrap_or("-1")).arg("-l").arg(&log).arg("-P").arg(&pid);
    if !cfg.is_empty() {
        cmd.arg("-c").arg(cfg);
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run nats-server from PATH: {e}"));
    Server { child, log, pid, store }
}

impl Server {
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
