//! A reader for the NATS server configuration format, accepting what the Go
//! `nats-server` accepts and producing the same values.
//!
//! The format is a loose superset of JSON: an implicit top-level map of
//! `key value` entries where the separator may be `:`, `=` or just
//! whitespace; `{}` maps; `[]` arrays; `#` and `//` comments; quoted,
//! unquoted and block strings; integers with size suffixes; floats;
//! booleans; ISO 8601 Zulu datetimes; `$NAME` variables; `include` files.
//!
//! Behaviour was checked against the Go binaries (2.9.10 and 2.15.1). Where
//! the two disagree the newer one is followed. The points worth knowing:
//!
//! * Values end at a newline, EOF, `;`, `,` or `}` (and `]` inside arrays).
//!   `#`/`//` start a comment only after whitespace or after a quoted value:
//!   `foo#bar` is one string.
//! * Unquoted strings may contain `:` `/` `=` `{` `[` `#` `$`, so
//!   `nats://u:p@host:4222` needs no quotes. Backslash escapes are processed
//!   in them as in double-quoted strings; a `'` ends them (and is dropped;
//!   such a value is never a bool or a variable, as in Go).
//! * Keys are any run of characters up to whitespace, `:` or `=`, or `"..."`
//!   / `'...'` without escapes; case is preserved.
//! * A lone `/` (not `//`) is read as Go reads it: dropped at the start of a
//!   map key, a separator after a map or array value, skipped after a
//!   top-level value, and an error where a top-level key or array value starts.
//! * A value starting with a digit is a number only if it is entirely a
//!   number: `3secret`, `2s`, `0x10`, `1_000`, `1k5` are strings;
//!   `127.0.0.1:4222` and `10.0.0.1` are strings; `1.5` is a float;
//!   `2016-05-04T18:53:41Z` is a datetime; `2m` is the integer 2 000 000
//!   (single-letter suffixes are powers of 1000, `kb`/`ki`/`kib` and friends
//!   powers of 1024, case-insensitive).
//! * After `:`/`=` the value must start on the same line at the top level
//!   (inside `{}` a newline is allowed); with no separator any whitespace,
//!   including newlines, may separate key and value.
//! * `$NAME` looks in the maps currently open (innermost first, only keys
//!   already seen), then in the environment through [`Env::var`], whose
//!   value is parsed like a config value. `"$NAME"` is a literal and values
//!   starting with `$2a$` (bcrypt hashes) are kept as they are.
//! * `include path` (keyword in any case, followed by whitespace) splices the
//!   top-level entries returned by [`Env::include`] into the map where it
//!   appears.
//!
//! Deliberate differences from Go (all on input Go mis-handles):
//!
//! * `[1, 2, 3]`: Go lets a positive integer swallow a directly following `]`
//!   (so the array is never closed and the file fails to parse). Here an
//!   integer whose immediate container is an array ends at `]`, so the array
//!   is `[1, 2, 3]`. Outside arrays Go's reading (`3]` is a string) is kept.
//! * An integer whose size multiplication overflows `i64` is an error here
//!   (Go wraps silently); an unknown suffix such as `1kbb` is an error here
//!   (Go silently drops the key).
//! * A block string closed by `)` at EOF does not include the final `)`
//!   (Go keeps `\n)` in that one case).
//! * A key with no value before a map's `}` (`m { a }`, `m { a: }`) is an
//!   error here; Go stores an empty map under the key `a` in the *parent* map.
//! * Surplus `}` after a `{ ... }`-wrapped document are ignored only when
//!   nothing but whitespace, `}` and comments follows them (Go's handling of
//!   stray top-level braces is erratic; a file that is just `}` is an error
//!   here). A lone `"` or `'` at EOF is an error here (Go ignores it).
//! * `\xHH` escapes that produce invalid UTF-8 are an error here (Go keeps
//!   the raw bytes; a Rust `String` cannot).
//!
//! Positions ([`Item::line`], [`Item::col`], [`ConfError`]) follow Go's
//! conventions so that messages built from them match the Go server's:
//! lines are 1-based; the column is the byte offset from the preceding `\n`,
//! which makes it 0-based on the first line and 1-based on the others. A map
//! entry's item carries the position of its *key* (that is what Go reports
//! for "unknown field" and type errors); an array element carries its own
//! position (after the opening quote for quoted strings, after the `$` for
//! variables, and just past the closing bracket for maps and arrays).
//!
//! The parser never panics, caps nesting of maps, arrays and environment
//! variable expansion at [`MAX_DEPTH`], and detects environment variable
//! cycles. Include cycles cannot be seen from here: an [`Env`] that follows
//! includes must bound its own recursion.

use core::fmt;
use std::collections::{HashMap, HashSet};

/// The deepest nesting of maps, arrays and environment-variable expansions.
pub const MAX_DEPTH: usize = 64;

/// A configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// An ISO 8601 Zulu datetime, `YYYY-MM-DDTHH:MM:SSZ`, kept as written (validated).
    DateTime(String),
    Array(Vec<Item>),
    /// Entries in file order. A later duplicate key replaces the earlier
    /// entry in place, so every key appears once.
    Map(Vec<(String, Item)>),
}

impl Value {
    /// The item stored under `key` if this is a map (exact, case-sensitive match).
    pub fn get(&self, key: &str) -> Option<&Item> {
        match self {
            Value::Map(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Item]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(String, Item)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The Go type name of the value, as it appears in the Go server's
    /// `interface conversion: interface {} is <type>, not <type>` errors.
    pub fn go_type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "int64",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::DateTime(_) => "time.Time",
            Value::Array(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }
}

/// A value with the position Go attaches to it (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub value: Value,
    pub line: u32,
    pub col: u32,
}

/// Why a configuration text was rejected.
///
/// `msg` is the complete message, worded like the Go server's (lexical
/// errors read `Parse error on line N: '...'`); `line`/`col` locate the
/// problem with the same conventions as [`Item`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub line: u32,
    pub col: u32,
    pub msg: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ConfError {}

/// What the parser needs from the outside world (the server implements it with real files and env).
pub trait Env {
    /// Environment variable lookup for `$NAME` not defined in the file.
    fn var(&self, name: &str) -> Option<String>;
    /// Contents of an included file; `path` is exactly as written after `include`. The caller resolves it
    /// relative to the including file and parses it by calling `parse` again (so the callback returns the
    /// parsed top-level entries of the included file, or an error message).
    ///
    /// The implementation must bound include recursion itself (a file that
    /// includes itself would otherwise recurse forever).
    fn include(&mut self, path: &str) -> Result<Vec<(String, Item)>, String>;
}

/// The result of [`parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Top-level entries in file order; a later duplicate key replaces the
    /// earlier entry in place (value and position), so every key appears once.
    pub entries: Vec<(String, Item)>,
    /// Names of keys defined in this file (or spliced in by `include`) that a
    /// `$NAME` reference resolved to, in first-use order without duplicates.
    /// The server exempts them from "unknown field".
    pub used_vars: Vec<String>,
}

/// Parses a configuration text.
pub fn parse(src: &str, env: &mut dyn Env) -> Result<Parsed, ConfError> {
    let mut p = Parser::new(src, env, 0, Vec::new());
    let entries = p.document()?;
    Ok(Parsed { entries, used_vars: p.used_vars })
}

#[derive(Default)]
struct OpenMap {
    entries: Vec<(String, Item)>,
    index: HashMap<String, usize>,
}

impl OpenMap {
    fn insert(&mut self, key: String, item: Item) {
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = item;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, item));
            }
        }
    }

    fn get(&self, key: &str) -> Option<&Item> {
        self.index.get(key).and_then(|&i| self.entries.get(i)).map(|(_, v)| v)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Map,
    Array,
}

struct Parser<'a, 'e> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Byte offsets of every `\n`, for line/column computation.
    newlines: Vec<usize>,
    env: &'e mut dyn Env,
    /// The maps currently open, outermost (the top level) first.
    maps: Vec<OpenMap>,
    depth: usize,
    /// Environment variables being expanded (cycle detection).
    resolving: Vec<String>,
    used_vars: Vec<String>,
    used_set: HashSet<String>,
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_nl(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_size_suffix(c: u8) -> bool {
    matches!(c, b'k' | b'K' | b'm' | b'M' | b'g' | b'G' | b't' | b'T' | b'p' | b'P' | b'e' | b'E')
}

/// Ends a number: newline, EOF, `}`, `;`, `,`, space, tab.
fn ends_number(c: Option<u8>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || c == b'}' || c == b';' || c == b',',
    }
}

fn is_bool_word(s: &str) -> Option<bool> {
    const T: [&str; 3] = ["true", "yes", "on"];
    const F: [&str; 3] = ["false", "no", "off"];
    if T.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if F.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

fn show_char(c: char) -> String {
    match c {
        '\n' => "'\\n'".into(),
        '\r' => "'\\r'".into(),
        '\t' => "'\\t'".into(),
        c if c.is_control() => format!("'{}'", c.escape_default()),
        c => format!("'{c}'"),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a, 'e> Parser<'a, 'e> {
    fn new(src: &'a str, env: &'e mut dyn Env, depth: usize, resolving: Vec<String>) -> Self {
        let b = src.as_bytes();
        Parser {
            src,
            b,
            pos: 0,
            newlines: memchr::memchr_iter(b'\n', b).collect(),
            env,
            maps: Vec::new(),
            depth,
            resolving,
            used_vars: Vec::new(),
            used_set: HashSet::new(),
        }
    }

    // ---- low-level helpers ----

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(off).copied()
    }

    fn char_at(&self, off: usize) -> Option<char> {
        self.src.get(off..).and_then(|s| s.chars().next())
    }

    /// Skips what Go's `unicode.IsSpace` accepts (newlines included).
    fn skip_space(&mut self) {
        while let Some(c) = self.char_at(self.pos) {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// Skips spaces and tabs only.
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// At `#` or `//`.
    fn at_comment(&self) -> bool {
        match self.peek() {
            Some(b'#') => true,
            Some(b'/') => self.peek_at(self.pos + 1) == Some(b'/'),
            _ => false,
        }
    }

    /// Moves to the next `\n`/`\r` (not consumed) or EOF.
    fn skip_line(&mut self) {
        let rest = self.b.get(self.pos..).unwrap_or(&[]);
        self.pos = match memchr::memchr2(b'\n', b'\r', rest) {
            Some(i) => self.pos + i,
            None => self.b.len(),
        };
    }

    fn line_col(&self, off: usize) -> (u32, u32) {
        let idx = self.newlines.partition_point(|&n| n < off);
        let col = match idx.checked_sub(1).and_then(|i| self.newlines.get(i)) {
            Some(&nl) => off - nl,
            None => off,
        };
        (to_u32(idx + 1), to_u32(col))
    }

    fn item(&self, value: Value, off: usize) -> Item {
        let (line, col) = self.line_col(off);
        Item { value, line, col }
    }

    /// A lexical error, located just past the offending character (Go's convention).
    fn lex_err(&self, after: usize, text: impl fmt::Display) -> ConfError {
        let (line, col) = self.line_col(after);
        ConfError { line, col, msg: format!("Parse error on line {line}: '{text}'") }
    }

    /// An error about a complete token starting at `at`.
    fn plain_err(&self, at: usize, msg: String) -> ConfError {
        let (line, col) = self.line_col(at);
        ConfError { line, col, msg }
    }

    /// Describes the character at `off` and returns the offset just past it.
    fn describe(&self, off: usize) -> (String, usize) {
        match self.char_at(off) {
            Some(c) => (show_char(c), off + c.len_utf8()),
            None => ("EOF".into(), self.b.len()),
        }
    }

    fn enter(&mut self) -> Result<(), ConfError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.lex_err(self.pos, format!("Nesting too deep (maximum is {MAX_DEPTH} levels)")));
        }
        self.depth += 1;
        Ok(())
    }

    fn current_map(&mut self) -> &mut OpenMap {
        if self.maps.is_empty() {
            self.maps.push(OpenMap::default());
        }
        let last = self.maps.len() - 1;
        &mut self.maps[last]
    }

    // ---- structure ----

    /// The whole text: an implicit top-level map, optionally wrapped in
    /// (decorative, nestable) braces.
    fn document(&mut self) -> Result<Vec<(String, Item)>, ConfError> {
        self.maps.push(OpenMap::default());
        let mut blocks = 0usize;
        let mut wrapped = false;
        'keys: loop {
            self.skip_space();
            match self.peek() {
                None => break,
                Some(b'{') => {
                    blocks += 1;
                    wrapped = true;
                    self.pos += 1;
                    continue;
                }
                Some(b'}') if blocks > 0 => {
                    blocks -= 1;
                    self.pos += 1;
                    continue;
                }
                // Surplus closing braces after a wrapped document.
                Some(b'}') if wrapped && self.only_closers_left() => break,
                Some(b'#') => {
                    self.skip_line();
                    continue;
                }
                Some(b'/') => {
                    if self.at_comment() {
                        self.skip_line();
                        continue;
                    }
                    return Err(self.lex_err(self.pos + 1, "Unexpected '/': comments start with '#' or '//'"));
                }
                _ => {}
            }
            self.entry(Ctx::Top, false)?;
            let level = if blocks > 0 { "block" } else { "top" };
            loop {
                self.skip_ws();
                match self.peek() {
                    None if blocks == 0 => break 'keys,
                    Some(b'\n' | b'\r' | b';' | b',') => {
                        self.pos += 1;
                        continue 'keys;
                    }
                    Some(b'}') => {
                        self.pos += 1;
                        blocks = blocks.saturating_sub(1);
                        continue 'keys;
                    }
                    Some(b'#') => {
                        self.skip_line();
                        continue 'keys;
                    }
                    Some(b'/') if self.at_comment() => {
                        self.skip_line();
                        continue 'keys;
                    }
                    // Go skips a lone '/' here; what follows must still end the value.
                    Some(b'/') => self.pos += 1,
                    _ => {
                        let (got, after) = self.describe(self.pos);
                        return Err(self.lex_err(
                            after,
                            format!(
                                "Expected a {level}-level value to end with a new line, comment or EOF, but got {got} instead."
                            ),
                        ));
                    }
                }
            }
        }
        Ok(self.maps.pop().map(|m| m.entries).unwrap_or_default())
    }

    /// True if only whitespace, `}` and comments remain.
    fn only_closers_left(&self) -> bool {
        let mut i = self.pos;
        while let Some(c) = self.char_at(i) {
            if c.is_whitespace() || c == '}' {
                i += c.len_utf8();
            } else if c == '#' || (c == '/' && self.peek_at(i + 1) == Some(b'/')) {
                let rest = self.b.get(i..).unwrap_or(&[]);
                match memchr::memchr2(b'\n', b'\r', rest) {
                    Some(n) => i += n,
                    None => return true,
                }
            } else {
                return false;
            }
        }
        true
    }

    /// One `key value` entry (or an `include`) in the top level or a map,
    /// stored into the innermost open map. `forced`: the key's first
    /// character is taken as is (Go's reading of `{ /key ... }`).
    fn entry(&mut self, ctx: Ctx, forced: bool) -> Result<(), ConfError> {
        let key_pos;
        let key: String;
        let quote = if forced { None } else { self.peek().filter(|&c| c == b'"' || c == b'\'') };
        if let Some(q) = quote {
            key_pos = self.pos + 1;
            let rest = self.b.get(key_pos..).unwrap_or(&[]);
            let Some(len) = memchr::memchr(q, rest) else {
                return Err(self.lex_err(self.b.len(), "Unexpected EOF."));
            };
            key = self.src.get(key_pos..key_pos + len).unwrap_or_default().to_string();
            self.pos = key_pos + len + 1;
        } else {
            key_pos = self.pos;
            if !forced {
                if let Some(c @ (b':' | b'=')) = self.peek() {
                    return Err(self.lex_err(self.pos + 1, format!("Unexpected key separator '{}'.", c as char)));
                }
            }
            // The first character is always part of the key.
            match self.char_at(self.pos) {
                Some(c) => self.pos += c.len_utf8(),
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map key.")),
            }
            loop {
                match self.char_at(self.pos) {
                    Some(c) if c.is_whitespace() || c == ':' || c == '=' => break,
                    Some(c) => self.pos += c.len_utf8(),
                    None if ctx == Ctx::Top => break,
                    None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map key.")),
                }
            }
            key = self.src.get(key_pos..self.pos).unwrap_or_default().to_string();
            if key.eq_ignore_ascii_case("include") && self.char_at(self.pos).is_some_and(char::is_whitespace) {
                return self.include();
            }
        }

        self.skip_space();
        match self.peek() {
            None if ctx == Ctx::Top => {
                return Err(self.plain_err(
                    self.b.len(),
                    format!("config is invalid: expected a value for key '{key}' but found EOF"),
                ));
            }
            None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map.")),
            Some(b':' | b'=') => self.pos += 1,
            Some(_) => {}
        }
        if ctx == Ctx::Map {
            self.skip_space();
            match self.peek() {
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map.")),
                Some(b',') => return Err(self.lex_err(self.pos + 1, "Unexpected map value terminator ','.")),
                Some(b'}') => {
                    return Err(self.lex_err(self.pos + 1, format!("Expected a value for key '{key}' but found '}}'.")));
                }
                Some(_) => {}
            }
        }
        let (value, _) = self.value(ctx)?;
        let item = self.item(value, key_pos);
        self.current_map().insert(key, item);
        Ok(())
    }

    /// After the `include` keyword and the whitespace following it.
    fn include(&mut self) -> Result<(), ConfError> {
        self.skip_ws();
        let start = self.pos;
        let path = match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                let from = self.pos + 1;
                let rest = self.b.get(from..).unwrap_or(&[]);
                let Some(len) = memchr::memchr(q, rest) else {
                    return Err(self.lex_err(self.b.len(), "Unexpected EOF."));
                };
                self.pos = from + len + 1;
                self.src.get(from..from + len).unwrap_or_default()
            }
            Some(c) if matches!(c, b'[' | b'{' | b'(' | b'\\' | b'-' | b'0'..=b'9') || is_nl(c) => {
                let what = match c {
                    b'[' => "start of an array",
                    b'{' => "start of a map",
                    b'(' => "start of a block",
                    b'\\' => "escape sequence",
                    b'\n' | b'\r' => "new line",
                    _ => "start of a number",
                };
                return Err(self.lex_err(self.pos + 1, format!("Expected include value but found {what}")));
            }
            _ => {
                while let Some(c) = self.peek() {
                    if is_nl(c) || is_ws(c) || c == b';' || c == b'}' || c == b'\'' {
                        break;
                    }
                    self.pos += 1;
                }
                let path = self.src.get(start..self.pos).unwrap_or_default();
                if self.peek() == Some(b'\'') {
                    self.pos += 1;
                }
                path
            }
        };
        let entries = self
            .env
            .include(path)
            .map_err(|cause| self.plain_err(start, format!("error parsing include file '{path}', {cause}")))?;
        let map = self.current_map();
        for (k, v) in entries {
            map.insert(k, v);
        }
        Ok(())
    }

    /// A `{ ... }` map; the `{` has been consumed.
    fn map(&mut self) -> Result<(Value, usize), ConfError> {
        self.enter()?;
        self.maps.push(OpenMap::default());
        let r = self.map_body();
        let m = self.maps.pop().unwrap_or_default();
        self.depth -= 1;
        r?;
        Ok((Value::Map(m.entries), self.pos))
    }

    fn map_body(&mut self) -> Result<(), ConfError> {
        loop {
            self.skip_space();
            let mut forced = false;
            match self.peek() {
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map.")),
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b']') => return Err(self.lex_err(self.pos + 1, "Unexpected array end ']' processing map.")),
                Some(b'#') => {
                    self.skip_line();
                    continue;
                }
                Some(b'/') if self.at_comment() => {
                    self.skip_line();
                    continue;
                }
                // Go drops a lone '/' at the start of a map key.
                Some(b'/') => {
                    self.pos += 1;
                    forced = true;
                }
                Some(_) => {}
            }
            self.entry(Ctx::Map, forced)?;
            self.skip_ws();
            match self.peek() {
                Some(b'\n' | b'\r' | b';' | b',') => {
                    self.pos += 1;
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'#') => self.skip_line(),
                Some(b'/') => {
                    // `//` is a comment; a lone '/' separates entries (as in Go).
                    if self.at_comment() {
                        self.skip_line();
                    } else {
                        self.pos += 1;
                    }
                }
                _ => {
                    let (got, after) = self.describe(self.pos);
                    return Err(self.lex_err(
                        after,
                        format!(
                            "Expected a map value terminator \",\" or a map terminator \"}}\", but got {got} instead."
                        ),
                    ));
                }
            }
        }
    }

    /// A `[ ... ]` array; the `[` has been consumed.
    fn array(&mut self) -> Result<(Value, usize), ConfError> {
        self.enter()?;
        let r = self.array_body();
        self.depth -= 1;
        Ok((Value::Array(r?), self.pos))
    }

    fn array_end_err(&self) -> ConfError {
        let (got, after) = self.describe(self.pos);
        self.lex_err(
            after,
            format!("Expected an array value terminator \",\" or an array terminator \"]\", but got {got} instead."),
        )
    }

    fn array_body(&mut self) -> Result<Vec<Item>, ConfError> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Err(self.array_end_err()),
                Some(b']') => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(b',') => return Err(self.lex_err(self.pos + 1, "Unexpected array value terminator ','.")),
                Some(b'#') => {
                    self.skip_line();
                    continue;
                }
                Some(b'/') if self.at_comment() => {
                    self.skip_line();
                    continue;
                }
                Some(b'/') => {
                    return Err(self.lex_err(self.pos + 1, "Unexpected '/' at the start of an array value (quote it)."));
                }
                Some(_) => {}
            }
            let (value, at) = self.value(Ctx::Array)?;
            items.push(self.item(value, at));
            loop {
                self.skip_ws();
                match self.peek() {
                    Some(b'\n' | b'\r' | b',') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b']') => {
                        self.pos += 1;
                        return Ok(items);
                    }
                    Some(b'#') => self.skip_line(),
                    Some(b'/') => {
                        // `//` is a comment; a lone '/' separates elements (as in Go).
                        if self.at_comment() {
                            self.skip_line();
                        } else {
                            self.pos += 1;
                            break;
                        }
                    }
                    _ => return Err(self.array_end_err()),
                }
            }
        }
    }

    // ---- values ----

    /// One value. Returns it with the offset Go reports for it when it is an
    /// array element.
    fn value(&mut self, ctx: Ctx) -> Result<(Value, usize), ConfError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => Ok((Value::String(String::new()), start)),
            Some(b'[') => {
                self.pos += 1;
                self.array()
            }
            Some(b'{') => {
                self.pos += 1;
                self.map()
            }
            Some(b'\'') => {
                let from = start + 1;
                let rest = self.b.get(from..).unwrap_or(&[]);
                let Some(len) = memchr::memchr(b'\'', rest) else {
                    return Err(self.lex_err(self.b.len(), "Unexpected EOF."));
                };
                self.pos = from + len + 1;
                Ok((Value::String(self.src.get(from..from + len).unwrap_or_default().to_string()), from))
            }
            Some(b'"') => self.double_quoted(),
            Some(b'(') => self.block(),
            Some(b'-') => self.negative(),
            Some(b'0'..=b'9') => self.number(ctx),
            Some(b'.') => Err(self.lex_err(start + 1, "Floats must start with a digit")),
            Some(b'\n' | b'\r') => Err(self.lex_err(start + 1, "Expected value but found new line")),
            Some(_) => self.unquoted(start, start),
        }
    }

    fn utf8(&self, bytes: Vec<u8>, at: usize) -> Result<String, ConfError> {
        String::from_utf8(bytes)
            .map_err(|_| self.plain_err(at, "string escapes (\\xHH) produce invalid UTF-8".to_string()))
    }

    /// Handles the escape at `self.pos` (a backslash), appending its bytes.
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ConfError> {
        let next = self.pos + 1;
        let byte = match self.peek_at(next) {
            Some(b't') => b'\t',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'x') => return self.hex_escape(buf),
            _ => {
                let shown = match self.char_at(next) {
                    Some(c) => c.escape_default().to_string(),
                    None => String::new(),
                };
                let (_, after) = self.describe(next);
                return Err(self.lex_err(
                    after,
                    format!(
                        "Invalid escape character '{shown}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
                    ),
                ));
            }
        };
        buf.push(byte);
        self.pos += 2;
        Ok(())
    }

    fn hex_escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ConfError> {
        let mut at = self.pos + 2;
        let mut digits = String::new();
        for _ in 0..2 {
            match self.char_at(at) {
                Some(c) if c != '\n' && c != '\r' => {
                    digits.push(c);
                    at += c.len_utf8();
                }
                other => {
                    let after = if other.is_some() { at + 1 } else { at };
                    return Err(self.lex_err(after, "Expected two hexadecimal digits after '\\x', but hit end of line"));
                }
            }
        }
        match u8::from_str_radix(&digits, 16) {
            Ok(b) if digits.bytes().all(|c| c.is_ascii_hexdigit()) => {
                buf.push(b);
                self.pos = at;
                Ok(())
            }
            _ => Err(self.lex_err(at, format!("Expected two hexadecimal digits after '\\x', but got '{digits}'"))),
        }
    }

    fn double_quoted(&mut self) -> Result<(Value, usize), ConfError> {
        let from = self.pos + 1;
        self.pos = from;
        let mut buf = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF.")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut buf)?,
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok((Value::String(self.utf8(buf, from)?), from))
    }

    /// `( ... )`: everything up to a `)` alone at the start of a line and
    /// followed by `\n` or EOF. The text keeps the newline before the `)`.
    fn block(&mut self) -> Result<(Value, usize), ConfError> {
        let from = self.pos + 1;
        let rest = self.b.get(from..).unwrap_or(&[]);
        for i in memchr::memchr_iter(b')', rest) {
            let at = from + i;
            let after_ok = matches!(self.peek_at(at + 1), None | Some(b'\n'));
            if at > 0 && self.peek_at(at - 1) == Some(b'\n') && after_ok {
                self.pos = at + 1;
                return Ok((Value::String(self.src.get(from..at).unwrap_or_default().to_string()), from));
            }
        }
        Err(self.lex_err(self.b.len(), "Unexpected EOF processing block."))
    }

    /// An unquoted string. `src[start..resume]` is taken verbatim (it is the
    /// part already scanned as a would-be number); scanning with escapes
    /// continues at `resume`.
    fn unquoted(&mut self, start: usize, resume: usize) -> Result<(Value, usize), ConfError> {
        let mut buf = self.b.get(start..resume).unwrap_or(&[]).to_vec();
        let mut escaped = false;
        self.pos = resume;
        let mut quote_end = false;
        while let Some(c) = self.peek() {
            match c {
                b'\n' | b'\r' | b';' | b',' | b']' | b'}' | b' ' | b'\t' => break,
                b'\'' => {
                    quote_end = true;
                    break;
                }
                b'\\' => {
                    escaped = true;
                    self.escape(&mut buf)?;
                }
                c => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
        if quote_end {
            self.pos += 1;
        }
        let s = self.utf8(buf, start)?;
        // Go classifies neither escaped strings nor ones ended by `'`.
        if escaped || quote_end {
            return Ok((Value::String(s), start));
        }
        if let Some(b) = is_bool_word(&s) {
            return Ok((Value::Bool(b), start));
        }
        if let Some(name) = s.strip_prefix('$') {
            let v = self.variable(name, start)?;
            return Ok((v, start + 1));
        }
        Ok((Value::String(s), start))
    }

    /// Starts with a digit: integer (with optional size suffix), float,
    /// datetime, IP-like string, or (if it is not entirely a number) string.
    fn number(&mut self, ctx: Ctx) -> Result<(Value, usize), ConfError> {
        let start = self.pos;
        let mut i = start;
        while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        match self.peek_at(i) {
            Some(b'-') if i - start == 4 => self.datetime(start),
            Some(b'-') => Err(self.lex_err(i + 1, "All ISO8601 dates must be in full Zulu form.")),
            Some(b'.') => self.float_or_ip(start, i),
            Some(c) if is_size_suffix(c) => self.sized(start, i + 1),
            c if ends_number(c) => self.integer(start, i),
            Some(b']') if ctx == Ctx::Array => self.integer(start, i),
            _ => {
                // Not a number after all: a string, with this character taken verbatim.
                let len = self.char_at(i).map_or(1, char::len_utf8);
                self.unquoted(start, i + len)
            }
        }
    }

    fn negative(&mut self) -> Result<(Value, usize), ConfError> {
        let start = self.pos;
        let mut i = start + 1;
        match self.peek_at(i) {
            Some(c) if c.is_ascii_digit() => {}
            Some(b'.') => return Err(self.lex_err(i + 1, "Floats must start with a digit, not '.'.")),
            _ => {
                let (got, after) = self.describe(i);
                return Err(self.lex_err(after, format!("Expected a digit but got {got}.")));
            }
        }
        while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        match self.peek_at(i) {
            Some(b'.') => self.float_or_ip(start, i),
            Some(c) if is_size_suffix(c) => self.sized(start, i + 1),
            // Anything else ends a negative integer.
            _ => self.integer(start, i),
        }
    }

    /// After digits and a size-suffix letter ending at `i`.
    fn sized(&mut self, start: usize, mut i: usize) -> Result<(Value, usize), ConfError> {
        while matches!(self.peek_at(i), Some(b'b' | b'B' | b'i' | b'I')) {
            i += 1;
        }
        let next = self.peek_at(i);
        if ends_number(next) || next == Some(b']') {
            self.integer(start, i)
        } else {
            self.unquoted(start, start)
        }
    }

    fn integer(&mut self, start: usize, end: usize) -> Result<(Value, usize), ConfError> {
        self.pos = end;
        let text = self.src.get(start..end).unwrap_or_default();
        let split = text.bytes().position(|c| !(c.is_ascii_digit() || c == b'-')).unwrap_or(text.len());
        let (digits, suffix) = text.split_at(split);
        let range_err = || self.plain_err(start, format!("integer '{text}' is out of the range"));
        let n: i64 = digits.parse().map_err(|_| range_err())?;
        let pow = |base: i64, exp: u32| base.checked_pow(exp);
        let mult = match suffix.to_ascii_lowercase().as_str() {
            "" => Some(1),
            "k" => pow(1000, 1),
            "m" => pow(1000, 2),
            "g" => pow(1000, 3),
            "t" => pow(1000, 4),
            "p" => pow(1000, 5),
            "e" => pow(1000, 6),
            "kb" | "ki" | "kib" => pow(1024, 1),
            "mb" | "mi" | "mib" => pow(1024, 2),
            "gb" | "gi" | "gib" => pow(1024, 3),
            "tb" | "ti" | "tib" => pow(1024, 4),
            "pb" | "pi" | "pib" => pow(1024, 5),
            "eb" | "ei" | "eib" => pow(1024, 6),
            _ => {
                return Err(self.plain_err(start, format!("invalid size suffix '{suffix}' in integer '{text}'")));
            }
        };
        let v = mult.and_then(|m| n.checked_mul(m)).ok_or_else(range_err)?;
        Ok((Value::Integer(v), start))
    }

    /// After digits and a `.` at `dot`.
    fn float_or_ip(&mut self, start: usize, dot: usize) -> Result<(Value, usize), ConfError> {
        let mut i = dot + 1;
        if !self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            let (got, after) = self.describe(i);
            return Err(self.lex_err(after, format!("Floats must have a digit after the '.', but got {got} instead.")));
        }
        while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        if self.peek_at(i) == Some(b'.') {
            // A second dot: an IP address (or version-like) string.
            while self.peek_at(i).is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b':' | b'-')) {
                i += 1;
            }
            self.pos = i;
            return Ok((Value::String(self.src.get(start..i).unwrap_or_default().to_string()), start));
        }
        self.pos = i;
        let text = self.src.get(start..i).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Value::Float(f), start)),
            _ => Err(self.plain_err(start, format!("float '{text}' is out of the range"))),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`; the four year digits start at `start`.
    fn datetime(&mut self, start: usize) -> Result<(Value, usize), ConfError> {
        let mut i = start + 5;
        for want in "00-00T00:00:00Z".bytes() {
            let got = self.peek_at(i);
            let ok = if want == b'0' { got.is_some_and(|c| c.is_ascii_digit()) } else { got == Some(want) };
            if !ok {
                let (shown, after) = self.describe(i);
                let msg = if want == b'0' {
                    format!("Expected digit in ISO8601 datetime, but found {shown} instead.")
                } else {
                    format!("Expected '{}' in ISO8601 datetime, but found {shown} instead.", want as char)
                };
                return Err(self.lex_err(after, msg));
            }
            i += 1;
        }
        self.pos = i;
        let text = self.src.get(start..i).unwrap_or_default();
        if !valid_datetime(text.as_bytes()) {
            return Err(self.plain_err(start, format!("expected Zulu formatted DateTime, but got '{text}'")));
        }
        Ok((Value::DateTime(text.to_string()), start))
    }

    /// Resolves `$name` (the reference starts at `start`, the `$`).
    fn variable(&mut self, name: &str, start: usize) -> Result<Value, ConfError> {
        // A bcrypt hash ($2a$...) is not a variable.
        if name.starts_with("2a$") {
            return Ok(Value::String(format!("${name}")));
        }
        if let Some(v) = self.maps.iter().rev().find_map(|m| m.get(name)).map(|it| it.value.clone()) {
            if self.used_set.insert(name.to_string()) {
                self.used_vars.push(name.to_string());
            }
            return Ok(v);
        }
        let (line, _) = self.line_col(start);
        let Some(raw) = self.env.var(name) else {
            return Err(
                self.plain_err(start, format!("variable reference for '{name}' on line {line} can not be found"))
            );
        };
        if self.resolving.iter().any(|n| n == name) {
            return Err(self.plain_err(start, format!("variable reference cycle for '{name}'")));
        }
        if self.depth >= MAX_DEPTH {
            return Err(self.plain_err(
                start,
                format!(
                    "variable reference for '{name}' on line {line} nests too deep (maximum is {MAX_DEPTH} levels)"
                ),
            ));
        }
        // The environment value is read as if it were written after a key.
        let text = format!("pk={raw}");
        let mut resolving = self.resolving.clone();
        resolving.push(name.to_string());
        let mut sub = Parser::new(&text, &mut *self.env, self.depth + 1, resolving);
        match sub.document() {
            Ok(entries) => {
                match entries.into_iter().find(|(k, _)| k == "pk") {
                    Some((_, item)) => Ok(item.value),
                    None => Err(self
                        .plain_err(start, format!("variable reference for '{name}' on line {line} can not be found"))),
                }
            }
            Err(e) => Err(self.plain_err(
                start,
                format!("variable reference for '{name}' on line {line} could not be parsed: {}", e.msg),
            )),
        }
    }
}

/// Checks the ranges of an already well-shaped `YYYY-MM-DDTHH:MM:SSZ`.
fn valid_datetime(t: &[u8]) -> bool {
    let num = |a: usize, b: usize| -> Option<u32> {
        t.get(a..b)?.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
        (num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && s < 60
}

#[cfg(test)]
mod tests;
