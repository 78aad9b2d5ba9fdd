//! `include path`: the entries of another file, spliced into the map where
//! the directive stands. The file is read and parsed by [`Env::include`].
//!
//! [`Env::include`]: super::Env::include

use super::lexer::{is_nl, is_ws};
use super::parser::Parser;
use super::ConfError;

impl Parser<'_, '_> {
    /// After the `include` keyword and the whitespace following it.
    pub(super) fn include(&mut self) -> Result<(), ConfError> {
        self.lx.skip_ws();
        let start = self.lx.pos;
        let path = match self.lx.peek() {
            Some(q @ (b'"' | b'\'')) => self.lx.quoted(q)?.0,
            Some(c) if matches!(c, b'[' | b'{' | b'(' | b'\\' | b'-' | b'0'..=b'9') || is_nl(c) => {
                let what = match c {
                    b'[' => "start of an array",
                    b'{' => "start of a map",
                    b'(' => "start of a block",
                    b'\\' => "escape sequence",
                    b'\n' | b'\r' => "new line",
                    _ => "start of a number",
                };
                return Err(self.lx.lex_err(self.lx.pos + 1, format!("Expected include value but found {what}")));
            }
            _ => {
                while let Some(c) = self.lx.peek() {
                    if is_nl(c) || is_ws(c) || c == b';' || c == b'}' || c == b'\'' {
                        break;
                    }
                    self.lx.pos += 1;
                }
                let path = self.lx.src.get(start..self.lx.pos).unwrap_or_default();
                if self.lx.peek() == Some(b'\'') {
                    self.lx.pos += 1;
                }
                path
            }
        };
        let entries = self
            .env
            .include(path)
            .map_err(|cause| self.lx.plain_err(start, format!("error parsing include file '{path}', {cause}")))?;
        let map = self.current_map();
        for (k, v) in entries {
            map.insert(k, v);
        }
        Ok(())
    }
}
