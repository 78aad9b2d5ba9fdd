//! The HTTP monitoring port, served from the reactor: the request router
//! (`/varz` and `/healthz` here; `/connz`, `/routez`, `/subsz` in
//! `connz`; `/metrics` in `metrics`; `/` and `/meshz.svg` in
//! `meshpage`). A request is read until its blank line (capped at
//! 16 KiB), one response is written, and the connection closes after the
//! flush. Go's JSON layout and time formats are in `go_format`.
//!
//! `/varz` is written through [`Document`], so the JSON and the Prometheus
//! samples of `/metrics` (`crate::monitor::metrics`) come from one pass over the
//! same server state.

pub mod connz;
pub mod go_format;
#[cfg(feature = "jetstream")]
pub mod jsz;
#[cfg(not(feature = "jetstream"))]
pub mod jsz_disabled;
pub mod leafz;
pub mod meshpage;
pub mod metrics;
pub mod state;

use std::time::SystemTime;

use rnats_protocol::framing::Status;
use rnats_protocol::http::HttpError;

use crate::config::options::{COMPAT_VERSION, RNATS_VERSION};
use crate::conn::{CloseReason, Plain};
use crate::monitor::go_format::{Document, JsonOut};
use crate::server::Server;
use crate::server::{Conn, Role};
use rnats_protocol::gotime::uptime;

const MAX_REQUEST: usize = 16 * 1024;

/// Resident memory in bytes, from /proc.
pub fn rss_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * crate::sys::page_size()
}

/// CPU time used by this process, in seconds.
fn cpu_seconds() -> f64 {
    crate::sys::cpu_seconds()
}

impl Server {
    /// `https` when monitoring is served over TLS.
    pub fn monitor_scheme(&self) -> &'static str {
        if self.opts.https_port.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// A new monitoring connection: plain, or TLS with `https`.
    pub fn http_conn(&self, cid: u64, sock: mio::net::TcpStream, peer: std::net::SocketAddr) -> Option<Conn> {
        #[cfg(feature = "tls")]
        if let Some(cfg) = &self.tls.https {
            let t = match crate::conn::transport::tls::Tls::new(sock, cfg.clone(), Vec::new()) {
                Ok(t) => t,
                Err(e) => {
                    log::error!("{} - TLS session: {e}", crate::sys::netaddr::canonical_peer(peer));
                    return None;
                }
            };
            let mut conn = Conn::new(cid, Role::Http, Box::new(t), peer);
            conn.holds_output = true;
            return Some(conn);
        }
        Some(Conn::new(cid, Role::Http, Box::new(Plain(sock)), peer))
    }

    /// Handles bytes from a monitoring connection.
    pub fn http_input(&mut self, slot: usize, data: &[u8]) {
        let c = &mut self.conns[slot];
        c.inb.extend_from_slice(data);
        let head = std::mem::take(&mut c.inb);
        let req = match rnats_protocol::http::parse_request(&head, MAX_REQUEST) {
            Ok(Status::Complete(r)) => r,
            Ok(Status::Partial) => {
                self.conns[slot].inb = head;
                return;
            }
            Err(HttpError::TooLarge) => {
                let body = b"request too large\n".to_vec();
                self.http_respond(slot, "431 Request Header Fields Too Large", "text/plain; charset=utf-8", body);
                return;
            }
            Err(HttpError::BadRequestLine) => {
                self.http_respond(slot, "400 Bad Request", "text/plain; charset=utf-8", b"400 Bad Request".to_vec());
                return;
            }
        };
        let path = String::from_utf8_lossy(req.path).into_owned();
        let target = String::from_utf8_lossy(req.query).into_owned();
        // JSONP, as the 2.9 server offers it: `callback=NAME` wraps the JSON.
        let callback = rnats_protocol::http::query_pairs(req.query)
            .into_iter()
            .rev()
            .find(|(k, _)| k == b"callback")
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty() && v.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.'));
        let r = match path.as_str() {
            "/varz" => {
                self.count_http("/varz");
                Ok(self.varz())
            }
            "/connz" => {
                self.count_http("/connz");
                self.connz(&target)
            }
            "/routez" => {
                self.count_http("/routez");
                self.routez(&target)
            }
            "/leafz" => {
                self.count_http("/leafz");
                self.leafz(&target)
            }
            "/jsz" => {
                self.count_http("/jsz");
                self.jsz(&target)
            }
            "/subsz" | "/subscriptionsz" => {
                self.count_http("/subsz");
                self.subsz(&target)
            }
            "/metrics" => {
                self.count_http("/metrics");
                match self.metrics(&target) {
                    Ok(body) => self.http_respond(slot, "200 OK", crate::monitor::metrics::CONTENT_TYPE, body),
                    Err(e) => self.http_respond(slot, "400 Bad Request", "text/plain; charset=utf-8", e.into_bytes()),
                }
                return;
            }
            "/healthz" => {
                self.count_http("/healthz");
                Ok(b"{\"status\":\"ok\"}".to_vec())
            }
            "/" => {
                self.count_http("/");
                let body = crate::monitor::meshpage::index_page(&self.mesh());
                self.http_respond(slot, "200 OK", "text/html; charset=utf-8", body.into_bytes());
                return;
            }
            "/meshz.svg" => {
                self.count_http("/meshz.svg");
                let body = crate::monitor::meshpage::svg(&self.mesh());
                self.http_respond(slot, "200 OK", "image/svg+xml; charset=utf-8", body.into_bytes());
                return;
            }
            _ => {
                self.http_respond(slot, "404 Not Found", "text/plain; charset=utf-8", b"404 page not found\n".to_vec());
                return;
            }
        };
        match (r, callback) {
            (Ok(body), Some(cb)) => {
                let mut wrapped = cb;
                wrapped.push(b'(');
                wrapped.extend_from_slice(&body);
                wrapped.push(b')');
                self.http_respond(slot, "200 OK", "application/javascript", wrapped);
            }
            (Ok(body), None) => self.http_respond(slot, "200 OK", "application/json", body),
            (Err(e), _) => self.http_respond(slot, "400 Bad Request", "text/plain; charset=utf-8", e.into_bytes()),
        }
    }

    fn count_http(&mut self, path: &str) {
        match self.http_req_stats.iter_mut().find(|(p, _)| p == path) {
            Some((_, n)) => *n += 1,
            None => self.http_req_stats.push((path.to_string(), 1)),
        }
    }

    fn http_respond(&mut self, slot: usize, status: &str, ctype: &str, body: Vec<u8>) {
        let c = &mut self.conns[slot];
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        c.out.extend_from_slice(head.as_bytes());
        c.out.extend_from_slice(&body);
        Server::queue_flush(&mut self.pending_flush, c, slot);
        self.close_after_flush(slot, CloseReason::ClientClosed);
    }

    /// The `/varz` document (the core subset of Go's fields, same names and
    /// order).
    pub fn varz(&self) -> Vec<u8> {
        let mut j = JsonOut::new();
        self.write_varz(&mut j);
        j.buf
    }

    /// Writes the fields of `/varz` to `j` (JSON, or samples for `/metrics`).
    pub fn write_varz(&self, j: &mut dyn Document) {
        let o = &self.opts;
        let now = SystemTime::now();
        let up = now.duration_since(self.start).unwrap_or_default();
        let (host, port) = (o.host.clone(), self.client_addr.map(|a| a.port()).unwrap_or(0));
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("server_name", &self.server_name);
        j.str("version", COMPAT_VERSION);
        j.str("rnats_version", RNATS_VERSION);
        j.num("proto", &1);
        j.str("go", "rnats");
        j.str("host", &host);
        j.num("port", &port);
        if self.auth_enforced() {
            j.bool("auth_required", true);
        }
        if self.cluster.as_ref().is_some_and(|c| c.urls_version > 0) {
            j.open(Some("connect_urls"), b'[');
            for u in self.cluster_client_urls() {
                j.item_str(&u);
            }
            j.close(b']');
        }
        if let Some(urls) = self.cluster_ws_urls() {
            j.open(Some("ws_connect_urls"), b'[');
            for u in urls {
                j.item_str(&u);
            }
            j.close(b']');
        }
        j.num("max_connections", &o.max_connections);
        if o.max_subscriptions > 0 {
            j.num("max_subscriptions", &o.max_subscriptions);
        }
        j.num("ping_interval", &o.ping_interval.as_nanos());
        j.num("ping_max", &o.ping_max);
        j.str("http_host", o.http_host.as_deref().unwrap_or(&o.host));
        let (http, https) = match self.http_addr.map(|a| a.port()) {
            Some(p) if o.https_port.is_some() => (0, p),
            Some(p) => (p, 0),
            None => (0, 0),
        };
        j.num("http_port", &http);
        j.str("http_base_path", "");
        j.num("https_port", &https);
        j.num("auth_timeout", &o.auth_timeout.as_secs_f64());
        j.num("max_control_line", &o.max_control_line);
        j.num("max_payload", &o.max_payload);
        j.num("max_pending", &o.max_pending);
        match &self.cluster {
            Some(c) => {
                j.open(Some("cluster"), b'{');
                j.str("name", &c.name);
                j.str("addr", &c.listen.host);
                j.num("cluster_port", &c.port);
                j.num("auth_timeout", &o.auth_timeout.as_secs_f64());
                if !o.routes.is_empty() {
                    j.open(Some("urls"), b'[');
                    for r in &o.routes {
                        if let Ok(u) = crate::sys::netaddr::RouteUrl::parse(r) {
                            j.item_str(&u.host_port());
                        }
                    }
                    j.close(b']');
                }
                j.num("tls_timeout", &o.cluster_tls_timeout.as_secs_f64());
                if o.cluster_tls.is_some() {
                    j.bool("tls_required", true);
                    j.bool("tls_verify", true);
                }
                j.close(b'}');
            }
            None => j.empty_obj("cluster"),
        }
        j.empty_obj("gateway");
        if o.leaf_remotes.is_empty() && o.leaf_listen.is_none() {
            j.empty_obj("leaf");
        } else {
            j.open(Some("leaf"), b'{');
            if let Some((host, _)) = &o.leaf_listen {
                j.str("host", host);
                j.num("port", &self.leaf_addr.map_or(0, |a| a.port()));
                let auth = o.leaf_auth.timeout.unwrap_or(o.auth_timeout);
                j.num("auth_timeout", &auth.as_secs_f64());
                j.num("tls_timeout", &o.leaf_tls_timeout.as_secs_f64());
                if let Some(t) = &o.leaf_tls {
                    j.bool("tls_required", true);
                    if t.verify {
                        j.bool("tls_verify", true);
                    }
                }
            }
            if !o.leaf_remotes.is_empty() {
                j.open(Some("remotes"), b'[');
                for r in &o.leaf_remotes {
                    j.open(None, b'{');
                    if let Some(a) = &r.account {
                        j.str("local_account", a);
                    }
                    j.open(Some("urls"), b'[');
                    for u in &r.urls {
                        if let Ok(u) = crate::sys::netaddr::leaf_url(u) {
                            j.item_str(&u.host_port());
                        }
                    }
                    j.close(b']');
                    if !r.deny_exports.is_empty() || !r.deny_imports.is_empty() {
                        j.open(Some("deny"), b'{');
                        for (key, list) in [("exports", &r.deny_exports), ("imports", &r.deny_imports)] {
                            if !list.is_empty() {
                                j.open(Some(key), b'[');
                                for d in list {
                                    j.item_str(d);
                                }
                                j.close(b']');
                            }
                        }
                        j.close(b'}');
                    }
                    j.close(b'}');
                }
                j.close(b']');
            }
            j.close(b'}');
        }
        j.empty_obj("mqtt");
        match &o.websocket {
            Some(w) if w.port != 0 => {
                j.open(Some("websocket"), b'{');
                j.str("host", &w.host);
                j.num("port", &self.ws_addr.map_or(0, |a| a.port()));
                if let Some(a) = &w.advertise {
                    j.str("advertise", a);
                }
                if let Some(n) = &w.no_auth_user {
                    j.str("no_auth_user", n);
                }
                if let Some(d) = w.handshake_timeout.filter(|d| !d.is_zero()) {
                    j.num("handshake_timeout", &d.as_nanos());
                }
                if let Some(d) = w.auth_timeout {
                    j.num("auth_timeout", &d.as_secs_f64());
                }
                if w.no_tls {
                    j.bool("no_tls", true);
                }
                if w.same_origin {
                    j.bool("same_origin", true);
                }
                if !w.allowed_origins.is_empty() {
                    j.open(Some("allowed_origins"), b'[');
                    for a in &w.allowed_origins {
                        j.item_str(a);
                    }
                    j.close(b']');
                }
                if w.compression {
                    j.bool("compression", true);
                }
                j.close(b'}');
            }
            _ => j.empty_obj("websocket"),
        }
        self.write_varz_jetstream(j);
        j.num("tls_timeout", &o.tls_timeout.as_secs_f64());
        j.num("write_deadline", &o.write_deadline.as_nanos());
        j.time("start", self.start);
        j.time("now", now);
        j.str("uptime", &uptime(up.as_secs()));
        j.num("mem", &rss_bytes());
        let cores = crate::sys::cpus_online();
        j.num("cores", &cores);
        j.num("gomaxprocs", &1);
        let cpu = if up.as_secs_f64() > 0.0 { cpu_seconds() / up.as_secs_f64() * 100.0 } else { 0.0 };
        j.num("cpu", &((cpu * 100.0).round() / 100.0));
        j.num("connections", &self.client_count);
        j.num("total_connections", &self.stats.total_connections);
        let routes = self.cluster.as_ref().map_or(0, |c| c.routes.len());
        j.num("routes", &routes);
        j.num("remotes", &routes);
        j.num("leafnodes", &self.leaf_count);
        j.num("in_msgs", &self.stats.in_msgs);
        j.num("in_bytes", &self.stats.in_bytes);
        j.num("out_msgs", &self.stats.out_msgs);
        j.num("out_bytes", &self.stats.out_bytes);
        j.num("slow_consumers", &self.stats.slow_consumers);
        j.num("subscriptions", &self.sub_count());
        j.open(Some("http_req_stats"), b'{');
        for (p, n) in &self.http_req_stats {
            j.num(p, &n);
        }
        j.close(b'}');
        j.time("config_load_time", self.start);
        j.close(b'}');
    }
}
