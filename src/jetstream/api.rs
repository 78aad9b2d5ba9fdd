//! The `$JS.API` requests: dispatch on the subject's tokens, one JSON
//! answer (Go's response types, fields and errors) on the reply subject.
//! Subjects no handler takes get no answer, as from Go.

use rnats_protocol::json::{self, Value};

use super::config::{self, Obj, Retention, StreamConfig};
use super::consumer::{self, consumer_dir, Consumer};
use super::stream::{self, Stream};
use super::{now_nanos, time_text, ApiError, Inbound, JetStream};
use crate::routing::accounts::AccId;
use crate::server::Server;

/// Request bodies larger than this are refused unread.
const MAX_REQUEST: usize = 1 << 20;
const NAMES_LIMIT: usize = 1024;
const LIST_LIMIT: usize = 256;
const SUBJECT_DETAILS_LIMIT: usize = 100_000;

fn typ(name: &str) -> Value {
    config::s(&format!("io.nats.jetstream.api.v1.{name}"))
}

/// The 503 no-responders status, as the core server sends it to a
/// requester that asked for it (DIRECT.GET and MSG.NEXT with nobody there).
pub fn no_responders(srv: &mut Server, m: &Inbound) {
    let Some(reply) = m.reply.as_deref() else { return };
    let ok = srv.conns.get(m.from).is_some_and(|c| {
        c.cid == m.from_cid
            && matches!(&c.role, crate::conn::Role::Client(cl) if cl.opts.no_responders && cl.opts.headers)
    });
    if ok {
        srv.send_no_responders(m.from, m.acc, reply);
    }
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
    let Some(reply) = reply else {
        // Go runs a request without a reply and answers nothing.
        let _ = dispatch(srv, js, m.acc, &toks, body);
        return;
    };
    if js.account(m.acc).is_none() {
        let e = ApiError::new(503, 10039, "JetStream not enabled for account");
        let kind = response_kind(&toks);
        if let Some(kind) = kind {
            srv.js_respond(m.acc, &reply, &err_resp(kind, &e, &[]));
        }
        return;
    }
    if let Some(v) = dispatch(srv, js, m.acc, &toks, body) {
        if let Some(a) = js.account_mut(m.acc) {
            a.api_total += 1;
            if v.get("error").is_some() {
                a.api_errors += 1;
            }
        }
        srv.js_respond(m.acc, &reply, &v);
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
        ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", "CREATE", ..] => "consumer_create_response",
        ["CONSUMER", "INFO", _, _] => "consumer_info_response",
        ["CONSUMER", "NAMES", _] => "consumer_names_response",
        ["CONSUMER", "LIST", _] => "consumer_list_response",
        ["CONSUMER", "DELETE", _, _] => "consumer_delete_response",
        _ => return None,
    })
}

fn dispatch(srv: &mut Server, js: &mut JetStream, acc: AccId, toks: &[&str], body: &[u8]) -> Option<Value> {
    let kind = response_kind(toks)?;
    let r = match toks {
        ["INFO"] => account_info(js, acc),
        ["STREAM", "CREATE", name] => stream_create(srv, js, acc, name, body),
        ["STREAM", "UPDATE", name] => stream_update(srv, js, acc, name, body),
        ["STREAM", "INFO", name] => stream_info(srv, js, acc, name, body),
        ["STREAM", "NAMES"] => stream_names(js, acc, body, false),
        ["STREAM", "LIST"] => stream_names(js, acc, body, true),
        ["STREAM", "DELETE", name] => stream_delete(srv, js, acc, name, body),
        ["STREAM", "PURGE", name] => stream_purge(srv, js, acc, name, body),
        ["STREAM", "MSG", "GET", name] => msg_get(js, acc, name, body),
        ["STREAM", "MSG", "DELETE", name] => msg_delete(srv, js, acc, name, body),
        ["CONSUMER", "CREATE", stream, rest @ ..] => consumer_create(srv, js, acc, stream, rest, false, body),
        ["CONSUMER", "DURABLE", "CREATE", stream, rest @ ..] => consumer_create(srv, js, acc, stream, rest, true, body),
        ["CONSUMER", "INFO", stream, name] => consumer_info(srv, js, acc, stream, name, body),
        ["CONSUMER", "NAMES", stream] => consumer_names(js, acc, stream, body, false),
        ["CONSUMER", "LIST", stream] => consumer_names(js, acc, stream, body, true),
        ["CONSUMER", "DELETE", stream, name] => consumer_delete(srv, js, acc, stream, name, body),
        _ => return None,
    };
    Some(match r {
        Ok(v) => v,
        Err((e, extra)) => err_resp(kind, &e, &extra),
    })
}

type Reply = Result<Value, (ApiError, Vec<(&'static str, Value)>)>;

fn fail(e: ApiError) -> (ApiError, Vec<(&'static str, Value)>) {
    (e, Vec::new())
}

fn paged() -> Vec<(&'static str, Value)> {
    vec![("total", config::n(0)), ("offset", config::n(0)), ("limit", config::n(0))]
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
    o.put("reserved_memory", config::n(0));
    o.put("reserved_storage", config::n(0));
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
    if cfg.name.is_empty() {
        cfg.name = name.to_string();
    }
    check_name_in_subject(name, &cfg.name).map_err(fail)?;
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
    if let Some(a) = js.account_mut(acc) {
        a.streams.insert(s.cfg.name.clone(), s);
    }
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
    if a.streams.iter().any(|(n, s)| {
        n != name && s.cfg.subjects.iter().any(|x| cfg.subjects.iter().any(|y| config::subjects_collide(x, y)))
    }) {
        return Err(fail(ApiError::new(400, 10065, "subjects overlap with an existing stream")));
    }
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let resubscribe = s.cfg.subjects != cfg.subjects;
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
    // New limits apply at once.
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(name)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    apply_limits(s);
    let v = stream_created(srv, s, false);
    Ok(v)
}

fn apply_limits(s: &mut Stream) {
    if s.cfg.max_msgs_per_subject > 0 {
        let limit = s.cfg.max_msgs_per_subject as u64;
        let subjects: Vec<Vec<u8>> =
            s.store.subjects().filter(|(_, st)| st.msgs > limit).map(|(k, _)| k.to_vec()).collect();
        for subj in subjects {
            let seqs = s.store.seqs_on(&subj);
            let drop = seqs.len().saturating_sub(limit as usize);
            for seq in &seqs[..drop] {
                s.remove_msg(*seq);
            }
        }
    }
    if s.cfg.max_msgs > 0 {
        while s.store.msgs() > s.cfg.max_msgs as u64 {
            let Some((seq, _)) = s.store.oldest() else { break };
            s.remove_msg(seq);
        }
    }
    if s.cfg.max_bytes > 0 {
        while s.store.bytes > s.cfg.max_bytes as u64 {
            let Some((seq, _)) = s.store.oldest() else { break };
            s.remove_msg(seq);
        }
    }
}

fn stream_info(srv: &Server, js: &JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    let v = parse_body(body).map_err(|e| (e, paged()))?;
    let s = js.account(acc).and_then(|a| a.streams.get(name)).ok_or_else(|| (ApiError::stream_not_found(), paged()))?;
    let deleted = v.get("deleted_details").and_then(Value::as_bool).unwrap_or(false);
    let filter = v.get("subjects_filter").and_then(Value::as_str);
    let (state, total) = s.state_value(deleted, filter);
    let mut o = Obj::default();
    o.put("type", typ("stream_info_response"));
    let with_filter = filter.is_some_and(|f| !f.is_empty());
    o.put("total", config::u(if with_filter { total as u64 } else { 0 }));
    o.put("offset", config::n(0));
    o.put("limit", config::u(if with_filter { SUBJECT_DETAILS_LIMIT as u64 } else { 0 }));
    stream_info_fields(&mut o, s, &srv.server_name, true, state);
    if let Some(d) = &js.opts.domain {
        o.put("domain", config::s(d));
    }
    Ok(o.done())
}

fn stream_names(js: &JetStream, acc: AccId, body: &[u8], list: bool) -> Reply {
    let v = parse_body(body).map_err(|e| (e, paged()))?;
    let offset = v.get("offset").and_then(Value::as_i64).unwrap_or(0).max(0) as usize;
    let subject = v.get("subject").and_then(Value::as_str).filter(|s| !s.is_empty());
    let a = js.account(acc).ok_or_else(|| (ApiError::new(503, 10039, "JetStream not enabled for account"), paged()))?;
    let matching: Vec<&Stream> = a
        .streams
        .values()
        .filter(|s| subject.is_none_or(|f| s.cfg.subjects.iter().any(|x| config::subjects_collide(x, f))))
        .collect();
    let limit = if list { LIST_LIMIT } else { NAMES_LIMIT };
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
        }
    }
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

fn stream_purge(srv: &mut Server, js: &mut JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    let purged0 = || vec![("success", Value::Bool(false)), ("purged", config::n(0))];
    let v = parse_body(body).map_err(|e| (e, purged0()))?;
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
    let filter = v.get("filter").and_then(Value::as_str);
    let seq = v.get("seq").and_then(Value::as_f64).map(|x| x as u64).filter(|x| *x > 0);
    let keep = v.get("keep").and_then(Value::as_f64).map(|x| x as u64).filter(|x| *x > 0);
    if seq.is_some() && keep.is_some() {
        return Err((ApiError::bad_request(), purged0()));
    }
    let n = s.purge(filter, seq, keep).map_err(|e| (ApiError::new(500, 10075, &e.to_string()), purged0()))?;
    consumer::pump_stream(srv, js, acc, name);
    let mut o = Obj::default();
    o.put("type", typ("stream_purge_response"));
    o.put("success", Value::Bool(true));
    o.put("purged", config::u(n));
    Ok(o.done())
}

/// Finds the message a MSG.GET / DIRECT.GET request names.
fn find_msg(s: &Stream, v: &Value) -> Result<Option<u64>, ApiError> {
    let seq = v.get("seq").and_then(Value::as_f64).map(|x| x as u64).filter(|x| *x > 0);
    let last = v.get("last_by_subj").and_then(Value::as_str).filter(|x| !x.is_empty());
    let next = v.get("next_by_subj").and_then(Value::as_str).filter(|x| !x.is_empty());
    match (seq, last, next) {
        (Some(_), Some(_), _) | (_, Some(_), Some(_)) => Err(ApiError::bad_request()),
        (None, Some(l), None) => {
            if config::valid_subject(l) && !l.contains(['*', '>']) {
                Ok(s.store.last_on(l.as_bytes()))
            } else {
                // A wildcard: the last message on any subject it matches.
                Ok(s.store
                    .subjects()
                    .filter(|(k, _)| config::subject_matches(l.as_bytes(), k))
                    .map(|(_, st)| st.last)
                    .max())
            }
        }
        (start, None, Some(n)) => {
            let from = start.unwrap_or(1);
            Ok(s.store.next_matching(from, |subj| config::subject_matches(n.as_bytes(), subj)))
        }
        (Some(q), None, None) => Ok(s.store.contains(q).then_some(q)),
        (None, None, None) => Err(ApiError::bad_request()),
    }
}

fn msg_get(js: &JetStream, acc: AccId, name: &str, body: &[u8]) -> Reply {
    if body.trim_ascii().is_empty() {
        return Err(fail(ApiError::bad_request()));
    }
    let v = parse_body(body).map_err(fail)?;
    let s = js.account(acc).and_then(|a| a.streams.get(name)).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    let seq = find_msg(s, &v).map_err(fail)?;
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
    let v = parse_body(body).map_err(fail)?;
    let s =
        js.account_mut(acc).and_then(|a| a.streams.get_mut(name)).ok_or_else(|| fail(ApiError::stream_not_found()))?;
    if s.cfg.sealed {
        return Err(fail(ApiError::new(400, 10109, "invalid operation on sealed stream")));
    }
    if s.cfg.deny_delete {
        return Err(fail(ApiError::new(500, 10057, "message delete not permitted")));
    }
    let seq = v.get("seq").and_then(Value::as_f64).map_or(0, |x| x as u64);
    // Go's store errors: nothing at 0 or below the first message, past the
    // end, or an interior sequence erased already.
    if seq == 0 || (seq < s.store.first() && seq <= s.store.last_seq) {
        return Err(fail(ApiError::new(500, 10057, "no message found")));
    }
    if seq > s.store.last_seq {
        return Err(fail(ApiError::new(500, 10057, "stream store EOF")));
    }
    if !s.remove_msg(seq) {
        return Err(fail(ApiError::new(400, 10043, &format!("sequence {seq} not found"))));
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
        no_responders(srv, m);
        return;
    };
    let body = m.data();
    let status = |code: &str| format!("NATS/1.0 {code}\r\n\r\n").into_bytes();
    let seq = if toks.len() > 1 {
        if !body.trim_ascii().is_empty() {
            srv.js_publish(acc, reply, None, &status("408 Bad Request"), b"");
            return;
        }
        let subj = toks[1..].join(".");
        s.store.last_on(subj.as_bytes())
    } else {
        if body.trim_ascii().is_empty() {
            srv.js_publish(acc, reply, None, &status("408 Empty Request"), b"");
            return;
        }
        let Ok(v) = parse_body(body) else {
            srv.js_publish(acc, reply, None, &status("408 Malformed Request"), b"");
            return;
        };
        match find_msg(s, &v) {
            Ok(q) => q,
            Err(_) => {
                srv.js_publish(acc, reply, None, &status("408 Bad Request"), b"");
                return;
            }
        }
    };
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
    let action = v.get("action").and_then(Value::as_str).unwrap_or_default().to_string();
    if durable_subject {
        if rest.len() != 1 {
            return Err(fail(ApiError::new(
                400,
                10016,
                "consumer expected to be durable but no durable name set in subject",
            )));
        }
        if cfg.durable_name.is_empty() {
            return Err(fail(ApiError::new(
                400,
                10018,
                "consumer expected to be durable but a durable name was not set",
            )));
        }
        if cfg.durable_name != rest[0] {
            return Err(fail(ApiError::new(
                400,
                10017,
                "consumer name in subject does not match durable name in request",
            )));
        }
    } else if rest.is_empty() {
        if !cfg.durable_name.is_empty() {
            return Err(fail(ApiError::new(
                400,
                10020,
                "consumer expected to be ephemeral but a durable name was set in request",
            )));
        }
    } else {
        let name = rest[0];
        if !cfg.durable_name.is_empty() && cfg.durable_name != name {
            return Err(fail(ApiError::new(
                400,
                10017,
                "consumer name in subject does not match durable name in request",
            )));
        }
        if rest.len() > 1 {
            let filter = rest[1..].join(".");
            if !cfg.filter_subjects.is_empty() {
                return Err(fail(ApiError::new(
                    400,
                    10137,
                    "consumer with multiple subject filters cannot use subject based API",
                )));
            }
            if !cfg.filter_subject.is_empty() && cfg.filter_subject != filter {
                return Err(fail(ApiError::new(
                    400,
                    10131,
                    "Consumer create request did not match filtered subject from create subject",
                )));
            }
            cfg.filter_subject = filter;
        }
        if !cfg.name.is_empty() && cfg.name != name {
            return Err(fail(ApiError::new(
                400,
                10132,
                "Consumer Durable and Name have to be equal if both are provided",
            )));
        }
        cfg.name = name.to_string();
    }
    if stream_name != stream {
        return Err(fail(ApiError::new(400, 10056, "stream name in subject does not match request")));
    }
    if cfg.name.contains(['/', '\\']) || cfg.durable_name.contains(['/', '\\']) {
        return Err(fail(ApiError::new(400, 10127, "Consumer name can not contain path separators")));
    }
    if cfg.num_replicas > 1 {
        return Err(fail(ApiError::new(500, 10074, "replicas > 1 not supported in non-clustered mode")));
    }
    if !cfg.durable_name.is_empty() && !cfg.name.is_empty() && cfg.durable_name != cfg.name {
        return Err(fail(ApiError::new(400, 10132, "Consumer Durable and Name have to be equal if both are provided")));
    }
    let limits = js.account(acc).map(|a| a.limits).unwrap_or_default();
    let total = js.account(acc).map_or(0, |a| a.consumers());
    let stream_dir = stream::stream_dir_of(js, acc, stream);
    let Some(s) = js.account_mut(acc).and_then(|a| a.streams.get_mut(stream)) else {
        return Err(fail(ApiError::stream_not_found()));
    };
    let durable = !cfg.durable_name.is_empty();
    let ephemeral = !durable;
    cfg.set_defaults(&s.cfg, ephemeral);
    if limits.max_ack_pending > 0 && (cfg.max_ack_pending > limits.max_ack_pending || cfg.max_ack_pending == 0) {
        cfg.max_ack_pending = limits.max_ack_pending;
    }
    cfg.check(&s.cfg).map_err(fail)?;
    if s.cfg.retention == Retention::WorkQueue {
        if cfg.ack_policy != config::AckPolicy::Explicit {
            return Err(fail(ApiError::new(400, 10084, "consumer in pull mode requires ack policy")));
        }
        if cfg.deliver_policy != config::DeliverPolicy::All {
            return Err(fail(ApiError::new(400, 10101, "consumer must be deliver all on workqueue stream")));
        }
        let mine = cfg.filters();
        for (n, c) in &s.consumers {
            if Some(n.as_str()) == Some(cfg.name.as_str()).filter(|x| !x.is_empty()) || *n == cfg.durable_name {
                continue;
            }
            let theirs = c.cfg.filters();
            if mine.is_empty() && theirs.is_empty() {
                return Err(fail(ApiError::new(
                    400,
                    10099,
                    "multiple non-filtered consumers not allowed on workqueue stream",
                )));
            }
            if mine.is_empty()
                || theirs.is_empty()
                || mine.iter().any(|a| theirs.iter().any(|b| config::subjects_collide(a, b)))
            {
                return Err(fail(ApiError::new(400, 10100, "filtered consumer not unique on workqueue stream")));
            }
        }
    }
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
        c.cfg.check_update(&new_cfg).map_err(fail)?;
        c.cfg = new_cfg;
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
    if cfg.name.is_empty() {
        cfg.name = name.clone();
    }
    let dir = if s.cfg.file && !cfg.mem_storage { stream_dir.map(|d| consumer_dir(&d, &name)) } else { None };
    let c = Consumer::new(name.clone(), cfg, durable, &s.store, dir);
    c.write_meta();
    let v = created_value(&c, stream, &s.store);
    s.consumers.insert(name, c);
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
    let v = parse_body(body).map_err(|e| (e, paged()))?;
    let offset = v.get("offset").and_then(Value::as_i64).unwrap_or(0).max(0) as usize;
    let s =
        js.account(acc).and_then(|a| a.streams.get(stream)).ok_or_else(|| (ApiError::stream_not_found(), paged()))?;
    let limit = if list { LIST_LIMIT } else { NAMES_LIMIT };
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
    if js.account(acc).and_then(|a| a.streams.get(stream)).is_none() {
        return Err(fail(ApiError::stream_not_found()));
    }
    if !consumer::delete_consumer(srv, js, acc, stream, name) {
        return Err(fail(ApiError::consumer_not_found()));
    }
    let mut o = Obj::default();
    o.put("type", typ("consumer_delete_response"));
    o.put("success", Value::Bool(true));
    Ok(o.done())
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
