//! Subject rules: tokens separated by `.`, no empty token, `*` matching one
//! token and `>` matching one or more trailing tokens, each a wildcard only
//! when it is a whole token.

/// Valid for a subscription: non-empty tokens, `>` only as the last token.
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut tokens = s.split(|c| *c == b'.').peekable();
    while let Some(t) = tokens.next() {
        if t.is_empty() || t.iter().any(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c')) {
            return false;
        }
        if t == b">" && tokens.peek().is_some() {
            return false;
        }
    }
    true
}

/// Valid for publishing in pedantic mode: no empty token and no wildcard
/// token. As in Go, whitespace is not checked here: a subject can only hold
/// it when a CR or LF started the PUB arguments.
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    s.split(|c| *c == b'.').all(|t| !t.is_empty() && t != b"*" && t != b">")
}

/// Whether the literal subject `subject` is matched by the pattern `pattern`.
/// A subject with an empty token matches nothing (as in Go's sublist).
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    let mut p = pattern.split(|c| *c == b'.');
    let mut s = subject.split(|c| *c == b'.');
    loop {
        match (p.next(), s.next()) {
            (None, None) => return true,
            (_, Some(b"")) => return false,
            (Some(b">"), Some(_)) => return s.all(|t| !t.is_empty()),
            (Some(b"*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        for ok in [&b"foo"[..], b"foo.bar", b"foo.*", b"*.>", b">", b"foo*.b>r", b"a.*.c"] {
            assert!(is_valid_subject(ok), "{:?}", ok);
        }
        for bad in [&b""[..], b".", b"foo.", b".foo", b"foo..bar", b"foo.>.bar", b"a b"] {
            assert!(!is_valid_subject(bad), "{:?}", bad);
        }
        assert!(is_valid_literal_subject(b"foo*.bar"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b"foo.>"));
    }

    #[test]
    fn matching() {
        assert!(matches(b"foo.*", b"foo.bar"));
        assert!(!matches(b"foo.*", b"foo.bar.baz"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"a"));
        assert!(!matches(b"foo*", b"foox"));
        assert!(matches(b"a.b", b"a.b"));
        assert!(!matches(b"a.b", b"a.b.c"));
        for empty in [&b"foo..x"[..], b"foo.", b".foo", b"", b"foo.x."] {
            assert!(!matches(b">", empty) && !matches(b"foo.>", empty) && !matches(b"*.*", empty), "{empty:?}");
        }
    }
}
