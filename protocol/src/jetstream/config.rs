//! Stream and consumer configurations: read from API requests (and from
//! the store's `meta.inf`), given Go's defaults, checked with Go's errors,
//! and written back in the order Go echoes them.

use crate::json::Value;

use super::ApiError;

/// Go's largest durations and counts in the JSON are int64.
pub fn int(v: &Value, k: &str) -> Result<Option<i64>, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x.as_i64().map(Some).ok_or_else(ApiError::bad_json),
    }
}

pub fn uint(v: &Value, k: &str) -> Result<Option<u64>, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Integer(n)) if *n >= 0 => Ok(Some(*n as u64)),
        Some(Value::Number(n)) if *n >= 0.0 && n.fract() == 0.0 && *n < 1.9e19 => Ok(Some(*n as u64)),
        Some(_) => Err(ApiError::bad_json()),
    }
}

pub fn string(v: &Value, k: &str) -> Result<String, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::bad_json()),
    }
}

/// A string field that is absent (or null) as `None`.
fn enum_string(v: &Value, k: &str) -> Result<Option<String>, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_json()),
    }
}

pub fn boolean(v: &Value, k: &str) -> Result<bool, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_json()),
    }
}

pub fn strings(v: &Value, k: &str) -> Result<Vec<String>, ApiError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(ApiError::bad_json)).collect()
        }
        Some(_) => Err(ApiError::bad_json()),
    }
}

fn metadata(v: &Value) -> Result<Vec<(String, String)>, ApiError> {
    match v.get("metadata") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, x)| x.as_str().map(|s| (k.clone(), s.to_string())).ok_or_else(ApiError::bad_json))
            .collect(),
        Some(_) => Err(ApiError::bad_json()),
    }
}

fn obj_present(v: &Value, k: &str) -> bool {
    match v.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

pub fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

pub fn n(x: i64) -> Value {
    Value::Integer(x)
}

pub fn u(x: u64) -> Value {
    if x <= i64::MAX as u64 {
        Value::Integer(x as i64)
    } else {
        Value::Number(x as f64)
    }
}

/// An object under construction, keys in insertion order.
#[derive(Default)]
pub struct Obj(pub Vec<(String, Value)>);

impl Obj {
    pub fn put(&mut self, k: &str, v: Value) -> &mut Self {
        self.0.push((k.to_string(), v));
        self
    }
    pub fn done(self) -> Value {
        Value::Object(self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Limits,
    Interest,
    WorkQueue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamConfig {
    pub name: String,
    pub description: String,
    pub subjects: Vec<String>,
    pub retention: Retention,
    pub max_consumers: i64,
    pub max_msgs: i64,
    pub max_bytes: i64,
    pub max_age: i64,
    pub max_msgs_per_subject: i64,
    pub max_msg_size: i64,
    pub discard_new: bool,
    pub file: bool,
    pub num_replicas: i64,
    pub no_ack: bool,
    pub duplicate_window: i64,
    pub compression: String,
    pub first_seq: u64,
    pub allow_direct: bool,
    pub mirror_direct: bool,
    pub discard_new_per_subject: bool,
    pub sealed: bool,
    pub deny_delete: bool,
    pub deny_purge: bool,
    pub allow_rollup: bool,
    pub limits_inactive_threshold: i64,
    pub limits_max_ack_pending: i64,
    pub metadata: Vec<(String, String)>,
}

const MS100: i64 = 100_000_000;
const TWO_MIN: i64 = 120_000_000_000;

/// Go's stream and consumer name rule (no blank, `.`, `*`, `>`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.bytes().any(|b| b.is_ascii_whitespace() || matches!(b, b'.' | b'*' | b'>'))
}

impl StreamConfig {
    /// Reads a StreamConfig, refusing what this server does not do.
    pub fn parse(v: &Value) -> Result<StreamConfig, ApiError> {
        if !matches!(v, Value::Object(_)) {
            return Err(ApiError::bad_json());
        }
        for (k, what) in [
            ("mirror", "mirrors"),
            ("sources", "sources"),
            ("subject_transform", "subject transforms"),
            ("republish", "republish"),
            ("template_owner", "stream templates"),
        ] {
            if obj_present(v, k) {
                return Err(ApiError::new(500, 10052, &format!("{what} are not supported by this server")));
            }
        }
        // An absent enum takes its default; an empty string is no value
        // (Go's decoders refuse it), and only `discard` ignores case.
        let retention = match enum_string(v, "retention")?.as_deref() {
            None | Some("limits") => Retention::Limits,
            Some("interest") => Retention::Interest,
            Some("workqueue") => Retention::WorkQueue,
            _ => return Err(ApiError::bad_json()),
        };
        let discard = enum_string(v, "discard")?.map(|d| d.to_ascii_lowercase());
        let discard_new = match discard.as_deref() {
            None | Some("old") => false,
            Some("new") => true,
            _ => return Err(ApiError::bad_json()),
        };
        let file = match enum_string(v, "storage")?.as_deref() {
            None | Some("file") => true,
            Some("memory") => false,
            _ => return Err(ApiError::bad_json()),
        };
        let limits = v.get("consumer_limits");
        let lim = |k: &str| -> Result<i64, ApiError> {
            match limits {
                Some(l @ Value::Object(_)) => Ok(int(l, k)?.unwrap_or(0)),
                _ => Ok(0),
            }
        };
        let compression = match enum_string(v, "compression")?.as_deref() {
            None | Some("none") => "none".to_string(),
            Some("s2") => return Err(ApiError::new(500, 10052, "stream compression is not supported by this server")),
            _ => return Err(ApiError::bad_json()),
        };
        Ok(StreamConfig {
            name: string(v, "name")?,
            description: string(v, "description")?,
            subjects: strings(v, "subjects")?,
            retention,
            max_consumers: int(v, "max_consumers")?.unwrap_or(0),
            max_msgs: int(v, "max_msgs")?.unwrap_or(0),
            max_bytes: int(v, "max_bytes")?.unwrap_or(0),
            max_age: int(v, "max_age")?.unwrap_or(0),
            max_msgs_per_subject: int(v, "max_msgs_per_subject")?.unwrap_or(0),
            max_msg_size: int(v, "max_msg_size")?.unwrap_or(0),
            discard_new,
            file,
            num_replicas: int(v, "num_replicas")?.unwrap_or(0),
            no_ack: boolean(v, "no_ack")?,
            duplicate_window: int(v, "duplicate_window")?.unwrap_or(0),
            compression,
            first_seq: uint(v, "first_seq")?.unwrap_or(0),
            allow_direct: boolean(v, "allow_direct")?,
            mirror_direct: boolean(v, "mirror_direct")?,
            discard_new_per_subject: boolean(v, "discard_new_per_subject")?,
            sealed: boolean(v, "sealed")?,
            deny_delete: boolean(v, "deny_delete")?,
            deny_purge: boolean(v, "deny_purge")?,
            allow_rollup: boolean(v, "allow_rollup_hdrs")?,
            limits_inactive_threshold: lim("inactive_threshold")?,
            limits_max_ack_pending: lim("max_ack_pending")?,
            metadata: metadata(v)?,
        })
    }

    /// Go's defaults (`setStreamConfigDefaults`) and checks
    /// (`checkStreamCfg`), with its texts.
    pub fn normalize(&mut self) -> Result<(), ApiError> {
        let bad = |t: &str| Err(ApiError::new(500, 10052, t));
        if self.subjects.is_empty() {
            self.subjects.push(self.name.clone());
        }
        if self.max_consumers == 0 {
            self.max_consumers = -1;
        }
        if self.max_msgs == 0 {
            self.max_msgs = -1;
        }
        if self.max_bytes == 0 {
            self.max_bytes = -1;
        }
        if self.max_msgs_per_subject == 0 {
            self.max_msgs_per_subject = -1;
        }
        if self.max_msg_size == 0 {
            self.max_msg_size = -1;
        }
        if self.num_replicas == 0 {
            self.num_replicas = 1;
        }
        if self.duplicate_window == 0 {
            self.duplicate_window = if self.max_age > 0 && self.max_age < TWO_MIN { self.max_age } else { TWO_MIN };
        }
        if self.name.len() > 255 {
            return bad("stream name is too long, maximum allowed is 255");
        }
        if !valid_name(&self.name) {
            return bad("stream name is required and can not contain '.', '*', '>'");
        }
        if self.description.len() > 4096 {
            return bad("stream description is too long, maximum allowed is 4096");
        }
        if self.num_replicas > 5 {
            return bad("maximum replicas is 5");
        }
        if self.num_replicas < 0 {
            return Err(ApiError::new(400, 10133, "replicas count cannot be negative"));
        }
        if self.max_msgs < -1 || self.max_bytes < -1 || self.max_msgs_per_subject < -1 || self.max_msg_size < -1 {
            return bad("stream max limits can not be negative");
        }
        if self.max_age < 0 {
            return bad("max age needs to be >= 0");
        }
        if self.max_age != 0 && self.max_age < MS100 {
            return bad("max age needs to be >= 100ms");
        }
        if self.duplicate_window < 0 {
            return bad("duplicates window can not be negative");
        }
        if self.duplicate_window < MS100 {
            return bad("duplicates window needs to be >= 100ms");
        }
        if self.max_age != 0 && self.duplicate_window > self.max_age {
            return bad("duplicates window can not be larger then max age");
        }
        if self.discard_new_per_subject {
            if !self.discard_new {
                return bad("discard new per subject requires discard new policy to be set");
            }
            if self.max_msgs_per_subject <= 0 {
                return bad("discard new per subject requires max msgs per subject > 0");
            }
        }
        if self.deny_purge && self.allow_rollup {
            return bad("roll-ups require the purge permission");
        }
        if self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > 128 * 1024 {
            return bad("stream metadata exceeds maximum size of 128 KB");
        }
        let mut seen: Vec<&str> = Vec::new();
        for subj in &self.subjects {
            if !valid_subject(subj) {
                return bad("invalid subject");
            }
            if seen.contains(&subj.as_str()) {
                return bad("duplicate subjects detected");
            }
            if subj == ">" && !self.no_ack {
                return bad("capturing all subjects requires no-ack to be true");
            }
            for other in &seen {
                if subjects_collide(subj, other) {
                    return bad(&format!("subject {other:?} overlaps with {subj:?}"));
                }
            }
            if !self.no_ack {
                let js_api = ["$JS.>", "$JSC.>", "$NRG.>"].iter().any(|p| subjects_collide(subj, p))
                    && !subject_is_subset(subj, "$JS.EVENT.>");
                let sys = subjects_collide(subj, "$SYS.>") && !subject_is_subset(subj, "$SYS.ACCOUNT.>");
                if js_api {
                    return bad("subjects that overlap with jetstream api require no-ack to be true");
                }
                if sys {
                    return bad("subjects that overlap with system api require no-ack to be true");
                }
            }
            seen.push(subj);
        }
        Ok(())
    }

    pub fn to_value(&self) -> Value {
        let mut o = Obj::default();
        o.put("name", s(&self.name));
        if !self.description.is_empty() {
            o.put("description", s(&self.description));
        }
        o.put("subjects", Value::Array(self.subjects.iter().map(|x| s(x)).collect()));
        o.put(
            "retention",
            s(match self.retention {
                Retention::Limits => "limits",
                Retention::Interest => "interest",
                Retention::WorkQueue => "workqueue",
            }),
        );
        o.put("max_consumers", n(self.max_consumers));
        o.put("max_msgs", n(self.max_msgs));
        o.put("max_bytes", n(self.max_bytes));
        o.put("max_age", n(self.max_age));
        o.put("max_msgs_per_subject", n(self.max_msgs_per_subject));
        o.put("max_msg_size", n(self.max_msg_size));
        o.put("discard", s(if self.discard_new { "new" } else { "old" }));
        o.put("storage", s(if self.file { "file" } else { "memory" }));
        o.put("num_replicas", n(self.num_replicas));
        if self.no_ack {
            o.put("no_ack", Value::Bool(true));
        }
        o.put("duplicate_window", n(self.duplicate_window));
        o.put("compression", s(&self.compression));
        if self.first_seq > 0 {
            o.put("first_seq", u(self.first_seq));
        }
        o.put("allow_direct", Value::Bool(self.allow_direct));
        o.put("mirror_direct", Value::Bool(self.mirror_direct));
        if self.discard_new_per_subject {
            o.put("discard_new_per_subject", Value::Bool(true));
        }
        o.put("sealed", Value::Bool(self.sealed));
        o.put("deny_delete", Value::Bool(self.deny_delete));
        o.put("deny_purge", Value::Bool(self.deny_purge));
        o.put("allow_rollup_hdrs", Value::Bool(self.allow_rollup));
        let mut lim = Obj::default();
        if self.limits_inactive_threshold != 0 {
            lim.put("inactive_threshold", n(self.limits_inactive_threshold));
        }
        if self.limits_max_ack_pending != 0 {
            lim.put("max_ack_pending", n(self.limits_max_ack_pending));
        }
        o.put("consumer_limits", lim.done());
        if !self.metadata.is_empty() {
            o.put("metadata", Value::Object(self.metadata.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
        }
        o.done()
    }

    /// Go's update rules (`configUpdateCheck`): what a stream may not change.
    pub fn check_update(&self, new: &mut StreamConfig) -> Result<(), ApiError> {
        let bad = |t: &str| Err(ApiError::new(500, 10052, t));
        if new.file != self.file {
            return bad("stream configuration update can not change storage type");
        }
        if new.max_consumers != self.max_consumers {
            return bad("stream configuration update can not change MaxConsumers");
        }
        if (new.retention == Retention::WorkQueue) != (self.retention == Retention::WorkQueue)
            && new.retention != self.retention
        {
            return bad("stream configuration update can not change retention policy to/from workqueue");
        }
        if self.sealed && !new.sealed {
            return bad("stream configuration update can not unseal a sealed stream");
        }
        if self.deny_delete && !new.deny_delete {
            return bad("stream configuration update can not cancel deny message deletes");
        }
        if self.deny_purge && !new.deny_purge {
            return bad("stream configuration update can not cancel deny purge");
        }
        if new.sealed {
            new.max_age = 0;
            new.discard_new = true;
            new.deny_delete = true;
            new.deny_purge = true;
            new.allow_rollup = false;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverPolicy {
    All,
    Last,
    New,
    ByStartSequence,
    ByStartTime,
    LastPerSubject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckPolicy {
    None,
    All,
    Explicit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    pub durable_name: String,
    pub name: String,
    pub description: String,
    pub deliver_policy: DeliverPolicy,
    pub opt_start_seq: u64,
    /// `opt_start_time` as given, and in Unix nanoseconds.
    pub opt_start_time: Option<(String, i64)>,
    pub ack_policy: AckPolicy,
    pub ack_wait: i64,
    pub max_deliver: i64,
    pub backoff: Vec<i64>,
    pub filter_subject: String,
    pub filter_subjects: Vec<String>,
    pub replay_original: bool,
    pub rate_limit_bps: u64,
    pub sample_freq: String,
    pub max_waiting: i64,
    pub max_ack_pending: i64,
    pub idle_heartbeat: i64,
    pub flow_control: bool,
    pub headers_only: bool,
    pub max_batch: i64,
    pub max_expires: i64,
    pub max_bytes: i64,
    pub deliver_subject: String,
    pub deliver_group: String,
    pub inactive_threshold: i64,
    pub num_replicas: i64,
    pub mem_storage: bool,
    pub metadata: Vec<(String, String)>,
}

impl ConsumerConfig {
    pub fn parse(v: &Value) -> Result<ConsumerConfig, ApiError> {
        if !matches!(v, Value::Object(_)) {
            return Err(ApiError::bad_json());
        }
        let deliver_policy = match enum_string(v, "deliver_policy")?.as_deref() {
            None | Some("all" | "undefined") => DeliverPolicy::All,
            Some("last") => DeliverPolicy::Last,
            Some("new") => DeliverPolicy::New,
            Some("by_start_sequence") => DeliverPolicy::ByStartSequence,
            Some("by_start_time") => DeliverPolicy::ByStartTime,
            Some("last_per_subject") => DeliverPolicy::LastPerSubject,
            _ => return Err(ApiError::bad_json()),
        };
        let ack_policy = match enum_string(v, "ack_policy")?.as_deref() {
            None | Some("none") => AckPolicy::None,
            Some("all") => AckPolicy::All,
            Some("explicit") => AckPolicy::Explicit,
            _ => return Err(ApiError::bad_json()),
        };
        let replay_original = match enum_string(v, "replay_policy")?.as_deref() {
            None | Some("instant") => false,
            Some("original") => true,
            _ => return Err(ApiError::bad_json()),
        };
        let opt_start_time = match string(v, "opt_start_time")? {
            t if t.is_empty() || t == "0001-01-01T00:00:00Z" => None,
            t => {
                let ns = crate::gotime::parse_rfc3339(&t).ok_or_else(ApiError::bad_json)?;
                Some((t, ns))
            }
        };
        let backoff = match v.get("backoff") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                a.iter().map(|x| x.as_i64().ok_or_else(ApiError::bad_json)).collect::<Result<_, _>>()?
            }
            Some(_) => return Err(ApiError::bad_json()),
        };
        Ok(ConsumerConfig {
            durable_name: string(v, "durable_name")?,
            name: string(v, "name")?,
            description: string(v, "description")?,
            deliver_policy,
            opt_start_seq: uint(v, "opt_start_seq")?.unwrap_or(0),
            opt_start_time,
            ack_policy,
            ack_wait: int(v, "ack_wait")?.unwrap_or(0),
            max_deliver: int(v, "max_deliver")?.unwrap_or(0),
            backoff,
            filter_subject: string(v, "filter_subject")?,
            filter_subjects: strings(v, "filter_subjects")?,
            replay_original,
            rate_limit_bps: uint(v, "rate_limit_bps")?.unwrap_or(0),
            sample_freq: string(v, "sample_freq")?,
            max_waiting: int(v, "max_waiting")?.unwrap_or(0),
            max_ack_pending: int(v, "max_ack_pending")?.unwrap_or(0),
            idle_heartbeat: int(v, "idle_heartbeat")?.unwrap_or(0),
            flow_control: boolean(v, "flow_control")?,
            headers_only: boolean(v, "headers_only")?,
            max_batch: int(v, "max_batch")?.unwrap_or(0),
            max_expires: int(v, "max_expires")?.unwrap_or(0),
            max_bytes: int(v, "max_bytes")?.unwrap_or(0),
            deliver_subject: string(v, "deliver_subject")?,
            deliver_group: string(v, "deliver_group")?,
            inactive_threshold: int(v, "inactive_threshold")?.unwrap_or(0),
            num_replicas: int(v, "num_replicas")?.unwrap_or(0),
            mem_storage: boolean(v, "mem_storage")?,
            metadata: metadata(v)?,
        })
    }

    pub fn is_pull(&self) -> bool {
        self.deliver_subject.is_empty()
    }

    /// The filters a message subject is matched against (none: all).
    pub fn filters(&self) -> Vec<String> {
        if !self.filter_subject.is_empty() {
            vec![self.filter_subject.clone()]
        } else {
            self.filter_subjects.clone()
        }
    }

    /// Go's defaults (`setConsumerConfigDefaults`) given the stream's
    /// consumer limits.
    pub fn set_defaults(&mut self, stream: &StreamConfig, ephemeral: bool) {
        if self.is_pull() && self.max_waiting == 0 {
            self.max_waiting = 512;
        }
        if self.ack_policy != AckPolicy::None && self.ack_wait == 0 {
            self.ack_wait = 30_000_000_000;
        }
        if self.max_deliver == 0 {
            self.max_deliver = -1;
        }
        if let Some(b) = self.backoff.first() {
            self.ack_wait = *b;
        }
        if self.max_ack_pending == 0 && stream.limits_max_ack_pending > 0 {
            self.max_ack_pending = stream.limits_max_ack_pending;
        }
        if self.max_ack_pending == 0 && self.ack_policy != AckPolicy::None {
            self.max_ack_pending = 1000;
        }
        if self.inactive_threshold == 0 && stream.limits_inactive_threshold > 0 {
            self.inactive_threshold = stream.limits_inactive_threshold;
        }
        if ephemeral && self.inactive_threshold == 0 {
            self.inactive_threshold = 5_000_000_000;
        }
    }

    /// Go's checks (`checkConsumerCfg`), in its order, with its errors.
    pub fn check(&self, stream: &StreamConfig) -> Result<(), ApiError> {
        if self.durable_name.len() > 255 || self.name.len() > 255 {
            return Err(ApiError::new(400, 10102, "consumer name is too long, maximum allowed is 255"));
        }
        if !self.durable_name.is_empty() && !valid_name(&self.durable_name) {
            return Err(ApiError::new(400, 10103, "durable name can not contain '.', '*', '>'"));
        }
        if !self.name.is_empty() && !valid_name(&self.name) {
            return Err(ApiError::new(400, 10103, "durable name can not contain '.', '*', '>'"));
        }
        if self.num_replicas > 1 {
            return Err(ApiError::new(500, 10074, "replicas > 1 not supported in non-clustered mode"));
        }
        if self.num_replicas < 0 {
            return Err(ApiError::new(400, 10133, "replicas count cannot be negative"));
        }
        if !self.backoff.is_empty() && self.max_deliver > 0 && self.backoff.len() as i64 > self.max_deliver {
            return Err(ApiError::new(400, 10116, "max deliver is required to be > length of backoff values"));
        }
        if self.description.len() > 4096 {
            return Err(ApiError::new(400, 10107, "consumer description is too long, maximum allowed is 4096"));
        }
        if self.is_pull() {
            if self.ack_policy == AckPolicy::None && stream.retention == Retention::WorkQueue {
                return Err(ApiError::new(400, 10084, "consumer in pull mode requires ack policy"));
            }
            if self.idle_heartbeat > 0 {
                return Err(ApiError::new(400, 10088, "consumer idle heartbeat requires a push based consumer"));
            }
            if self.flow_control {
                return Err(ApiError::new(400, 10089, "consumer flow control requires a push based consumer"));
            }
            if self.max_batch < 0 {
                return Err(ApiError::new(400, 10114, "consumer max request batch needs to be > 0"));
            }
            if self.max_expires != 0 && self.max_expires < 1_000_000 {
                return Err(ApiError::new(400, 10115, "consumer max request expires needs to be >= 1ms"));
            }
        } else {
            if self.deliver_subject.contains(['*', '>']) {
                return Err(ApiError::new(400, 10079, "consumer deliver subject has wildcards"));
            }
            if !valid_subject(&self.deliver_subject) {
                return Err(ApiError::new(400, 10112, "invalid push consumer deliver subject"));
            }
            if stream.subjects.iter().any(|s| subjects_collide(s, &self.deliver_subject)) {
                return Err(ApiError::new(400, 10081, "consumer deliver subject forms a cycle"));
            }
            if self.max_waiting > 0 {
                return Err(ApiError::new(400, 10080, "consumer in push mode can not set max waiting"));
            }
            if self.ack_policy == AckPolicy::None && self.max_ack_pending > 0 {
                return Err(ApiError::new(400, 10082, "consumer requires ack policy for max ack pending"));
            }
            if self.idle_heartbeat > 0 && self.idle_heartbeat < MS100 {
                return Err(ApiError::new(400, 10083, "consumer idle heartbeat needs to be >= 100ms"));
            }
        }
        if !self.filter_subject.is_empty() && !self.filter_subjects.is_empty() {
            return Err(ApiError::new(
                400,
                10136,
                "consumer cannot have both FilterSubject and FilterSubjects specified",
            ));
        }
        if !self.filter_subject.is_empty() && !valid_subject(&self.filter_subject) {
            return Err(ApiError::new(
                400,
                10093,
                "consumer filter subject is not a valid subset of the interest subjects",
            ));
        }
        if self.filter_subjects.iter().any(String::is_empty) {
            return Err(ApiError::new(400, 10139, "consumer filter in FilterSubjects cannot be empty"));
        }
        for (i, f) in self.filter_subjects.iter().enumerate() {
            if !valid_subject(f) {
                return Err(ApiError::new(
                    400,
                    10093,
                    "consumer filter subject is not a valid subset of the interest subjects",
                ));
            }
            if self.filter_subjects.iter().enumerate().any(|(j, g)| j != i && subjects_collide(f, g)) {
                return Err(ApiError::new(400, 10138, "consumer subject filters cannot overlap"));
            }
        }
        self.check_deliver_policy()?;
        if self.flow_control && self.idle_heartbeat <= 0 {
            return Err(ApiError::new(400, 10108, "consumer with flow control also needs heartbeats"));
        }
        if !self.durable_name.is_empty() && !self.name.is_empty() && self.durable_name != self.name {
            return Err(ApiError::new(400, 10132, "Consumer Durable and Name have to be equal if both are provided"));
        }
        if self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > 128 * 1024 {
            return Err(ApiError::new(400, 10135, "consumer metadata exceeds maximum size of 128 KB"));
        }
        // The stream's consumer_limits bound what a consumer may ask for.
        let lim = stream.limits_max_ack_pending;
        if lim > 0 && self.max_ack_pending > lim {
            return Err(ApiError::new(400, 10121, &format!("consumer max ack pending exceeds system limit of {lim}")));
        }
        let lim = stream.limits_inactive_threshold;
        if lim > 0 && self.inactive_threshold > lim {
            let lim = crate::gotime::go_duration(std::time::Duration::from_nanos(lim as u64));
            return Err(ApiError::new(
                400,
                10153,
                &format!("consumer inactive threshold exceeds system limit of {lim}"),
            ));
        }
        Ok(())
    }

    /// The start position rules of the deliver policy (10094).
    fn check_deliver_policy(&self) -> Result<(), ApiError> {
        let p = |t: &str| Err(ApiError::new(400, 10094, t));
        match self.deliver_policy {
            DeliverPolicy::All | DeliverPolicy::Last | DeliverPolicy::New | DeliverPolicy::LastPerSubject => {
                let name = match self.deliver_policy {
                    DeliverPolicy::All => "all",
                    DeliverPolicy::Last => "last",
                    DeliverPolicy::New => "new",
                    _ => "last per subject",
                };
                if self.opt_start_seq > 0 {
                    return p(&format!(
                        "consumer delivery policy is deliver {name}, but optional start sequence is also set"
                    ));
                }
                if self.opt_start_time.is_some() {
                    return p(&format!(
                        "consumer delivery policy is deliver {name}, but optional start time is also set"
                    ));
                }
                if self.deliver_policy == DeliverPolicy::LastPerSubject
                    && self.filter_subject.is_empty()
                    && self.filter_subjects.is_empty()
                {
                    return p(
                        "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
                    );
                }
            }
            DeliverPolicy::ByStartSequence => {
                if self.opt_start_seq == 0 {
                    return p(
                        "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
                    );
                }
                if self.opt_start_time.is_some() {
                    return p(
                        "consumer delivery policy is deliver by start sequence, but optional start time is also set",
                    );
                }
            }
            DeliverPolicy::ByStartTime => {
                if self.opt_start_time.is_none() {
                    return p("consumer delivery policy is deliver by start time, but optional start time is not set");
                }
                if self.opt_start_seq > 0 {
                    return p(
                        "consumer delivery policy is deliver by start time, but optional start sequence is also set",
                    );
                }
            }
        }
        Ok(())
    }

    /// Go's update rules (`checkNewConsumerConfig`), in its order;
    /// `subject_bound`: whether the current deliver subject has interest.
    pub fn check_update(&self, new: &ConsumerConfig, subject_bound: bool) -> Result<(), ApiError> {
        let bad = |t: &str| Err(ApiError::new(500, 10012, t));
        if self.deliver_policy != new.deliver_policy {
            return bad("deliver policy can not be updated");
        }
        if self.mem_storage != new.mem_storage {
            return bad("storage type can not be updated");
        }
        if self.opt_start_seq != new.opt_start_seq {
            return bad("start sequence can not be updated");
        }
        if self.opt_start_time.as_ref().map(|t| t.1) != new.opt_start_time.as_ref().map(|t| t.1) {
            return bad("start time can not be updated");
        }
        if self.ack_policy != new.ack_policy {
            return bad("ack policy can not be updated");
        }
        if self.replay_original != new.replay_original {
            return bad("replay policy can not be updated");
        }
        if self.idle_heartbeat != new.idle_heartbeat {
            return bad("heart beats can not be updated");
        }
        if self.flow_control != new.flow_control {
            return bad("flow control can not be updated");
        }
        if self.deliver_subject != new.deliver_subject {
            if self.is_pull() {
                return bad("can not update pull consumer to push based");
            }
            if new.is_pull() {
                return bad("can not update push consumer to pull based");
            }
            if subject_bound {
                return Err(ApiError::new(400, 10013, "consumer name already in use"));
            }
        }
        if self.max_waiting != new.max_waiting {
            return bad("max waiting can not be updated");
        }
        if !new.backoff.is_empty() && new.max_deliver != -1 && new.backoff.len() as i64 > new.max_deliver {
            return Err(ApiError::new(400, 10116, "max deliver is required to be > length of backoff values"));
        }
        Ok(())
    }

    pub fn to_value(&self) -> Value {
        let mut o = Obj::default();
        if !self.durable_name.is_empty() {
            o.put("durable_name", s(&self.durable_name));
        }
        if !self.name.is_empty() {
            o.put("name", s(&self.name));
        }
        if !self.description.is_empty() {
            o.put("description", s(&self.description));
        }
        o.put(
            "deliver_policy",
            s(match self.deliver_policy {
                DeliverPolicy::All => "all",
                DeliverPolicy::Last => "last",
                DeliverPolicy::New => "new",
                DeliverPolicy::ByStartSequence => "by_start_sequence",
                DeliverPolicy::ByStartTime => "by_start_time",
                DeliverPolicy::LastPerSubject => "last_per_subject",
            }),
        );
        if self.opt_start_seq > 0 {
            o.put("opt_start_seq", u(self.opt_start_seq));
        }
        if let Some((t, _)) = &self.opt_start_time {
            o.put("opt_start_time", s(t));
        }
        o.put(
            "ack_policy",
            s(match self.ack_policy {
                AckPolicy::None => "none",
                AckPolicy::All => "all",
                AckPolicy::Explicit => "explicit",
            }),
        );
        if self.ack_wait != 0 {
            o.put("ack_wait", n(self.ack_wait));
        }
        if self.max_deliver != 0 {
            o.put("max_deliver", n(self.max_deliver));
        }
        if !self.backoff.is_empty() {
            o.put("backoff", Value::Array(self.backoff.iter().map(|b| n(*b)).collect()));
        }
        if !self.filter_subject.is_empty() {
            o.put("filter_subject", s(&self.filter_subject));
        }
        if !self.filter_subjects.is_empty() {
            o.put("filter_subjects", Value::Array(self.filter_subjects.iter().map(|x| s(x)).collect()));
        }
        o.put("replay_policy", s(if self.replay_original { "original" } else { "instant" }));
        if self.rate_limit_bps > 0 {
            o.put("rate_limit_bps", u(self.rate_limit_bps));
        }
        if !self.sample_freq.is_empty() {
            o.put("sample_freq", s(&self.sample_freq));
        }
        if self.max_waiting != 0 {
            o.put("max_waiting", n(self.max_waiting));
        }
        if self.max_ack_pending != 0 {
            o.put("max_ack_pending", n(self.max_ack_pending));
        }
        if self.idle_heartbeat != 0 {
            o.put("idle_heartbeat", n(self.idle_heartbeat));
        }
        if self.flow_control {
            o.put("flow_control", Value::Bool(true));
        }
        if self.headers_only {
            o.put("headers_only", Value::Bool(true));
        }
        if self.max_batch != 0 {
            o.put("max_batch", n(self.max_batch));
        }
        if self.max_expires != 0 {
            o.put("max_expires", n(self.max_expires));
        }
        if self.max_bytes != 0 {
            o.put("max_bytes", n(self.max_bytes));
        }
        if !self.deliver_subject.is_empty() {
            o.put("deliver_subject", s(&self.deliver_subject));
        }
        if !self.deliver_group.is_empty() {
            o.put("deliver_group", s(&self.deliver_group));
        }
        if self.inactive_threshold != 0 {
            o.put("inactive_threshold", n(self.inactive_threshold));
        }
        o.put("num_replicas", n(self.num_replicas));
        if self.mem_storage {
            o.put("mem_storage", Value::Bool(true));
        }
        if !self.metadata.is_empty() {
            o.put("metadata", Value::Object(self.metadata.iter().map(|(k, v)| (k.clone(), s(v))).collect()));
        }
        o.done()
    }
}

/// A valid subject for a stream or filter: non-empty tokens, `>` only last.
pub fn valid_subject(subj: &str) -> bool {
    if subj.is_empty() || subj.bytes().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    let toks: Vec<&str> = subj.split('.').collect();
    for (i, t) in toks.iter().enumerate() {
        if t.is_empty() {
            return false;
        }
        if (t.contains('>') && (*t != ">" || i + 1 != toks.len())) || (t.contains('*') && *t != "*") {
            return false;
        }
    }
    true
}

/// Whether one subject could match both patterns.
pub fn subjects_collide(a: &str, b: &str) -> bool {
    let (ta, tb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    let mut i = 0;
    loop {
        match (ta.get(i), tb.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) => {
                if *x != "*" && *y != "*" && x != y {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        i += 1;
    }
}

/// Whether every subject `a` matches is also matched by `b`.
pub fn subject_is_subset(a: &str, b: &str) -> bool {
    let (ta, tb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (i, y) in tb.iter().enumerate() {
        if *y == ">" {
            return ta.len() > i;
        }
        match ta.get(i) {
            None => return false,
            Some(&">") => return false,
            Some(x) => {
                if *y != "*" && (x != y || *x == "*") {
                    return false;
                }
            }
        }
    }
    ta.len() == tb.len()
}

/// Whether a literal subject matches a pattern.
pub fn subject_matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut p = pattern.split(|b| *b == b'.');
    let mut s = subject.split(|b| *b == b'.');
    loop {
        match (p.next(), s.next()) {
            (Some(b">"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_relations() {
        assert!(subjects_collide("a.*", "a.b"));
        assert!(subjects_collide("a.>", "a.b.c"));
        assert!(!subjects_collide("a.b", "a.c"));
        assert!(!subjects_collide("a.*", "a.b.c"));
        assert!(subject_is_subset("$JS.EVENT.x", "$JS.EVENT.>"));
        assert!(!subject_is_subset("$JS.>", "$JS.EVENT.>"));
        assert!(subject_matches(b"a.*.c", b"a.b.c"));
        assert!(subject_matches(b"a.>", b"a.b.c"));
        assert!(!subject_matches(b"a.>", b"a"));
        assert!(valid_subject("a.*.>"));
        assert!(!valid_subject("a..b"));
        assert!(!valid_subject("a.>.b"));
    }

    #[test]
    fn stream_defaults_follow_go() {
        let v = crate::json::parse(br#"{"name":"S","max_age":60000000000}"#).unwrap();
        let mut c = StreamConfig::parse(&v).unwrap();
        c.normalize().unwrap();
        assert_eq!(c.subjects, vec!["S".to_string()]);
        assert_eq!((c.max_msgs, c.max_consumers, c.num_replicas), (-1, -1, 1));
        assert_eq!(c.duplicate_window, 60_000_000_000);
        let v = crate::json::parse(br#"{"name":"S","subjects":["a.*","a.b"]}"#).unwrap();
        let mut c = StreamConfig::parse(&v).unwrap();
        assert_eq!(c.normalize().unwrap_err().description, "subject \"a.*\" overlaps with \"a.b\"");
    }
}
