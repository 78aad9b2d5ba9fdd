//! The monitoring port's index page (`GET /`) and `/meshz.svg`: a drawing
//! of the cluster as this server sees it, as inline SVG generated here (no
//! script). This server sits in the centre; every registered route and
//! every leaf node link (dotted) is a box around it with the peer's name, its direction (we dialed it or it dialed
//! us, `/routez` `did_solicit`), the round-trip time of its last PING, the
//! bytes queued to it and its message rates. The page reloads itself every
//! few seconds.
//!
//! Rates are messages per second over the time since the previous load of
//! the page (or of the SVG), when that was at least a second ago; otherwise,
//! and for a route that connected since, over the time since the route
//! connected. The page says which.
//!
//! Everything a peer controls (server name, id, cluster name) is escaped for
//! XML/HTML, control and bidirectional-override characters are replaced and
//! long names are cut, so a peer cannot inject markup or break the layout.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use crate::config::options::{COMPAT_VERSION, RNATS_VERSION};
use crate::monitor::state::RateSnapshot;
use crate::server::Server;
use rnats_protocol::gotime::{go_duration, rfc3339};

/// Seconds between reloads of the index page.
pub const REFRESH_SECS: u32 = 5;
/// A previous load younger than this is not used as the rate window.
const MIN_WINDOW: Duration = Duration::from_secs(1);
/// Routes drawn at most; more are counted in a note (all are in `/routez`).
const MAX_DRAWN: usize = 64;

const NODE_W: f64 = 230.0;
const NODE_H: f64 = 104.0;
const CENTRE_W: f64 = 230.0;
const CENTRE_H: f64 = 96.0;
const MARGIN: f64 = 24.0;
const GAP: f64 = 16.0;
/// Least room between the centre box and a peer's box, along x or y.
const EDGE_MIN: f64 = 70.0;
const LEGEND_H: f64 = 78.0;
/// Characters of a name shown in a box (the tooltip has it whole).
const NAME_CHARS: usize = 26;

const SOLICITED_COLOUR: &str = "#1f6feb";
const ACCEPTED_COLOUR: &str = "#1a7f37";

/// Messages per second in each direction of one route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub in_per_sec: f64,
    pub out_per_sec: f64,
    /// Computed over the route's whole life, not since the previous load.
    pub since_start: bool,
}

/// One route as drawn.
#[derive(Debug, Clone)]
pub struct Peer {
    pub rid: u64,
    /// The peer's server name (its id when it has none). Peer-controlled.
    pub name: String,
    /// The peer's server id. Peer-controlled.
    pub id: String,
    /// `ip:port` of the connection.
    pub addr: String,
    /// We dialed the peer (`did_solicit`).
    pub solicited: bool,
    /// The route is one of our configured `routes` (a leaf link: one of
    /// our `leafnodes.remotes`).
    pub configured: bool,
    /// A leaf node link rather than a route: to a hub of ours (solicited)
    /// or from a leaf node of ours (accepted).
    pub leaf: bool,
    pub rtt: Option<Duration>,
    pub pending: usize,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub rates: Rates,
}

/// Everything the drawing shows.
#[derive(Debug, Clone, Default)]
pub struct Mesh {
    pub name: String,
    pub id: String,
    /// The cluster name (`None`: no cluster port). May come from a peer.
    pub cluster: Option<String>,
    pub clients: usize,
    pub peers: Vec<Peer>,
    /// The rate window when rates are taken since the previous load.
    pub window: Option<Duration>,
    /// When the page was generated (RFC 3339).
    pub generated: String,
}

/// Escapes text for XML and HTML content and attribute values. Characters
/// XML forbids (controls), C1 controls and bidirectional overrides (which
/// could make a name display as another) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{fffe}'
            | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of `s`, with `…` when cut; escaped.
fn label(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        escape(s)
    } else {
        let head: String = s.chars().take(max.saturating_sub(1)).collect();
        escape(&head) + "…"
    }
}

/// A 56-character server id as `NABC…WXYZ`.
fn short_id(id: &str) -> String {
    let n = id.chars().count();
    if n <= 12 {
        return escape(id);
    }
    let head: String = id.chars().take(6).collect();
    let tail: String = id.chars().skip(n - 4).collect();
    format!("{}…{}", escape(&head), escape(&tail))
}

fn fmt_rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".into()
    } else if r < 10.0 {
        format!("{r:.2}")
    } else if r < 1000.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

fn fmt_bytes(b: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `12345678` as `12,345,678`.
fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Centre positions of `n` boxes on an ellipse around (0, 0), the first to
/// the right, clockwise (two peers sit left and right, which suits a wide
/// screen); the ellipse grows until no two boxes (and no box and
/// the centre box) come closer than `GAP`.
pub fn layout(n: usize) -> Vec<(f64, f64)> {
    let place = |scale: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let a = std::f64::consts::TAU * i as f64 / n as f64;
                (340.0 * scale * a.cos(), 200.0 * scale * a.sin())
            })
            .collect()
    };
    let apart =
        |a: (f64, f64), b: (f64, f64), w: f64, h: f64| (a.0 - b.0).abs() >= w + GAP || (a.1 - b.1).abs() >= h + GAP;
    let mut scale = 1.0;
    let mut pos = place(scale);
    // Bounded: 1.1^80 is far more than 64 boxes need.
    for _ in 0..80 {
        // Room for an edge, its arrow and its label between each box and
        // the centre.
        let clear_of_centre = pos.iter().all(|p| {
            apart(
                *p,
                (0.0, 0.0),
                (NODE_W + CENTRE_W) / 2.0 + EDGE_MIN - GAP,
                (NODE_H + CENTRE_H) / 2.0 + EDGE_MIN - GAP,
            )
        });
        let clear_of_each_other =
            pos.iter().enumerate().all(|(i, a)| pos[i + 1..].iter().all(|b| apart(*a, *b, NODE_W, NODE_H)));
        if clear_of_centre && clear_of_each_other {
            break;
        }
        scale *= 1.1;
        pos = place(scale);
    }
    pos
}

/// Where the segment from the centre of a `w`×`h` box at `from` towards
/// `to` leaves that box.
fn box_exit(from: (f64, f64), to: (f64, f64), w: f64, h: f64) -> (f64, f64) {
    let (vx, vy) = (to.0 - from.0, to.1 - from.1);
    let sx = if vx.abs() > 1e-9 { (w / 2.0) / vx.abs() } else { f64::INFINITY };
    let sy = if vy.abs() > 1e-9 { (h / 2.0) / vy.abs() } else { f64::INFINITY };
    let s = sx.min(sy).min(1.0);
    (from.0 + vx * s, from.1 + vy * s)
}

/// Writes one line of text; `body` must be escaped already.
fn text(out: &mut String, x: f64, y: f64, class: &str, body: &str) {
    let _ = writeln!(out, r#"<text x="{x:.1}" y="{y:.1}" class="{class}">{body}</text>"#);
}

/// The drawing, a standalone SVG document fragment (with its namespace, so
/// it can be served alone as `image/svg+xml`).
pub fn svg(m: &Mesh) -> String {
    let drawn = &m.peers[..m.peers.len().min(MAX_DRAWN)];
    let pos = layout(drawn.len());
    let max_x = pos.iter().map(|p| p.0.abs()).fold(CENTRE_W / 2.0, f64::max);
    let max_y = pos.iter().map(|p| p.1.abs()).fold(CENTRE_H / 2.0, f64::max);
    let half_w = (max_x + NODE_W / 2.0 + MARGIN).max(CENTRE_W / 2.0 + NODE_W + MARGIN);
    let half_h = max_y + NODE_H / 2.0 + MARGIN;
    let (width, height) = ((2.0 * half_w).ceil(), (2.0 * half_h + LEGEND_H).ceil());
    let (cx, cy) = (half_w, half_h);
    let mut o = String::with_capacity(4096 + drawn.len() * 1500);
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="mesh" viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="max-width:100%;height:auto" role="img" aria-labelledby="mesh-title">"#
    );
    let _ = writeln!(
        o,
        r#"<title id="mesh-title">Routes of {}: {} peer(s)</title>"#,
        label(&m.name, NAME_CHARS),
        m.peers.len()
    );
    o.push_str(concat!(
        "<style>\n",
        "text{font-family:DejaVu Sans,Verdana,Arial,sans-serif;font-size:12px;fill:#1f2328;text-anchor:middle}\n",
        "text.name{font-size:14px;font-weight:bold}\n",
        "text.dim{fill:#57606a}\n",
        "text.edge{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:4px}\n",
        "text.legend{text-anchor:start}\n",
        "rect.node{fill:#f6f8fa;stroke:#8c959f;stroke-width:1.5}\n",
        "rect.centre{fill:#fff8c5;stroke:#9a6700;stroke-width:2}\n",
        "line.solicited{stroke:#1f6feb;stroke-width:2.5}\n",
        "line.accepted{stroke:#1a7f37;stroke-width:2.5;stroke-dasharray:8 4}\n",
        "line.leaf{stroke-width:1.5;stroke-dasharray:2 4}\n",
        "</style>\n",
    ));
    let _ = writeln!(
        o,
        concat!(
            "<defs>",
            r#"<marker id="arrow-solicited" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0L10,5L0,10z" fill="{}"/></marker>"#,
            r#"<marker id="arrow-accepted" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0L10,5L0,10z" fill="{}"/></marker>"#,
            "</defs>"
        ),
        SOLICITED_COLOUR, ACCEPTED_COLOUR
    );
    let _ = writeln!(o, r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#);

    // Edges first, under the boxes. A solicited route points from us to
    // the peer, an accepted one from the peer to us.
    let mut edge_labels = String::new();
    for (p, &(dx, dy)) in drawn.iter().zip(&pos) {
        let (px, py) = (cx + dx, cy + dy);
        let near_us = box_exit((cx, cy), (px, py), CENTRE_W + 8.0, CENTRE_H + 8.0);
        let near_peer = box_exit((px, py), (cx, cy), NODE_W + 8.0, NODE_H + 8.0);
        let (class, (x1, y1), (x2, y2)) =
            if p.solicited { ("solicited", near_us, near_peer) } else { ("accepted", near_peer, near_us) };
        let _ = writeln!(
            o,
            r#"<line class="{class}{}" data-rid="{}" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" marker-end="url(#arrow-{class})"/>"#,
            if p.leaf { " leaf" } else { "" },
            p.rid
        );
        let rtt = p.rtt.map_or_else(|| "rtt not measured yet".to_string(), |d| format!("rtt {}", go_duration(d)));
        // Above a flat edge, beside a steep one; drawn last, over the boxes.
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        if (x2 - x1).abs() > (y2 - y1).abs() {
            text(&mut edge_labels, mx, my - 8.0, "edge", &escape(&rtt));
        } else {
            text(&mut edge_labels, mx + 8.0, my + 4.0, "edge legend", &escape(&rtt));
        }
    }

    // This server.
    let (bx, by) = (cx - CENTRE_W / 2.0, cy - CENTRE_H / 2.0);
    let _ = writeln!(
        o,
        r#"<g class="self"><title>this server: {} ({})</title><rect class="centre" x="{bx:.1}" y="{by:.1}" width="{CENTRE_W}" height="{CENTRE_H}" rx="10"/>"#,
        escape(&m.name),
        escape(&m.id)
    );
    text(&mut o, cx, by + 22.0, "name", &label(&m.name, NAME_CHARS));
    text(&mut o, cx, by + 40.0, "dim", &format!("this server · {}", short_id(&m.id)));
    let cluster = match &m.cluster {
        Some(c) => format!("cluster {}", label(c, NAME_CHARS - 8)),
        None => "no cluster port".to_string(),
    };
    text(&mut o, cx, by + 58.0, "", &cluster);
    let leafs = m.peers.iter().filter(|p| p.leaf).count();
    let links = if leafs == 0 {
        format!("{} client(s) · {} route(s)", m.clients, m.peers.len())
    } else {
        format!("{} client(s) · {} route(s) · {leafs} leaf", m.clients, m.peers.len() - leafs)
    };
    text(&mut o, cx, by + 76.0, "", &links);
    o.push_str("</g>\n");
    if drawn.is_empty() {
        let why = if m.cluster.is_some() { "no routes connected" } else { "not clustered: no routes" };
        text(&mut o, cx, by + CENTRE_H + 26.0, "dim", why);
    }

    // The peers.
    for (i, (p, &(dx, dy))) in drawn.iter().zip(&pos).enumerate() {
        let (px, py) = (cx + dx, cy + dy);
        let (x, y) = (px - NODE_W / 2.0, py - NODE_H / 2.0);
        let dir = match (p.leaf, p.solicited) {
            (false, true) => "solicited (we dialed)",
            (false, false) => "accepted (peer dialed)",
            (true, true) => "leaf link to our hub",
            (true, false) => "leaf node of ours",
        };
        let _ = writeln!(
            o,
            r#"<g class="peer" data-kind="{}" data-rid="{}" data-direction="{}"><title>{} ({}) {} rid {}</title>"#,
            if p.leaf { "leaf" } else { "route" },
            p.rid,
            if p.solicited { "solicited" } else { "accepted" },
            escape(&p.name),
            escape(&p.id),
            escape(&p.addr),
            p.rid
        );
        let _ = writeln!(
            o,
            r#"<clipPath id="clip{i}"><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}"/></clipPath><rect class="node" x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="8" style="stroke:{}"/><g clip-path="url(#clip{i})">"#,
            if p.solicited { SOLICITED_COLOUR } else { ACCEPTED_COLOUR }
        );
        text(&mut o, px, y + 19.0, "name", &label(&p.name, NAME_CHARS));
        let mut dir_line = dir.to_string();
        if p.configured {
            dir_line.push_str(", configured");
        }
        text(&mut o, px, y + 35.0, "dim", &format!("{} · rid {}", escape(&p.addr), p.rid));
        text(&mut o, px, y + 51.0, "", &dir_line);
        let rtt = p.rtt.map_or_else(|| "not measured".to_string(), go_duration);
        text(&mut o, px, y + 67.0, "", &format!("rtt {} · pending {}", escape(&rtt), fmt_bytes(p.pending)));
        let mark = if p.rates.since_start && m.window.is_some() { "*" } else { "" };
        text(
            &mut o,
            px,
            y + 83.0,
            "",
            &format!("in {} msg/s · out {} msg/s{mark}", fmt_rate(p.rates.in_per_sec), fmt_rate(p.rates.out_per_sec)),
        );
        text(
            &mut o,
            px,
            y + 98.0,
            "dim",
            &format!("total in {} · out {}", fmt_count(p.in_msgs), fmt_count(p.out_msgs)),
        );
        o.push_str("</g></g>\n");
    }

    o.push_str(&edge_labels);

    // Legend.
    let ly = height - LEGEND_H + 14.0;
    let _ = writeln!(
        o,
        r#"<line class="solicited" x1="{MARGIN}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" marker-end="url(#arrow-solicited)"/>"#,
        MARGIN + 40.0
    );
    text(&mut o, MARGIN + 50.0, ly + 4.0, "legend", "solicited: this server dialed the peer");
    let lx2 = MARGIN + 330.0;
    let _ = writeln!(
        o,
        r#"<line class="accepted" x1="{lx2:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" marker-end="url(#arrow-accepted)"/>"#,
        lx2 + 40.0
    );
    text(&mut o, lx2 + 50.0, ly + 4.0, "legend", "accepted: the peer dialed this server");
    let rates = match m.window {
        Some(w) => format!(
            "msg/s over the {:.1} s since the previous load of this page (* a route that connected since: over its lifetime)",
            w.as_secs_f64()
        ),
        None => "msg/s over each route's lifetime (since it connected); later loads show the rate since the previous load"
            .to_string(),
    };
    text(&mut o, MARGIN, ly + 26.0, "legend", &escape(&rates));
    let mut foot = format!("rtt: last PING to PONG · generated {}", escape(&m.generated));
    if m.peers.len() > drawn.len() {
        let _ = write!(foot, " · {} more route(s) not drawn, see /routez", m.peers.len() - drawn.len());
    }
    text(&mut o, MARGIN, ly + 46.0, "legend dim", &foot);
    o.push_str("</svg>\n");
    o
}

/// The index page: the endpoint links, then the drawing.
pub fn index_page(m: &Mesh) -> String {
    let mut o = String::with_capacity(8192);
    let _ = write!(
        o,
        concat!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n",
            "<meta http-equiv=\"refresh\" content=\"{refresh}\">\n",
            "<title>rnats-server {name}</title>\n",
            "<style>body{{font-family:DejaVu Sans,Verdana,Arial,sans-serif;margin:16px}} h2{{margin-bottom:4px}} p.note{{color:#57606a;margin-top:0}}</style>\n",
            "</head><body>\n",
            "<h1>nats-server v{compat} (rnats-server {own})</h1>\n",
            "<a href=./varz>General</a><br/>\n",
            "<a href=./connz>Connections</a><br/>\n",
            "<a href=./routez>Routes</a><br/>\n",
            "<a href=./subsz>Subscriptions</a><br/>\n",
            "<a href=./healthz>Health Probe</a><br/>\n",
            "<a href=./meshz.svg>Mesh drawing (SVG)</a><br/>\n",
            "<h2>Cluster mesh</h2>\n",
            "<p class=\"note\">As seen by this server; the same data as <a href=./routez>/routez</a>. This page reloads every {refresh} s.</p>\n",
        ),
        refresh = REFRESH_SECS,
        name = label(&m.name, NAME_CHARS),
        compat = COMPAT_VERSION,
        own = RNATS_VERSION,
    );
    o.push_str(&svg(m));
    o.push_str("</body></html>\n");
    o
}

/// A link's message rates: since the previous load (`earlier` counts,
/// `window` ago), or over its life when it has no earlier counts.
fn rates_of(
    c: &crate::server::Conn,
    earlier: Option<&(u64, u64, u64)>,
    window: Option<Duration>,
    wall: SystemTime,
) -> Rates {
    match (earlier, window) {
        (Some(&(_, i, o)), Some(w)) => Rates {
            in_per_sec: c.stats.in_msgs.saturating_sub(i) as f64 / w.as_secs_f64(),
            out_per_sec: c.stats.out_msgs.saturating_sub(o) as f64 / w.as_secs_f64(),
            since_start: false,
        },
        _ => {
            let life = wall.duration_since(c.start).unwrap_or_default().as_secs_f64().max(1e-3);
            Rates {
                in_per_sec: c.stats.in_msgs as f64 / life,
                out_per_sec: c.stats.out_msgs as f64 / life,
                since_start: true,
            }
        }
    }
}

impl Server {
    /// Collects the drawing's data from the routes (as `/routez` does) and
    /// the leaf links (as `/leafz`), and
    /// keeps this load's message counts for the next load's rates.
    pub fn mesh(&mut self) -> Mesh {
        let now = Instant::now();
        let wall = SystemTime::now();
        let prev = self.mesh_prev.as_ref().filter(|p| now.saturating_duration_since(p.at) >= MIN_WINDOW);
        let window = prev.map(|p| now.saturating_duration_since(p.at));
        let mut peers = Vec::new();
        if let Some(cl) = &self.cluster {
            for &slot in cl.routes.values() {
                let Some(c) = self.conns.get(slot) else { continue };
                let Some(r) = c.route() else { continue };
                let earlier = prev.and_then(|p| p.rows.iter().find(|row| row.0 == c.cid));
                let rates = rates_of(c, earlier, window, wall);
                let configured = r.target.and_then(|t| cl.targets.get(t)).is_some_and(|t| t.explicit);
                peers.push(Peer {
                    rid: c.cid,
                    name: if r.remote_name.is_empty() { r.remote_id.clone() } else { r.remote_name.clone() },
                    id: r.remote_id.clone(),
                    addr: crate::sys::netaddr::display_host_port(&c.peer.ip().to_string(), c.peer.port()),
                    solicited: r.solicited,
                    configured,
                    leaf: false,
                    rtt: r.rtt,
                    pending: c.pending(),
                    in_msgs: c.stats.in_msgs,
                    out_msgs: c.stats.out_msgs,
                    rates,
                });
            }
        }
        for (c, l) in self.leaf_rows() {
            let earlier = prev.and_then(|p| p.rows.iter().find(|row| row.0 == c.cid));
            peers.push(Peer {
                rid: c.cid,
                name: Server::leaf_name(l).to_string(),
                id: l.remote_id.clone(),
                addr: crate::sys::netaddr::display_host_port(&c.peer.ip().to_string(), c.peer.port()),
                solicited: !l.accepted(),
                configured: !l.accepted(),
                leaf: true,
                rtt: l.rtt,
                pending: c.pending(),
                in_msgs: c.stats.in_msgs,
                out_msgs: c.stats.out_msgs,
                rates: rates_of(c, earlier, window, wall),
            });
        }
        peers.sort_by_key(|p| p.rid);
        // Keep this load as the next window's start, unless the one kept is
        // too recent to have served (then the next load still can use it).
        if window.is_some() || self.mesh_prev.is_none() {
            self.mesh_prev =
                Some(RateSnapshot { at: now, rows: peers.iter().map(|p| (p.rid, p.in_msgs, p.out_msgs)).collect() });
        }
        Mesh {
            name: self.server_name.clone(),
            id: self.server_id.clone(),
            cluster: self.cluster.as_ref().map(|c| c.name.clone()),
            clients: self.client_count,
            peers,
            window,
            generated: rfc3339(wall),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(rid: u64, name: &str, solicited: bool) -> Peer {
        Peer {
            rid,
            name: name.to_string(),
            id: format!("NID{rid}"),
            addr: format!("127.0.0.1:{}", 6000 + rid),
            solicited,
            configured: solicited,
            leaf: false,
            rtt: if rid.is_multiple_of(2) { Some(Duration::from_micros(412)) } else { None },
            pending: 1536,
            in_msgs: 1_234_567,
            out_msgs: 89,
            rates: Rates { in_per_sec: 12.345, out_per_sec: 0.5, since_start: false },
        }
    }

    fn mesh(peers: Vec<Peer>) -> Mesh {
        Mesh {
            name: "hub".into(),
            id: "NCENTRE0000000000000000000000000000000000000000000000ABCD".into(),
            cluster: Some("c1".into()),
            clients: 3,
            peers,
            window: Some(Duration::from_millis(5000)),
            generated: "2026-01-01T00:00:00Z".into(),
        }
    }

    /// Well-formedness in the small: every `<` opens or closes a tag, and
    /// no raw `&` is left that is not an entity.
    fn assert_no_markup_leak(s: &str, forbidden: &[&str]) {
        for f in forbidden {
            assert!(!s.contains(f), "{f:?} leaked into {s}");
        }
        for (i, _) in s.match_indices('&') {
            let rest = &s[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| rest.starts_with(e)),
                "raw & at {i}: {}",
                &rest[..rest.len().min(20)]
            );
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(escape("a\u{0}b\nc\u{1b}d\u{85}"), "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}");
        assert_eq!(escape("x\u{202e}y\u{2066}"), "x\u{fffd}y\u{fffd}");
        assert_eq!(escape("Zürich-節点"), "Zürich-節点");
        let long = "é".repeat(40);
        let l = label(&long, 10);
        assert_eq!(l.chars().count(), 10);
        assert!(l.ends_with('…'));
        // Cutting never splits an entity.
        assert_eq!(label("<<<<<<<<<<<<", 4), "&lt;&lt;&lt;…");
    }

    #[test]
    fn hostile_peer_names_are_escaped() {
        let evil = "</text><script>alert(1)</script><text>&amp;\"'\u{1}";
        let mut p = peer(1, evil, false);
        p.id = "<svg onload=alert(2)>".into();
        let mut m = mesh(vec![p]);
        m.cluster = Some("<b>c</b>".into());
        m.name = "<i>me</i>".into();
        let page = index_page(&m);
        assert_no_markup_leak(&page, &["<script", "<svg onload", "<b>", "<i>", "\u{1}"]);
        assert!(page.contains("&lt;/text&gt;&lt;script&gt;"));
        assert!(page.contains("&lt;svg onload=alert(2)&gt;"));
    }

    #[test]
    fn no_routes() {
        let mut m = mesh(vec![]);
        let s = svg(&m);
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains("no routes connected"));
        assert_eq!(s.matches("<g class=\"peer\"").count(), 0);
        assert_eq!(s.matches("data-rid").count(), 0);
        m.cluster = None;
        assert!(svg(&m).contains("not clustered"));
        assert!(layout(0).is_empty());
    }

    #[test]
    fn one_route() {
        let s = svg(&mesh(vec![peer(7, "alpha", true)]));
        assert_eq!(s.matches("<g class=\"peer\"").count(), 1);
        assert!(s.contains(">alpha</text>"));
        assert!(s.contains("data-direction=\"solicited\""));
        assert!(s.contains("solicited (we dialed), configured"));
        assert!(s.contains("marker-end=\"url(#arrow-solicited)\""));
        assert!(s.contains("rtt not measured yet"));
        assert!(s.contains("pending 1.5 KiB"));
        assert!(s.contains("in 12.3 msg/s · out 0.50 msg/s"));
        assert!(s.contains("total in 1,234,567 · out 89"));
        assert!(s.contains("since the previous load"));
        // The one peer sits straight right of the centre.
        let p = layout(1);
        assert!(p[0].0 > 0.0 && p[0].1.abs() < 1e-6);
    }

    #[test]
    fn many_routes_do_not_overlap() {
        for n in [2usize, 3, 5, 8, 17, 40, 64] {
            let pos = layout(n);
            assert_eq!(pos.len(), n);
            for (i, a) in pos.iter().enumerate() {
                assert!(
                    (a.0).abs() >= (NODE_W + CENTRE_W) / 2.0 + EDGE_MIN
                        || (a.1).abs() >= (NODE_H + CENTRE_H) / 2.0 + EDGE_MIN,
                    "n={n}: box {i} over the centre"
                );
                for b in &pos[i + 1..] {
                    assert!(
                        (a.0 - b.0).abs() >= NODE_W + GAP || (a.1 - b.1).abs() >= NODE_H + GAP,
                        "n={n}: boxes overlap"
                    );
                }
            }
        }
        let peers: Vec<Peer> = (0..70).map(|i| peer(i, &format!("n{i}"), i % 3 == 0)).collect();
        let s = svg(&mesh(peers));
        assert_eq!(s.matches("<g class=\"peer\"").count(), MAX_DRAWN);
        assert!(s.contains("6 more route(s) not drawn"));
        assert!(s.contains("data-direction=\"accepted\""));
        assert!(s.contains("marker-end=\"url(#arrow-accepted)\""));
        // viewBox fits every box.
        let vb = s.split("viewBox=\"0 0 ").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
        let dims: Vec<f64> = vb.split(' ').filter_map(|v| v.parse().ok()).collect();
        let pos = layout(MAX_DRAWN);
        let span_x = pos.iter().map(|p| p.0.abs()).fold(0.0, f64::max) * 2.0 + NODE_W;
        assert!(dims[0] >= span_x, "{dims:?} vs {span_x}");
    }

    #[test]
    fn lifetime_rates_are_labelled() {
        let mut m = mesh(vec![peer(1, "a", true)]);
        m.window = None;
        assert!(svg(&m).contains("over each route&#39;s lifetime"));
        m.window = Some(Duration::from_secs(3));
        m.peers[0].rates.since_start = true;
        let s = svg(&m);
        assert!(s.contains("msg/s*"));
        assert!(s.contains("over the 3.0 s since the previous load"));
    }

    #[test]
    fn index_page_keeps_the_links() {
        let page = index_page(&mesh(vec![peer(2, "b", false)]));
        for l in ["./varz", "./connz", "./routez", "./subsz", "./healthz", "./meshz.svg"] {
            assert!(page.contains(&format!("<a href={l}>")), "{l}");
        }
        assert!(page.contains(&format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">")));
        assert!(page.contains("rtt 412µs"));
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_count(0), "0");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_count(1000), "1,000");
        assert_eq!(fmt_count(12_345_678), "12,345,678");
        assert_eq!(fmt_bytes(0), "0 B");
        assert_eq!(fmt_bytes(2048), "2.0 KiB");
        assert_eq!(fmt_bytes(3 << 20), "3.0 MiB");
        assert_eq!(fmt_rate(0.0), "0");
        assert_eq!(fmt_rate(f64::NAN), "0");
        assert_eq!(fmt_rate(1234.4), "1234");
        assert_eq!(short_id("NABCDEFGHIJKLMNOPQRSTUVWXYZ"), "NABCDE…WXYZ");
        assert_eq!(short_id("<id>"), "&lt;id&gt;");
    }
}
