//! Logging in the Go server's line format, on top of the `log` facade.
//!
//! `[pid] YYYY/MM/DD HH:MM:SS.uuuuuu [LBL] message`, the time part only when
//! logtime is on. Labels: INF (info), DBG (debug), TRC (trace), WRN, ERR and
//! FTL (a fatal error logged through [`fatal`]). Debug lines need `-D`, trace
//! lines `-V`; the level filter of the `log` crate does the gating so a
//! disabled `trace!` costs one comparison.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Target used by [`fatal`] so the line carries `[FTL]`.
const FATAL_TARGET: &str = "rnats::fatal";

enum Sink {
    Stderr,
    File { file: File, path: PathBuf },
}

struct GoLogger {
    pid: u32,
    debug: AtomicBool,
    trace: AtomicBool,
    logtime: bool,
    utc: bool,
    sink: Mutex<Sink>,
}

static LOGGER: std::sync::OnceLock<GoLogger> = std::sync::OnceLock::new();

/// Logging settings taken from the options.
pub struct LogConfig<'a> {
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub utc: bool,
    pub file: Option<&'a Path>,
}

/// Installs the logger. Called once at startup, before anything logs.
pub fn init(cfg: &LogConfig) -> std::io::Result<()> {
    let sink = match cfg.file {
        Some(p) => Sink::File { file: open_log(p)?, path: p.to_path_buf() },
        None => Sink::Stderr,
    };
    let logger = GoLogger {
        pid: std::process::id(),
        debug: AtomicBool::new(cfg.debug),
        trace: AtomicBool::new(cfg.trace),
        logtime: cfg.logtime,
        utc: cfg.utc,
        sink: Mutex::new(sink),
    };
    let level = if cfg.trace {
        LevelFilter::Trace
    } else if cfg.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    if LOGGER.set(logger).is_ok() {
        if let Some(l) = LOGGER.get() {
            let _ = log::set_logger(l);
        }
    }
    log::set_max_level(level);
    Ok(())
}

/// Switches debug and trace lines on or off (config reload).
pub fn set_levels(debug: bool, trace: bool) {
    if let Some(l) = LOGGER.get() {
        l.debug.store(debug, Ordering::Relaxed);
        l.trace.store(trace, Ordering::Relaxed);
    }
    log::set_max_level(if trace {
        LevelFilter::Trace
    } else if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

/// True when `-V` protocol traces are on.
#[inline(always)]
pub fn trace_enabled() -> bool {
    log::log_enabled!(Level::Trace)
}

fn open_log(p: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().create(true).append(true).mode(0o640).open(p)
}

/// Reopens the log file (after rotation); a no-op on stderr. Returns whether
/// a file logger was reopened.
pub fn reopen() -> std::io::Result<bool> {
    let Some(l) = LOGGER.get() else {
        return Ok(false);
    };
    let mut sink = l.sink.lock().unwrap_or_else(|e| e.into_inner());
    if let Sink::File { file, path } = &mut *sink {
        *file = open_log(path)?;
        return Ok(true);
    }
    Ok(false)
}

/// Logs `msg` with `[FTL]` and exits with status 1, as the Go server does.
pub fn fatal(msg: &str) -> ! {
    log::error!(target: FATAL_TARGET, "{msg}");
    std::process::exit(1);
}

impl Log for GoLogger {
    /// Debug and trace are independent switches, as in Go: `-V` alone
    /// shows no debug lines.
    fn enabled(&self, m: &Metadata) -> bool {
        // Only this server's own lines, not those of its libraries.
        if !m.target().starts_with("rnats") {
            return false;
        }
        match m.level() {
            Level::Debug => self.debug.load(Ordering::Relaxed),
            Level::Trace => self.trace.load(Ordering::Relaxed),
            _ => true,
        }
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let label = match r.level() {
            Level::Error if r.target() == FATAL_TARGET => "FTL",
            Level::Error => "ERR",
            Level::Warn => "WRN",
            Level::Info => "INF",
            Level::Debug => "DBG",
            Level::Trace => "TRC",
        };
        let mut line = Vec::with_capacity(128);
        let _ = write!(line, "[{}] ", self.pid);
        if self.logtime {
            write_time(&mut line, self.utc);
        }
        let _ = writeln!(line, "[{label}] {}", r.args());
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        let _ = match &mut *sink {
            Sink::Stderr => std::io::stderr().write_all(&line),
            Sink::File { file, .. } => file.write_all(&line),
        };
    }

    fn flush(&self) {}
}

/// Appends `YYYY/MM/DD HH:MM:SS.uuuuuu ` in local time (or UTC).
fn write_time(out: &mut Vec<u8>, utc: bool) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (year, month, day, hour, min, sec) = crate::sys::calendar(now.as_secs(), utc);
    let _ = write!(out, "{year:04}/{month:02}/{day:02} {hour:02}:{min:02}:{sec:02}.{:06} ", now.subsec_micros());
}

/// Formats a payload as Go's `%q` does, for `MSG_PAYLOAD` trace lines.
pub fn go_quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '\u{7}' => s.push_str("\\a"),
                '\u{8}' => s.push_str("\\b"),
                '\u{c}' => s.push_str("\\f"),
                '\u{b}' => s.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => s.push_str(&format!("\\x{:02x}", c as u32)),
                c => s.push(c),
            }
        }
        for byte in chunk.invalid() {
            s.push_str(&format!("\\x{byte:02x}"));
        }
    }
    s.push('"');
    s
}

/// The arguments of a traced op without their leading blanks.
pub fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|c| *c != b' ' && *c != b'\t').unwrap_or(b.len());
    &b[s..]
}

/// CONNECT JSON for traces with password and token values hidden.
pub fn redact(j: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(j).into_owned();
    for key in ["\"pass\":\"", "\"auth_token\":\""] {
        if let Some(i) = s.find(key) {
            let start = i + key.len();
            if let Some(end) = s[start..].find('"') {
                s.replace_range(start..start + end, "[REDACTED]");
            }
        }
    }
    s
}
