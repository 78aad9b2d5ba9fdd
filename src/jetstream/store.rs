//! A stream's messages: an index in memory (sequence → subject, time,
//! sizes, where the bytes are) over either memory or one append-only file.
//!
//! The file (`msgs/1.blk` in the stream's directory) is a list of records
//! in the format of `rnats_protocol::jetstream::record`: messages, erasures
//! of one message and purges below a sequence. A message is written with
//! one `write` before it is acknowledged; `fsync` follows at the sync
//! interval, or after each write with `sync: always`. Reading a file stops
//! at the first record that is cut short or fails its check: the file is
//! truncated there, so a torn or damaged tail is never served. When erased
//! records take more than half of the file it is rewritten with the live
//! records only (a new file renamed over the old one).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rnats_protocol::jetstream::record::{
    decode_record, encode_record, FIXED, KIND_DELETE, KIND_MSG, KIND_PURGE, MAX_RECORD,
};

/// Files are rewritten when erased records exceed this and half the file.
const COMPACT_MIN: u64 = 1024 * 1024;

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
    /// Offset of the record in the file.
    File(u64),
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

/// Per-subject counts: how many, the first and last sequence.
#[derive(Debug, Clone, Copy)]
pub struct SubjState {
    pub msgs: u64,
    pub first: u64,
    pub last: u64,
}

/// The file behind a file stream.
struct StoreFile {
    path: PathBuf,
    file: File,
    len: u64,
    /// Bytes of records that no longer hold a live message.
    dead: u64,
    dirty: bool,
    sync_always: bool,
}

/// The messages of one stream.
pub struct Store {
    msgs: BTreeMap<u64, Entry>,
    subjects: HashMap<Rc<[u8]>, SubjState>,
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
    /// record; a damaged or cut tail is truncated away (its length is
    /// returned for the log).
    pub fn open(dir: &Path, sync_always: bool) -> io::Result<(Store, u64)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("1.blk");
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let mut s = Store::memory();
        let mut pos = 0usize;
        let mut dead = 0u64;
        while let Some((r, n)) = decode_record(&data[pos..]) {
            match r.kind {
                KIND_MSG => {
                    if r.seq > s.last_seq {
                        s.insert_entry(r.seq, r.ts, r.subject, r.hdr.len(), r.data.len(), Loc::File(pos as u64), true);
                    } else {
                        dead += n as u64;
                    }
                }
                KIND_DELETE => {
                    dead += n as u64;
                    if r.seq > s.last_seq {
                        // A sequence used without a message kept.
                        s.last_seq = r.seq;
                        if s.msgs.is_empty() {
                            s.first_seq = r.seq + 1;
                        }
                    }
                    if let Some(e) = s.remove_entry(r.seq, true) {
                        dead += (FIXED + e.subject.len() + e.hdr_len as usize + e.data_len as usize) as u64;
                    }
                }
                _ => {
                    dead += n as u64;
                    dead += s.purge_below(r.seq, true).1;
                    if r.seq > s.last_seq + 1 {
                        s.last_seq = r.seq - 1;
                    }
                    if s.msgs.is_empty() {
                        s.first_seq = s.last_seq + 1;
                    }
                }
            }
            pos += n;
        }
        let cut = (data.len() - pos) as u64;
        if cut > 0 {
            file.set_len(pos as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(pos as u64))?;
        s.file = Some(StoreFile { path, file, len: pos as u64, dead, dirty: false, sync_always });
        Ok((s, cut))
    }

    pub fn msgs(&self) -> u64 {
        self.msgs.len() as u64
    }

    pub fn num_subjects(&self) -> usize {
        self.subjects.len()
    }

    pub fn subject_state(&self, subject: &[u8]) -> Option<SubjState> {
        self.subjects.get(subject).copied()
    }

    pub fn subjects(&self) -> impl Iterator<Item = (&[u8], &SubjState)> {
        self.subjects.iter().map(|(k, v)| (&**k, v))
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
        let st = self.subjects.entry(subject.clone()).or_insert(SubjState { msgs: 0, first: seq, last: seq });
        st.msgs += 1;
        st.last = seq;
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
            st.msgs -= 1;
            if st.msgs == 0 {
                gone = true;
            } else if st.first == seq {
                st.first = self.msgs.range(seq..).find(|(_, x)| x.subject == e.subject).map_or(st.last, |(s, _)| *s);
            } else if st.last == seq {
                st.last =
                    self.msgs.range(..seq).rev().find(|(_, x)| x.subject == e.subject).map_or(st.first, |(s, _)| *s);
            }
        }
        if gone {
            self.subjects.remove(&e.subject);
        }
        self.first_seq = self.msgs.keys().next().copied().unwrap_or(self.last_seq + 1);
        Some(e)
    }

    /// Erases every message below `seq` from the index; returns how many
    /// and their record bytes.
    fn purge_below(&mut self, seq: u64, file: bool) -> (u64, u64) {
        let keep = self.msgs.split_off(&seq);
        let gone = std::mem::replace(&mut self.msgs, keep);
        let mut rec = 0u64;
        for (s, e) in &gone {
            self.bytes =
                self.bytes.saturating_sub(msg_size(file, e.subject.len(), e.hdr_len as usize, e.data_len as usize));
            rec += (FIXED + e.subject.len() + e.hdr_len as usize + e.data_len as usize) as u64;
            if let Some(st) = self.subjects.get_mut(&e.subject) {
                st.msgs -= 1;
                if st.msgs == 0 {
                    self.subjects.remove(&e.subject);
                } else if st.first == *s {
                    st.first = 0;
                }
            }
        }
        // Subjects whose first message went: their new first.
        let stale: Vec<Rc<[u8]>> =
            self.subjects.iter().filter(|(_, st)| st.first == 0).map(|(k, _)| k.clone()).collect();
        for k in stale {
            let first = self.msgs.iter().find(|(_, e)| e.subject == k).map_or(0, |(s, _)| *s);
            if let Some(st) = self.subjects.get_mut(&k) {
                st.first = first;
            }
        }
        self.first_seq = self.msgs.keys().next().copied().unwrap_or(seq.max(self.last_seq + 1));
        (gone.len() as u64, rec)
    }

    /// Stores a message as sequence `last_seq + 1`; in a file store it is
    /// written before this returns (and synced with `sync: always`).
    pub fn append(&mut self, ts: i64, subject: &[u8], hdr: &[u8], data: &[u8]) -> io::Result<u64> {
        let seq = self.last_seq + 1;
        self.store_at(seq, ts, subject, hdr, data)?;
        Ok(seq)
    }

    fn store_at(&mut self, seq: u64, ts: i64, subject: &[u8], hdr: &[u8], data: &[u8]) -> io::Result<()> {
        if subject.len() > u16::MAX as usize || FIXED + subject.len() + hdr.len() + data.len() > MAX_RECORD {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
        }
        let loc = match &mut self.file {
            Some(f) => {
                self.buf.clear();
                encode_record(&mut self.buf, KIND_MSG, seq, ts, subject, hdr, data);
                let at = f.len;
                write_record(f, &self.buf)?;
                Loc::File(at)
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
        Ok(())
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
            write_record(f, &self.buf)?;
            f.dead += self.buf.len() as u64;
        }
        Ok(())
    }

    /// Erases message `seq`; false if there is none.
    pub fn remove(&mut self, seq: u64) -> io::Result<bool> {
        if !self.msgs.contains_key(&seq) {
            return Ok(false);
        }
        self.write_tomb(KIND_DELETE, seq)?;
        let file = self.file.is_some();
        if let Some(e) = self.remove_entry(seq, file) {
            if let Some(f) = &mut self.file {
                f.dead += (FIXED + e.subject.len() + e.hdr_len as usize + e.data_len as usize) as u64;
            }
        }
        self.maybe_compact()?;
        Ok(true)
    }

    /// Erases every message below `seq`; returns how many.
    pub fn purge_to(&mut self, seq: u64) -> io::Result<u64> {
        self.write_tomb(KIND_PURGE, seq)?;
        let file = self.file.is_some();
        let (n, rec) = self.purge_below(seq, file);
        if seq > self.last_seq + 1 {
            self.last_seq = seq - 1;
        }
        if let Some(f) = &mut self.file {
            f.dead += rec;
        }
        self.maybe_compact()?;
        Ok(n)
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

    /// Reads message `seq` (from the file for a file store).
    pub fn get(&self, seq: u64) -> Option<StoredMsg> {
        let e = self.msgs.get(&seq)?;
        let (hdr, data) = match &e.loc {
            Loc::Mem(b) => {
                let h = (e.hdr_len as usize).min(b.len());
                (b[..h].to_vec(), b[h..].to_vec())
            }
            Loc::File(at) => {
                let f = self.file.as_ref()?;
                let len = FIXED + e.subject.len() + e.hdr_len as usize + e.data_len as usize;
                let mut buf = vec![0u8; len];
                f.file.read_exact_at(&mut buf, *at).ok()?;
                let (r, _) = decode_record(&buf)?;
                if r.seq != seq {
                    return None;
                }
                (r.hdr.to_vec(), r.data.to_vec())
            }
        };
        Some(StoredMsg { seq, ts: e.ts, subject: e.subject.clone(), hdr, data })
    }

    /// fsync of the file if written since the last one.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            if f.dirty {
                f.file.sync_data()?;
                f.dirty = false;
            }
        }
        Ok(())
    }

    /// Rewrites the file with the live records when erased ones are most
    /// of it.
    fn maybe_compact(&mut self) -> io::Result<()> {
        let Some(f) = &self.file else { return Ok(()) };
        if f.dead < COMPACT_MIN || f.dead * 2 < f.len {
            return Ok(());
        }
        self.compact()
    }

    pub fn compact(&mut self) -> io::Result<()> {
        let Some(f) = &mut self.file else { return Ok(()) };
        let tmp = f.path.with_extension("tmp");
        let mut out = Vec::new();
        let mut moved = Vec::with_capacity(self.msgs.len());
        // Where the stream starts, and its last sequence when that message
        // is gone, survive as tombstones.
        let first = self.msgs.keys().next().copied().unwrap_or(self.last_seq + 1);
        encode_record(&mut out, KIND_PURGE, first, 0, b"", b"", b"");
        for (seq, e) in &self.msgs {
            let Loc::File(at) = e.loc else { continue };
            let len = FIXED + e.subject.len() + e.hdr_len as usize + e.data_len as usize;
            let start = out.len();
            out.resize(start + len, 0);
            f.file.read_exact_at(&mut out[start..], at)?;
            moved.push((*seq, start as u64));
        }
        if self.last_seq > 0 && !self.msgs.contains_key(&self.last_seq) {
            encode_record(&mut out, KIND_DELETE, self.last_seq, 0, b"", b"", b"");
        }
        {
            let mut nf = File::create(&tmp)?;
            nf.write_all(&out)?;
            nf.sync_all()?;
        }
        std::fs::rename(&tmp, &f.path)?;
        if let Some(dir) = f.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&f.path)?;
        file.seek(SeekFrom::End(0))?;
        f.file = file;
        f.len = out.len() as u64;
        f.dead = 0;
        f.dirty = false;
        for (seq, at) in moved {
            if let Some(e) = self.msgs.get_mut(&seq) {
                e.loc = Loc::File(at);
            }
        }
        Ok(())
    }

    /// The last message on `subject` (a literal subject).
    pub fn last_on(&self, subject: &[u8]) -> Option<u64> {
        self.subjects.get(subject).map(|s| s.last)
    }

    /// Sequence of the oldest message on `subject`.
    pub fn first_on(&self, subject: &[u8]) -> Option<u64> {
        self.subjects.get(subject).map(|s| s.first)
    }

    pub fn oldest(&self) -> Option<(u64, i64)> {
        self.msgs.iter().next().map(|(s, e)| (*s, e.ts))
    }

    /// Sequences of the messages on `subject` (a literal), oldest first.
    pub fn seqs_on(&self, subject: &[u8]) -> Vec<u64> {
        match self.subjects.get(subject) {
            Some(st) => {
                self.msgs.range(st.first..=st.last).filter(|(_, e)| &*e.subject == subject).map(|(s, _)| *s).collect()
            }
            None => Vec::new(),
        }
    }
}

fn write_record(f: &mut StoreFile, rec: &[u8]) -> io::Result<()> {
    if let Err(e) = f.file.write_all(rec) {
        // A short write (disk full) must not leave half a record that
        // later ones would follow.
        let _ = f.file.set_len(f.len);
        let _ = f.file.seek(SeekFrom::Start(f.len));
        return Err(e);
    }
    f.len += rec.len() as u64;
    f.dirty = true;
    if f.sync_always {
        f.file.sync_data()?;
        f.dirty = false;
    }
    Ok(())
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
        assert_eq!(s.deleted(), vec![3]);
        std::fs::remove_dir_all(&d).unwrap();
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

    #[test]
    fn compaction_keeps_live_messages_and_last_seq() {
        let d = tmpdir("compact");
        let (mut s, _) = Store::open(&d, false).unwrap();
        let big = vec![7u8; 100_000];
        for i in 0..30 {
            s.append(i, b"k", b"", &big).unwrap();
        }
        s.purge_to(29).unwrap();
        assert_eq!(s.msgs(), 2);
        drop(s);
        let len = std::fs::metadata(d.join("1.blk")).unwrap().len();
        assert!(len < 300_000, "{len}");
        let (mut s, _) = Store::open(&d, false).unwrap();
        assert_eq!((s.first(), s.last_seq, s.msgs()), (29, 30, 2));
        s.purge_to(31).unwrap();
        s.compact().unwrap();
        let (s, _) = Store::open(&d, false).unwrap();
        assert_eq!((s.first(), s.last_seq, s.msgs()), (31, 30, 0));
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
}
