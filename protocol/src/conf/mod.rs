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

mod include;
mod lexer;
mod parser;

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
    let mut p = parser::Parser::new(src, env, 0, Vec::new());
    let entries = p.document()?;
    Ok(Parsed { entries, used_vars: p.used_vars })
}

#[cfg(test)]
mod tests;
