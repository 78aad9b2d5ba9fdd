//! The structure of the configuration format: the document, maps and their
//! entries, arrays, and `$NAME` variables.

use std::collections::{HashMap, HashSet};

use super::lexer::{is_bool_word, Lexer};
use super::{ConfError, Env, Item, Value, MAX_DEPTH};

/// A map being read: entries in file order, a later duplicate key
/// replacing the earlier entry in place.
#[derive(Default)]
pub(super) struct OpenMap {
    pub entries: Vec<(String, Item)>,
    index: HashMap<String, usize>,
}

impl OpenMap {
    pub fn insert(&mut self, key: String, item: Item) {
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

/// Where a value or an entry stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Map,
    Array,
}

pub(super) struct Parser<'a, 'e> {
    pub lx: Lexer<'a>,
    pub env: &'e mut dyn Env,
    /// The maps currently open, outermost (the top level) first.
    maps: Vec<OpenMap>,
    depth: usize,
    /// Environment variables being expanded (cycle detection).
    resolving: Vec<String>,
    pub used_vars: Vec<String>,
    used_set: HashSet<String>,
}

impl<'a, 'e> Parser<'a, 'e> {
    pub fn new(src: &'a str, env: &'e mut dyn Env, depth: usize, resolving: Vec<String>) -> Self {
        Parser {
            lx: Lexer::new(src),
            env,
            maps: Vec::new(),
            depth,
            resolving,
            used_vars: Vec::new(),
            used_set: HashSet::new(),
        }
    }

    fn item(&self, value: Value, off: usize) -> Item {
        let (line, col) = self.lx.line_col(off);
        Item { value, line, col }
    }

    /// The innermost open map, where entries go.
    pub fn current_map(&mut self) -> &mut OpenMap {
        if self.maps.is_empty() {
            self.maps.push(OpenMap::default());
        }
        let last = self.maps.len() - 1;
        &mut self.maps[last]
    }

    /// Reads a map or an array with `body`, one level deeper.
    fn nested<T>(&mut self, body: impl FnOnce(&mut Self) -> Result<T, ConfError>) -> Result<T, ConfError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.lx.lex_err(self.lx.pos, format!("Nesting too deep (maximum is {MAX_DEPTH} levels)")));
        }
        self.depth += 1;
        let r = body(self);
        self.depth -= 1;
        r
    }

    /// The whole text: an implicit top-level map, optionally wrapped in
    /// (decorative, nestable) braces.
    pub fn document(&mut self) -> Result<Vec<(String, Item)>, ConfError> {
        self.maps.push(OpenMap::default());
        let mut blocks = 0usize;
        let mut wrapped = false;
        'keys: loop {
            self.lx.skip_space();
            if self.lx.skip_comment() {
                continue;
            }
            match self.lx.peek() {
                None => break,
                Some(b'{') => {
                    blocks += 1;
                    wrapped = true;
                    self.lx.pos += 1;
                    continue;
                }
                Some(b'}') if blocks > 0 => {
                    blocks -= 1;
                    self.lx.pos += 1;
                    continue;
                }
                // Surplus closing braces after a wrapped document.
                Some(b'}') if wrapped && self.lx.only_closers_left() => break,
                Some(b'/') => {
                    return Err(self.lx.lex_err(self.lx.pos + 1, "Unexpected '/': comments start with '#' or '//'"));
                }
                _ => {}
            }
            self.entry(Ctx::Top, false)?;
            let level = if blocks > 0 { "block" } else { "top" };
            loop {
                self.lx.skip_ws();
                if self.lx.skip_comment() {
                    continue 'keys;
                }
                match self.lx.peek() {
                    None if blocks == 0 => break 'keys,
                    Some(b'\n' | b'\r' | b';' | b',') => {
                        self.lx.pos += 1;
                        continue 'keys;
                    }
                    Some(b'}') => {
                        self.lx.pos += 1;
                        blocks = blocks.saturating_sub(1);
                        continue 'keys;
                    }
                    // Go skips a lone '/' here; what follows must still end the value.
                    Some(b'/') => self.lx.pos += 1,
                    _ => {
                        return Err(self.lx.unexpected(self.lx.pos, |got| {
                            format!(
                                "Expected a {level}-level value to end with a new line, comment or EOF, but got {got} instead."
                            )
                        }));
                    }
                }
            }
        }
        Ok(self.maps.pop().map(|m| m.entries).unwrap_or_default())
    }

    /// One `key value` entry (or an `include`) in the top level or a map,
    /// stored into the innermost open map. `forced`: the key's first
    /// character is taken as is (Go's reading of `{ /key ... }`).
    fn entry(&mut self, ctx: Ctx, forced: bool) -> Result<(), ConfError> {
        let key_pos;
        let key: String;
        let quote = if forced { None } else { self.lx.peek().filter(|&c| c == b'"' || c == b'\'') };
        if let Some(q) = quote {
            let (text, from) = self.lx.quoted(q)?;
            key_pos = from;
            key = text.to_string();
        } else {
            key_pos = self.lx.pos;
            if !forced {
                if let Some(c @ (b':' | b'=')) = self.lx.peek() {
                    return Err(self.lx.lex_err(self.lx.pos + 1, format!("Unexpected key separator '{}'.", c as char)));
                }
            }
            key = self.lx.bare_key(ctx == Ctx::Top)?.to_string();
            if key.eq_ignore_ascii_case("include") && self.lx.char_at(self.lx.pos).is_some_and(char::is_whitespace) {
                return self.include();
            }
        }

        self.lx.skip_space();
        let eof = self.lx.b.len();
        match self.lx.peek() {
            None if ctx == Ctx::Top => {
                return Err(self
                    .lx
                    .plain_err(eof, format!("config is invalid: expected a value for key '{key}' but found EOF")));
            }
            None => return Err(self.lx.lex_err(eof, "Unexpected EOF processing map.")),
            Some(b':' | b'=') => self.lx.pos += 1,
            Some(_) => {}
        }
        if ctx == Ctx::Map {
            self.lx.skip_space();
            let at = self.lx.pos + 1;
            match self.lx.peek() {
                None => return Err(self.lx.lex_err(eof, "Unexpected EOF processing map.")),
                Some(b',') => return Err(self.lx.lex_err(at, "Unexpected map value terminator ','.")),
                Some(b'}') => {
                    return Err(self.lx.lex_err(at, format!("Expected a value for key '{key}' but found '}}'.")))
                }
                Some(_) => {}
            }
        }
        let (value, _) = self.value(ctx)?;
        let item = self.item(value, key_pos);
        self.current_map().insert(key, item);
        Ok(())
    }

    /// A `{ ... }` map; the `{` has been consumed.
    fn map(&mut self) -> Result<(Value, usize), ConfError> {
        self.nested(|p| {
            p.maps.push(OpenMap::default());
            let r = p.map_body();
            let m = p.maps.pop().unwrap_or_default();
            r?;
            Ok((Value::Map(m.entries), p.lx.pos))
        })
    }

    fn map_body(&mut self) -> Result<(), ConfError> {
        loop {
            self.lx.skip_space();
            if self.lx.skip_comment() {
                continue;
            }
            let mut forced = false;
            match self.lx.peek() {
                None => return Err(self.lx.lex_err(self.lx.b.len(), "Unexpected EOF processing map.")),
                Some(b'}') => {
                    self.lx.pos += 1;
                    return Ok(());
                }
                Some(b']') => return Err(self.lx.lex_err(self.lx.pos + 1, "Unexpected array end ']' processing map.")),
                // Go drops a lone '/' at the start of a map key.
                Some(b'/') => {
                    self.lx.pos += 1;
                    forced = true;
                }
                Some(_) => {}
            }
            self.entry(Ctx::Map, forced)?;
            self.lx.skip_ws();
            if self.lx.skip_comment() {
                continue;
            }
            match self.lx.peek() {
                // A lone '/' separates entries too (as in Go).
                Some(b'\n' | b'\r' | b';' | b',' | b'/') => self.lx.pos += 1,
                Some(b'}') => {
                    self.lx.pos += 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.lx.unexpected(self.lx.pos, |got| {
                        format!(
                            "Expected a map value terminator \",\" or a map terminator \"}}\", but got {got} instead."
                        )
                    }));
                }
            }
        }
    }

    /// A `[ ... ]` array; the `[` has been consumed.
    fn array(&mut self) -> Result<(Value, usize), ConfError> {
        self.nested(|p| Ok((Value::Array(p.array_body()?), p.lx.pos)))
    }

    fn array_end_err(&self) -> ConfError {
        self.lx.unexpected(self.lx.pos, |got| {
            format!("Expected an array value terminator \",\" or an array terminator \"]\", but got {got} instead.")
        })
    }

    fn array_body(&mut self) -> Result<Vec<Item>, ConfError> {
        let mut items = Vec::new();
        loop {
            self.lx.skip_space();
            if self.lx.skip_comment() {
                continue;
            }
            let at = self.lx.pos + 1;
            match self.lx.peek() {
                None => return Err(self.array_end_err()),
                Some(b']') => {
                    self.lx.pos += 1;
                    return Ok(items);
                }
                Some(b',') => return Err(self.lx.lex_err(at, "Unexpected array value terminator ','.")),
                Some(b'/') => {
                    return Err(self.lx.lex_err(at, "Unexpected '/' at the start of an array value (quote it)."));
                }
                Some(_) => {}
            }
            let (value, at) = self.value(Ctx::Array)?;
            items.push(self.item(value, at));
            loop {
                self.lx.skip_ws();
                if self.lx.skip_comment() {
                    continue;
                }
                match self.lx.peek() {
                    // A lone '/' separates elements too (as in Go).
                    Some(b'\n' | b'\r' | b',' | b'/') => {
                        self.lx.pos += 1;
                        break;
                    }
                    Some(b']') => {
                        self.lx.pos += 1;
                        return Ok(items);
                    }
                    _ => return Err(self.array_end_err()),
                }
            }
        }
    }

    /// One value. Returns it with the offset Go reports for it when it is an
    /// array element.
    fn value(&mut self, ctx: Ctx) -> Result<(Value, usize), ConfError> {
        self.lx.skip_ws();
        let start = self.lx.pos;
        match self.lx.peek() {
            None => Ok((Value::String(String::new()), start)),
            Some(b'[') => {
                self.lx.pos += 1;
                self.array()
            }
            Some(b'{') => {
                self.lx.pos += 1;
                self.map()
            }
            Some(b'\'') => {
                let (text, from) = self.lx.quoted(b'\'')?;
                Ok((Value::String(text.to_string()), from))
            }
            Some(b'"') => self.lx.double_quoted(),
            Some(b'(') => self.lx.block(),
            Some(b'-') => self.lx.negative(),
            Some(b'0'..=b'9') => self.lx.number(ctx == Ctx::Array),
            Some(b'.') => Err(self.lx.lex_err(start + 1, "Floats must start with a digit")),
            Some(b'\n' | b'\r') => Err(self.lx.lex_err(start + 1, "Expected value but found new line")),
            Some(_) => {
                let (s, plain) = self.lx.unquoted(start, start)?;
                if plain {
                    if let Some(b) = is_bool_word(&s) {
                        return Ok((Value::Bool(b), start));
                    }
                    if let Some(name) = s.strip_prefix('$') {
                        return Ok((self.variable(name, start)?, start + 1));
                    }
                }
                Ok((Value::String(s), start))
            }
        }
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
        let (line, _) = self.lx.line_col(start);
        let err =
            |what: &str| self.lx.plain_err(start, format!("variable reference for '{name}' on line {line} {what}"));
        let Some(raw) = self.env.var(name) else {
            return Err(err("can not be found"));
        };
        if self.resolving.iter().any(|n| n == name) {
            return Err(self.lx.plain_err(start, format!("variable reference cycle for '{name}'")));
        }
        if self.depth >= MAX_DEPTH {
            return Err(err(&format!("nests too deep (maximum is {MAX_DEPTH} levels)")));
        }
        // The environment value is read as if it were written after a key.
        let text = format!("pk={raw}");
        let mut resolving = self.resolving.clone();
        resolving.push(name.to_string());
        let mut sub = Parser::new(&text, &mut *self.env, self.depth + 1, resolving);
        match sub.document() {
            Ok(entries) => match entries.into_iter().find(|(k, _)| k == "pk") {
                Some((_, item)) => Ok(item.value),
                None => Err(err("can not be found")),
            },
            Err(e) => Err(err(&format!("could not be parsed: {}", e.msg))),
        }
    }
}
