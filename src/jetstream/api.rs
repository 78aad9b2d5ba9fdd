//! The `$JS.API` requests: dispatch on the subject's tokens, one JSON
//! answer (Go's response types, fields and errors) on the reply subject.
//! Subjects no handler takes get no answer, as from Go.

use rnats_protocol::json::{self, Value};

use super::config::{self, Obj, Retention, StreamConfig};
use super::consumer::{self, consumer_dir};
use super::state::{Consumer, Stream};
use super::stream;
use super::{now_nanos, time_text, Action, ApiError, Inbound, JetStream, Resume, ERASE_PER_PASS};
use crate::routing::accounts::AccId;
use crate::server::Server;

/// Request bodies larger than this are refused unread.
const MAX_REQUEST: usize = 1 << 20;
const NAMES_LIMIT: usize = 1024;
const LIST_LIMIT: usize = 256;

fn typ(name: &str) -> Value {
    config::s(&format!("io.nats.jetstream.api.v1.{name}"))
}

/// An empty request as Go's `isEmptyRequest` sees it.
fn is_empty(body: &[u8]) -> bool {
    let t = body.trim_ascii();
    if t.is_empty() {
        return true;
    }
    matches!(json::parse(t), Ok(Value::Object(f)) if f.is_empty())
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_REQUEST {
        return Err(ApiError::bad_json());
    }
    let t = body.trim_ascii();
    if t.is_empty() {
        return Ok(Value::Object(Vec::new()));
    }
    match json::parse(t) {
        Ok(v @ Value::Object(_)) => Ok(v),
        // Go decodes `null` into a request with no fields (clients such
        // as async-nats send it for requests without arguments).
        Ok(Value::Null) => Ok(Value::Object(Vec::new())),
        _ => Err(ApiError::bad_json()),
    }
}

fn err_resp(kind: &str, e: &ApiError, extra: &[(&str, Value)]) -> Value {
    let mut o = Obj::default();
    o.put("type", typ(kind));
    for (k, v) in extra {
        o.put(k, v.clone());
    }
    o.put("error", e.to_value());
    o.done()
}

/// Handles one API request.
pub fn handle(srv: &mut Server, js: &mut JetStream, m: &Inbound) {
    let subject = String::from_utf8_lossy(&m.subject).into_owned();
    // `$JS.<domain>.API.X` is `$JS.API.X`.
    let rest = if let Some(r) = subject.strip_prefix("$JS.API.") {
        r.to_string()
    } else {
        match js.opts.domain.as_ref().and_then(|d| subject.strip_prefix(&format!("$JS.{d}.API."))) {
            Some(r) => r.to_string(),
            None => return,
        }
    };
    let toks: Vec<&str> = rest.split('.').collect();
    let body = m.data();
    let reply = m.reply.as_deref().map(<[u8]>::to_vec);
    // Served by streams and consumers rather than the API: nobody there
    // means no responders.
    if toks.first() == Some(&"DIRECT") {
        if toks.len() >= 3 && toks[1] == "GET" {
            direct_get(srv, js, m, &toks[2..]);
        }
        return;
    }
    if toks.len() == 5 && toks[0] == "CONSUMER" && toks[1] == "MSG" && toks[2] == "NEXT" {
        if let Some(r) = reply {
            consumer::next_request(srv, js, m, toks[3], toks[4], body, &r);
        }
        return;
    }
    if js.account(m.acc).is_none() {
        let e = ApiError::new(503, 10039, "JetStream not enabled for account");
        if let (Some(kind), Some(reply)) = (response_kind(&toks), &reply) {
            srv.js_respond(m.acc, reply, &err_resp(kind, &e, &[]));
        }
        return;
    }
    // A request without a reply runs, counts, and is answered to nobody.
    if let Some((v, count)) = dispatch(srv, js, m.acc, &toks, body) {
        if js.resume.is_some() {
            // Not done yet: runs again in the next pass.
            return;
        }
        if let (Some(a), Some(failed)) = (js.account_mut(m.acc), count) {
            a.api_total += 1;
            if failed {
                a.api_errors += 1;
            }
        }
        if let Some(reply) = reply {
            srv.js_respond(m.acc, &reply, &v);
        }
    }
}

fn response_kind(toks: &[&str]) -> Option<&'static str> {
    Some(match toks {
        ["INFO"] => "account_info_response",
        ["STREAM", "CREATE", _] => "stream_create_response",
        ["STREAM", "UPDATE", _] => "stream_update_response",
        ["STREAM", "INFO", _] => "stream_info_response",
        ["STREAM", "NAMES"] => "stream_names_response",
        ["STREAM", "LIST"] => "stream_list_response",
        ["STREAM", "DELETE", _] => "stream_delete_response",
        ["STREAM", "PURGE", _] => "stream_purge_response",
        ["STREAM", "MSG", "GET", _] => "stream_msg_get_response",
        ["STREAM", "MSG", "DELETE", _] => "stream_msg_delete_response",
        ["CONSUMER", "CREATE", _, ..] | ["CONSUMER", "DURABLE", "CREATE", _, _] => "consumer_create_response",
        ["CONSUMER", "INFO", _, _] => "consumer_info_response",
        ["CONSUMER", "NAMES", _] => "consumer_names_response",
        ["CONSUMER", "LIST", _] => "consumer_list_response",
        ["CONSUMER", "DELETE", _, _] => "consumer_delete_response",
        _ => return None,
    })
}

/// The answer, and how it counts: as an API error, as a request, or (a
/// message got, which Go answers outside its API layer) not at all.
fn dispatch(
    srv: &mut Server,
    js: &mut JetStream,
    acc: AccId,
    toks: &[&str],
    body: &[u8],
) -> Option<(Value, Option<bool>)> {
    let kind = response_kind(toks)?;
    let r = match toks {
        ["INFO"] => account_info(js, acc),
        ["STREAM", "CREATE", name] => stream_create(srv, js, acc, name, body),
        ["STREAM", "UPDATE", name] => stream_update(srv, js, acc, name, body),
        ["STREAM", "INFO", name] => stream_info(srv, js, acc, name, body),
        ["STREAM", "NAMES"] => stream_names(js, acc, body, false),
        ["STREAM", "LIST"] => stream_names(js, acc, body, true),
        ["STREAM", "DELETE", name] => stream_delete(srv, js, acc, name, body),
        ["STREAM", "PURGE", name] => stream_purge(js, acc, name, body),
        ["STREAM", "MSG", "GET", name] => msg_get(js, acc, name, body),
        ["STREAM", "MSG", "DELETE", name] => msg_delete(srv, js, acc, name, body),
        ["CONSUMER", "CREATE", stream, rest @ ..] => consumer_create(srv, js, acc, stream, rest, false, body),
        ["CONSUMER", "DURABLE", "CREATE", stream, name] => consumer_create(srv, js, acc, stream, &[name], true, body),
        ["CONSUMER", "INFO", stream, name] => consumer_info(srv, js, acc, stream, name, body),
        ["CONSUMER", "NAMES", stream] => consumer_names(js, acc, stream, body, false),
        ["CONSUMER", "LIST", stream] => consumer_names(js, acc, stream, body, true),
        ["CONSUMER", "DELETE", stream, name] => consumer_delete(srv, js, acc, stream, name, body),
        _ => return None,
    };
    Some(match r {
        Ok(v) if matches!(toks, ["STREAM", "MSG", "GET", _]) => (v, None),
        Ok(v) => (v, Some(false)),
        Err((e, extra)) => (err_resp(kind, &e, &extra), Some(true)),
    })
}

type Reply = Result<Value, (ApiError, Vec<(&'static str, Value)>)>;

fn fail(e: ApiError) -> (ApiError, Vec<(&'static str, Value)>) {
    (e, Vec::new())
}

fn paged() -> Vec<(&'static str, Value)> {
    vec![("total", config::n(0)), ("offset", config::n(0)), ("limit", config::n(0))]
}

/// The empty page of an error answer to a names or list request.
fn paged_items(key: &'static str, items: Value) -> Vec<(&'static str, Value)> {
    let mut p = paged();
    p.push((key, items));
    p
}

fn limits_value(l: &super::JsLimits) -> Value {
    let mut o = Obj::default();
    o.put("max_memory", config::n(l.max_memory));
    o.put("max_storage", config::n(l.max_store));
    o.put("max_streams", config::n(l.max_streams));
    o.put("max_consumers", config::n(l.max_consumers));
    o.put("max_ack_pending", config::n(l.max_ack_pending));
    o.put("memory_max_stream_bytes", config::n(l.mem_max_stream_bytes));
    o.put("storage_max_stream_bytes", config::n(l.disk_max_stream_bytes));
    o.put("max_bytes_required", Value::Bool(l.max_bytes_required));
    o.done()
}

fn account_info(js: &JetStream, acc: AccId) -> Reply {
    let a = js.account(acc).ok_or_else(|| fail(ApiError::new(503, 10039, "JetStream not enabled for account")))?;
    let mut o = Obj::default();
    o.put("type", typ("account_info_response"));
    o.put("memory", config::u(a.usage(false)));
    o.put("storage", config::u(a.usage(true)));
    // Go reserves the max_bytes of every stream that sets it.
    let reserved = |file: bool| {
        a.streams.values().filter(|s| s.cfg.file == file && s.cfg.max_bytes > 0).map(|s| s.cfg.max_bytes as u64).sum()
    };
    o.put("reserved_memory", config::u(reserved(false)));
    o.put("reserved_storage", config::u(reserved(true)));
    o.put("streams", config::u(a.streams.len() as u64));
    o.put("consumers", config::u(a.consumers() as u64));
    o.put("limits", limits_value(&a.limits));
    if let Some(d) = &js.opts.domain {
        o.put("domain", config::s(d));
    }
    let mut api = Obj::default();
    api.put("total", config::u(a.api_total));
    api.put("errors", config::u(a.api_errors));
    o.put("api", api.done());
    Ok(o.done())
}

/// StreamInfo fields (config, created, state, cluster, ts).
fn stream_info_fields(o: &mut Obj, s: &Stream, srv_name: &str, with_cluster: bool, state: Value) {
    o.put("config", s.cfg.to_value());
    o.put("created", config::s(&time_text(s.created)));
    o.put("state", state);
    if with_cluster {
        let mut c = Obj::default();
        c.put("leader", config::s(srv_name));
        o.put("cluster", c.done());
    }
    o.put("ts", config::s(&time_text(now_nanos())));
}

fn check_name_in_subject(name: &str, cfg_name: &str) -> Result<(), ApiError> {
    if !cfg_name.is_empty() && name != cfg_name {
        return Err(ApiError::new(400, 10056, "stream name in subject does not match request"));
    }
    Ok(())
}

fn stream_create(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    let v = parse_body(body).map_err(fail)?;
    let mut cfg = StreamConfig::parse(&v).map_err(fail)?;
    if name != cfg.name {
        return Err(fail(ApiError::new(400, 10056, "stream name in subject does not match request")));
    }
    if cfg.name.contains(['/', '\\']) {
        return Err(fail(ApiError::new(400, 10128, "Stream name can not contain path separators")));
    }
    if cfg.sealed {
        return Err(fail(ApiError::new(500, 10052, "stream configuration for create can not be sealed")));
    }
    if cfg.mirror_direct {
        return Err(fail(ApiError::new(500, 10052, "stream has no mirror but does have mirror direct")));
    }
    cfg.normalize().map_err(fail)?;
    if cfg.num_replicas > 1 {
        return Err(fail(ApiError::new(500, 10074, "replicas > 1 not supported in non-clustered mode")));
    }
    let a = js.account(acc).ok_or_else(|| fail(ApiError::new(503, 10039, "JetStream not enabled for account")))?;
    check_stream_bytes(&a.limits, &cfg).map_err(fail)?;
    if let Some(existing) = a.streams.get(&cfg.name) {
        if existing.cfg != cfg {
            return Err(fail(ApiError::new(400, 10058, "stream name already in use with a different configuration")));
        }
        return Ok(stream_created(srv, existing, true));
    }
    if a.limits.max_streams >= 0 && a.streams.len() as i64 >= a.limits.max_streams {
        return Err(fail(ApiError::new(400, 10027, "maximum number of streams reached")));
    }
    if a.streams
        .values()
        .any(|s| s.cfg.subjects.iter().any(|x| cfg.subjects.iter().any(|y| config::subjects_collide(x, y))))
    {
        return Err(fail(ApiError::new(400, 10065, "subjects overlap with an existing stream")));
    }
    let dir = cfg.file.then(|| stream::stream_dir_of(js, acc, &cfg.name)).flatten();
    let mut s = Stream::new(cfg, dir, js.opts.sync_always)
        .map_err(|e| fail(ApiError::new(500, 10049, &format!("could not create stream: {e}"))))?;
    s.subs = stream::subscribe_stream(srv, acc, &s.cfg);
    let v = stream_created(srv, &s, true);
    let name = s.cfg.name.clone();
    if let Some(a) = js.account_mut(acc) {
        a.streams.insert(name.clone(), s);
    }
    srv.js_advisory(js, acc, &name, None, Action::Create);
    Ok(v)
}

/// The account's rules for a stream's `max_bytes`.
fn check_stream_bytes(l: &super::JsLimits, cfg: &StreamConfig) -> Result<(), ApiError> {
    if l.max_bytes_required && cfg.max_bytes <= 0 {
        return Err(ApiError::new(400, 10113, "account requires a stream config to have max bytes set"));
    }
    let limit = if cfg.file { l.disk_max_stream_bytes } else { l.mem_max_stream_bytes };
    if limit > 0 && cfg.max_bytes > limit {
        return Err(ApiError::new(400, 10122, "stream max bytes exceeds account limit max stream bytes"));
    }
    Ok(())
}

fn stream_created(srv: &Server, s: &Stream, created: bool) -> Value {
    let mut o = Obj::default();
    o.put("type", typ(if created { "stream_create_response" } else { "stream_update_response" }));
    stream_info_fields(&mut o, s, &srv.server_name, false, s.state_value(false, None).0);
    if created {
        o.put("did_create", Value::Bool(true));
    }
    o.done()
}

fn stream_update(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    if let Some(r) = js.resume.take() {
        return stream_update_limits(srv, js, acc, name, r);
    }
    let v = parse_body(body).map_err(fail)?;
    let mut cfg = StreamConfig::parse(&v).map_err(fail)?;
    if cfg.name.is_empty() {
        cfg.name = name.to_string();
    }
    check_name_in_subject(name, &cfg.name).map_err(fail)?;
    cfg.normalize().map_err(fail)?;
    if cfg.num_replicas > 1 {
        return Err(fail(ApiError::new(500, 10074, "replicas > 1 not supported in non-clustered mode")));
    }
    let a = js.account(acc).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    let old = a.streams.get(name).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    check_stream_bytes(&a.limits, &cfg).map_err(fail)?;
    old.cfg.check_update(&mut cfg).map_err(fail)?;
    check_consumer_limits(old, &cfg).map_err(fail)?;
    if a.streams.iter().any(|(n, s)| {
        n != name && s.cfg.subjects.iter().any(|x| cfg.subjects.iter().any(|y| config::subjects_collide(x, y)))
    }) {
        return Err(fail(ApiError::new(400, 10065, "subjects overlap with an existing stream")));
    }
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let resubscribe = s.cfg.subjects != cfg.subjects;
    let old_per_subject = s.cfg.max_msgs_per_subject;
    let to_interest = cfg.retention == Retention::Interest && s.cfg.retention != Retention::Interest;
    s.cfg = cfg;
    if let Err(e) = s.write_meta() {
        log::error!("JetStream could not write stream metadata: {e}");
    }
    if resubscribe {
        for sub in std::mem::take(&mut s.subs) {
            srv.internal_unsubscribe(&sub);
        }
        s.subs = stream::subscribe_stream(srv, acc, &s.cfg);
    }
    srv.js_advisory(js, acc, name, None, Action::Modify);
    // New limits apply at once.
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let plan = per_subject_plan(s, old_per_subject);
    stream_update_limits(srv, js, acc, name, Resume { plan: Some(plan), to_interest, ..Resume::default() })
}

/// A raised or new stream-level consumer limit must hold for the
/// consumers the stream has.
fn check_consumer_limits(old: &Stream, cfg: &StreamConfig) -> Result<(), ApiError> {
    let (inactive, ack_pending) = (cfg.limits_inactive_threshold, cfg.limits_max_ack_pending);
    let changed = (inactive > 0 && inactive != old.cfg.limits_inactive_threshold)
        || (ack_pending > 0 && ack_pending != old.cfg.limits_max_ack_pending);
    if !changed {
        return Ok(());
    }
    let over: Vec<&str> = old
        .consumers
        .values()
        .filter(|c| {
            (inactive > 0 && c.cfg.inactive_threshold > inactive)
                || (ack_pending > 0 && c.cfg.max_ack_pending > ack_pending)
        })
        .map(|c| c.name.as_str())
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(500, 10069, &format!("change to limits violates consumers: {}", over.join(", "))))
}

/// What the per-subject limit erases after an update that lowered or set
/// it (the stream's other limits follow in `stream_update_limits`).
fn per_subject_plan(s: &Stream, old_per_subject: i64) -> Vec<u64> {
    let per_subject = s.cfg.max_msgs_per_subject;
    let mut plan = Vec::new();
    if per_subject > 0 && (old_per_subject <= 0 || per_subject < old_per_subject) {
        let limit = per_subject as u64;
        for (subj, st) in s.store.subjects().filter(|(_, st)| st.msgs > limit) {
            let seqs = s.store.seqs_on(subj);
            plan.extend_from_slice(&seqs[..(st.msgs - limit) as usize]);
        }
        plan.sort_unstable();
    }
    plan
}

/// The end of a stream update, as Go's store applies new limits: the
/// per-subject limit (`r.plan`), then the message and byte limits for
/// discard old (a discard-new stream keeps what it holds); at most
/// [`ERASE_PER_PASS`] messages a pass (`Null` while more are left), then
/// the answer.
fn stream_update_limits(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, mut r: Resume) -> Reply {
    if r.sweeping {
        if !sweep_slice(js, acc, name, true) {
            return Ok(Value::Null);
        }
        let s = js.account(acc).and_then(|a| a.streams.get(name)).ok_or_else(|| fail(ApiError::stream_not_found()))?;
        return Ok(stream_created(srv, s, false));
    }
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let mut plan = r.plan.take().unwrap_or_default();
    let more = if plan.is_empty() {
        let over = match s.cfg.discard_new {
            true => Vec::new(),
            false => s.store.over_limits(s.cfg.max_msgs, s.cfg.max_bytes, &[], ERASE_PER_PASS),
        };
        let n = s.remove_msgs(&over);
        r.erased += n;
        // Nothing erased (a write error, logged): no pass would do better.
        n > 0 && over.len() == ERASE_PER_PASS
    } else {
        let now: Vec<u64> = plan.drain(..plan.len().min(ERASE_PER_PASS)).collect();
        r.erased += s.remove_msgs(&now);
        true
    };
    if more {
        r.plan = Some(plan);
        js.resume = Some(r);
        return Ok(Value::Null);
    }
    if r.to_interest {
        // What no consumer takes, or every consumer taking it is done
        // with, goes.
        s.start_sweep(0, false);
    }
    if !sweep_slice(js, acc, name, true) {
        return Ok(Value::Null);
    }
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    Ok(stream_created(srv, s, false))
}

fn stream_info(srv: &Server, js: &JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    let v = parse_body(body).map_err(|e| (e, paged()))?;
    let typed = || -> Result<(i64, bool, String), ApiError> {
        let offset = config::int(&v, "offset")?.unwrap_or(0).max(0);
        Ok((offset, config::boolean(&v, "deleted_details")?, config::string(&v, "subjects_filter")?))
    };
    let (offset, deleted, filter) = typed().map_err(|e| (e, paged()))?;
    let filter = Some(filter.as_str()).filter(|f| !f.is_empty());
    let s = js.account(acc).and_then(|a| a.streams.get(name)).ok_or_else(|| (ApiError::stream_not_found(), paged()))?;
    let (state, total) = s.state_value(deleted, filter.map(|f| (f, usize::try_from(offset).unwrap_or(usize::MAX))));
    let mut o = Obj::default();
    o.put("type", typ("stream_info_response"));
    // The page of subjects is described only when some subject matched.
    let with_subjects = filter.is_some_and(|f| !f.is_empty()) && total > 0;
    o.put("total", config::u(if with_subjects { total as u64 } else { 0 }));
    o.put("offset", config::n(if with_subjects { offset } else { 0 }));
    o.put("limit", config::u(if with_subjects { stream::SUBJECT_DETAILS_LIMIT as u64 } else { 0 }));
    stream_info_fields(&mut o, s, &srv.server_name, true, state);
    if let Some(d) = &js.opts.domain {
        o.put("domain", config::s(d));
    }
    Ok(o.done())
}

fn stream_names(js: &JetStream, acc: AccId, body: &[u8], list: bool) -> Reply {
    let empty = || paged_items("streams", if list { Value::Array(Vec::new()) } else { Value::Null });
    let v = parse_body(body).map_err(|e| (e, empty()))?;
    let offset = config::int(&v, "offset").map_err(|e| (e, empty()))?.unwrap_or(0).max(0) as usize;
    let subject = config::string(&v, "subject").map_err(|e| (e, empty()))?;
    let subject = Some(subject.as_str()).filter(|s| !s.is_empty());
    let a = js.account(acc).ok_or_else(|| (ApiError::new(503, 10039, "JetStream not enabled for account"), empty()))?;
    let matching: Vec<&Stream> = a
        .streams
        .values()
        .filter(|s| subject.is_none_or(|f| s.cfg.subjects.iter().any(|x| config::subjects_collide(x, f))))
        .collect();
    let limit = if list { LIST_LIMIT } else { NAMES_LIMIT };
    let offset = offset.min(matching.len());
    let mut o = Obj::default();
    o.put("type", typ(if list { "stream_list_response" } else { "stream_names_response" }));
    o.put("total", config::u(matching.len() as u64));
    o.put("offset", config::u(offset as u64));
    o.put("limit", config::u(limit as u64));
    let page = matching.iter().skip(offset).take(limit);
    if list {
        let items = page
            .map(|s| {
                let mut i = Obj::default();
                stream_info_fields(&mut i, s, "", false, s.state_value(false, None).0);
                i.done()
            })
            .collect();
        o.put("streams", Value::Array(items));
    } else {
        let names: Vec<Value> = page.map(|s| config::s(&s.cfg.name)).collect();
        o.put("streams", if names.is_empty() { Value::Null } else { Value::Array(names) });
    }
    Ok(o.done())
}

fn stream_delete(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    if !is_empty(body) {
        return Err(fail(ApiError::new(400, 10038, "expected an empty request payload")));
    }
    let Some(mut s) = js.account_mut(acc).and_then(|a| a.streams.remove(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    for sub in std::mem::take(&mut s.subs) {
        srv.internal_unsubscribe(&sub);
    }
    let names: Vec<String> = s.consumers.keys().cloned().collect();
    for c in names {
        if let Some(mut c) = s.consumers.remove(&c) {
            c.deleted = true;
            for r in c.waiting.drain(..) {
                let h = b"NATS/1.0 409 Consumer Deleted\r\n\r\n";
                srv.js_publish(acc, &r.reply, None, h, b"");
            }
            srv.js_advisory(js, acc, name, Some(&c.name), Action::Delete);
        }
    }
    srv.js_advisory(js, acc, name, None, Action::Delete);
    // A large index is freed in slices, in later passes.
    js.discarded.push(std::mem::replace(&mut s.store, super::store::Store::memory()));
    js.want(std::time::Instant::now());
    if let Some(d) = s.dir.take() {
        drop(s);
        if let Err(e) = std::fs::remove_dir_all(&d) {
            log::error!("JetStream could not remove {d:?}: {e}");
        }
    }
    let mut o = Obj::default();
    o.put("type", typ("stream_delete_response"));
    o.put("success", Value::Bool(true));
    Ok(o.done())
}

fn stream_purge(js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    let resume = js.resume.take();
    let purged0 = || vec![("purged", config::n(0))];
    let v = parse_body(body).map_err(|e| (e, purged0()))?;
    let filter = config::string(&v, "filter").map_err(|e| (e, purged0()))?;
    let seq = config::uint(&v, "seq").map_err(|e| (e, purged0()))?.filter(|x| *x > 0);
    let keep = config::uint(&v, "keep").map_err(|e| (e, purged0()))?.filter(|x| *x > 0);
    if seq.is_some() && keep.is_some() {
        return Err((ApiError::bad_request(), purged0()));
    }
    let s = js
        .account_mut(acc)
        .and_then(|a| a.streams.get_mut(name))
        .ok_or_else(|| (ApiError::stream_not_found(), purged0()))?;
    if s.cfg.sealed {
        return Err((ApiError::new(400, 10109, "invalid operation on sealed stream"), purged0()));
    }
    if s.cfg.deny_purge {
        return Err((ApiError::new(500, 10110, "stream purge not permitted"), purged0()));
    }
    let filter = Some(filter.as_str()).filter(|f| !f.is_empty());
    // Consumers are not woken: what waits keeps waiting for new messages.
    let mut r = resume.unwrap_or_default();
    let done =
        s.purge(filter, seq, keep, &mut r).map_err(|e| (ApiError::new(500, 10075, &e.to_string()), purged0()))?;
    let n = r.erased;
    if !done {
        // Answered once the last slice is done.
        js.resume = Some(r);
        return Ok(Value::Null);
    }
    let mut o = Obj::default();
    o.put("type", typ("stream_purge_response"));
    o.put("success", Value::Bool(true));
    o.put("purged", config::u(n));
    Ok(o.done())
}

/// A MSG.GET / DIRECT.GET request, typed as Go decodes it.
#[derive(Default)]
struct GetReq {
    seq: u64,
    last: String,
    next: String,
    batch: i64,
    max_bytes: i64,
    start_time: Option<i64>,
    multi_last: usize,
    up_to_seq: u64,
    up_to_time: bool,
}

impl GetReq {
    /// Go's decoder: `null` is no fields; a wrongly typed field is an error.
    fn parse(body: &[u8]) -> Result<GetReq, ApiError> {
        let v = match json::parse(body.trim_ascii()) {
            Ok(Value::Null) => return Ok(GetReq::default()),
            Ok(v @ Value::Object(_)) if body.len() <= MAX_REQUEST => v,
            _ => return Err(ApiError::bad_json()),
        };
        let time = |k: &str| -> Result<Option<i64>, ApiError> {
            match config::string(&v, k)?.as_str() {
                "" if v.get(k).is_none_or(|x| *x == Value::Null) => Ok(None),
                t => super::parse_rfc3339(t).map(Some).ok_or_else(ApiError::bad_json),
            }
        };
        Ok(GetReq {
            seq: config::uint(&v, "seq")?.unwrap_or(0),
            last: config::string(&v, "last_by_subj")?,
            next: config::string(&v, "next_by_subj")?,
            batch: config::int(&v, "batch")?.unwrap_or(0),
            max_bytes: config::int(&v, "max_bytes")?.unwrap_or(0),
            start_time: time("start_time")?,
            multi_last: config::strings(&v, "multi_last")?.len(),
            up_to_seq: config::uint(&v, "up_to_seq")?.unwrap_or(0),
            up_to_time: time("up_to_time")?.is_some(),
        })
    }

    /// Nothing asked for.
    fn is_empty(&self) -> bool {
        self.seq == 0
            && self.last.is_empty()
            && self.next.is_empty()
            && self.multi_last == 0
            && self.start_time.is_none()
    }

    /// Fields that exclude each other.
    fn conflicts(&self) -> bool {
        let (seq, last, next, time) =
            (self.seq > 0, !self.last.is_empty(), !self.next.is_empty(), self.start_time.is_some());
        // Two of sequence, last-by-subject and start time, or last with next.
        let given = [seq, last, time].iter().filter(|b| **b).count();
        given > 1 || (last && next)
    }
}

/// Finds the message a MSG.GET / DIRECT.GET request names.
fn find_msg(s: &Stream, r: &GetReq) -> Option<u64> {
    let from = match r.start_time {
        Some(t) => s.store.first_at_or_after(t)?,
        None => r.seq,
    };
    if !r.next.is_empty() {
        let n = r.next.as_bytes();
        return s.store.next_matching(from.max(1), |subj| config::subject_matches(n, subj));
    }
    if from > 0 {
        return s.store.contains(from).then_some(from);
    }
    let l = r.last.as_str();
    if config::valid_subject(l) && !l.contains(['*', '>']) {
        s.store.last_on(l.as_bytes())
    } else {
        // A wildcard: the last message on any subject it matches.
        s.store.subjects().filter(|(k, _)| config::subject_matches(l.as_bytes(), k)).map(|(_, st)| st.last).max()
    }
}

fn msg_get(js: &JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    if is_empty(body) {
        return Err(fail(ApiError::bad_request()));
    }
    let r = GetReq::parse(body).map_err(fail)?;
    if r.batch > 0
        || r.max_bytes > 0
        || (r.seq == 0 && r.last.is_empty() && r.next.is_empty() && r.start_time.is_none())
        || r.conflicts()
    {
        return Err(fail(ApiError::bad_request()));
    }
    let s = js.account(acc).and_then(|a| a.streams.get(name)).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    let seq = find_msg(s, &r);
    let msg = seq.and_then(|q| s.store.get(q)).ok_or_else(|| fail(ApiError::new(404, 10037, "no message found")))?;
    let mut m = Obj::default();
    m.put("subject", config::s(&String::from_utf8_lossy(&msg.subject)));
    m.put("seq", config::u(msg.seq));
    if !msg.hdr.is_empty() {
        m.put("hdrs", config::s(&base64(&msg.hdr)));
    }
    if !msg.data.is_empty() {
        m.put("data", config::s(&base64(&msg.data)));
    }
    m.put("time", config::s(&time_text(msg.ts)));
    let mut o = Obj::default();
    o.put("type", typ("stream_msg_get_response"));
    o.put("message", m.done());
    Ok(o.done())
}

fn msg_delete(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    if is_empty(body) {
        return Err(fail(ApiError::bad_request()));
    }
    let v = parse_body(body).map_err(fail)?;
    let seq = config::uint(&v, "seq").map_err(fail)?.unwrap_or(0);
    config::boolean(&v, "no_erase").map_err(fail)?;
    let s =
        js.account_mut(acc).and_then(|a| a.streams.get_mut(name)).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    if s.cfg.sealed {
        return Err(fail(ApiError::new(400, 10109, "invalid operation on sealed stream")));
    }
    if s.cfg.deny_delete {
        return Err(fail(ApiError::new(500, 10057, "message delete not permitted")));
    }
    // The store's refusals are answered as results (Go does not count
    // them as API errors): nothing at 0 or below the first message, past
    // the end, or an interior sequence erased already; the memory store
    // has one text for all.
    let file = s.cfg.file;
    let refused = |e: ApiError| Ok(err_resp("stream_msg_delete_response", &e, &[]));
    let missing = || ApiError::new(400, 10043, &format!("sequence {seq} not found"));
    if seq == 0 || (seq < s.store.first() && seq <= s.store.last_seq) {
        return refused(if file { ApiError::new(500, 10057, "no message found") } else { missing() });
    }
    if seq > s.store.last_seq {
        return refused(if file { ApiError::new(500, 10057, "stream store EOF") } else { missing() });
    }
    if !s.remove_msg(seq) {
        return refused(missing());
    }
    consumer::pump_stream(srv, js, acc, name);
    let mut o = Obj::default();
    o.put("type", typ("stream_msg_delete_response"));
    o.put("success", Value::Bool(true));
    Ok(o.done())
}

/// `$JS.API.DIRECT.GET.<stream>[.<subject>]`: the stored message itself.
fn direct_get(srv: &mut Server, js: &mut JetStream, m: &Inbound, toks: &[&str]) {
    let Some(reply) = m.reply.as_deref() else { return };
    let acc = m.acc;
    let name = toks[0];
    let Some(s) = js.account(acc).and_then(|a| a.streams.get(name)).filter(|s| s.cfg.allow_direct) else {
        consumer::no_responders(srv, m);
        return;
    };
    let body = m.data();
    let status = |code: &str| format!("NATS/1.0 {code}\r\n\r\n").into_bytes();
    let req = if body.is_empty() { Ok(GetReq::default()) } else { GetReq::parse(body) };
    let Ok(mut r) = req else {
        srv.js_publish(acc, reply, None, &status("408 Malformed Request"), b"");
        return;
    };
    if toks.len() > 1 {
        if !r.is_empty() || r.batch != 0 || r.up_to_seq != 0 || r.up_to_time {
            srv.js_publish(acc, reply, None, &status("408 Bad Request"), b"");
            return;
        }
        r.last = toks[1..].join(".");
    } else {
        if r.is_empty() {
            srv.js_publish(acc, reply, None, &status("408 Empty Request"), b"");
            return;
        }
        if r.conflicts()
            || (!r.last.is_empty() && r.batch > 0)
            || (r.multi_last > 0 && !(r.last.is_empty() && r.next.is_empty()))
        {
            srv.js_publish(acc, reply, None, &status("408 Bad Request"), b"");
            return;
        }
    }
    let seq = find_msg(s, &r);
    let Some(msg) = seq.and_then(|q| s.store.get(q)) else {
        srv.js_publish(acc, reply, None, &status("404 Message Not Found"), b"");
        return;
    };
    let mut h =
        if msg.hdr.is_empty() { b"NATS/1.0\r\n".to_vec() } else { msg.hdr[..msg.hdr.len().saturating_sub(2)].to_vec() };
    h.extend_from_slice(format!("Nats-Stream: {name}\r\nNats-Subject: ").as_bytes());
    h.extend_from_slice(&msg.subject);
    h.extend_from_slice(
        format!("\r\nNats-Sequence: {}\r\nNats-Time-Stamp: {}\r\n\r\n", msg.seq, time_text(msg.ts)).as_bytes(),
    );
    srv.js_publish(acc, reply, None, &h, &msg.data);
}

fn consumer_create(
    srv: &mut Server,
    js: &mut JetStream,
    acc: AccId,
    stream: &str,
    rest: &[&str],
    durable_subject: bool,
    body: &[u8],
) -> Reply {
    let v = parse_body(body).map_err(fail)?;
    let stream_name = v.get("stream_name").and_then(Value::as_str).unwrap_or_default().to_string();
    let cfg_v = v.get("config").cloned().unwrap_or(Value::Object(Vec::new()));
    let mut cfg = config::ConsumerConfig::parse(&cfg_v).map_err(fail)?;
    let action = match v.get("action") {
        None | Some(Value::Null) => "",
        Some(Value::String(a)) if matches!(a.as_str(), "" | "create" | "update") => a.as_str(),
        Some(_) => return Err(fail(ApiError::bad_json())),
    };
    // The consumer's name: from the subject, or the config's for the
    // legacy ephemeral form; the subject's filter of the new form.
    let (subject_name, filter) = match (durable_subject, rest) {
        (true, _) => (rest[0].to_string(), None),
        (false, []) => (cfg.name.clone(), None),
        (false, [n, f @ ..]) => (n.to_string(), (!f.is_empty()).then(|| f.join("."))),
    };
    if stream_name != stream {
        return Err(fail(ApiError::new(400, 10056, "stream name in subject does not match request")));
    }
    if subject_name.contains(['/', '\\']) {
        return Err(fail(ApiError::new(400, 10127, "Consumer name can not contain path separators")));
    }
    if durable_subject {
        if cfg.durable_name.is_empty() {
            return Err(fail(ApiError::new(
                400,
                10018,
                "consumer expected to be durable but a durable name was not set",
            )));
        }
        if cfg.durable_name != subject_name {
            return Err(fail(ApiError::new(
                400,
                10017,
                "consumer name in subject does not match durable name in request",
            )));
        }
        cfg.name = subject_name;
    } else if !rest.is_empty() {
        if !cfg.durable_name.is_empty() && cfg.durable_name != subject_name {
            return Err(fail(ApiError::new(
                400,
                10017,
                "consumer name in subject does not match durable name in request",
            )));
        }
        cfg.name = subject_name;
    } else if !cfg.durable_name.is_empty() {
        return Err(fail(ApiError::new(
            400,
            10020,
            "consumer expected to be ephemeral but a durable name was set in request",
        )));
    }
    if let Some(filter) = filter {
        if !cfg.filter_subjects.is_empty() {
            return Err(fail(ApiError::new(
                400,
                10137,
                "consumer with multiple subject filters cannot use subject based API",
            )));
        }
        if cfg.filter_subject != filter {
            return Err(fail(ApiError::new(
                400,
                10131,
                "Consumer create request did not match filtered subject from create subject",
            )));
        }
    }
    if cfg.num_replicas > 1 {
        return Err(fail(ApiError::new(500, 10074, "replicas > 1 not supported in non-clustered mode")));
    }
    let limits = js.account(acc).map(|a| a.limits).unwrap_or_default();
    let total = js.account(acc).map_or(0, |a| a.consumers());
    let stream_dir = stream::stream_dir_of(js, acc, stream);
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let durable = !cfg.durable_name.is_empty();
    // Ephemerals get Go's default inactive_threshold; an update keeps the
    // durability of the consumer it updates.
    let target = if durable { &cfg.durable_name } else { &cfg.name };
    let ephemeral = s.consumers.get(target.as_str()).map_or(!durable, |c| !c.durable);
    cfg.set_defaults(&s.cfg, ephemeral);
    if limits.max_ack_pending > 0 && (cfg.max_ack_pending > limits.max_ack_pending || cfg.max_ack_pending == 0) {
        cfg.max_ack_pending = limits.max_ack_pending;
    }
    cfg.check(&s.cfg).map_err(fail)?;
    let wq = s.cfg.retention == Retention::WorkQueue;
    // Whether the consumer's filters are apart from every other consumer's.
    let partition_unique = |s: &Stream, cfg: &config::ConsumerConfig, own: &str| {
        let mine = cfg.filters();
        mine.is_empty()
            || s.consumers.iter().filter(|(n, _)| n.as_str() != own).all(|(_, c)| {
                let theirs = c.cfg.filters();
                !theirs.is_empty() && !mine.iter().any(|a| theirs.iter().any(|b| config::subjects_collide(a, b)))
            })
    };
    let name = if durable {
        cfg.durable_name.clone()
    } else if !cfg.name.is_empty() {
        cfg.name.clone()
    } else {
        random_name(srv)
    };
    if let Some(c) = s.consumers.get_mut(&name) {
        let mut new_cfg = cfg.clone();
        if new_cfg.name.is_empty() {
            new_cfg.name = c.cfg.name.clone();
        }
        if c.cfg == new_cfg {
            let v = created_value(c, stream, &s.store);
            return Ok(v);
        }
        if action == "create" {
            return Err(fail(ApiError::new(400, 10148, "consumer already exists")));
        }
        if wq && !partition_unique(s, &new_cfg, &name) {
            return Err(fail(ApiError::new(400, 10100, "filtered consumer not unique on workqueue stream")));
        }
        let Some(c) = s.consumers.get_mut(&name) else { return Err(fail(ApiError::consumer_not_found())) };
        let bound = !c.cfg.is_pull() && srv.js_has_interest(acc, c.cfg.deliver_subject.as_bytes());
        c.cfg.check_update(&new_cfg, bound).map_err(fail)?;
        c.durable = !new_cfg.durable_name.is_empty();
        c.reconfigure(new_cfg, &s.store);
        c.write_meta();
        let v = created_value(c, stream, &s.store);
        consumer::pump_stream(srv, js, acc, stream);
        return Ok(v);
    }
    if action == "update" {
        return Err(fail(ApiError::new(400, 10149, "consumer does not exist")));
    }
    let per_stream = s.cfg.max_consumers;
    if (per_stream >= 0 && s.consumers.len() as i64 >= per_stream)
        || (limits.max_consumers >= 0 && total as i64 >= limits.max_consumers)
    {
        return Err(fail(ApiError::new(400, 10026, "maximum consumers limit reached")));
    }
    if wq {
        if cfg.ack_policy != config::AckPolicy::Explicit {
            return Err(fail(ApiError::new(400, 10098, "workqueue stream requires explicit ack")));
        }
        if cfg.deliver_policy != config::DeliverPolicy::All {
            return Err(fail(ApiError::new(400, 10101, "consumer must be deliver all on workqueue stream")));
        }
        if !s.consumers.is_empty() {
            if cfg.filters().is_empty() {
                return Err(fail(ApiError::new(
                    400,
                    10099,
                    "multiple non-filtered consumers not allowed on workqueue stream",
                )));
            }
            if !partition_unique(s, &cfg, &name) {
                return Err(fail(ApiError::new(400, 10100, "filtered consumer not unique on workqueue stream")));
            }
        }
    }
    let dir = if s.cfg.file && !cfg.mem_storage { stream_dir.map(|d| consumer_dir(&d, &name)) } else { None };
    // What an earlier consumer's deletion left for nobody goes first.
    s.finish_sweep();
    let mut c = Consumer::new(name.clone(), cfg, durable, &s.store, dir);
    if !c.cfg.is_pull() {
        c.push_bound = srv.js_has_interest(acc, c.cfg.deliver_subject.as_bytes());
    }
    c.write_meta();
    let v = created_value(&c, stream, &s.store);
    s.consumers.insert(name.clone(), c);
    srv.js_advisory(js, acc, stream, Some(&name), Action::Create);
    js.want(std::time::Instant::now() + std::time::Duration::from_millis(100));
    consumer::pump_stream(srv, js, acc, stream);
    Ok(v)
}

fn created_value(c: &Consumer, stream: &str, _store: &super::store::Store) -> Value {
    let mut o = Obj::default();
    o.put("type", typ("consumer_create_response"));
    c.info_fields(&mut o, stream, c.waiting.len());
    o.done()
}

fn random_name(srv: &mut Server) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..8).map(|_| A[(srv.rand() % A.len() as u64) as usize] as char).collect()
}

fn consumer_info(srv: &mut Server, js: &mut JetStream, acc: AccId, stream: &str, name: &str, body: &[u8]) -> Reply {
    if !is_empty(body) {
        return Err(fail(ApiError::new(400, 10038, "expected an empty request payload")));
    }
    let s = js
        .account_mut(acc)
        .and_then(|a| a.streams.get_mut(stream))
        .ok_or_else(|| fail(ApiError::stream_not_found()))?;
    let c = s.consumers.get_mut(name).ok_or_else(|| fail(ApiError::consumer_not_found()))?;
    // Requests whose requester went away do not count.
    let mut waiting = 0;
    for r in &c.waiting {
        if srv.js_has_interest(acc, &r.reply) {
            waiting += 1;
        }
    }
    if !c.cfg.is_pull() {
        c.push_bound = srv.js_has_interest(acc, c.cfg.deliver_subject.as_bytes());
    }
    Ok(c.info_value(stream, waiting))
}

fn consumer_names(js: &JetStream, acc: AccId, stream: &str, body: &[u8], list: bool) -> Reply {
    let empty = || paged_items("consumers", Value::Array(Vec::new()));
    let v = parse_body(body).map_err(|e| (e, empty()))?;
    let offset = config::int(&v, "offset").map_err(|e| (e, empty()))?.unwrap_or(0).max(0) as usize;
    let s =
        js.account(acc).and_then(|a| a.streams.get(stream)).ok_or_else(|| (ApiError::stream_not_found(), empty()))?;
    let limit = if list { LIST_LIMIT } else { NAMES_LIMIT };
    let offset = offset.min(s.consumers.len());
    let mut o = Obj::default();
    o.put("type", typ(if list { "consumer_list_response" } else { "consumer_names_response" }));
    o.put("total", config::u(s.consumers.len() as u64));
    o.put("offset", config::u(offset as u64));
    o.put("limit", config::u(limit as u64));
    let page = s.consumers.values().skip(offset).take(limit);
    let items: Vec<Value> = if list {
        page.map(|c| {
            let mut i = Obj::default();
            c.info_fields(&mut i, stream, c.waiting.len());
            i.done()
        })
        .collect()
    } else {
        page.map(|c| config::s(&c.name)).collect()
    };
    o.put("consumers", Value::Array(items));
    Ok(o.done())
}

fn consumer_delete(srv: &mut Server, js: &mut JetStream, acc: AccId, stream: &str, name: &str, body: &[u8]) -> Reply {
    if !is_empty(body) {
        return Err(fail(ApiError::new(400, 10038, "expected an empty request payload")));
    }
    let resumed = js.resume.take().is_some_and(|r| r.sweeping);
    if !resumed {
        if js.account(acc).and_then(|a| a.streams.get(stream)).is_none() {
            return Err(fail(ApiError::stream_not_found()));
        }
        if !consumer::delete_consumer(srv, js, acc, stream, name) {
            return Err(fail(ApiError::consumer_not_found()));
        }
    }
    if !sweep_slice(js, acc, stream, resumed) {
        return Ok(Value::Null);
    }
    let mut o = Obj::default();
    o.put("type", typ("consumer_delete_response"));
    o.put("success", Value::Bool(true));
    Ok(o.done())
}

/// Steps the interest sweep of a stream a request started (`step`: one
/// slice now; the first one ran with the request's change); false while
/// more is left, the request then waiting at the head of the queue.
fn sweep_slice(js: &mut JetStream, acc: AccId, stream: &str, step: bool) -> bool {
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else { return true };
    if s.sweep.is_none() || (step && s.sweep_step()) {
        return true;
    }
    js.resume = Some(Resume { sweeping: true, ..Resume::default() });
    false
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if ch.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if ch.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}
