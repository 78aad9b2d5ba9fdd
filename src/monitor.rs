//! The HTTP monitoring port, served from the reactor: the request router
//! (`/varz` and `/healthz` here; `/connz`, `/routez`, `/subsz` in
//! `monitor_conns.rs`; `/metrics` in `metrics.rs`; `/` and `/meshz.svg` in
//! `meshpage.rs`) and Go's JSON layout. A request is read until its blank line (capped at
//! 16 KiB), one response is written, and the connection closes after the
//! flush.
//!
//! `/varz` is written through [`Document`], so the JSON and the Prometheus
//! samples of `/metrics` (`crate::metrics`) come from one pass over the
//! same server state.

use std::fmt::Write as _;
use std::time::SystemTime;

use rnats_protocol::framing::Status;
use rnats_protocol::http::HttpError;
use rnats_protocol::json::write_str;

use crate::conn::CloseReason;
use crate::options::{COMPAT_VERSION, RNATS_VERSION};
use crate::server::Server;

const MAX_REQUEST: usize = 16 * 1024;

/// Pretty JSON in the layout of Go's `MarshalIndent(v, "", "  ")`.
pub struct JsonOut {
    pub buf: Vec<u8>,
    depth: usize,
    first: bool,
}

impl JsonOut {
    pub fn new() -> Self {
        JsonOut { buf: Vec::with_capacity(2048), depth: 0, first: true }
    }

    fn newline(&mut self) {
        self.buf.push(b'\n');
        for _ in 0..self.depth {
            self.buf.extend_from_slice(b"  ");
        }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.newline();
        write_str(&mut self.buf, k.as_bytes());
        self.buf.extend_from_slice(b": ");
    }

    pub fn open(&mut self, k: Option<&str>, brace: u8) {
        match k {
            Some(k) => self.key(k),
            // An element of an array (the document itself has depth 0).
            None if self.depth > 0 => {
                if !self.first {
                    self.buf.push(b',');
                }
                self.first = false;
                self.newline();
            }
            None => {}
        }
        self.buf.push(brace);
        self.depth += 1;
        self.first = true;
    }

    pub fn close(&mut self, brace: u8) {
        self.depth -= 1;
        if !self.first {
            self.newline();
        }
        self.buf.push(brace);
        self.first = false;
    }

    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(&mut self.buf, v.as_bytes());
    }

    pub fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        self.key(k);
        self.buf.extend_from_slice(v.to_string().as_bytes());
    }

    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// An array element (string).
    pub fn item_str(&mut self, v: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.newline();
        write_str(&mut self.buf, v.as_bytes());
    }

    pub fn empty_obj(&mut self, k: &str) {
        self.key(k);
        self.buf.extend_from_slice(b"{}");
    }
}

/// A monitoring document as it is written, field by field: [`JsonOut`]
/// makes Go's JSON of it, `crate::metrics` turns the same calls into
/// Prometheus samples. Keys are Go's JSON field names.
pub trait Document {
    /// Opens an object (`b'{'`) or array (`b'['`), keyed inside an object.
    fn open(&mut self, k: Option<&str>, brace: u8);
    fn close(&mut self, brace: u8);
    fn str(&mut self, k: &str, v: &str);
    /// A number, written as `v` displays.
    fn num(&mut self, k: &str, v: &dyn std::fmt::Display);
    fn bool(&mut self, k: &str, v: bool);
    /// A point in time (RFC 3339 text in the JSON).
    fn time(&mut self, k: &str, t: SystemTime);
    /// An array element (string).
    fn item_str(&mut self, v: &str);
    fn empty_obj(&mut self, k: &str);
}

impl Document for JsonOut {
    fn open(&mut self, k: Option<&str>, brace: u8) {
        JsonOut::open(self, k, brace)
    }
    fn close(&mut self, brace: u8) {
        JsonOut::close(self, brace)
    }
    fn str(&mut self, k: &str, v: &str) {
        JsonOut::str(self, k, v)
    }
    fn num(&mut self, k: &str, v: &dyn std::fmt::Display) {
        JsonOut::num(self, k, v)
    }
    fn bool(&mut self, k: &str, v: bool) {
        JsonOut::bool(self, k, v)
    }
    fn time(&mut self, k: &str, t: SystemTime) {
        JsonOut::str(self, k, &rfc3339(t))
    }
    fn item_str(&mut self, v: &str) {
        JsonOut::item_str(self, v)
    }
    fn empty_obj(&mut self, k: &str) {
        JsonOut::empty_obj(self, k)
    }
}

/// RFC 3339 UTC time with nanoseconds, trailing zeros dropped, as Go prints.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    let mut s = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Go's uptime text: `8s`, `5m3s`, `2h0m4s`, `1d2h3m4s`, `1y2d3h4m5s`.
pub fn uptime(secs: u64) -> String {
    let (y, rest) = (secs / 31_536_000, secs % 31_536_000);
    let (d, rest) = (rest / 86400, rest % 86400);
    let (h, rest) = (rest / 3600, rest % 3600);
    let (m, s) = (rest / 60, rest % 60);
    let mut out = String::new();
    if y > 0 {
        let _ = write!(out, "{y}y{d}d{h}h{m}m{s}s");
    } else if d > 0 {
        let _ = write!(out, "{d}d{h}h{m}m{s}s");
    } else if h > 0 {
        let _ = write!(out, "{h}h{m}m{s}s");
    } else if m > 0 {
        let _ = write!(out, "{m}m{s}s");
    } else {
        let _ = write!(out, "{s}s");
    }
    out
}

/// Go's `time.Duration` text: `0s`, `850ns`, `412.5µs`, `1.25ms`, `3s`,
/// `2m0.5s`, `1h0m0s`.
pub fn go_duration(d: std::time::Duration) -> String {
    fn with_fraction(v: u128, unit: u128, suffix: &str) -> String {
        let (whole, rem) = (v / unit, v % unit);
        if rem == 0 {
            return format!("{whole}{suffix}");
        }
        let width = unit.ilog10() as usize;
        let frac = format!("{rem:0width$}");
        format!("{whole}.{}{suffix}", frac.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => with_fraction(ns, 1_000, "µs"),
        1_000_000..=999_999_999 => with_fraction(ns, 1_000_000, "ms"),
        _ => {
            let secs = ns / 1_000_000_000;
            let (h, m) = (secs / 3600, secs % 3600 / 60);
            let s = with_fraction(ns % 60_000_000_000, 1_000_000_000, "s");
            if h > 0 {
                format!("{h}h{m}m{s}")
            } else if m > 0 {
                format!("{m}m{s}")
            } else {
                s
            }
        }
    }
}

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
            "/subsz" | "/subscriptionsz" => {
                self.count_http("/subsz");
                self.subsz(&target)
            }
            "/metrics" => {
                self.count_http("/metrics");
                match self.metrics(&target) {
                    Ok(body) => self.http_respond(slot, "200 OK", crate::metrics::CONTENT_TYPE, body),
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
                let body = crate::meshpage::index_page(&self.mesh());
                self.http_respond(slot, "200 OK", "text/html; charset=utf-8", body.into_bytes());
                return;
            }
            "/meshz.svg" => {
                self.count_http("/meshz.svg");
                let body = crate::meshpage::svg(&self.mesh());
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
        j.num("max_connections", &o.max_connections);
        if o.max_subscriptions > 0 {
            j.num("max_subscriptions", &o.max_subscriptions);
        }
        j.num("ping_interval", &o.ping_interval.as_nanos());
        j.num("ping_max", &o.ping_max);
        j.str("http_host", o.http_host.as_deref().unwrap_or(&o.host));
        j.num("http_port", &self.http_addr.map(|a| a.port()).unwrap_or(0));
        j.str("http_base_path", "");
        j.num("https_port", &0);
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
                        if let Ok(u) = crate::net::RouteUrl::parse(r) {
                            j.item_str(&u.host_port());
                        }
                    }
                    j.close(b']');
                }
                j.num("tls_timeout", &2);
                j.close(b'}');
            }
            None => j.empty_obj("cluster"),
        }
        j.empty_obj("gateway");
        j.empty_obj("leaf");
        j.empty_obj("mqtt");
        j.empty_obj("websocket");
        j.empty_obj("jetstream");
        j.num("tls_timeout", &2);
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
        j.num("leafnodes", &0);
        j.num("in_msgs", &self.stats.in_msgs);
        j.num("in_bytes", &self.stats.in_bytes);
        j.num("out_msgs", &self.stats.out_msgs);
        j.num("out_bytes", &self.stats.out_bytes);
        j.num("slow_consumers", &self.stats.slow_consumers);
        j.num("subscriptions", &self.sublist.count());
        j.open(Some("http_req_stats"), b'{');
        for (p, n) in &self.http_req_stats {
            j.num(p, &n);
        }
        j.close(b'}');
        j.time("config_load_time", self.start);
        j.close(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_and_uptime_formats() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_623_615, 487_509_900);
        assert_eq!(rfc3339(t), "2026-11-25T16:20:15.4875099Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(uptime(8), "8s");
        assert_eq!(uptime(303), "5m3s");
        assert_eq!(uptime(7204), "2h0m4s");
        assert_eq!(uptime(93784), "1d2h3m4s");
    }

    #[test]
    fn go_duration_format() {
        use std::time::Duration;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(go_duration(Duration::from_nanos(412_500)), "412.5µs");
        assert_eq!(go_duration(Duration::from_micros(412)), "412µs");
        assert_eq!(go_duration(Duration::from_nanos(1_250_000)), "1.25ms");
        assert_eq!(go_duration(Duration::from_nanos(1_000_001)), "1.000001ms");
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(go_duration(Duration::from_millis(120_500)), "2m0.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn pretty_json_layout() {
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("a", "x<y");
        j.open(Some("m"), b'{');
        j.close(b'}');
        j.open(Some("l"), b'[');
        j.item_str("u");
        j.open(None, b'{');
        j.num("v", 2);
        j.close(b'}');
        j.close(b']');
        j.num("n", 1);
        j.close(b'}');
        assert_eq!(
            String::from_utf8(j.buf).unwrap(),
            "{\n  \"a\": \"x\\u003cy\",\n  \"m\": {},\n  \"l\": [\n    \"u\",\n    {\n      \"v\": 2\n    }\n  ],\n  \"n\": 1\n}"
        );
    }
}
