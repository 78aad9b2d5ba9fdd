//! A stream's messages: an index in memory (sequence → subject, time,
//! sizes, where the bytes are) over either memory or block files.
//!
//! A file stream keeps its records in numbered block files
//! (`msgs/1.blk`, `msgs/2.blk`, ...) in the format of
//! `rnats_protocol::jetstream::record`: messages, erasures of one message
//! and purges below a sequence. Records are appended to the last block;
//! past [`BLOCK_SIZE`] a new block is started. A message is written with
//! one `write` before it is acknowledged; `fsync` follows at the sync
//! interval, or after each write with `sync: always`.
//!
//! Opening reads the blocks in order. Reading a block stops at the first
//! record that is cut short or fails its check: the block is truncated
//! there, so a torn or damaged tail is never served.
//!
//! Space comes back a block at a time: the first block goes once it holds
//! no live message, and [`Store::tidy`] rewrites one other block whose
//! records are mostly erased (live messages, and the erasures that still
//! hide records in earlier blocks) a slice of records per call, so no
//! step copies more than one block's worth.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rnats_protocol::jetstream::record::{
    decode_record, encode_record, FIXED, KIND_DELETE, KIND_MSG, KIND_PURGE, MAX_RECORD,
};

/// A new block is started when the last one has reached this size.
pub const BLOCK_SIZE: u64 = 4 * 1024 * 1024;
/// A block is rewritten when erased records take half of it and at least
/// this many bytes (or when no live message is left in it).
const COMPACT_MIN: u64 = 64 * 1024;

/// Bytes of records a call of [`Store::tidy`] looks at.
const TIDY_STEP: usize = 256 * 1024;
/// Erasures of a mass removal written with one `write`.
const ERASE_BATCH: usize = 4096;

/// One stored message as handed out: owned copies.
#[derive(Debug, Clone)]
pub struct StoredMsg {
    pub seq: u64,
    /// Store time, Unix nanoseconds.
    pub ts: i64,
    pub subject: Rc<[u8]>,
    pub hdr: Vec<u8>,
    pub data: Vec<u8>,
}

#[derive(Debug)]
enum Loc {
    /// Block number and offset of the record in it.
    File { blk: u32, at: u64 },
    /// Headers then data.
    Mem(Box<[u8]>),
}

#[derive(Debug)]
struct Entry {
    subject: Rc<[u8]>,
    ts: i64,
    hdr_len: u32,
    data_len: u32,
    loc: Loc,
}

impl Entry {
    /// Bytes of its record in a block file.
    fn rec_len(&self) -> u64 {
        (FIXED + self.subject.len() + self.hdr_len as usize + self.data_len as usize) as u64
    }
}

/// Per-subject counts: how many, the first and last sequence.
#[derive(Debug, Clone, Copy)]
pub struct SubjState {
    pub msgs: u64,
    pub first: u64,
    pub last: u64,
}

/// The sequences of one subject's messages, oldest first: removing its
/// oldest or newest (limits, key-value updates) is O(1), without walking
/// the stream.
#[derive(Debug, Default)]
struct Subj {
    seqs: VecDeque<u64>,
}

impl Subj {
    fn state(&self) -> SubjState {
        SubjState {
            msgs: self.seqs.len() as u64,
            first: self.seqs.front().copied().unwrap_or(0),
            last: self.seqs.back().copied().unwrap_or(0),
        }
    }

    fn remove(&mut self, seq: u64) {
        if self.seqs.front() == Some(&seq) {
            self.seqs.pop_front();
        } else if self.seqs.back() == Some(&seq) {
            self.seqs.pop_back();
        } else if let Ok(i) = self.seqs.binary_search(&seq) {
            self.seqs.remove(i);
        }
        if self.seqs.capacity() > 8 && self.seqs.len() < self.seqs.capacity() / 4 {
            self.seqs.shrink_to(self.seqs.len() * 2);
        }
    }
}

/// One block file.
struct Block {
    file: File,
    len: u64,
    /// Bytes of records that no longer hold a live message.
    dead: u64,
    /// Live messages whose record is here.
    live: u64,
    /// Lowest and highest sequence of the message records here (0 for none).
    min_seq: u64,
    max_seq: u64,
    /// The highest sequence a record here vouches for (messages, erasures,
    /// purges).
    top: u64,
    dirty: bool,
}

impl Block {
    fn new(file: File) -> Block {
        Block { file, len: 0, dead: 0, live: 0, min_seq: 0, max_seq: 0, top: 0, dirty: false }
    }

    fn note_msg(&mut self, seq: u64) {
        if self.min_seq == 0 {
            self.min_seq = seq;
        }
        self.max_seq = seq;
        self.top = self.top.max(seq);
    }

    fn wants_rewrite(&self) -> bool {
        self.live == 0 || (self.dead >= COMPACT_MIN && self.dead * 2 >= self.len)
    }
}

/// A block rewrite under way: the block's bytes, how far its records were
/// looked at, what is kept of them and where its live messages go.
struct Rewrite {
    n: u32,
    data: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// (sequence, offset in the block, offset in `out`).
    moved: Vec<(u64, u64, u64)>,
    /// Ranges of message records in earlier blocks.
    earlier: Vec<(u64, u64)>,
    /// Lowest and highest message, and highest sequence vouched for, kept.
    seqs: (u64, u64, u64),
    /// What is kept, written to the block's temporary file (not synced).
    tmp: Option<File>,
}

/// The blocks behind a file stream.
struct StoreFile {
    dir: PathBuf,
    blocks: BTreeMap<u32, Block>,
    /// Blocks that may be worth rewriting.
    tidy: BTreeSet<u32>,
    block_size: u64,
    sync_always: bool,
    /// A block was created or removed since the directory was synced.
    dir_dirty: bool,
    rewrite: Option<Rewrite>,
}

/// The messages of one stream.
pub struct Store {
    msgs: BTreeMap<u64, Entry>,
    subjects: HashMap<Rc<[u8]>, Subj>,
    pub first_seq: u64,
    pub last_seq: u64,
    pub last_ts: i64,
    /// Bytes as Go counts them for this storage type.
    pub bytes: u64,
    file: Option<StoreFile>,
    buf: Vec<u8>,
}

/// Bytes Go counts for a message: file and memory stores differ.
pub fn msg_size(file: bool, subject: usize, hdr: usize, data: usize) -> u64 {
    if file {
        let h = if hdr > 0 { 4 + hdr } else { 0 };
        (22 + subject + h + data + 8) as u64
    } else {
        (subject + hdr + data + 16) as u64
    }
}

/// Whether a subject filter has no wildcard token.
fn is_literal(filter: &[u8]) -> bool {
    !filter.split(|b| *b == b'.').any(|t| t == b"*" || t == b">")
}

fn block_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n}.blk"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl StoreFile {
    /// The block records are appended to, started anew past the block size.
    fn active(&mut self) -> io::Result<(u32, &mut Block)> {
        let (&n, last) = self.blocks.iter().next_back().ok_or_else(|| io::Error::other("no block"))?;
        if last.len >= self.block_size {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(block_path(&self.dir, n + 1))?;
            self.blocks.insert(n + 1, Block::new(file));
            self.dir_dirty = true;
            // The block just left may be worth a rewrite now.
            if self.blocks.get(&n).is_some_and(Block::wants_rewrite) {
                self.tidy.insert(n);
            }
        }
        let (&n, b) = self.blocks.iter_mut().next_back().ok_or_else(|| io::Error::other("no block"))?;
        Ok((n, b))
    }

    /// Appends one record to the active block; on error nothing of it stays.
    fn write(&mut self, rec: &[u8]) -> io::Result<(u32, u64)> {
        let sync_always = self.sync_always;
        let (n, b) = self.active()?;
        let at = b.len;
        if let Err(e) = b.file.write_all(rec) {
            // A short write (disk full) must not leave half a record that
            // later ones would follow.
            let _ = b.file.set_len(b.len);
            let _ = b.file.seek(SeekFrom::Start(b.len));
            return Err(e);
        }
        b.len += rec.len() as u64;
        b.dirty = true;
        if sync_always {
            b.file.sync_data()?;
            b.dirty = false;
            if self.dir_dirty {
                sync_dir(&self.dir)?;
                self.dir_dirty = false;
            }
        }
        Ok((n, at))
    }

    /// A record in block `n` stopped holding a live message.
    fn dead(&mut self, n: u32, bytes: u64, was_live: bool) {
        if let Some(b) = self.blocks.get_mut(&n) {
            b.dead += bytes;
            if was_live {
                b.live = b.live.saturating_sub(1);
            }
            let last = self.blocks.keys().next_back().copied();
            if Some(n) != last && self.blocks.get(&n).is_some_and(Block::wants_rewrite) {
                self.tidy.insert(n);
            }
        }
    }

    /// Removes the block file `n`.
    fn unlink(&mut self, n: u32) -> io::Result<()> {
        // Kept in the list when the file stays: its records still count.
        std::fs::remove_file(block_path(&self.dir, n))?;
        self.blocks.remove(&n);
        self.tidy.remove(&n);
        self.dir_dirty = true;
        Ok(())
    }
}

impl Store {
    pub fn memory() -> Store {
        Store {
            msgs: BTreeMap::new(),
            subjects: HashMap::new(),
            first_seq: 0,
            last_seq: 0,
            last_ts: 0,
            bytes: 0,
            file: None,
            buf: Vec::new(),
        }
    }

    /// Opens (or creates) the file store in `dir`, reading every intact
    /// record; a damaged or cut tail of a block is truncated away (the
    /// bytes cut are returned for the log).
    pub fn open(dir: &Path, sync_always: bool) -> io::Result<(Store, u64)> {
        Store::open_blocks(dir, sync_always, BLOCK_SIZE)
    }

    pub fn open_blocks(dir: &Path, sync_always: bool, block_size: u64) -> io::Result<(Store, u64)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers = Vec::new();
        for ent in std::fs::read_dir(dir)? {
            let name = ent?.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = name.strip_suffix(".blk").and_then(|n| n.parse::<u32>().ok()) {
                numbers.push(n);
            } else if name.ends_with(".tmp") {
                // A rewrite that did not finish: the block it was for is whole.
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
        numbers.sort_unstable();
        let mut s = Store::memory();
        let mut f = StoreFile {
            dir: dir.to_path_buf(),
            blocks: BTreeMap::new(),
            tidy: BTreeSet::new(),
            block_size,
            sync_always,
            dir_dirty: false,
            rewrite: None,
        };
        if numbers.is_empty() {
            numbers.push(1);
        }
        let mut cut = 0u64;
        let mut data = Vec::new();
        for n in numbers {
            let mut file =
                OpenOptions::new().read(true).write(true).create(true).truncate(false).open(block_path(dir, n))?;
            data.clear();
            file.read_to_end(&mut data)?;
            let mut b = Block::new(file);
            let pos = s.replay(n, &data, &mut b);
            if pos < data.len() {
                cut += (data.len() - pos) as u64;
                b.file.set_len(pos as u64)?;
                b.file.sync_all()?;
            }
            b.file.seek(SeekFrom::Start(pos as u64))?;
            b.len = pos as u64;
            f.blocks.insert(n, b);
        }
        // What each block still holds.
        for e in s.msgs.values() {
            if let Loc::File { blk, .. } = e.loc {
                if let Some(b) = f.blocks.get_mut(&blk) {
                    b.live += 1;
                    b.dead += e.rec_len();
                }
            }
        }
        let last = f.blocks.keys().next_back().copied();
        for (n, b) in &mut f.blocks {
            // `dead` held the live bytes; the rest of the block is dead.
            b.dead = b.len.saturating_sub(b.dead);
            if Some(*n) != last && b.wants_rewrite() {
                f.tidy.insert(*n);
            }
        }
        s.file = Some(f);
        s.drop_empty_blocks();
        Ok((s, cut))
    }

    /// Applies the intact records at the start of `data` (block `n`);
    /// returns where they end.
    fn replay(&mut self, n: u32, data: &[u8], b: &mut Block) -> usize {
        let mut pos = 0usize;
        while let Some((r, len)) = decode_record(&data[pos..]) {
            match r.kind {
                KIND_MSG => {
                    if r.seq > self.last_seq {
                        let loc = Loc::File { blk: n, at: pos as u64 };
                        self.insert_entry(r.seq, r.ts, r.subject, r.hdr.len(), r.data.len(), loc, true);
                        b.note_msg(r.seq);
                    }
                }
                KIND_DELETE => {
                    b.top = b.top.max(r.seq);
                    if r.seq > self.last_seq {
                        // A sequence used without a message kept.
                        self.last_seq = r.seq;
                        if self.msgs.is_empty() {
                            self.first_seq = r.seq + 1;
                        }
                    }
                    self.remove_entry(r.seq, true);
                }
                _ => {
                    b.top = b.top.max(r.seq.saturating_sub(1));
                    self.purge_below(r.seq, true);
                    if r.seq > self.last_seq + 1 {
                        self.last_seq = r.seq - 1;
                    }
                    if self.msgs.is_empty() {
                        self.first_seq = self.last_seq + 1;
                    }
                }
            }
            pos += len;
        }
        pos
    }

    pub fn msgs(&self) -> u64 {
        self.msgs.len() as u64
    }

    /// Frees at most `n` entries of the index of a store no longer used
    /// (its files are gone); true once nothing is left.
    pub fn shed(&mut self, n: usize) -> bool {
        for _ in 0..n {
            if self.msgs.pop_first().is_none() {
                break;
            }
        }
        if self.msgs.is_empty() {
            let mut left = n;
            self.subjects.retain(|_, _| {
                if left == 0 {
                    return true;
                }
                left -= 1;
                false
            });
        }
        self.msgs.is_empty() && self.subjects.is_empty()
    }

    pub fn num_subjects(&self) -> usize {
        self.subjects.len()
    }

    pub fn subject_state(&self, subject: &[u8]) -> Option<SubjState> {
        self.subjects.get(subject).map(Subj::state)
    }

    pub fn subjects(&self) -> impl Iterator<Item = (&[u8], SubjState)> {
        self.subjects.iter().map(|(k, v)| (&**k, v.state()))
    }

    /// Time of the first message (0 when empty).
    pub fn first_ts(&self) -> i64 {
        self.msgs.values().next().map_or(0, |e| e.ts)
    }

    /// The first message stored at or after `ts` (nanoseconds).
    pub fn first_at_or_after(&self, ts: i64) -> Option<u64> {
        self.msgs.iter().find(|(_, e)| e.ts >= ts).map(|(s, _)| *s)
    }

    /// The first sequence as Go reports it (0 for a stream never written).
    pub fn first(&self) -> u64 {
        match self.msgs.keys().next() {
            Some(s) => *s,
            None if self.last_seq == 0 && self.first_seq == 0 => 0,
            None => self.last_seq + 1,
        }
    }

    /// How many sequences `deleted` lists, without listing them.
    pub fn num_deleted(&self) -> u64 {
        match self.msgs.keys().next() {
            Some(first) => (self.last_seq + 1 - first).saturating_sub(self.msgs.len() as u64),
            None => 0,
        }
    }

    /// Sequences of gaps (erased messages between the first message and the
    /// last sequence).
    pub fn deleted(&self) -> Vec<u64> {
        let mut out = Vec::new();
        let mut expect = match self.msgs.keys().next() {
            Some(s) => *s,
            None => return out,
        };
        for &s in self.msgs.keys() {
            while expect < s {
                out.push(expect);
                expect += 1;
            }
            expect = s + 1;
        }
        // Removed at the tail: the last sequence stays, as in Go.
        out.extend(expect..=self.last_seq);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_entry(&mut self, seq: u64, ts: i64, subject: &[u8], hdr: usize, data: usize, loc: Loc, file: bool) {
        let subject: Rc<[u8]> = match self.subjects.get_key_value(subject) {
            Some((k, _)) => k.clone(),
            None => Rc::from(subject),
        };
        self.subjects.entry(subject.clone()).or_default().seqs.push_back(seq);
        if self.msgs.is_empty() {
            self.first_seq = seq;
        }
        self.bytes += msg_size(file, subject.len(), hdr, data);
        self.msgs.insert(seq, Entry { subject, ts, hdr_len: hdr as u32, data_len: data as u32, loc });
        self.last_seq = seq;
        self.last_ts = ts;
    }

    fn remove_entry(&mut self, seq: u64, file: bool) -> Option<Entry> {
        let e = self.msgs.remove(&seq)?;
        self.bytes =
            self.bytes.saturating_sub(msg_size(file, e.subject.len(), e.hdr_len as usize, e.data_len as usize));
        let mut gone = false;
        if let Some(st) = self.subjects.get_mut(&e.subject) {
            st.remove(seq);
            gone = st.seqs.is_empty();
        }
        if gone {
            self.subjects.remove(&e.subject);
        }
        self.first_seq = self.msgs.keys().next().copied().unwrap_or(self.last_seq + 1);
        Some(e)
    }

    /// Erases every message below `seq` from the index; returns what went.
    fn purge_below(&mut self, seq: u64, file: bool) -> Vec<(u64, Entry)> {
        // One by one from the front: `split_off` would count what stays.
        let mut gone = Vec::new();
        while let Some(e) = self.msgs.first_entry() {
            if *e.key() >= seq {
                break;
            }
            gone.push(e.remove_entry());
        }
        for (s, e) in &gone {
            self.bytes =
                self.bytes.saturating_sub(msg_size(file, e.subject.len(), e.hdr_len as usize, e.data_len as usize));
            let mut empty = false;
            if let Some(st) = self.subjects.get_mut(&e.subject) {
                // Everything below `seq` goes, so a subject's gone
                // messages are its oldest.
                st.remove(*s);
                empty = st.seqs.is_empty();
            }
            if empty {
                self.subjects.remove(&e.subject);
            }
        }
        self.first_seq = self.msgs.keys().next().copied().unwrap_or(seq.max(self.last_seq + 1));
        gone
    }

    /// Stores a message as sequence `last_seq + 1`; in a file store it is
    /// written before this returns (and synced with `sync: always`).
    pub fn append(&mut self, ts: i64, subject: &[u8], hdr: &[u8], data: &[u8]) -> io::Result<u64> {
        let seq = self.last_seq + 1;
        if subject.len() > u16::MAX as usize || FIXED + subject.len() + hdr.len() + data.len() > MAX_RECORD {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
        }
        let loc = match &mut self.file {
            Some(f) => {
                self.buf.clear();
                encode_record(&mut self.buf, KIND_MSG, seq, ts, subject, hdr, data);
                let (blk, at) = f.write(&self.buf)?;
                if let Some(b) = f.blocks.get_mut(&blk) {
                    b.note_msg(seq);
                    b.live += 1;
                }
                Loc::File { blk, at }
            }
            None => {
                let mut b = Vec::with_capacity(hdr.len() + data.len());
                b.extend_from_slice(hdr);
                b.extend_from_slice(data);
                Loc::Mem(b.into_boxed_slice())
            }
        };
        let file = self.file.is_some();
        self.insert_entry(seq, ts, subject, hdr.len(), data.len(), loc, file);
        Ok(seq)
    }

    /// Skips a sequence without storing anything (interest retention with
    /// nobody interested).
    pub fn skip(&mut self, ts: i64) -> io::Result<u64> {
        let seq = self.last_seq + 1;
        self.write_tomb(KIND_DELETE, seq)?;
        self.last_seq = seq;
        self.last_ts = ts;
        if self.msgs.is_empty() {
            self.first_seq = seq + 1;
        }
        Ok(seq)
    }

    fn write_tomb(&mut self, kind: u8, seq: u64) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            self.buf.clear();
            encode_record(&mut self.buf, kind, seq, 0, b"", b"", b"");
            let (blk, _) = f.write(&self.buf)?;
            if let Some(b) = f.blocks.get_mut(&blk) {
                b.top = b.top.max(if kind == KIND_PURGE { seq.saturating_sub(1) } else { seq });
            }
            f.dead(blk, self.buf.len() as u64, false);
        }
        Ok(())
    }

    /// The record of `e` stopped holding a live message.
    fn forget(&mut self, e: &Entry) {
        if let (Some(f), Loc::File { blk, .. }) = (&mut self.file, &e.loc) {
            f.dead(*blk, e.rec_len(), true);
        }
    }

    /// Erases message `seq`; false if there is none.
    pub fn remove(&mut self, seq: u64) -> io::Result<bool> {
        if !self.msgs.contains_key(&seq) {
            return Ok(false);
        }
        self.write_tomb(KIND_DELETE, seq)?;
        let file = self.file.is_some();
        if let Some(e) = self.remove_entry(seq, file) {
            self.forget(&e);
        }
        self.drop_empty_blocks();
        Ok(true)
    }

    /// Erases the messages among `seqs` (in any order), their erasures
    /// written [`ERASE_BATCH`] to a write; `gone` hears of each erased
    /// message with its subject. Returns how many were erased; on a write
    /// error, those of the earlier batches stay erased.
    pub fn remove_many(&mut self, seqs: &[u64], mut gone: impl FnMut(u64, &[u8])) -> io::Result<u64> {
        let mut n = 0;
        let mut rec = Vec::new();
        for batch in seqs.chunks(ERASE_BATCH) {
            if let Some(f) = &mut self.file {
                rec.clear();
                let mut top = 0;
                for &s in batch.iter().filter(|s| self.msgs.contains_key(s)) {
                    encode_record(&mut rec, KIND_DELETE, s, 0, b"", b"", b"");
                    top = top.max(s);
                }
                if rec.is_empty() {
                    continue;
                }
                let (blk, _) = f.write(&rec)?;
                if let Some(b) = f.blocks.get_mut(&blk) {
                    b.top = b.top.max(top);
                }
                f.dead(blk, rec.len() as u64, false);
            }
            let file = self.file.is_some();
            for &s in batch {
                if let Some(e) = self.remove_entry(s, file) {
                    gone(s, &e.subject);
                    self.forget(&e);
                    n += 1;
                }
            }
        }
        self.drop_empty_blocks();
        Ok(n)
    }

    /// Erases every message below `seq`; returns how many.
    pub fn purge_to(&mut self, seq: u64) -> io::Result<u64> {
        self.write_tomb(KIND_PURGE, seq)?;
        let file = self.file.is_some();
        let gone = self.purge_below(seq, file);
        if seq > self.last_seq + 1 {
            self.last_seq = seq - 1;
        }
        for (_, e) in &gone {
            self.forget(e);
        }
        self.drop_empty_blocks();
        Ok(gone.len() as u64)
    }

    /// Removes the first blocks while they hold no live message: the
    /// erasures in them only hide records of their own or of blocks
    /// already gone. The last block stays.
    fn drop_empty_blocks(&mut self) {
        if let Err(e) = self.try_drop_empty_blocks() {
            log::warn!("JetStream could not remove an emptied block file: {e}");
        }
    }

    fn try_drop_empty_blocks(&mut self) -> io::Result<()> {
        let last_seq = self.last_seq;
        let Some(f) = &mut self.file else { return Ok(()) };
        loop {
            let mut it = f.blocks.iter();
            let (Some((&n, b)), Some(_)) = (it.next(), it.next()) else { return Ok(()) };
            if b.live > 0 {
                return Ok(());
            }
            if b.top >= last_seq && !f.blocks.range(n + 1..).any(|(_, x)| x.top >= last_seq) {
                // The last sequence is only vouched for here.
                self.buf.clear();
                encode_record(&mut self.buf, KIND_DELETE, last_seq, 0, b"", b"", b"");
                let (blk, _) = f.write(&self.buf)?;
                if let Some(x) = f.blocks.get_mut(&blk) {
                    x.top = x.top.max(last_seq);
                    x.dead += self.buf.len() as u64;
                }
                continue;
            }
            f.unlink(n)?;
        }
    }

    /// Whether a block is waiting to be rewritten.
    pub fn needs_tidy(&self) -> bool {
        self.file.as_ref().is_some_and(|f| !f.tidy.is_empty() || f.rewrite.is_some())
    }

    /// Works on the rewrite of one block waiting for it (see the module
    /// comment): looks at [`TIDY_STEP`] bytes of its records a call, and
    /// once all are seen, writes what is kept in their place (a block left
    /// with nothing needed is removed).
    pub fn tidy(&mut self) -> io::Result<()> {
        let Some(f) = &mut self.file else { return Ok(()) };
        let mut rw = match f.rewrite.take() {
            Some(rw) => rw,
            None => {
                let Some(n) = f.tidy.pop_first() else { return Ok(()) };
                let active = f.blocks.keys().next_back().copied();
                let Some(b) = f.blocks.get(&n) else { return Ok(()) };
                if Some(n) == active || !b.wants_rewrite() {
                    return Ok(());
                }
                let mut data = vec![0u8; b.len as usize];
                b.file.read_exact_at(&mut data, 0)?;
                // Earlier blocks' ranges of message records: the erasures
                // that fall in one still hide a record there.
                let earlier =
                    f.blocks.range(..n).filter(|(_, x)| x.min_seq > 0).map(|(_, x)| (x.min_seq, x.max_seq)).collect();
                Rewrite { n, data, pos: 0, out: Vec::new(), moved: Vec::new(), earlier, seqs: (0, 0, 0), tmp: None }
            }
        };
        if !f.blocks.contains_key(&rw.n) {
            // Removed meanwhile (emptied at the front).
            return Ok(());
        }
        let last_seq = self.last_seq;
        let stop = rw.pos + TIDY_STEP;
        while rw.pos < stop {
            let Some((r, len)) = decode_record(&rw.data[rw.pos..]) else { break };
            let (n, at) = (rw.n, rw.pos as u64);
            let hides = |seq: u64| rw.earlier.iter().any(|(lo, hi)| *lo <= seq && seq <= *hi);
            let hides_below = |seq: u64| rw.earlier.iter().any(|(lo, _)| *lo < seq);
            let (min_seq, max_seq, top) = &mut rw.seqs;
            let keep = match r.kind {
                KIND_MSG => {
                    let live = self
                        .msgs
                        .get(&r.seq)
                        .is_some_and(|e| matches!(e.loc, Loc::File { blk, at: a } if blk == n && a == at));
                    if live {
                        rw.moved.push((r.seq, at, rw.out.len() as u64));
                        if *min_seq == 0 {
                            *min_seq = r.seq;
                        }
                        *max_seq = r.seq;
                        *top = (*top).max(r.seq);
                    }
                    live
                }
                KIND_DELETE => {
                    let keep = hides(r.seq) || r.seq >= last_seq;
                    if keep {
                        *top = (*top).max(r.seq);
                    }
                    keep
                }
                _ => {
                    let keep = hides_below(r.seq) || r.seq > last_seq;
                    if keep {
                        *top = (*top).max(r.seq.saturating_sub(1));
                    }
                    keep
                }
            };
            if keep {
                rw.out.extend_from_slice(&rw.data[rw.pos..rw.pos + len]);
            }
            rw.pos += len;
        }
        if rw.pos < rw.data.len() && decode_record(&rw.data[rw.pos..]).is_some() {
            f.rewrite = Some(rw);
            return Ok(());
        }
        let n = rw.n;
        if rw.out.is_empty() {
            return f.unlink(n);
        }
        let path = block_path(&f.dir, n);
        let tmp = path.with_extension("tmp");
        let Some(nf) = rw.tmp.take() else {
            // Written now, synced at the next call: the disk works
            // meanwhile.
            let mut nf = File::create(&tmp)?;
            nf.write_all(&rw.out)?;
            crate::sys::start_writeback(&nf);
            rw.tmp = Some(nf);
            f.rewrite = Some(rw);
            return Ok(());
        };
        nf.sync_all()?;
        drop(nf);
        std::fs::rename(&tmp, &path)?;
        sync_dir(&f.dir)?;
        let mut nb = Block::new(OpenOptions::new().read(true).write(true).open(&path)?);
        nb.len = rw.out.len() as u64;
        let mut live_bytes = 0;
        for (seq, old, at) in rw.moved {
            // A message erased since its record was looked at stays dead
            // here (its erasure is in a later block).
            if let Some(e) = self.msgs.get_mut(&seq) {
                if matches!(e.loc, Loc::File { blk, at: a } if blk == n && a == old) {
                    e.loc = Loc::File { blk: n, at };
                    live_bytes += e.rec_len();
                    nb.live += 1;
                }
            }
        }
        nb.dead = nb.len.saturating_sub(live_bytes);
        (nb.min_seq, nb.max_seq, nb.top) = rw.seqs;
        f.blocks.insert(n, nb);
        Ok(())
    }

    /// Sequences at or after `from`, in order (a snapshot of the keys).
    pub fn seqs_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        self.msgs.range(from..).map(|(s, _)| *s)
    }

    /// The first sequence at or after `from` whose subject passes `keep`.
    pub fn next_matching(&self, from: u64, mut keep: impl FnMut(&[u8]) -> bool) -> Option<u64> {
        self.msgs.range(from..).find(|(_, e)| keep(&e.subject)).map(|(s, _)| *s)
    }

    /// Subject, time and stored size of a message, without reading it.
    pub fn meta(&self, seq: u64) -> Option<(Rc<[u8]>, i64, usize, usize)> {
        self.msgs.get(&seq).map(|e| (e.subject.clone(), e.ts, e.hdr_len as usize, e.data_len as usize))
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.msgs.contains_key(&seq)
    }

    /// Reads message `seq` (from its block for a file store).
    pub fn get(&self, seq: u64) -> Option<StoredMsg> {
        let e = self.msgs.get(&seq)?;
        let (hdr, data) = match &e.loc {
            Loc::Mem(b) => {
                let h = (e.hdr_len as usize).min(b.len());
                (b[..h].to_vec(), b[h..].to_vec())
            }
            Loc::File { blk, at } => {
                let b = self.file.as_ref()?.blocks.get(blk)?;
                let mut buf = vec![0u8; e.rec_len() as usize];
                b.file.read_exact_at(&mut buf, *at).ok()?;
                let (r, _) = decode_record(&buf)?;
                if r.seq != seq {
                    return None;
                }
                (r.hdr.to_vec(), r.data.to_vec())
            }
        };
        Some(StoredMsg { seq, ts: e.ts, subject: e.subject.clone(), hdr, data })
    }

    /// fsync of the blocks written since the last one.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            for b in f.blocks.values_mut() {
                if b.dirty {
                    b.file.sync_data()?;
                    b.dirty = false;
                }
            }
            if f.dir_dirty {
                sync_dir(&f.dir)?;
                f.dir_dirty = false;
            }
        }
        Ok(())
    }

    /// The last message on `subject` (a literal subject).
    pub fn last_on(&self, subject: &[u8]) -> Option<u64> {
        self.subjects.get(subject).and_then(|s| s.seqs.back().copied())
    }

    /// Sequence of the oldest message on `subject`.
    pub fn first_on(&self, subject: &[u8]) -> Option<u64> {
        self.subjects.get(subject).and_then(|s| s.seqs.front().copied())
    }

    /// The oldest messages to erase so that at most `max_msgs` messages
    /// and `max_bytes` bytes remain (a limit of 0 or less is none), once
    /// the messages in `going` (ascending) are gone too; at most `max`.
    pub fn over_limits(&self, max_msgs: i64, max_bytes: i64, going: &[u64], max: usize) -> Vec<u64> {
        let file = self.file.is_some();
        let size = |e: &Entry| msg_size(file, e.subject.len(), e.hdr_len as usize, e.data_len as usize);
        let mut msgs = self.msgs.len() as u64;
        let mut bytes = self.bytes;
        for e in going.iter().filter_map(|s| self.msgs.get(s)) {
            msgs -= 1;
            bytes = bytes.saturating_sub(size(e));
        }
        let mut out = Vec::new();
        for (s, e) in self.msgs.iter().filter(|(s, _)| going.binary_search(s).is_err()) {
            let over_msgs = max_msgs > 0 && msgs > max_msgs as u64;
            let over_bytes = max_bytes > 0 && bytes > max_bytes as u64;
            if (!over_msgs && !over_bytes) || out.len() == max {
                break;
            }
            out.push(*s);
            msgs -= 1;
            bytes = bytes.saturating_sub(size(e));
        }
        out
    }

    /// The oldest messages stored at or before `ts` (nanoseconds), at
    /// most `max` of them.
    pub fn older_than(&self, ts: i64, max: usize) -> Vec<u64> {
        self.msgs.iter().take_while(|(_, e)| e.ts <= ts).take(max).map(|(s, _)| *s).collect()
    }

    /// Sequences of the messages whose subject matches `filter`, in
    /// order: found through the subjects, not by walking the messages.
    #[cfg(test)]
    pub fn seqs_matching(&self, filter: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        self.each_subject_matching(filter, |st| out.extend(st.seqs.iter().copied()));
        out.sort_unstable();
        out
    }

    /// The first message whose subject matches `filter`.
    pub fn first_matching(&self, filter: &[u8]) -> Option<u64> {
        let mut first = None;
        self.each_subject_matching(filter, |st| {
            if let Some(s) = st.seqs.front() {
                first = Some(first.map_or(*s, |f: u64| f.min(*s)));
            }
        });
        first
    }

    /// The last message whose subject matches `filter`.
    pub fn last_matching(&self, filter: &[u8]) -> Option<u64> {
        let mut last = None;
        self.each_subject_matching(filter, |st| last = last.max(st.seqs.back().copied()));
        last
    }

    /// The messages matching `filter` in `from..upto`, oldest first: at
    /// most `max` of them, looking at most at `scan` messages of the index
    /// (a literal filter takes them from its subject's list). Returns them
    /// and where to go on from (`upto` once the range is done).
    pub fn matching_in(&self, filter: &[u8], from: u64, upto: u64, max: usize, scan: usize) -> (Vec<u64>, u64) {
        let mut out = Vec::new();
        if is_literal(filter) {
            let Some(st) = self.subjects.get(filter) else { return (out, upto) };
            let i = st.seqs.partition_point(|s| *s < from);
            out.extend(st.seqs.range(i..).take_while(|s| **s < upto).take(max));
            let next = match out.last() {
                Some(&last) if out.len() == max => last + 1,
                _ => upto,
            };
            return (out, next);
        }
        let mut next = upto;
        for (n, (&seq, e)) in self.msgs.range(from..upto).enumerate() {
            if n == scan || out.len() == max {
                next = seq;
                break;
            }
            if rnats_protocol::jetstream::config::subject_matches(filter, &e.subject) {
                out.push(seq);
            }
        }
        (out, next)
    }

    /// The `k`-th newest message below `upto` matching `filter`.
    pub fn kth_newest_matching(&self, filter: &[u8], upto: u64, k: u64) -> Option<u64> {
        if is_literal(filter) {
            let st = self.subjects.get(filter)?;
            let below = st.seqs.partition_point(|s| *s < upto);
            return (k as usize <= below).then(|| st.seqs[below - k as usize]);
        }
        self.msgs
            .range(..upto)
            .rev()
            .filter(|(_, e)| rnats_protocol::jetstream::config::subject_matches(filter, &e.subject))
            .nth((k as usize).checked_sub(1)?)
            .map(|(s, _)| *s)
    }

    fn each_subject_matching(&self, filter: &[u8], mut each: impl FnMut(&Subj)) {
        if is_literal(filter) {
            if let Some(st) = self.subjects.get(filter) {
                each(st);
            }
            return;
        }
        for (subject, st) in &self.subjects {
            if rnats_protocol::jetstream::config::subject_matches(filter, subject) {
                each(st);
            }
        }
    }

    pub fn oldest(&self) -> Option<(u64, i64)> {
        self.msgs.iter().next().map(|(s, e)| (*s, e.ts))
    }

    /// Sequences of the messages on `subject` (a literal), oldest first.
    pub fn seqs_on(&self, subject: &[u8]) -> Vec<u64> {
        self.subjects.get(subject).map(|st| st.seqs.iter().copied().collect()).unwrap_or_default()
    }
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rnats-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn file_store_reopens_with_its_messages() {
        let d = tmpdir("reopen");
        {
            let (mut s, cut) = Store::open(&d, false).unwrap();
            assert_eq!(cut, 0);
            for i in 0..10 {
                s.append(i, b"s.x", b"", format!("m{i}").as_bytes()).unwrap();
            }
            assert!(s.remove(3).unwrap());
            assert_eq!(s.purge_to(2).unwrap(), 1);
            assert_eq!(s.bytes, 8 * (22 + 3 + 2 + 8));
        }
        let (s, cut) = Store::open(&d, false).unwrap();
        assert_eq!(cut, 0);
        assert_eq!(s.msgs(), 8);
        assert_eq!(s.first(), 2);
        assert_eq!(s.last_seq, 10);
        assert_eq!(s.get(10).unwrap().data, b"m9");
        assert!(s.get(3).is_none());
        assert_eq!((s.deleted(), s.num_deleted()), (vec![3], 1));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn purge_moves_each_subjects_first_to_what_is_left() {
        let mut s = Store::memory();
        // a at 1, 4, 7; b at 2, 5; c at 3; d at 6, 8.
        for subj in ["a", "b", "c", "a", "b", "d", "a", "d"] {
            s.append(0, subj.as_bytes(), b"", b"x").unwrap();
        }
        assert_eq!(s.purge_to(5).unwrap(), 4);
        let mut st: Vec<(Vec<u8>, u64, u64, u64)> =
            s.subjects().map(|(k, v)| (k.to_vec(), v.msgs, v.first, v.last)).collect();
        st.sort();
        let want: Vec<(Vec<u8>, u64, u64, u64)> =
            vec![(b"a".to_vec(), 1, 7, 7), (b"b".to_vec(), 1, 5, 5), (b"d".to_vec(), 2, 6, 8)];
        assert_eq!(st, want);
    }

    #[test]
    fn removing_down_to_one_message_keeps_subject_bounds() {
        let mut s = Store::memory();
        // a at 1, 3, 5; b at 2, 4.
        for subj in ["a", "b", "a", "b", "a"] {
            s.append(0, subj.as_bytes(), b"", b"x").unwrap();
        }
        let bounds = |s: &Store, k: &[u8]| s.subjects().find(|(x, _)| *x == k).map(|(_, v)| (v.msgs, v.first, v.last));
        assert!(s.remove(1).unwrap());
        assert_eq!(bounds(&s, b"a"), Some((2, 3, 5)));
        assert!(s.remove(4).unwrap());
        assert_eq!(bounds(&s, b"b"), Some((1, 2, 2)));
        assert!(s.remove(3).unwrap());
        assert_eq!(bounds(&s, b"a"), Some((1, 5, 5)));
        s.append(0, b"a", b"", b"x").unwrap();
        assert!(s.remove(6).unwrap());
        assert_eq!(bounds(&s, b"a"), Some((1, 5, 5)));
    }

    #[test]
    fn damaged_tail_is_cut_never_served() {
        let d = tmpdir("torn");
        {
            let (mut s, _) = Store::open(&d, false).unwrap();
            for i in 0..5 {
                s.append(i, b"a", b"NATS/1.0\r\nX: y\r\n\r\n", b"hello").unwrap();
            }
        }
        let p = d.join("1.blk");
        let len = std::fs::metadata(&p).unwrap().len();
        // Flip a byte of the fourth record: it and what follows are cut.
        let mut bytes = std::fs::read(&p).unwrap();
        let rec = (len / 5) as usize;
        bytes[3 * rec + 30] ^= 0xff;
        std::fs::write(&p, &bytes).unwrap();
        let (s, cut) = Store::open(&d, false).unwrap();
        assert_eq!(cut, 2 * rec as u64);
        assert_eq!(s.msgs(), 3);
        assert_eq!(s.get(3).unwrap().hdr, b"NATS/1.0\r\nX: y\r\n\r\n");
        // Cut short in the middle of a record.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(rec as u64 * 2 + 7).unwrap();
        let (mut s, cut) = Store::open(&d, false).unwrap();
        assert_eq!((s.msgs(), cut), (2, 7));
        assert_eq!(s.append(9, b"a", b"", b"new").unwrap(), 3);
        let (s, _) = Store::open(&d, false).unwrap();
        assert_eq!(s.get(3).unwrap().data, b"new");
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn blk_files(d: &Path) -> Vec<u32> {
        let mut v: Vec<u32> = std::fs::read_dir(d)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".blk")?.parse().ok())
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn front_blocks_go_when_emptied_and_last_seq_stays() {
        let d = tmpdir("front");
        let (mut s, _) = Store::open_blocks(&d, false, 1000).unwrap();
        let body = vec![1u8; 500];
        for i in 0..10 {
            s.append(i, b"k", b"", &body).unwrap();
        }
        // Two records per block.
        assert_eq!(blk_files(&d), vec![1, 2, 3, 4, 5]);
        for seq in 1..=4 {
            assert!(s.remove(seq).unwrap());
        }
        assert_eq!(blk_files(&d), vec![3, 4, 5, 6]);
        // Interest-style skips, then everything erased: the last
        // sequence survives in what is left.
        s.skip(20).unwrap();
        s.purge_to(12).unwrap();
        assert_eq!((s.first(), s.last_seq, s.msgs()), (12, 11, 0));
        assert_eq!(blk_files(&d).len(), 1, "{:?}", blk_files(&d));
        drop(s);
        let (s, _) = Store::open_blocks(&d, false, 1000).unwrap();
        assert_eq!((s.first(), s.last_seq, s.msgs()), (12, 11, 0));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn tidy_rewrites_one_block_and_keeps_needed_erasures() {
        let d = tmpdir("tidy");
        let (mut s, _) = Store::open_blocks(&d, false, 200_000).unwrap();
        let big = vec![7u8; 30_000];
        for i in 0..20 {
            s.append(i, if i % 2 == 0 { b"a" } else { b"b" }, b"", &big).unwrap();
        }
        // Blocks 1..=3 (7 + 7 + 6 messages). Erase most of block 2 and one
        // message of block 1, the erasures landing in block 3.
        let blocks = blk_files(&d);
        assert_eq!(blocks, vec![1, 2, 3]);
        assert!(s.remove(3).unwrap());
        for seq in 8..=13 {
            assert!(s.remove(seq).unwrap());
        }
        // Block 2 keeps one message (14) and is queued; block 3 gets more
        // records and the next block starts.
        for i in 20..30 {
            s.append(i, b"c", b"", &big).unwrap();
        }
        assert!(s.needs_tidy());
        let before = std::fs::metadata(d.join("2.blk")).unwrap().len();
        // The first call looks at the records and writes what stays, the
        // second syncs it and puts it in place.
        s.tidy().unwrap();
        assert_eq!(std::fs::metadata(d.join("2.blk")).unwrap().len(), before);
        s.tidy().unwrap();
        let after = std::fs::metadata(d.join("2.blk")).unwrap().len();
        assert!(after < before / 4, "{before} -> {after}");
        assert_eq!(s.get(14).unwrap().data, big);
        drop(s);
        // Message 3 (block 1) stays erased, 14 stays, nothing resurrects.
        let (mut s, cut) = Store::open_blocks(&d, false, 200_000).unwrap();
        assert_eq!(cut, 0);
        assert!(s.get(3).is_none() && (8..=13).all(|q| s.get(q).is_none()));
        assert_eq!(s.get(14).unwrap().data, big);
        assert_eq!((s.msgs(), s.last_seq), (30 - 7, 30));
        // Block 3 goes too: its erasure of 3 still hides a record of block
        // 1 and is kept; those of 8..=13 hide nothing any more.
        for seq in 15..=20 {
            assert!(s.remove(seq).unwrap());
        }
        let mut steps = 0;
        while s.needs_tidy() {
            s.tidy().unwrap();
            steps += 1;
        }
        assert!(steps >= 1);
        assert!(std::fs::metadata(d.join("3.blk")).unwrap().len() < 31_000);
        drop(s);
        let (s, _) = Store::open_blocks(&d, false, 200_000).unwrap();
        assert!(s.get(3).is_none() && s.get(9).is_none() && s.get(15).is_none());
        let mut gaps = vec![3];
        gaps.extend(8..=13);
        gaps.extend(15..=20);
        assert_eq!((s.msgs(), s.last_seq, s.num_deleted()), (17, 30, gaps.len() as u64));
        assert_eq!(s.deleted(), gaps);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn erased_block_behind_a_live_one_is_rewritten_away() {
        let d = tmpdir("middle");
        let (mut s, _) = Store::open_blocks(&d, false, 1000).unwrap();
        let body = vec![2u8; 1000];
        for i in 0..4 {
            s.append(i, b"k", b"", &body).unwrap();
        }
        // One message per block: keep 1, erase 2 and 3.
        s.remove(2).unwrap();
        s.remove(3).unwrap();
        assert!(s.needs_tidy());
        while s.needs_tidy() {
            s.tidy().unwrap();
        }
        assert!(!d.join("2.blk").exists() && !d.join("3.blk").exists(), "{:?}", blk_files(&d));
        drop(s);
        let (s, _) = Store::open_blocks(&d, false, 1000).unwrap();
        assert_eq!(s.seqs_from(0).collect::<Vec<_>>(), vec![1, 4]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn per_subject_state() {
        let mut s = Store::memory();
        for (i, subj) in [b"a", b"b", b"a", b"a"].iter().enumerate() {
            s.append(i as i64, *subj, b"", b"x").unwrap();
        }
        assert_eq!(s.seqs_on(b"a"), vec![1, 3, 4]);
        s.remove(1).unwrap();
        let st = s.subject_state(b"a").unwrap();
        assert_eq!((st.msgs, st.first, st.last), (2, 3, 4));
        s.purge_to(4).unwrap();
        assert_eq!(s.subject_state(b"a").map(|x| x.first), Some(4));
        assert!(s.subject_state(b"b").is_none());
        assert_eq!(s.bytes, 1 + 1 + 16);
    }

    #[test]
    fn mass_erasures_span_batches_and_survive_reopening() {
        let d = tmpdir("many");
        let n = 3 * ERASE_BATCH as u64;
        let (mut s, _) = Store::open_blocks(&d, false, 64 * 1024).unwrap();
        for i in 0..n {
            s.append(i as i64, if i % 2 == 0 { b"e" } else { b"o" }, b"", b"x").unwrap();
        }
        let evens: Vec<u64> = (1..=n).step_by(2).collect();
        assert_eq!(s.seqs_matching(b"e"), evens);
        assert_eq!((s.first_matching(b"o"), s.first_matching(b"*"), s.first_matching(b"x")), (Some(2), Some(1), None));
        let mut told = 0;
        assert_eq!(s.remove_many(&evens, |_, subj| told += usize::from(subj == b"e")).unwrap(), n / 2);
        assert_eq!(told as u64, n / 2);
        // Already gone: nothing to erase, nothing written.
        assert_eq!(s.remove_many(&evens[..10], |_, _| unreachable!()).unwrap(), 0);
        assert_eq!(s.over_limits(10, 0, &[], usize::MAX), (2..n - 19).step_by(2).collect::<Vec<_>>());
        assert_eq!(s.over_limits(10, 0, &[2, 6], 3), vec![4, 8, 10]);
        assert_eq!(s.older_than(7, 100), vec![2, 4, 6, 8]);
        let (msgs, first, deleted) = (s.msgs(), s.first(), s.num_deleted());
        drop(s);
        let (s, _) = Store::open_blocks(&d, false, 64 * 1024).unwrap();
        assert_eq!((s.msgs(), s.first(), s.num_deleted()), (msgs, first, deleted));
        assert!(s.subject_state(b"e").is_none());
        assert_eq!(s.seqs_matching(b"*"), (2..=n).step_by(2).collect::<Vec<_>>());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_discarded_index_is_freed_in_slices() {
        let mut s = Store::memory();
        for i in 0..1000u64 {
            s.append(i as i64, format!("s.{}", i % 300).as_bytes(), b"", b"x").unwrap();
        }
        let mut passes = 0;
        while !s.shed(128) {
            passes += 1;
            assert!(s.msgs() >= 1000u64.saturating_sub(128 * passes));
            assert!(passes < 20);
        }
        // 1000 entries 128 a pass, then the 300 subjects.
        assert_eq!((passes, s.msgs(), s.num_subjects()), (9, 0, 0));
    }

    #[test]
    fn purge_ranges_are_found_in_bounded_steps() {
        let mut s = Store::memory();
        for i in 0..100u64 {
            s.append(i as i64, format!("s.{}", ["a", "b", "c"][(i % 3) as usize]).as_bytes(), b"", b"x").unwrap();
        }
        // s.a holds 1, 4, ..., 100; s.b 2, 5, ..., 98.
        assert_eq!(s.kth_newest_matching(b"s.a", 101, 1), Some(100));
        assert_eq!(s.kth_newest_matching(b"s.a", 100, 2), Some(94));
        assert_eq!(s.kth_newest_matching(b"s.*", 101, 3), Some(98));
        assert_eq!(s.kth_newest_matching(b"s.a", 101, 35), None);
        assert_eq!(s.matching_in(b"s.a", 0, 20, 3, 1000), (vec![1, 4, 7], 8));
        assert_eq!(s.matching_in(b"s.a", 8, 20, 10, 1000), (vec![10, 13, 16, 19], 20));
        // A wildcard walks the index: at most `scan` messages a step.
        assert_eq!(s.matching_in(b"s.b", 0, 101, 100, 1000).0.len(), 33);
        assert_eq!(s.matching_in(b"*.b", 0, 101, 100, 10), (vec![2, 5, 8], 11));
        assert_eq!(s.matching_in(b"*.b", 11, 101, 2, 1000), (vec![11, 14], 15));
        assert_eq!(s.matching_in(b"x.>", 0, 101, 100, 1000), (vec![], 101));
    }
}
