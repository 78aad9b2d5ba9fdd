//! What JetStream holds, as the server keeps it: the accounts with their
//! streams and consumers, the queue of messages its subscriptions
//! received, and the work left of a request done in slices. The handlers
//! that change it are in the other modules of `jetstream`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::clock::now_nanos;
use super::store::{self, Store};
use crate::config::options::{JsLimits, JsOpts};
use crate::routing::accounts::AccId;
use crate::routing::sublist::Subscription;
use rnats_protocol::jetstream::config::{ConsumerConfig, StreamConfig};

/// What an internal subscription is for, from its sid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Api,
    Ack,
    FlowControl,
    Stream,
}

/// A message for JetStream, copied out of the read buffer.
pub struct Inbound {
    pub acc: AccId,
    /// The publisher's slot and connection id (no-responders answers).
    pub from: usize,
    pub from_cid: u64,
    pub(super) target: Target,
    /// For a stream's subscription: the stream's name.
    pub(super) stream: Rc<str>,
    pub subject: Box<[u8]>,
    pub reply: Option<Box<[u8]>>,
    pub hdr_len: usize,
    pub payload: Box<[u8]>,
}

/// JetStream of one account.
pub struct JsAccount {
    pub acc: AccId,
    pub name: String,
    pub limits: JsLimits,
    pub streams: BTreeMap<String, Stream>,
    pub(super) subs: Vec<Rc<Subscription>>,
    pub api_total: u64,
    pub api_errors: u64,
}

pub struct JetStream {
    pub opts: JsOpts,
    /// `<store_dir>/jetstream`.
    pub root: PathBuf,
    pub max_memory: i64,
    pub max_store: i64,
    pub accounts: Vec<JsAccount>,
    /// The timer set for the nearest deadline, and the nearest wanted.
    pub(super) wake_at: Option<Instant>,
    pub(super) want_at: Option<Instant>,
    pub(super) next_sync: Instant,
    /// A request done in slices: it stays at the head of the queue and
    /// runs again each pass until done, nothing behind it running first.
    pub resume: Option<Resume>,
    /// The indexes of deleted streams, freed a slice a pass.
    pub discarded: Vec<store::Store>,
}

/// What an action advisory tells of a stream or consumer.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Create,
    Modify,
    Delete,
}

/// What a request done in slices did so far.
#[derive(Debug, Default)]
pub struct Resume {
    /// Messages erased in earlier passes.
    pub erased: u64,
    /// The sequences still to erase, when worked out on the first pass.
    pub plan: Option<Vec<u64>>,
    /// A purge by subject: where to look next, and the end of its range.
    pub range: Option<(u64, u64)>,
    /// A stream update turning to interest retention: afterwards, what
    /// nobody is interested in goes.
    pub to_interest: bool,
    /// The request's own change is made: what is left is the stream's
    /// interest sweep.
    pub sweeping: bool,
    /// A message with `Nats-Rollup` is stored: what is left is its purge,
    /// then its PubAck.
    pub rollup: Option<Rollup>,
}

/// The purge a rollup message asks for (Go's purge options) and the
/// message's sequence.
#[derive(Debug)]
pub struct Rollup {
    pub filter: Option<String>,
    pub seq: Option<u64>,
    pub keep: Option<u64>,
    pub stored: u64,
}

pub struct Stream {
    pub cfg: StreamConfig,
    /// Creation time, Unix nanoseconds.
    pub created: i64,
    pub store: Store,
    /// The stream's directory (file streams).
    pub dir: Option<PathBuf>,
    pub consumers: BTreeMap<String, Consumer>,
    pub subs: Vec<Rc<Subscription>>,
    /// `Nats-Msg-Id` → (sequence, time) within the duplicate window.
    pub(super) dedupe: HashMap<Box<[u8]>, u64>,
    pub(super) dedupe_order: VecDeque<(i64, Box<[u8]>)>,
    /// `Nats-Msg-Id` of the last stored message.
    pub(super) last_msg_id: Vec<u8>,
    /// Interest retention: messages still to look at after a consumer
    /// went or the stream turned to interest retention.
    pub sweep: Option<Sweep>,
    /// The rest of the purge of a rollup message just stored.
    pub(super) rollup: Option<(Rollup, Resume)>,
}

/// The sequences `next..=upto` are checked for remaining interest, a
/// slice a pass ([`Stream::sweep_step`]).
/// With `purge`, a stream left without consumers is purged instead (a
/// consumer's deletion, as Go's).
#[derive(Clone, Copy)]
pub struct Sweep {
    pub(super) next: u64,
    pub(super) upto: u64,
    pub(super) purge: bool,
}

/// A delivered message awaiting its ack.
#[derive(Debug, Clone)]
pub struct Pending {
    pub cseq: u64,
    /// Delivery time, Unix nanoseconds.
    pub ts: i64,
    pub deadline: Instant,
    /// Queued for redelivery already.
    pub queued: bool,
}

/// A pull request waiting for messages.
#[derive(Debug)]
pub struct PullReq {
    pub reply: Vec<u8>,
    pub batch: i64,
    pub max_bytes: i64,
    pub bytes_left: i64,
    pub expires: Option<Instant>,
    pub no_wait: bool,
    pub hb: Option<Duration>,
    pub hb_next: Option<Instant>,
    pub delivered: i64,
}

pub struct Consumer {
    pub name: String,
    pub cfg: ConsumerConfig,
    pub created: i64,
    pub durable: bool,
    pub(super) filters: Vec<Vec<u8>>,
    /// Last consumer sequence given out, last stream sequence passed.
    pub dseq: u64,
    pub sseq: u64,
    pub ack_floor_c: u64,
    pub ack_floor_s: u64,
    pub pending: BTreeMap<u64, Pending>,
    /// Delivery counts above 1, by stream sequence.
    pub rdc: BTreeMap<u64, u64>,
    pub(super) rdq: VecDeque<u64>,
    /// `last_per_subject`: the messages still to hand out first.
    pub(super) lps: BTreeSet<u64>,
    pub waiting: VecDeque<PullReq>,
    pub num_pending: u64,
    pub last_active: i64,
    /// When an ack was last applied (Go's ack_floor.last_active).
    pub ack_last_active: i64,
    pub push_bound: bool,
    pub(super) idle_since: Instant,
    pub(super) hb_next: Option<Instant>,
    pub(super) fc_out: Option<Vec<u8>>,
    pub(super) fc_bytes: u64,
    pub(super) dir: Option<PathBuf>,
    pub(super) dirty: bool,
    pub deleted: bool,
}

/// Asks for the next max_age check of a stream that just stored.
pub fn want_expiry(js: &mut JetStream, acc: AccId, name: &str) {
    let Some(s) = js.account(acc).and_then(|a| a.streams.get(name)) else { return };
    if s.cfg.max_age > 0 {
        if let Some((_, ts)) = s.store.oldest() {
            let left = (ts + s.cfg.max_age - now_nanos()).max(0) as u64;
            js.want(Instant::now() + Duration::from_nanos(left));
        }
    }
}
