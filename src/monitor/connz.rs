//! `/connz`, `/routez` and `/subsz`: per-connection and per-subscription
//! views, with Go's field names, order, defaults and query parameters.

use std::time::{Instant, SystemTime};

use crate::conn::{CloseReason, Kind};
use crate::monitor::go_format::JsonOut;
use crate::monitor::state::{ConnRow, CLIENT_KIND, CLIENT_TYPE, WEBSOCKET_TYPE};
use crate::routing::sublist::Subscription;
use crate::server::Conn;
use crate::server::Server;
use rnats_protocol::gotime::{go_duration, rfc3339, uptime};

/// Decoded query string parameters of a request (`sort=subs&limit=2`).
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: &str) -> Query {
        Query(
            rnats_protocol::http::query_pairs(query.as_bytes())
                .into_iter()
                .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), String::from_utf8_lossy(&v).into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    /// Go's `strconv.ParseBool`; absent or empty is false.
    pub fn bool(&self, k: &str) -> Result<bool, String> {
        match self.get(k).unwrap_or("") {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            v => Err(format!("Error decoding boolean for '{k}': strconv.ParseBool: parsing {v:?}: invalid syntax")),
        }
    }

    fn int(&self, k: &str, default: i64) -> Result<i64, String> {
        match self.get(k) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("Error decoding int for '{k}': strconv.Atoi: parsing {v:?}: invalid syntax")),
        }
    }
}

/// A duration the way Go's monitor prints idle time and uptime.
fn since(t: Instant) -> String {
    uptime(Instant::now().saturating_duration_since(t).as_secs())
}

/// Nanoseconds since the Unix epoch (0 before it): a sort key for times.
fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Orders subscriptions by sid, as the monitoring lists show them.
fn sort_by_sid(subs: &mut [std::rc::Rc<Subscription>]) {
    subs.sort_unstable_by(|a, b| a.sid().cmp(b.sid()));
}

fn last_activity_time(c: &Conn) -> SystemTime {
    SystemTime::now() - Instant::now().saturating_duration_since(c.last_activity)
}

fn sub_detail(j: &mut JsonOut, s: &Subscription, account: Option<&str>) {
    j.open(None, b'{');
    if let Some(a) = account {
        j.str("account", a);
    }
    j.str("subject", &String::from_utf8_lossy(s.subject()));
    if let Some(q) = s.queue() {
        j.str("qgroup", &String::from_utf8_lossy(q));
    }
    j.str("sid", &String::from_utf8_lossy(s.sid()));
    j.num("msgs", s.delivered.get());
    if s.max.get() > 0 {
        j.num("max", s.max.get());
    }
    j.num("cid", s.cid);
    j.close(b'}');
}

/// Writes `subscriptions_list` (subjects) or `subscriptions_list_detail`.
fn sub_lists<'s>(j: &mut JsonOut, mode: &str, subs: impl Iterator<Item = &'s std::rc::Rc<Subscription>>) {
    match mode {
        "detail" => {
            j.open(Some("subscriptions_list_detail"), b'[');
            for s in subs {
                sub_detail(j, s, None);
            }
            j.close(b']');
        }
        _ => {
            j.open(Some("subscriptions_list"), b'[');
            for s in subs {
                j.item_str(&String::from_utf8_lossy(s.subject()));
            }
            j.close(b']');
        }
    }
}

/// Subscriptions listed per connection entry at most.
const MAX_SUBS_KEPT: usize = 1024;

impl ConnRow {
    /// Estimated heap and inline bytes held by this row (subscriptions are
    /// counted whole: a closed row may be their last owner).
    pub fn approx_bytes(&self) -> usize {
        let strings = self.ip.len()
            + self.name.len()
            + self.lang.len()
            + self.version.len()
            + self.user.len()
            + self.tls.as_ref().map_or(0, |t| t.1.len())
            + self.peer_certs.iter().flatten().map(|s| s.len() + 24).sum::<usize>();
        let subs: usize = self
            .subs
            .iter()
            .map(|s| {
                std::mem::size_of::<Subscription>()
                    + 16
                    + s.subject().len()
                    + s.sid().len()
                    + s.queue().map_or(0, |q| q.len())
                    + std::mem::size_of::<usize>()
            })
            .sum();
        std::mem::size_of::<ConnRow>() + strings + subs
    }

    /// Whole seconds from the start to `now` (or to the close), as `/connz`
    /// shows `uptime`.
    pub fn uptime_secs(&self, now: SystemTime) -> u64 {
        self.stop.unwrap_or(now).duration_since(self.start).unwrap_or_default().as_secs()
    }

    /// Whole seconds without activity up to `now` (or to the close), as
    /// `/connz` shows `idle`.
    pub fn idle_secs(&self, now: SystemTime) -> u64 {
        self.stop.unwrap_or(now).duration_since(self.last_activity).unwrap_or_default().as_secs()
    }

    pub fn open(c: &Conn, with_subs: bool, accounts: &crate::routing::accounts::Accounts) -> ConnRow {
        let cl = c.client();
        let mut subs: Vec<_> = match cl {
            Some(cl) if with_subs => cl.subs.values().cloned().collect(),
            _ => Vec::new(),
        };
        sort_by_sid(&mut subs);
        // Bounded: closed connections keep this list around.
        subs.truncate(MAX_SUBS_KEPT);
        ConnRow {
            cid: c.cid,
            ip: c.peer.ip().to_string(),
            port: c.peer.port(),
            start: c.start,
            last_activity: last_activity_time(c),
            stop: None,
            reason: None,
            account: cl
                .filter(|cl| cl.account != crate::routing::accounts::GLOBAL)
                .map(|cl| accounts.name_str(cl.account).into()),
            pending: c.pending(),
            stats: c.stats,
            num_subs: cl.map_or(0, |cl| cl.subs.len()),
            name: cl.map(|cl| cl.name.clone()).unwrap_or_default(),
            lang: cl.map(|cl| cl.lang.clone()).unwrap_or_default(),
            version: cl.map(|cl| cl.version.clone()).unwrap_or_default(),
            user: cl.map(|cl| cl.user.clone()).unwrap_or_default(),
            tls: c.sock.tls_state(),
            peer_certs: c.sock.peer_certs(),
            subs,
            conn_type: if c.sock.websocket() { WEBSOCKET_TYPE } else { CLIENT_TYPE },
        }
    }
}

/// The connections a `/connz` query selects, in its sort order, with the
/// page it asked for: what `/connz` lists and `/metrics` sums.
pub struct ConnzPage {
    rows: Vec<ConnRow>,
    pub offset: usize,
    pub limit: usize,
    pub now: SystemTime,
    subs_mode: &'static str,
    auth: bool,
}

impl ConnzPage {
    /// Connections matching the query (`total`).
    pub fn total(&self) -> usize {
        self.rows.len()
    }

    /// The connections of the page (`connections`; their count is
    /// `num_connections`).
    pub fn listed(&self) -> impl Iterator<Item = &ConnRow> {
        self.rows.iter().skip(self.offset).take(self.limit)
    }

    pub fn num_connections(&self) -> usize {
        self.total().saturating_sub(self.offset).min(self.limit)
    }
}

/// One `/routez` entry: a registered route connection and its state.
pub struct RouteRow<'a> {
    pub conn: &'a Conn,
    pub route: &'a crate::route::state::RouteState,
    /// Dialed because `-routes` (or `cluster.routes`) names it.
    pub configured: bool,
}

impl Server {
    /// Keeps a closed client's row for `/connz?state=closed`, the oldest
    /// dropped first.
    pub fn remember_closed(&mut self, c: &Conn, reason: CloseReason) {
        let mut row = ConnRow::open(c, true, &self.accounts);
        row.stop = Some(SystemTime::now());
        row.reason = Some(reason.as_str());
        // Go lists a client's certificates for open connections only.
        row.peer_certs = Vec::new();
        self.closed.push(row, self.opts.max_closed_clients, self.opts.closed_clients_memory);
    }

    /// Runs a `/connz` query: selection, sorting and paging. An `Err` is
    /// the text of Go's 400 answer for a bad parameter.
    pub fn connz_page(&self, query: &str) -> Result<ConnzPage, String> {
        let q = Query::parse(query);
        let subs_mode = match q.get("subs") {
            Some("detail") => "detail",
            _ if q.bool("subs")? => "list",
            _ => "",
        };
        let mut limit = q.int("limit", 1024)?;
        if limit <= 0 {
            limit = 1024;
        }
        let offset = q.int("offset", 0)?.max(0) as usize;
        let sort = q.get("sort").unwrap_or("cid");
        let state = q.get("state").unwrap_or("open").to_ascii_lowercase();
        let (open, closed) = match state.as_str() {
            "open" => (true, false),
            "closed" => (false, true),
            "any" | "all" => (true, true),
            _ => return Err(format!("Error decoding state for {state}")),
        };
        let cid_filter = match q.get("cid") {
            None | Some("") => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                format!("Error decoding uint64 for 'cid': strconv.ParseUint: parsing {v:?}: invalid syntax")
            })?),
        };
        let auth = q.bool("auth")?;
        let want_subs = !subs_mode.is_empty();
        let mut rows: Vec<ConnRow> = Vec::new();
        if open {
            rows.extend(
                self.conns
                    .iter()
                    .map(|(_, c)| c)
                    .filter(|c| c.kind() == Kind::Client && c.closing.is_none())
                    .filter(|c| cid_filter.is_none_or(|id| c.cid == id))
                    .map(|c| ConnRow::open(c, want_subs, &self.accounts)),
            );
        }
        if closed {
            rows.extend(self.closed.iter().filter(|c| cid_filter.is_none_or(|id| c.cid == id)).cloned());
        }
        // `$G` names the clients outside every configured account. (Go 2.9
        // means to allow this filter only with `auth` but does not check.)
        if let Some(acc) = q.get("acc").filter(|a| !a.is_empty()) {
            rows.retain(|c| c.account.as_deref().unwrap_or("$G") == acc);
        }
        match sort {
            "cid" | "start" | "rtt" | "subs" | "pending" | "msgs_to" | "msgs_from" | "bytes_to" | "bytes_from"
            | "last" | "idle" | "uptime" => {}
            "stop" | "reason" if !closed || open => {
                return Err(format!("sort by {sort} only valid on closed connections"))
            }
            "stop" | "reason" => {}
            other => return Err(format!("invalid sorting option: {other}")),
        }
        let mut reasons: Vec<&str> = Vec::new();
        if sort == "reason" {
            reasons = rows.iter().map(|c| c.reason.unwrap_or("")).collect();
            reasons.sort_unstable();
            reasons.dedup();
        }
        // One stable sort keyed by a number (descending orders use the
        // complement): rows start in cid order, so ties stay in cid order.
        rows.sort_by_key(|c| match sort {
            "subs" => !(c.num_subs as u64),
            "pending" => !(c.pending as u64),
            "msgs_to" => !c.stats.out_msgs,
            "msgs_from" => !c.stats.in_msgs,
            "bytes_to" => !c.stats.out_bytes,
            "bytes_from" => !c.stats.in_bytes,
            "last" => !unix_nanos(c.last_activity),
            "idle" => unix_nanos(c.last_activity),
            "uptime" => !unix_nanos(c.start),
            "stop" => !c.stop.map_or(0, |t| unix_nanos(t).saturating_add(1)),
            "reason" => reasons.binary_search(&c.reason.unwrap_or("")).unwrap_or(0) as u64,
            _ => c.cid,
        });
        Ok(ConnzPage { rows, offset, limit: limit as usize, now: SystemTime::now(), subs_mode, auth })
    }

    pub fn connz(&self, query: &str) -> Result<Vec<u8>, String> {
        let page = self.connz_page(query)?;
        let now = page.now;
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rfc3339(now));
        j.num("num_connections", page.num_connections());
        j.num("total", page.total());
        j.num("offset", page.offset);
        j.num("limit", page.limit);
        j.open(Some("connections"), b'[');
        for c in page.listed() {
            j.open(None, b'{');
            j.num("cid", c.cid);
            j.str("kind", CLIENT_KIND);
            j.str("type", c.conn_type);
            j.str("ip", &c.ip);
            j.num("port", c.port);
            j.str("start", &rfc3339(c.start));
            j.str("last_activity", &rfc3339(c.last_activity));
            if let Some(stop) = c.stop {
                j.str("stop", &rfc3339(stop));
            }
            if let Some(reason) = c.reason {
                j.str("reason", reason);
            }
            j.str("uptime", &uptime(c.uptime_secs(now)));
            j.str("idle", &uptime(c.idle_secs(now)));
            j.num("pending_bytes", c.pending);
            j.num("in_msgs", c.stats.in_msgs);
            j.num("out_msgs", c.stats.out_msgs);
            j.num("in_bytes", c.stats.in_bytes);
            j.num("out_bytes", c.stats.out_bytes);
            j.num("subscriptions", c.num_subs);
            if !c.name.is_empty() {
                j.str("name", &c.name);
            }
            if !c.lang.is_empty() {
                j.str("lang", &c.lang);
            }
            if !c.version.is_empty() {
                j.str("version", &c.version);
            }
            if let Some((version, cipher)) = &c.tls {
                j.str("tls_version", version);
                j.str("tls_cipher_suite", cipher);
            }
            if page.auth && !c.peer_certs.is_empty() {
                j.open(Some("tls_peer_certs"), b'[');
                for [subject, spki, cert] in &c.peer_certs {
                    j.open(None, b'{');
                    if !subject.is_empty() {
                        j.str("subject", subject);
                    }
                    j.str("spki_sha256", spki);
                    j.str("cert_sha256", cert);
                    j.close(b'}');
                }
                j.close(b']');
            }
            if page.auth && !c.user.is_empty() {
                j.str("authorized_user", &c.user);
            }
            if let Some(a) = c.account.as_deref().filter(|_| page.auth) {
                j.str("account", a);
            }
            if !page.subs_mode.is_empty() && !c.subs.is_empty() {
                sub_lists(&mut j, page.subs_mode, c.subs.iter());
            }
            j.close(b'}');
        }
        j.close(b']');
        j.close(b'}');
        Ok(j.buf)
    }

    /// The registered routes, in rid order: what `/routez` lists.
    pub fn route_rows(&self) -> Vec<RouteRow<'_>> {
        let Some(cluster) = &self.cluster else { return Vec::new() };
        let mut rows: Vec<RouteRow> = cluster
            .routes
            .values()
            .filter_map(|s| self.conns.get(*s))
            .filter_map(|conn| {
                let route = conn.route()?;
                let configured = route.target.and_then(|t| cluster.targets.get(t)).is_some_and(|t| t.explicit);
                Some(RouteRow { conn, route, configured })
            })
            .collect();
        rows.sort_by_key(|r| r.conn.cid);
        rows
    }

    pub fn routez(&self, query: &str) -> Result<Vec<u8>, String> {
        let q = Query::parse(query);
        let subs_mode = match q.get("subs") {
            Some("detail") => "detail",
            _ if q.bool("subs")? => "list",
            _ => "",
        };
        let routes = self.route_rows();
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rfc3339(SystemTime::now()));
        j.num("num_routes", routes.len());
        j.open(Some("routes"), b'[');
        for RouteRow { conn: c, route: r, configured } in routes {
            j.open(None, b'{');
            j.num("rid", c.cid);
            j.str("remote_id", &r.remote_id);
            j.str("remote_name", &r.remote_name);
            j.bool("did_solicit", r.solicited);
            j.bool("is_configured", configured);
            j.str("ip", &c.peer.ip().to_string());
            j.num("port", c.peer.port());
            j.str("start", &rfc3339(c.start));
            j.str("last_activity", &rfc3339(last_activity_time(c)));
            j.str("rtt", &go_duration(r.rtt.unwrap_or_default()));
            j.str("uptime", &uptime(SystemTime::now().duration_since(c.start).unwrap_or_default().as_secs()));
            j.str("idle", &since(c.last_activity));
            j.num("pending_size", c.pending());
            j.num("in_msgs", c.stats.in_msgs);
            j.num("out_msgs", c.stats.out_msgs);
            j.num("in_bytes", c.stats.in_bytes);
            j.num("out_bytes", c.stats.out_bytes);
            j.num("subscriptions", r.remote_subs.len());
            if !subs_mode.is_empty() && !r.remote_subs.is_empty() {
                let mut subs: Vec<_> = r.remote_subs.values().cloned().collect();
                sort_by_sid(&mut subs);
                sub_lists(&mut j, subs_mode, subs.iter());
            }
            j.close(b'}');
        }
        j.close(b']');
        j.close(b'}');
        Ok(j.buf)
    }

    pub fn subsz(&self, query: &str) -> Result<Vec<u8>, String> {
        let q = Query::parse(query);
        let with_subs = q.bool("subs")?;
        let offset = q.int("offset", 0)?.max(0) as usize;
        let mut limit = q.int("limit", 1024)?;
        if limit <= 0 {
            limit = 1024;
        }
        let test = q.get("test").filter(|t| !t.is_empty());
        if let Some(t) = test {
            if !rnats_protocol::subject::is_valid_literal_subject(t.as_bytes()) {
                return Err(format!("invalid test subject, must be valid publish subject: {t}"));
            }
        }
        // Over every account, or the one `acc` names (as Go sums them).
        let filter = q.get("acc").filter(|a| !a.is_empty());
        let wanted =
            |id: crate::routing::accounts::AccId| filter.is_none_or(|a| self.accounts.name(id) == a.as_bytes());
        let lists = std::iter::once(&self.sublist).chain(self.accounts.sublists());
        let lists: Vec<&crate::routing::sublist::Sublist> =
            lists.enumerate().filter(|(i, _)| wanted(*i as crate::routing::accounts::AccId)).map(|(_, l)| l).collect();
        let mut st = crate::routing::sublist::SublistStats::default();
        let (mut count, mut cache_len, mut max_fanout, mut fanout_sum) = (0, 0, 0, 0.0);
        for l in &lists {
            st.inserts += l.stats.inserts;
            st.removes += l.stats.removes;
            st.matches += l.stats.matches;
            st.cache_hits += l.stats.cache_hits;
            count += l.count();
            cache_len += l.cache_len();
            let (max, avg) = l.cache_fanout();
            max_fanout = max_fanout.max(max);
            fanout_sum += avg * l.cache_len() as f64;
        }
        let avg_fanout = if cache_len == 0 { 0.0 } else { fanout_sum / cache_len as f64 };
        let mut all: Vec<&std::rc::Rc<Subscription>> = self
            .conns
            .iter()
            .filter_map(|(_, c)| c.client())
            .flat_map(|cl| cl.subs.values())
            .filter(|s| wanted(s.account))
            .collect();
        if let Some(t) = test {
            all.retain(|s| rnats_protocol::subject::matches(s.subject(), t.as_bytes()));
        }
        all.sort_unstable_by(|a, b| (a.cid, a.sid()).cmp(&(b.cid, b.sid())));
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("server_id", &self.server_id);
        j.str("now", &rfc3339(SystemTime::now()));
        j.num("num_subscriptions", count);
        j.num("num_cache", cache_len);
        j.num("num_inserts", st.inserts);
        j.num("num_removes", st.removes);
        j.num("num_matches", st.matches);
        j.num("cache_hit_rate", if st.matches == 0 { 0.0 } else { st.cache_hits as f64 / st.matches as f64 });
        j.num("max_fanout", max_fanout);
        j.num("avg_fanout", avg_fanout);
        j.num("total", if with_subs { all.len() } else { 0 });
        j.num("offset", offset);
        j.num("limit", limit);
        if with_subs && !all.is_empty() {
            j.open(Some("subscriptions_list"), b'[');
            for s in all.into_iter().skip(offset).take(limit as usize) {
                sub_detail(&mut j, s, Some(self.accounts.name_str(s.account)));
            }
            j.close(b']');
        }
        j.close(b'}');
        Ok(j.buf)
    }
}
