//! `GET /metrics`: the monitoring state in the Prometheus text exposition
//! format (version 0.0.4), under the names prometheus-nats-exporter gives
//! the same state when it polls `/varz`, `/connz`, `/routez` and `/leafz`, so its
//! dashboards and alerts work against rnats without the exporter.
//!
//! Nothing here computes a value of its own: `/varz` fields come from
//! [`Server::write_varz`] (the function that writes the `/varz` JSON), run
//! with a [`Document`] that flattens the fields the way the exporter does;
//! connection and route figures come from [`Server::connz_page`] and
//! [`Server::route_rows`], the selections `/connz` and `/routez` list.
//!
//! Names and types, as the exporter makes them (its `server_id` label is
//! the server's own id here, as with its `-use_internal_server_id`):
//! - `gnatsd_varz_<field>`: one gauge per number of `/varz`, nested objects
//!   joined with `_` (`http_req_stats` per path: `/varz` gives
//!   `gnatsd_varz_http_req_stats_varz`, `/` gives `gnatsd_varz_http_req_stats`);
//!   arrays and booleans skipped; `start` and `config_load_time` as epoch
//!   milliseconds; `server_id`, `server_name`, `version` and `cluster.name`
//!   as a gauge of 1 with the text in a `value` label.
//! - `gnatsd_connz_*`: the default `/connz` page (`num_connections`,
//!   `total`, `offset`, `limit`) and sums over its connections; with
//!   `?connz_detailed=true` also one series per connection, labelled as
//!   the exporter's `-connz_detailed` does.
//! - `gnatsd_routez_num_routes` (the exporter skips the `routes` array).
//! - `gnatsd_leafz_*`: what the exporter's `-leafz` takes from `/leafz`
//!   (the count and, per connection, info, rtt, traffic, interest).
//!
//! The `rnats_*` families are what the exporter cannot give: per-route
//! traffic and pending bytes, and slow consumers per connection kind.
//! Counters of our own end in `_total`; the exporter's names are kept as
//! they are.

use std::fmt::{Display, Write as _};
use std::time::SystemTime;

use crate::conn::Kind;
use crate::monitor::connz::{Query, RouteRow};
use crate::monitor::go_format::Document;
use crate::monitor::state::{ConnRow, CLIENT_KIND};
use crate::server::Server;

/// Content type of the text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Namespace of the exporter's core metrics (kept for its dashboards).
const NAMESPACE: &str = "gnatsd";

/// Flattened names the exporter leaves out.
const SKIPPED: &[&str] = &[
    "leaf",
    "trusted_operators_claim",
    "cluster_tls_timeout",
    "cluster_cluster_port",
    "cluster_auth_timeout",
    "gateway_port",
    "gateway_auth_timeout",
    "gateway_tls_timeout",
    "gateway_connect_retries",
];

/// String fields the exporter keeps: times as epoch milliseconds, the
/// others as a gauge of 1 with the text in a `value` label.
const LABEL_KEYS: &[&str] =
    &["server_id", "server_name", "version", "domain", "leader", "name", "start", "config_load_time"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Gauge,
    Counter,
    Untyped,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Untyped => "untyped",
        }
    }
}

/// A text-format document being written. The format wants each family's
/// samples together after its `# HELP` and `# TYPE` lines, so a family is
/// started once and its samples follow before the next one starts.
pub struct Exposition {
    buf: String,
    families: Vec<String>,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition { buf: String::with_capacity(8 * 1024), families: Vec::new() }
    }

    /// Writes the `# HELP` and `# TYPE` lines of `name`. False (and nothing
    /// written) if that family was started before: its samples must not be
    /// written again apart from the others.
    pub fn family(&mut self, name: &str, help: &str, ty: MetricType) -> bool {
        if self.families.iter().any(|f| f == name) {
            return false;
        }
        self.families.push(name.to_string());
        self.buf.push_str("# HELP ");
        self.buf.push_str(name);
        self.buf.push(' ');
        escape_help(&mut self.buf, help);
        self.buf.push_str("\n# TYPE ");
        self.buf.push_str(name);
        self.buf.push(' ');
        self.buf.push_str(ty.as_str());
        self.buf.push('\n');
        true
    }

    /// One sample line. Label names are ours (valid by construction); label
    /// values may hold anything a peer sent and are escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &dyn Display) {
        self.buf.push_str(name);
        if !labels.is_empty() {
            self.buf.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                self.buf.push_str(k);
                self.buf.push_str("=\"");
                escape_label_value(&mut self.buf, v);
                self.buf.push('"');
            }
            self.buf.push('}');
        }
        let _ = writeln!(self.buf, " {value}");
    }

    /// A family of one sample.
    fn single(&mut self, name: &str, help: &str, ty: MetricType, labels: &[(&str, &str)], value: &dyn Display) {
        if self.family(name, help, ty) {
            self.sample(name, labels, value);
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.into_bytes()
    }
}

/// A label value: `\`, `"` and line feeds escaped, as the format requires.
pub fn escape_label_value(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `# HELP` text: `\` and line feeds escaped.
fn escape_help(out: &mut String, v: &str) {
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The exporter's flattened field name: path elements joined with `_`;
/// `/` (and here anything else a metric name cannot hold) becomes `_`,
/// runs of `_` collapse and leading or trailing ones go.
fn flat_name(path: &[&str]) -> String {
    let mut out = String::new();
    for ch in path.join("_").chars() {
        let c = if ch.is_ascii_alphanumeric() { ch } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Milliseconds since the Unix epoch (negative before it), as the exporter
/// turns times into numbers.
fn epoch_millis(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    }
}

/// A [`Document`] that writes the fields of a monitoring document as the
/// exporter's gauges `gnatsd_<endpoint>_<flattened name>`.
struct Flatten<'a> {
    out: &'a mut Exposition,
    endpoint: &'static str,
    server_id: &'a str,
    /// One entry per open object or array: the object's key (empty for the
    /// document itself), `None` for arrays and what the exporter skips.
    stack: Vec<Option<String>>,
}

impl<'a> Flatten<'a> {
    fn new(out: &'a mut Exposition, endpoint: &'static str, server_id: &'a str) -> Self {
        Flatten { out, endpoint, server_id, stack: Vec::new() }
    }

    fn skipping(&self) -> bool {
        self.stack.iter().any(Option::is_none)
    }

    /// The JSON path of field `k` and its flattened name.
    fn field(&self, k: &str) -> (String, String) {
        let mut path: Vec<&str> = self.stack.iter().flatten().map(String::as_str).filter(|p| !p.is_empty()).collect();
        path.push(k);
        (path.join("."), flat_name(&path))
    }

    /// Starts the family of field `k` unless the exporter leaves it out.
    fn start(&mut self, k: &str) -> Option<String> {
        if self.skipping() {
            return None;
        }
        let (path, flat) = self.field(k);
        if flat.is_empty() || SKIPPED.contains(&flat.as_str()) {
            return None;
        }
        let name = format!("{NAMESPACE}_{}_{flat}", self.endpoint);
        let help = format!("Field {path} of /{}", self.endpoint);
        self.out.family(&name, &help, MetricType::Gauge).then_some(name)
    }
}

impl Document for Flatten<'_> {
    fn open(&mut self, k: Option<&str>, brace: u8) {
        let frame = match k {
            _ if brace != b'{' || self.skipping() => None,
            None if self.stack.is_empty() => Some(String::new()),
            None => None,
            Some(k) => {
                let (_, flat) = self.field(k);
                (!SKIPPED.contains(&flat.as_str())).then(|| k.to_string())
            }
        };
        self.stack.push(frame);
    }

    fn close(&mut self, _brace: u8) {
        self.stack.pop();
    }

    fn str(&mut self, k: &str, v: &str) {
        if !LABEL_KEYS.contains(&k) {
            return;
        }
        if let Some(name) = self.start(k) {
            let server_id = self.server_id;
            self.out.sample(&name, &[("server_id", server_id), ("value", v)], &1);
        }
    }

    fn num(&mut self, k: &str, v: &dyn Display) {
        if let Some(name) = self.start(k) {
            let server_id = self.server_id;
            self.out.sample(&name, &[("server_id", server_id)], v);
        }
    }

    fn bool(&mut self, _k: &str, _v: bool) {}

    fn time(&mut self, k: &str, t: SystemTime) {
        if !LABEL_KEYS.contains(&k) {
            return;
        }
        if let Some(name) = self.start(k) {
            let server_id = self.server_id;
            self.out.sample(&name, &[("server_id", server_id)], &epoch_millis(t));
        }
    }

    fn item_str(&mut self, _v: &str) {}

    fn empty_obj(&mut self, _k: &str) {}
}

/// The labels of a per-connection series (`?connz_detailed=true`): those
/// of the exporter's `-connz_detailed`, in its order; what `/connz` does
/// not show (accounts, name tags) is empty, as the exporter leaves it.
fn detail_labels<'a>(server_id: &'a str, c: &'a ConnRow, cid: &'a str, port: &'a str) -> [(&'static str, &'a str); 14] {
    [
        ("server_id", server_id),
        ("cid", cid),
        ("kind", CLIENT_KIND),
        ("type", c.conn_type),
        ("ip", &c.ip),
        ("port", port),
        ("name", &c.name),
        ("name_tag", ""),
        ("account", ""),
        ("account_id", ""),
        ("lang", &c.lang),
        ("version", &c.version),
        ("tls_version", c.tls.as_ref().map_or("", |t| t.0)),
        ("tls_cipher_suite", c.tls.as_ref().map_or("", |t| t.1.as_str())),
    ]
}

impl Server {
    /// The `/metrics` document. `Err` is the text of a 400 answer for a bad
    /// query value (`connz_detailed`, read as Go reads booleans).
    pub fn metrics(&self, query: &str) -> Result<Vec<u8>, String> {
        let detailed = Query::parse(query).bool("connz_detailed")?;
        let mut out = Exposition::new();
        self.write_varz(&mut Flatten::new(&mut out, "varz", &self.server_id));
        self.write_connz_metrics(&mut out, detailed)?;
        self.write_routez_metrics(&mut out);
        self.write_leafz_metrics(&mut out);
        self.write_slow_consumer_metrics(&mut out);
        Ok(out.into_bytes())
    }

    /// `gnatsd_connz_*` from the page the exporter reads (`/connz` with no
    /// parameters: the first 1024 open connections by cid).
    fn write_connz_metrics(&self, out: &mut Exposition, detailed: bool) -> Result<(), String> {
        use MetricType::{Counter, Gauge, Untyped};
        let page = self.connz_page("")?;
        let id = self.server_id.as_str();
        let server = [("server_id", id)];
        out.single(
            "gnatsd_connz_num_connections",
            "Connections on the /connz page",
            Gauge,
            &server,
            &page.num_connections(),
        );
        out.single("gnatsd_connz_total", "Open client connections (/connz total)", Gauge, &server, &page.total());
        out.single("gnatsd_connz_offset", "Offset of the /connz page", Gauge, &server, &page.offset);
        out.single("gnatsd_connz_limit", "Limit of the /connz page", Gauge, &server, &page.limit);

        // Per-connection values, each in the unit the exporter reports.
        type Field = fn(&ConnRow, SystemTime) -> i128;
        let summed: [(&str, &str, MetricType, Field); 6] = [
            ("pending_bytes", "Bytes queued to the connections of the /connz page", Gauge, |c, _| c.pending as i128),
            ("subscriptions", "Subscriptions of the connections of the /connz page", Gauge, |c, _| c.num_subs as i128),
            ("in_bytes", "Bytes received from the connections of the /connz page", Counter, |c, _| {
                c.stats.in_bytes as i128
            }),
            ("out_bytes", "Bytes sent to the connections of the /connz page", Counter, |c, _| {
                c.stats.out_bytes as i128
            }),
            ("in_msgs", "Messages received from the connections of the /connz page", Counter, |c, _| {
                c.stats.in_msgs as i128
            }),
            ("out_msgs", "Messages sent to the connections of the /connz page", Counter, |c, _| {
                c.stats.out_msgs as i128
            }),
        ];
        let detail_only: [(&str, &str, MetricType, Field); 4] = [
            ("start", "Epoch time in milliseconds at which the connection started", Untyped, |c, _| {
                epoch_millis(c.start)
            }),
            ("last_activity", "Epoch time in milliseconds of the connection's last activity", Untyped, |c, _| {
                epoch_millis(c.last_activity)
            }),
            ("uptime", "Connection uptime in milliseconds (whole seconds, as /connz shows it)", Untyped, |c, now| {
                c.uptime_secs(now) as i128 * 1000
            }),
            ("idle", "Connection idle time in milliseconds (whole seconds, as /connz shows it)", Gauge, |c, now| {
                c.idle_secs(now) as i128 * 1000
            }),
        ];

        // The numbers among the labels, formatted once per connection.
        let numbers: Vec<(String, String)> = if detailed {
            page.listed().map(|c| (c.cid.to_string(), c.port.to_string())).collect()
        } else {
            Vec::new()
        };
        let per_conn = |out: &mut Exposition, name: &str, value: Field| {
            for (c, (cid, port)) in page.listed().zip(&numbers) {
                out.sample(name, &detail_labels(id, c, cid, port), &value(c, page.now));
            }
        };
        for (field, help, ty, value) in summed {
            let name = format!("{NAMESPACE}_connz_{field}");
            if out.family(&name, help, ty) {
                let sum: i128 = page.listed().map(|c| value(c, page.now)).sum();
                out.sample(&name, &server, &sum);
                per_conn(out, &name, value);
            }
        }
        // Families with no sample at all are left out.
        if !numbers.is_empty() {
            for (field, help, ty, value) in detail_only {
                let name = format!("{NAMESPACE}_connz_{field}");
                if out.family(&name, help, ty) {
                    per_conn(out, &name, value);
                }
            }
        }
        Ok(())
    }

    /// `gnatsd_routez_*` (what the exporter takes from `/routez`) and the
    /// per-route `rnats_route_*` families it cannot give.
    fn write_routez_metrics(&self, out: &mut Exposition) {
        use MetricType::{Counter, Gauge};
        let id = self.server_id.as_str();
        let routes = self.route_rows();
        out.single(
            "gnatsd_routez_num_routes",
            "Routes to other servers (/routez num_routes)",
            Gauge,
            &[("server_id", id)],
            &routes.len(),
        );
        out.single(
            "gnatsd_routez_server_id",
            "Field server_id of /routez",
            Gauge,
            &[("server_id", id), ("value", id)],
            &1,
        );

        type Field = fn(&RouteRow) -> u64;
        let per_route: [(&str, &str, MetricType, Field); 6] = [
            ("rnats_route_pending_bytes", "Bytes queued to the route (/routez pending_size)", Gauge, |r| {
                r.conn.pending() as u64
            }),
            (
                "rnats_route_subscriptions",
                "Interest the peer announced on the route (/routez subscriptions)",
                Gauge,
                |r| r.route.remote_subs.len() as u64,
            ),
            ("rnats_route_in_msgs_total", "Messages received on the route (/routez in_msgs)", Counter, |r| {
                r.conn.stats.in_msgs
            }),
            ("rnats_route_out_msgs_total", "Messages sent on the route (/routez out_msgs)", Counter, |r| {
                r.conn.stats.out_msgs
            }),
            ("rnats_route_in_bytes_total", "Payload bytes received on the route (/routez in_bytes)", Counter, |r| {
                r.conn.stats.in_bytes
            }),
            ("rnats_route_out_bytes_total", "Payload bytes sent on the route (/routez out_bytes)", Counter, |r| {
                r.conn.stats.out_bytes
            }),
        ];
        if routes.is_empty() {
            return;
        }
        let rids: Vec<String> = routes.iter().map(|r| r.conn.cid.to_string()).collect();
        for (name, help, ty, value) in per_route {
            if !out.family(name, help, ty) {
                continue;
            }
            for (r, rid) in routes.iter().zip(&rids) {
                let labels = [
                    ("server_id", id),
                    ("rid", rid.as_str()),
                    ("remote_id", r.route.remote_id.as_str()),
                    ("remote_name", r.route.remote_name.as_str()),
                ];
                out.sample(name, &labels, &value(r));
            }
        }
    }

    /// `gnatsd_leafz_*`, as the exporter's `-leafz` makes them from
    /// `/leafz`: the connection count, and per connection an info gauge,
    /// the round trip in seconds, traffic and the peer's interest count
    /// (all gauges, labelled by account, address and peer name).
    fn write_leafz_metrics(&self, out: &mut Exposition) {
        use MetricType::Gauge;
        let id = self.server_id.as_str();
        let leafs = self.leaf_rows();
        out.single(
            "gnatsd_leafz_conn_nodes_total",
            "Leaf node connections (/leafz leafnodes)",
            Gauge,
            &[("server_id", id)],
            &leafs.len(),
        );
        type Field = fn(&crate::server::Conn, &crate::leaf::state::LeafState) -> f64;
        let fields: [(&str, &str, Field); 7] = [
            ("gnatsd_leafz_info", "A leaf node connection (/leafz)", |_, _| 1.0),
            ("gnatsd_leafz_conn_rtt", "Round trip in seconds (/leafz rtt)", |_, l| {
                l.rtt.unwrap_or_default().as_secs_f64()
            }),
            ("gnatsd_leafz_conn_in_msgs", "Messages received (/leafz in_msgs)", |c, _| c.stats.in_msgs as f64),
            ("gnatsd_leafz_conn_out_msgs", "Messages sent (/leafz out_msgs)", |c, _| c.stats.out_msgs as f64),
            ("gnatsd_leafz_conn_in_bytes", "Bytes received (/leafz in_bytes)", |c, _| c.stats.in_bytes as f64),
            ("gnatsd_leafz_conn_out_bytes", "Bytes sent (/leafz out_bytes)", |c, _| c.stats.out_bytes as f64),
            ("gnatsd_leafz_conn_subscriptions_total", "Interest of the peer (/leafz subscriptions)", |_, l| {
                l.remote_subs.len() as f64
            }),
        ];
        if leafs.is_empty() {
            return;
        }
        let rows: Vec<(String, String, String)> = leafs
            .iter()
            .map(|(c, l)| {
                let acc = String::from_utf8_lossy(self.accounts.name(l.account)).into_owned();
                (acc, c.peer.ip().to_string(), c.peer.port().to_string())
            })
            .collect();
        for (name, help, value) in fields {
            if !out.family(name, help, Gauge) {
                continue;
            }
            for ((c, l), (acc, ip, port)) in leafs.iter().zip(&rows) {
                let labels = [
                    ("server_id", id),
                    ("account", acc.as_str()),
                    ("account_id", acc.as_str()),
                    ("ip", ip.as_str()),
                    ("port", port.as_str()),
                    ("name", Server::leaf_name(l)),
                ];
                out.sample(name, &labels, &value(c, l));
            }
        }
    }

    /// `rnats_slow_consumers_total` by connection kind; the kinds add up to
    /// `gnatsd_varz_slow_consumers`.
    fn write_slow_consumer_metrics(&self, out: &mut Exposition) {
        let name = "rnats_slow_consumers_total";
        if !out.family(
            name,
            "Connections cut as slow consumers, by kind (they add up to /varz slow_consumers)",
            MetricType::Counter,
        ) {
            return;
        }
        for (kind, label) in Kind::ALL {
            let n = self.stats.slow_consumers_by_kind.of(kind);
            out.sample(name, &[("server_id", self.server_id.as_str()), ("kind", label)], &n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: Exposition) -> String {
        String::from_utf8(e.into_bytes()).expect("utf-8")
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label_value(&mut s, "plain");
        assert_eq!(s, "plain");
        for (input, want) in [
            ("a\"b", "a\\\"b"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
            ("\\\"\n", "\\\\\\\"\\n"),
            // Carriage returns, tabs and non-ASCII text need no escape.
            ("cr\rtab\tünï", "cr\rtab\tünï"),
            ("", ""),
        ] {
            let mut s = String::new();
            escape_label_value(&mut s, input);
            assert_eq!(s, want, "{input:?}");
        }
    }

    #[test]
    fn sample_lines_and_help_escaping() {
        let mut e = Exposition::new();
        assert!(e.family("x_total", "help with \\ and\nnewline \"quoted\"", MetricType::Counter));
        e.sample("x_total", &[("server_id", "S\"1"), ("name", "a\\b\nc")], &42);
        e.sample("x_total", &[], &1.5);
        assert_eq!(
            text(e),
            "# HELP x_total help with \\\\ and\\nnewline \"quoted\"\n# TYPE x_total counter\n\
             x_total{server_id=\"S\\\"1\",name=\"a\\\\b\\nc\"} 42\nx_total 1.5\n"
        );
    }

    #[test]
    fn a_family_is_written_once() {
        let mut e = Exposition::new();
        assert!(e.family("a", "a", MetricType::Gauge));
        e.sample("a", &[], &1);
        assert!(!e.family("a", "again", MetricType::Counter));
        assert_eq!(text(e).matches("# TYPE a ").count(), 1);
    }

    #[test]
    fn flat_names_follow_the_exporter() {
        assert_eq!(flat_name(&["in_msgs"]), "in_msgs");
        assert_eq!(flat_name(&["http_req_stats", "/varz"]), "http_req_stats_varz");
        assert_eq!(flat_name(&["http_req_stats", "/"]), "http_req_stats");
        assert_eq!(flat_name(&["cluster", "name"]), "cluster_name");
        assert_eq!(flat_name(&["a b", "c-d", "é"]), "a_b_c_d");
    }

    #[test]
    fn flatten_keeps_numbers_label_strings_and_times() {
        let mut e = Exposition::new();
        {
            let mut f = Flatten::new(&mut e, "varz", "ID\"x");
            let d: &mut dyn Document = &mut f;
            d.open(None, b'{');
            d.str("server_id", "ID\"x");
            d.str("host", "0.0.0.0");
            d.num("port", &4222);
            d.bool("auth_required", true);
            d.open(Some("connect_urls"), b'[');
            d.item_str("127.0.0.1:4222");
            d.close(b']');
            d.open(Some("cluster"), b'{');
            d.str("name", "C");
            d.num("cluster_port", &6222);
            d.num("tls_timeout", &2);
            d.open(Some("urls"), b'[');
            d.open(None, b'{');
            d.num("hidden", &1);
            d.close(b'}');
            d.close(b']');
            d.close(b'}');
            d.open(Some("leaf"), b'{');
            d.num("port", &7422);
            d.close(b'}');
            d.empty_obj("gateway");
            d.num("cpu", &0.25);
            d.time("start", SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123));
            d.time("now", SystemTime::now());
            d.open(Some("http_req_stats"), b'{');
            d.num("/", &3);
            d.num("/varz", &2);
            d.close(b'}');
            d.close(b'}');
        }
        let t = text(e);
        let samples: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "gnatsd_varz_server_id{server_id=\"ID\\\"x\",value=\"ID\\\"x\"} 1",
                "gnatsd_varz_port{server_id=\"ID\\\"x\"} 4222",
                "gnatsd_varz_cluster_name{server_id=\"ID\\\"x\",value=\"C\"} 1",
                "gnatsd_varz_cpu{server_id=\"ID\\\"x\"} 0.25",
                "gnatsd_varz_start{server_id=\"ID\\\"x\"} 1700000000123",
                "gnatsd_varz_http_req_stats{server_id=\"ID\\\"x\"} 3",
                "gnatsd_varz_http_req_stats_varz{server_id=\"ID\\\"x\"} 2",
            ]
        );
        assert!(t.contains("# TYPE gnatsd_varz_port gauge\n"));
        assert!(t.contains("# HELP gnatsd_varz_http_req_stats_varz Field http_req_stats./varz of /varz\n"));
    }

    #[test]
    fn epoch_millis_before_and_after_the_epoch() {
        let ms = std::time::Duration::from_millis(1500);
        assert_eq!(epoch_millis(SystemTime::UNIX_EPOCH + ms), 1500);
        assert_eq!(epoch_millis(SystemTime::UNIX_EPOCH - ms), -1500);
    }
}
