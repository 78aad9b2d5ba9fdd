//! The configuration reader against the Go server's readings.

use std::collections::HashMap;

use super::*;

/// An Env backed by maps; includes are looked up by the path as written.
#[derive(Default)]
struct TestEnv {
    vars: HashMap<String, String>,
    files: HashMap<String, String>,
    depth: usize,
}

impl TestEnv {
    fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.into(), v.into());
        self
    }
    fn file(mut self, k: &str, v: &str) -> Self {
        self.files.insert(k.into(), v.into());
        self
    }
}

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn include(&mut self, path: &str) -> Result<Vec<(String, Item)>, String> {
        let src = self.files.get(path).cloned().ok_or_else(|| format!("open {path}: no such file or directory"))?;
        if self.depth >= 8 {
            return Err("include nesting too deep".into());
        }
        self.depth += 1;
        let r = parse(&src, self);
        self.depth -= 1;
        r.map(|p| p.entries).map_err(|e| e.msg)
    }
}

/// A position-free value tree for comparisons.
#[derive(Debug, PartialEq)]
enum V {
    S(String),
    I(i64),
    F(f64),
    B(bool),
    D(String),
    A(Vec<V>),
    M(Vec<(String, V)>),
}

fn strip(v: &Value) -> V {
    match v {
        Value::String(s) => V::S(s.clone()),
        Value::Integer(i) => V::I(*i),
        Value::Float(f) => V::F(*f),
        Value::Bool(b) => V::B(*b),
        Value::DateTime(d) => V::D(d.clone()),
        Value::Array(a) => V::A(a.iter().map(|i| strip(&i.value)).collect()),
        Value::Map(m) => V::M(m.iter().map(|(k, i)| (k.clone(), strip(&i.value))).collect()),
    }
}

fn doc(entries: &[(String, Item)]) -> V {
    V::M(entries.iter().map(|(k, i)| (k.clone(), strip(&i.value))).collect())
}

fn s(x: &str) -> V {
    V::S(x.into())
}
fn i(x: i64) -> V {
    V::I(x)
}
fn a(x: Vec<V>) -> V {
    V::A(x)
}
fn m(x: Vec<(&str, V)>) -> V {
    V::M(x.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn run(src: &str, env: &mut TestEnv) -> Result<Parsed, ConfError> {
    parse(src, env)
}

fn ok_env(src: &str, env: &mut TestEnv) -> V {
    match run(src, env) {
        Ok(p) => doc(&p.entries),
        Err(e) => panic!("{src:?} failed: {e}"),
    }
}

fn ok(src: &str) -> V {
    ok_env(src, &mut TestEnv::default())
}

fn err_env(src: &str, env: &mut TestEnv) -> ConfError {
    match run(src, env) {
        Ok(p) => panic!("{src:?} should fail, got {:?}", doc(&p.entries)),
        Err(e) => e,
    }
}

fn err(src: &str) -> ConfError {
    err_env(src, &mut TestEnv::default())
}

fn one(src: &str) -> V {
    match ok(src) {
        V::M(mut e) if e.len() == 1 => e.remove(0).1,
        other => panic!("{src:?}: expected one entry, got {other:?}"),
    }
}

#[test]
fn scalars() {
    let cases: Vec<(&str, V)> = vec![
        // integers and sizes
        ("4222", i(4222)),
        ("007", i(7)),
        ("0", i(0)),
        ("1k", i(1000)),
        ("1K", i(1000)),
        ("1kb", i(1024)),
        ("1KB", i(1024)),
        ("1ki", i(1024)),
        ("1KiB", i(1024)),
        ("1m", i(1_000_000)),
        ("2m", i(2_000_000)),
        ("1MB", i(1_048_576)),
        ("1Mi", i(1_048_576)),
        ("1MiB", i(1_048_576)),
        ("64MB", i(64 << 20)),
        ("4KB", i(4096)),
        ("2g", i(2_000_000_000)),
        ("2GB", i(2_147_483_648)),
        ("1t", i(1_000_000_000_000)),
        ("1tb", i(1 << 40)),
        ("1p", i(1_000_000_000_000_000)),
        ("1PiB", i(1 << 50)),
        ("1e", i(1_000_000_000_000_000_000)),
        ("1eb", i(1 << 60)),
        ("-3", i(-3)),
        ("-1", i(-1)),
        ("-1k", i(-1000)),
        ("-1kb", i(-1024)),
        ("9223372036854775807", i(i64::MAX)),
        ("-9223372036854775808", i(i64::MIN)),
        // floats
        ("1.5", V::F(1.5)),
        ("0.25", V::F(0.25)),
        ("-1.5", V::F(-1.5)),
        // strings that start like numbers
        ("\"2m\"", s("2m")),
        ("2s", s("2s")),
        ("10s", s("10s")),
        ("1h", s("1h")),
        ("500ms", s("500ms")),
        ("3secret", s("3secret")),
        ("12abc", s("12abc")),
        ("0x10", s("0x10")),
        ("1_000", s("1_000")),
        ("1kk", s("1kk")),
        ("1k5", s("1k5")),
        ("1e5", s("1e5")),
        ("1kb5", s("1kb5")),
        ("1kx", s("1kx")),
        ("1k#", s("1k#")),
        ("1k.", s("1k.")),
        ("1k'", s("1k")),
        ("1k\\x41", s("1kA")),
        ("3'", s("3'")),
        ("3'x", s("3'x")),
        ("3\\x41", s("3\\x41")),
        ("3\"x", s("3\"x")),
        ("3]", s("3]")),
        ("4222#c", s("4222#c")),
        ("12a-3", s("12a-3")),
        ("127.0.0.1:4222", s("127.0.0.1:4222")),
        ("0.0.0.0:4222", s("0.0.0.0:4222")),
        ("10.0.0.1", s("10.0.0.1")),
        ("1.2.3", s("1.2.3")),
        ("-1.2.3", s("-1.2.3")),
        ("1.2.3.4:5:6", s("1.2.3.4:5:6")),
        ("1.2.3:4-5", s("1.2.3:4-5")),
        // datetimes
        ("2016-05-04T18:53:41Z", V::D("2016-05-04T18:53:41Z".into())),
        ("2016-02-29T23:59:59Z", V::D("2016-02-29T23:59:59Z".into())),
        // booleans
        ("true", V::B(true)),
        ("TRUE", V::B(true)),
        ("True", V::B(true)),
        ("yes", V::B(true)),
        ("YES", V::B(true)),
        ("on", V::B(true)),
        ("false", V::B(false)),
        ("no", V::B(false)),
        ("Off", V::B(false)),
        ("yess", s("yess")),
        ("\"true\"", s("true")),
        ("'no'", s("no")),
        ("tr\\x75e", s("true")),
        // unquoted strings
        ("foo#bar", s("foo#bar")),
        ("ab//cd", s("ab//cd")),
        ("nats://user:pw@host:4222", s("nats://user:pw@host:4222")),
        ("localhost:4222", s("localhost:4222")),
        ("a=b:c", s("a=b:c")),
        ("a{b", s("a{b")),
        ("a[b", s("a[b")),
        ("a\"b\"", s("a\"b\"")),
        ("ab'", s("ab")),
        ("true'", s("true")),
        ("$zz'", s("$zz")),
        ("éa:1", s("éa:1")),
        ("a\u{a0}b", s("a\u{a0}b")),
        ("a\u{b}b", s("a\u{b}b")),
        ("orders.$1", s("orders.$1")),
        ("$2a$11$abc", s("$2a$11$abc")),
        ("a\\x41b", s("aAb")),
        ("\\tab", s("\tab")),
        ("a\\\\", s("a\\")),
        ("$A\\x41", s("$AA")),
        ("#c", s("#c")),
        ("//c", s("//c")),
        (":", s(":")),
        // double-quoted strings
        ("\"a\\tb\\\\c\\\"d\"", s("a\tb\\c\"d")),
        ("\"a\\x41b\"", s("aAb")),
        ("\"\\xc3\\xa9\"", s("é")),
        ("\"\\n\\r\"", s("\n\r")),
        ("\"$X\"", s("$X")),
        ("\"two\nlines\"", s("two\nlines")),
        ("\"\"", s("")),
        ("\"a b # c\"", s("a b # c")),
        ("\"a\"#c", s("a")),
        ("\"a\" // c", s("a")),
        // single-quoted strings are raw
        ("'a\\qb'", s("a\\qb")),
        ("'x\ny'", s("x\ny")),
        ("'a \"b\"'", s("a \"b\"")),
        // block strings
        ("(\nabc\n)", s("\nabc\n")),
        ("(\nabc\n)\n", s("\nabc\n")),
        ("(abc\n)\n", s("abc\n")),
        ("(x\n)\n", s("x\n")),
        ("(\n)\n", s("\n")),
        ("(\n\n)\n", s("\n\n")),
        ("(\nab)c\n)\n", s("\nab)c\n")),
        ("(\n  line one\n  line two\n)\n", s("\n  line one\n  line two\n")),
        // empty values
        ("", s("")),
        ("  ", s("")),
        (",", s("")),
        (";", s("")),
        ("}", s("")),
    ];
    for (src, want) in cases {
        let text = format!("x: {src}");
        assert_eq!(one(&text), want, "input {text:?}");
    }
}

#[test]
fn separators_and_entries() {
    for src in ["a = 1", "a: 1", "a 1", "a=1", "a:1", "a\t1", "a\n1", "a\n= 1", "a\n\n  :  1", "  a: 1  ", "a: 1\r\n"] {
        assert_eq!(ok(src), m(vec![("a", i(1))]), "input {src:?}");
    }
    for src in ["m {}", "m={}", "m:{}", "m = { }", "m\n{\n}"] {
        assert_eq!(ok(src), m(vec![("m", m(vec![]))]), "input {src:?}");
    }
    assert_eq!(ok("host: 127.0.0.1; port: 4222;"), m(vec![("host", s("127.0.0.1")), ("port", i(4222))]));
    assert_eq!(ok("d=4; e:5, f 6"), m(vec![("d", i(4)), ("e", i(5)), ("f", i(6))]));
    assert_eq!(ok("port: 1 ; debug: true"), m(vec![("port", i(1)), ("debug", V::B(true))]));
    assert_eq!(ok("port: 1,debug:true"), m(vec![("port", i(1)), ("debug", V::B(true))]));
    assert_eq!(ok("port: 1\r\ndebug: true\r\n"), m(vec![("port", i(1)), ("debug", V::B(true))]));
    assert_eq!(ok("port::1"), m(vec![("port", s(":1"))]));
    // Keys: any run up to whitespace, ':' or '='.
    assert_eq!(ok("orders.acme.*: 1"), m(vec![("orders.acme.*", i(1))]));
    assert_eq!(ok("$G: 1"), m(vec![("$G", i(1))]));
    assert_eq!(ok("a-b: 1"), m(vec![("a-b", i(1))]));
    assert_eq!(ok("a\"b: 1"), m(vec![("a\"b", i(1))]));
    assert_eq!(ok("m{a:1}"), m(vec![("m{a", i(1))]));
    assert_eq!(ok("port: 1;\n;debug: true"), m(vec![("port", i(1)), (";debug", V::B(true))]));
    // Quoted keys have no escapes.
    assert_eq!(ok("\"a b\": 1"), m(vec![("a b", i(1))]));
    assert_eq!(ok("'a': 1"), m(vec![("a", i(1))]));
    assert_eq!(ok("\"m\\n\": 1"), m(vec![("m\\n", i(1))]));
    assert_eq!(ok("\"m\"1"), m(vec![("m", i(1))]));
    assert_eq!(ok("\"include\" x"), m(vec![("include", s("x"))]));
    // Case is preserved; duplicates replace in place.
    assert_eq!(ok("Port: 1\nport: 2"), m(vec![("Port", i(1)), ("port", i(2))]));
    assert_eq!(ok("a: 1\nb: 2\na: 3"), m(vec![("a", i(3)), ("b", i(2))]));
    let p = run("a: 1\nb: 2\na: 3", &mut TestEnv::default()).unwrap();
    assert_eq!((p.entries[0].1.line, p.entries[0].1.col), (3, 1));
    // Comments.
    assert_eq!(
        ok("# c\na: 1 # c\nb: 2 // c\n// c\n  # indented\nc: 'x'# c\n"),
        m(vec![("a", i(1)), ("b", i(2)), ("c", s("x"))])
    );
    assert_eq!(ok("port: 1 /"), m(vec![("port", i(1))]));
    assert_eq!(ok(""), m(vec![]));
    assert_eq!(ok("\n\n# only a comment\n"), m(vec![]));
}

#[test]
fn top_level_wrapper() {
    let pd = || m(vec![("port", i(4222)), ("debug", V::B(true))]);
    assert_eq!(ok("{\"port\": 4222, \"debug\": true}"), pd());
    assert_eq!(ok("{\n  \"port\": 4222,\n  \"debug\": true,\n}\n"), pd());
    assert_eq!(ok("\n  {\n  # c\n  port = 4222,\n  debug = true,\n}\n// end\n"), pd());
    assert_eq!(ok("{port: 4222}\n{debug: true}"), pd());
    assert_eq!(ok("{port: 4222} debug: true"), pd());
    assert_eq!(ok("{ port: 4222, { debug: true } }"), pd());
    assert_eq!(ok("{ port: 4222; { debug: true } }"), pd());
    assert_eq!(ok("port: 4222} debug: true"), pd());
    let p = || m(vec![("port", i(1))]);
    assert_eq!(ok("{port: 1}}"), p());
    assert_eq!(ok("{port: 1}\n}\n"), p());
    assert_eq!(ok("{port: 1\n"), p());
    assert_eq!(ok("{{port: 1}}"), p());
    assert_eq!(ok("{\n}\nport: 1"), p());
    assert_eq!(ok("{#c\nport: 1}"), p());
    assert_eq!(ok("{port: 1 #c\n}"), p());
    assert_eq!(ok("{port: 1}#c\n"), p());
    assert_eq!(ok("{port: 1}//c\n"), p());
    assert_eq!(ok("port: 1}"), p());
    assert_eq!(ok("{port: 1 }x: 2"), m(vec![("port", i(1)), ("x", i(2))]));
    assert_eq!(ok("{}"), m(vec![]));
    assert_eq!(ok("{"), m(vec![]));
    assert!(err("}").msg.contains("config is invalid"));
    assert!(err("port: 1}}}").msg.contains("config is invalid"));
}

#[test]
fn maps() {
    assert_eq!(ok("m {a:1,,b:2}"), m(vec![("m", m(vec![("a", i(1)), (",b", i(2))]))]));
    let ab = || m(vec![("m", m(vec![("a", i(1)), ("b", i(2))]))]);
    for src in [
        "m {a:1;b:2}",
        "m {a:1, b:2}",
        "m {a:1,b:2,}",
        "m {a:1 ,b:2}",
        "m { a 1\n b 2 }",
        "m {a\n:1\nb\n=\n2}",
        "m {a:\n1, b:\n\n2}",
        "m {a:1 #c\n b:2 // c\n}",
        "m {\n  # c\n  a: 1\n  // c\n  b: 2\n}",
        "m {\"a\": 1, 'b': 2}",
        "m {a: 1 /b: 2}",
        "m {/a: 1, b: 2}",
        "m {a = 1; b = 2;}",
    ] {
        assert_eq!(ok(src), ab(), "input {src:?}");
    }
    assert_eq!(ok("m {a: ;}"), m(vec![("m", m(vec![("a", s(""))]))]));
    assert_eq!(ok("m {a: x}"), m(vec![("m", m(vec![("a", s("x"))]))]));
    assert_eq!(ok("m {a: 3]}"), m(vec![("m", m(vec![("a", s("3]"))]))]));
    assert_eq!(ok("m: { a: {b: {c: 1}}}"), m(vec![("m", m(vec![("a", m(vec![("b", m(vec![("c", i(1))]))]))]))]));
    assert_eq!(
        ok("m { a: [1, 2 ] , b: {c: d} }"),
        m(vec![("m", m(vec![("a", a(vec![i(1), i(2)])), ("b", m(vec![("c", s("d"))]))]))])
    );
    assert_eq!(ok("m {a: 1, a: 2}"), m(vec![("m", m(vec![("a", i(2))]))]));
}

#[test]
fn arrays() {
    let cases: Vec<(&str, V)> = vec![
        ("[]", a(vec![])),
        ("[\n]", a(vec![])),
        ("[ # only a comment\n]", a(vec![])),
        ("[1,]", a(vec![i(1)])),
        ("[1 , ]", a(vec![i(1)])),
        ("[1\n2\n]", a(vec![i(1), i(2)])),
        ("[\n  1,\n  2\n]", a(vec![i(1), i(2)])),
        ("[1, 2, 3 ]", a(vec![i(1), i(2), i(3)])),
        ("[1,2,3,]", a(vec![i(1), i(2), i(3)])),
        // Lenient: an integer directly followed by ']' (Go rejects these).
        ("[1, 2, 3]", a(vec![i(1), i(2), i(3)])),
        ("[1]", a(vec![i(1)])),
        ("[[1],[2]]", a(vec![a(vec![i(1)]), a(vec![i(2)])])),
        ("[[1 ],[2 ]]", a(vec![a(vec![i(1)]), a(vec![i(2)])])),
        ("[\"1\"]", a(vec![s("1")])),
        ("[-1]", a(vec![i(-1)])),
        ("[1k]", a(vec![i(1000)])),
        ("[1kb]", a(vec![i(1024)])),
        ("[1e]", a(vec![i(1_000_000_000_000_000_000)])),
        ("[1.5]", a(vec![V::F(1.5)])),
        ("[true]", a(vec![V::B(true)])),
        ("[2016-05-04T18:53:41Z]", a(vec![V::D("2016-05-04T18:53:41Z".into())])),
        ("[a, b, c]", a(vec![s("a"), s("b"), s("c")])),
        ("[a]", a(vec![s("a")])),
        ("[a/b]", a(vec![s("a/b")])),
        ("[ : ]", a(vec![s(":")])),
        ("[ = ]", a(vec![s("=")])),
        ("[127.0.0.1:4222]", a(vec![s("127.0.0.1:4222")])),
        ("[ \"a\"\n\"b\" ]", a(vec![s("a"), s("b")])),
        ("[{a:1}\n{b:2}]", a(vec![m(vec![("a", i(1))]), m(vec![("b", i(2))])])),
        ("[{a:1},{b:2},]", a(vec![m(vec![("a", i(1))]), m(vec![("b", i(2))])])),
        ("[ (\nx\n)\n]", a(vec![s("\nx\n")])),
        ("[ # c\n 1, # c\n 2 // c\n ]", a(vec![i(1), i(2)])),
        ("[1 /2 ]", a(vec![i(1), i(2)])),
        ("['a', \"b\", c]", a(vec![s("a"), s("b"), s("c")])),
        ("[a.>, \"b\"]", a(vec![s("a.>"), s("b")])),
    ];
    for (src, want) in cases {
        let text = format!("x: {src}");
        assert_eq!(one(&text), want, "input {text:?}");
    }
}

#[test]
fn variables() {
    let p = run("# Define a variable in the config\nTOKEN: \"secret\"\n\n# Reference the variable\nauthorization {\n    token: $TOKEN\n}\n", &mut TestEnv::default()).unwrap();
    assert_eq!(doc(&p.entries), m(vec![("TOKEN", s("secret")), ("authorization", m(vec![("token", s("secret"))]))]));
    assert_eq!(p.used_vars, vec!["TOKEN".to_string()]);
    let p = run("TOKEN: \"secret\"\nauthorization { token: \"another secret\" }", &mut TestEnv::default()).unwrap();
    assert!(p.used_vars.is_empty());

    assert_eq!(ok("P: 4222\nport: $P"), m(vec![("P", i(4222)), ("port", i(4222))]));
    assert_eq!(
        ok("P: 4222\ncluster { listen: $P }"),
        m(vec![("P", i(4222)), ("cluster", m(vec![("listen", i(4222))]))])
    );
    assert_eq!(
        ok("cluster { P: 4248\n listen: $P }"),
        m(vec![("cluster", m(vec![("P", i(4248)), ("listen", i(4248))]))])
    );
    assert_eq!(ok("X: 1\nX: 4223\nport: $X\n"), m(vec![("X", i(4223)), ("port", i(4223))]));
    assert_eq!(ok("P: [1 ]\nm: $P"), m(vec![("P", a(vec![i(1)])), ("m", a(vec![i(1)]))]));
    assert_eq!(ok("A: 4222\nB: $A\nport: $B"), m(vec![("A", i(4222)), ("B", i(4222)), ("port", i(4222))]));
    assert_eq!(ok("x: 1\nm { x: 2, y: $x }"), m(vec![("x", i(1)), ("m", m(vec![("x", i(2)), ("y", i(2))]))]));
    assert_eq!(ok("x: 1\nm { y: $x }"), m(vec![("x", i(1)), ("m", m(vec![("y", i(1))]))]));
    assert_eq!(ok("m { x: 1, arr: [ $x ] }"), m(vec![("m", m(vec![("x", i(1)), ("arr", a(vec![i(1)]))]))]));
    assert_eq!(
        ok("u: bob\nusers: [{user: $u}]"),
        m(vec![("u", s("bob")), ("users", a(vec![m(vec![("user", s("bob"))])]))])
    );
    assert_eq!(ok("\"\": 5\nx: $"), m(vec![("", i(5)), ("x", i(5))]));
    assert_eq!(one("x: \"$X\""), s("$X"));
    assert_eq!(one("x: '$X'"), s("$X"));
    assert_eq!(one("x: $2a$11$abc"), s("$2a$11$abc"));
    // File variables win over the environment.
    let mut env = TestEnv::default().var("P", "1");
    assert_eq!(ok_env("P: 2\nx: $P", &mut env), m(vec![("P", i(2)), ("x", i(2))]));

    let e = err("x: $NOPE");
    assert_eq!(e.msg, "variable reference for 'NOPE' on line 1 can not be found");
    assert_eq!((e.line, e.col), (1, 3));
    assert_eq!(e.to_string(), e.msg);
    let e = err("port: 1\n  x: $NOPE\n");
    assert_eq!(e.msg, "variable reference for 'NOPE' on line 2 can not be found");
    assert_eq!(err("port: $P\nP: 4222").msg, "variable reference for 'P' on line 1 can not be found");
    assert_eq!(err("cluster { P: 4248 }\nport: $P").msg, "variable reference for 'P' on line 2 can not be found");
    assert_eq!(err("A: $A").msg, "variable reference for 'A' on line 1 can not be found");
    assert_eq!(err("a { x: 1 }\nb: $a.x").msg, "variable reference for 'a.x' on line 2 can not be found");
    assert_eq!(err("x: $2b$11$abc").msg, "variable reference for '2b$11$abc' on line 1 can not be found");
    assert_eq!(err("x: $").msg, "variable reference for '' on line 1 can not be found");
    assert_eq!(err("x: $$").msg, "variable reference for '$' on line 1 can not be found");
}

#[test]
fn environment_variables() {
    let cases: Vec<(&str, V)> = vec![
        ("4333", i(4333)),
        ("\"4333\"", s("4333")),
        ("2MB", i(2 << 20)),
        ("true", V::B(true)),
        ("hello", s("hello")),
        ("a:1", s("a:1")),
        ("", s("")),
        ("[1 ]", a(vec![i(1)])),
        ("{port: 1}", m(vec![("port", i(1))])),
        ("1 #c", i(1)),
        ("1\nfoo: 2", i(1)),
        ("nats://a:b@h:1", s("nats://a:b@h:1")),
    ];
    for (val, want) in cases {
        let mut env = TestEnv::default().var("MYPORT", val);
        assert_eq!(ok_env("x: $MYPORT", &mut env), m(vec![("x", want)]), "env value {val:?}");
    }
    let mut env = TestEnv::default().var("MYPORT", "4333");
    let p = run("port: $MYPORT", &mut env).unwrap();
    assert!(p.used_vars.is_empty(), "env variables are not file keys");
    let mut env = TestEnv::default().var("EA", "$EB").var("EB", "4222");
    assert_eq!(ok_env("port: $EA", &mut env), m(vec![("port", i(4222))]));

    let mut env = TestEnv::default().var("MYPORT", "hello world");
    assert_eq!(
            err_env("listen: $MYPORT", &mut env).msg,
            "variable reference for 'MYPORT' on line 1 could not be parsed: Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'w' instead.'"
        );
    // The environment value does not see the file's keys.
    let mut env = TestEnv::default().var("MYPORT", "$X");
    assert_eq!(
            err_env("X: 4222\nport: $MYPORT", &mut env).msg,
            "variable reference for 'MYPORT' on line 2 could not be parsed: variable reference for 'X' on line 1 can not be found"
        );
    let mut env = TestEnv::default().var("EA", "$EB").var("EB", "$EA");
    let e = err_env("port: $EA", &mut env);
    assert!(e.msg.ends_with("variable reference cycle for 'EA'"), "{}", e.msg);
    let mut env = TestEnv::default().var("EA", "$EA");
    assert!(err_env("port: $EA", &mut env).msg.ends_with("variable reference cycle for 'EA'"));
    let mut env = TestEnv::default().var("EA", "[$EA ]");
    assert!(err_env("port: $EA", &mut env).msg.ends_with("variable reference cycle for 'EA'"));
}

/// An environment where every variable expands to a new variable.
struct EndlessEnv;
impl Env for EndlessEnv {
    fn var(&self, name: &str) -> Option<String> {
        Some(format!("[{{ k: ${name}x }}]"))
    }
    fn include(&mut self, _: &str) -> Result<Vec<(String, Item)>, String> {
        Err("no".into())
    }
}

#[test]
fn endless_expansion_is_capped() {
    let e = parse("x: $A", &mut EndlessEnv).unwrap_err();
    assert!(e.msg.contains("too deep"), "{}", e.msg);
}

#[test]
fn includes() {
    let base = || {
        TestEnv::default()
            .file("./auth.conf", "authorization: { token: \"f0oBar\" }")
            .file("a.conf", "port: 1\n")
            .file("vars.conf", "P: 4222\n")
            .file("usesvar.conf", "port: $P\n")
            .file("bad.conf", "port: 1 2\n")
            .file("token.conf", "token: abc\n")
            .file("self.conf", "include self.conf\n")
            .file("a.conf,", "comma: 1\n")
            .file("a.conf#c", "hash: 1\n")
    };
    assert_eq!(
        ok_env("listen: 127.0.0.1:4222\ninclude ./auth.conf\n", &mut base()),
        m(vec![("listen", s("127.0.0.1:4222")), ("authorization", m(vec![("token", s("f0oBar"))]))])
    );
    let p1 = || m(vec![("port", i(1))]);
    for src in [
        "include a.conf",
        "include a.conf\n",
        "INCLUDE a.conf\n",
        "Include a.conf",
        "include \"a.conf\"\n",
        "include 'a.conf'\n",
        "include a.conf # c\n",
        "include\ta.conf\n",
        "include   a.conf",
        "include a.conf'\n",
        "{include a.conf}",
        "include a.conf}",
    ] {
        assert_eq!(ok_env(src, &mut base()), p1(), "input {src:?}");
    }
    let pd = || m(vec![("port", i(1)), ("debug", V::B(true))]);
    assert_eq!(ok_env("include 'a.conf'; debug: true\n", &mut base()), pd());
    assert_eq!(ok_env("include a.conf; debug: true\n", &mut base()), pd());
    assert_eq!(ok_env("include a.conf,", &mut base()), m(vec![("comma", i(1))]));
    assert_eq!(ok_env("include a.conf#c", &mut base()), m(vec![("hash", i(1))]));
    // Not the keyword.
    assert_eq!(ok_env("include: a.conf\n", &mut base()), m(vec![("include", s("a.conf"))]));
    assert_eq!(ok_env("include=a.conf\n", &mut base()), m(vec![("include", s("a.conf"))]));
    assert_eq!(
        err_env("include = a.conf\n", &mut base()).msg,
        "error parsing include file '=', open =: no such file or directory"
    );
    // Inside blocks.
    let auth = || m(vec![("authorization", m(vec![("token", s("abc"))]))]);
    assert_eq!(ok_env("authorization {\n include token.conf\n}\n", &mut base()), auth());
    assert_eq!(ok_env("authorization { include token.conf }\n", &mut base()), auth());
    assert_eq!(ok_env("authorization { include token.conf; }\n", &mut base()), auth());
    // Included keys take part in lookups and override order.
    let mut env = base();
    let p = run("include vars.conf\nport: $P\n", &mut env).unwrap();
    assert_eq!(doc(&p.entries), m(vec![("P", i(4222)), ("port", i(4222))]));
    assert_eq!(p.used_vars, vec!["P".to_string()]);
    assert_eq!(ok_env("port: 5\ninclude a.conf\n", &mut base()), p1());
    assert_eq!(ok_env("include a.conf\nport: 5\n", &mut base()), m(vec![("port", i(5))]));
    // Errors.
    assert_eq!(
        err_env("P: 4222\ninclude usesvar.conf\n", &mut base()).msg,
        "error parsing include file 'usesvar.conf', variable reference for 'P' on line 1 can not be found"
    );
    assert_eq!(
        err_env("include nope.conf\n", &mut base()).msg,
        "error parsing include file 'nope.conf', open nope.conf: no such file or directory"
    );
    assert_eq!(
            err_env("include bad.conf\n", &mut base()).msg,
            "error parsing include file 'bad.conf', Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got '2' instead.'"
        );
    assert!(err_env("include self.conf\n", &mut base()).msg.contains("include nesting too deep"));
    assert_eq!(
        err_env("include\na.conf\n", &mut base()).msg,
        "Parse error on line 2: 'Expected include value but found new line'"
    );
    assert!(err_env("include 1.conf\n", &mut base()).msg.contains("start of a number"));
    assert!(err_env("include [a]\n", &mut base()).msg.contains("start of an array"));
    assert!(err_env("include {a}\n", &mut base()).msg.contains("start of a map"));
    assert!(err_env("include \"a.conf\"x\n", &mut base()).msg.contains("but got 'x' instead"));
    assert!(err_env("include \"a.conf\n", &mut base()).msg.contains("Unexpected EOF."));
    assert!(err_env("include ", &mut base()).msg.starts_with("error parsing include file ''"));
}

#[test]
fn errors() {
    // (input, expected message fragment, expected line)
    let cases: &[(&str, &str, u32)] = &[
            // arrays
            ("a: [1 2]", "Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.", 1),
            ("a: [1", "Expected an array value terminator \",\" or an array terminator \"]\", but got EOF instead.", 1),
            ("port: 1\na: [1\n", "but got EOF instead.", 3),
            ("a: [", "but got EOF instead.", 1),
            ("a: [ \"a\" \"b\" ]", "but got '\"' instead.", 1),
            ("a: [{a:1}{b:2}]", "but got '{' instead.", 1),
            ("a: [a}]", "but got '}' instead.", 1),
            ("a: [ ;]", "but got ';' instead.", 1),
            ("a: [ a b ]", "but got 'b' instead.", 1),
            ("a: [1 ]]", "Expected a top-level value to end with a new line, comment or EOF, but got ']' instead.", 1),
            ("a: [ , 1]", "Unexpected array value terminator ','.", 1),
            ("a: [1,,2 ]", "Unexpected array value terminator ','.", 1),
            ("a: [,]", "Unexpected array value terminator ','.", 1),
            ("a: [\n1,\n\n2\n,\n3 ]", "Unexpected array value terminator ','.", 5),
            ("a: [ # c\n 1 # c\n, 2 ]", "Unexpected array value terminator ','.", 3),
            ("a: [/a]", "Unexpected '/'", 1),
            // top level
            ("port:\n 4222", "Parse error on line 2: 'Expected value but found new line'", 2),
            ("port = \n", "Expected value but found new line", 2),
            ("port", "config is invalid: expected a value for key 'port' but found EOF", 1),
            ("\"port\" ", "config is invalid", 1),
            ("port: 1;;", "config is invalid: expected a value for key ';'", 1),
            ("m{}", "config is invalid", 1),
            ("port: 1 {", "Expected a top-level value to end with a new line, comment or EOF, but got '{' instead.", 1),
            ("port 1 debug true", "but got 'd' instead.", 1),
            ("port := 1", "but got '1' instead.", 1),
            ("port: = 1", "but got '1' instead.", 1),
            ("port: 1, , debug: true", "but got 't' instead.", 1),
            ("port: 1 /x", "but got 'x' instead.", 1),
            ("/port: 1", "Unexpected '/'", 1),
            (": 1", "Unexpected key separator ':'", 1),
            ("=1", "Unexpected key separator '='", 1),
            ("\"m", "Unexpected EOF.", 1),
            ("}\nport: 1", "but got '1' instead.", 2),
            ("port: 1\n}\ndebug: true", "but got 't' instead.", 3),
            ("{port: 1 debug: true}", "Expected a block-level value to end", 1),
            ("{port: 1", "Expected a block-level value to end with a new line, comment or EOF, but got EOF instead.", 1),
            ("{port: 1} {debug: true", "block-level", 1),
            ("{ port: 1 { debug: true } }", "but got '{' instead.", 1),
            // maps
            ("m {,}", "Unexpected EOF processing map key.", 1),
            ("m {a}", "Unexpected EOF processing map key.", 1),
            ("m {a:1", "Expected a map value terminator \",\" or a map terminator \"}\", but got EOF instead.", 1),
            ("m {a:1\n", "Unexpected EOF processing map.", 2),
            ("m {\n", "Unexpected EOF processing map.", 2),
            ("m {a ", "Unexpected EOF processing map.", 1),
            ("m {]}", "Unexpected array end ']' processing map.", 1),
            ("m {a: [}", "but got '}' instead.", 1),
            ("m {a:1 b:2}", "Expected a map value terminator \",\" or a map terminator \"}\", but got 'b' instead.", 1),
            ("m {a: = 1}", "but got '1' instead.", 1),
            ("m {a:: 1}", "but got '1' instead.", 1),
            ("m { :1}", "Unexpected key separator ':'.", 1),
            ("m {=1}", "Unexpected key separator '='.", 1),
            ("m {a:,b:1}", "Unexpected map value terminator ','.", 1),
            ("m {a }", "Expected a value for key 'a' but found '}'.", 1),
            ("m {a:}", "Expected a value for key 'a' but found '}'.", 1),
            ("m {\"a\"}", "Expected a value for key 'a'", 1),
            ("m {a: 1 /x}", "Unexpected EOF processing map key.", 1),
            ("m {a:1} x", "but got 'x' instead.", 1),
            // escapes
            ("x: \"abc\\q\"", "Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.", 1),
            ("x: a\\qb", "Invalid escape character 'q'", 1),
            ("x: \"a\\u0041\"", "Invalid escape character 'u'", 1),
            ("x: \"a\\x4\"", "Expected two hexadecimal digits after '\\x', but got '4\"'", 1),
            ("x: \"a\\x4g\"", "but got '4g'", 1),
            ("x: \"a\\xZZ\"", "but got 'ZZ'", 1),
            ("x: a\\x\n", "Expected two hexadecimal digits after '\\x', but hit end of line", 2),
            ("x: \"a\\x\n41\"", "but hit end of line", 2),
            ("x: a\\x", "but hit end of line", 1),
            ("x: a\\", "Invalid escape character ''", 1),
            ("x: \"\\xff\"", "invalid UTF-8", 1),
            // strings
            ("x: \"abc", "Unexpected EOF.", 1),
            ("x: 'abc", "Unexpected EOF.", 1),
            ("x: ab'cd", "but got 'c' instead.", 1),
            ("x: \"a\"b", "but got 'b' instead.", 1),
            ("x: 'a'b", "but got 'b' instead.", 1),
            ("x: a\tb", "but got 'b' instead.", 1),
            ("x: abc def", "but got 'd' instead.", 1),
            ("x: 1 2", "but got '2' instead.", 1),
            ("x: [::1]:4222", "but got ':' instead.", 1),
            // blocks
            ("x: (\nabc\n)x", "Unexpected EOF processing block.", 3),
            ("x: (abc)\n", "Unexpected EOF processing block.", 2),
            ("x: (\nabc\n )\n", "Unexpected EOF processing block.", 4),
            ("x: (\nabc\n)  \n", "Unexpected EOF processing block.", 4),
            ("x: ()\n", "Unexpected EOF processing block.", 2),
            ("x: (\r\nabc\r\n)\r\n", "Unexpected EOF processing block.", 4),
            // numbers
            ("x: 1.5k", "but got 'k' instead.", 1),
            ("x: 1.\n", "Floats must have a digit after the '.', but got '\\n' instead.", 2),
            ("x: 1.a", "Floats must have a digit after the '.', but got 'a' instead.", 1),
            ("x: 1.2.3abc", "but got 'a' instead.", 1),
            ("x: 1.2.3'", "but got ''' instead.", 1),
            ("x: 1.5e3", "but got 'e' instead.", 1),
            ("x: 12-3", "All ISO8601 dates must be in full Zulu form.", 1),
            ("x: 123456-", "All ISO8601 dates must be in full Zulu form.", 1),
            ("x: 2020-01-01\n", "Expected 'T' in ISO8601 datetime, but found '\\n' instead.", 2),
            ("x: 1234-", "Expected digit in ISO8601 datetime, but found EOF instead.", 1),
            ("x: 2016-13-04T18:53:41Z", "expected Zulu formatted DateTime, but got '2016-13-04T18:53:41Z'", 1),
            ("x: 2016-02-30T00:00:00Z", "expected Zulu formatted DateTime", 1),
            ("x: 2015-02-29T00:00:00Z", "expected Zulu formatted DateTime", 1),
            ("x: 2016-02-29T23:59:60Z", "expected Zulu formatted DateTime", 1),
            ("x: 2016-02-29T24:00:00Z", "expected Zulu formatted DateTime", 1),
            ("x: 2016-05-04T18:53:41Zx", "but got 'x' instead.", 1),
            ("x: -foo", "Expected a digit but got 'f'.", 1),
            ("x: - 5", "Expected a digit but got ' '.", 1),
            ("x: -", "Expected a digit but got EOF.", 1),
            ("x: -.5", "Floats must start with a digit, not '.'.", 1),
            ("x: -5x", "but got 'x' instead.", 1),
            ("x: -3\\x41", "but got '\\' instead.", 1),
            ("x: -5]", "but got ']' instead.", 1),
            ("x: 1k]", "but got ']' instead.", 1),
            ("x: ]", "but got ']' instead.", 1),
            ("x: .5", "Floats must start with a digit", 1),
            ("x: 99999999999999999999", "integer '99999999999999999999' is out of the range", 1),
            ("x: 99999999999999999999k", "integer '99999999999999999999k' is out of the range", 1),
            ("x: 9223372036854775807k", "is out of the range", 1),
            ("x: 8eb", "is out of the range", 1),
            ("x: 1kbb", "invalid size suffix 'kbb'", 1),
            ("x: 1kbib", "invalid size suffix", 1),
        ];
    for &(src, want, line) in cases {
        let e = err(src);
        assert!(e.msg.contains(want), "input {src:?}: message {:?} lacks {want:?}", e.msg);
        assert_eq!(e.line, line, "input {src:?}: {}", e.msg);
    }
    let big = format!("x: 1{}.5", "0".repeat(400));
    assert!(err(&big).msg.contains("is out of the range"));
    // Lexical errors read like Go's.
    assert_eq!(
            err("port: 1\nserver_tags: [1 2]\n").msg,
            "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'"
        );
}

#[test]
fn nesting_is_capped() {
    for open in ["[", "{a: ", "[{a: "] {
        let ok_depth = format!("x: {}", open.repeat(MAX_DEPTH / 2));
        assert!(!err(&ok_depth).msg.contains("too deep"));
        let deep = format!("x: {}", open.repeat(100_000));
        assert!(err(&deep).msg.contains("Nesting too deep"), "{open}");
    }
    let fine = format!("x: {}1{}", "[".repeat(MAX_DEPTH), " ]".repeat(MAX_DEPTH));
    assert!(run(&fine, &mut TestEnv::default()).is_ok());
    let over = format!("x: {}1{}", "[".repeat(MAX_DEPTH + 1), " ]".repeat(MAX_DEPTH + 1));
    assert!(err(&over).msg.contains("Nesting too deep"));
    // Decorative top-level braces are just counted.
    let braces = format!("{}port: 1\n", "{".repeat(100_000));
    assert!(matches!(run(&braces, &mut TestEnv::default()), Ok(p) if p.entries.len() == 1));
}

#[test]
fn positions_follow_go() {
    let pos = |src: &str, key: &str| {
        let p = run(src, &mut TestEnv::default()).unwrap();
        let it = &p.entries.iter().find(|(k, _)| k == key).unwrap().1;
        (it.line, it.col)
    };
    assert_eq!(pos("foo: 1", "foo"), (1, 0));
    assert_eq!(pos("   foo: abc", "foo"), (1, 3));
    assert_eq!(pos("\nfoo: 1\n", "foo"), (2, 1));
    assert_eq!(pos("port: 1\n  foo:   \"abc\"\n", "foo"), (2, 3));
    assert_eq!(pos("port: 1\n      ping_interval:     30\n", "ping_interval"), (2, 7));
    assert_eq!(pos("port: 1\n  \"foo\":    \"x\"\n", "foo"), (2, 4));
    assert_eq!(pos("\"m\" 1", "m"), (1, 1));
    let p = run("cluster { listen: 4248, bogus: 1 }", &mut TestEnv::default()).unwrap();
    let cluster = &p.entries[0].1.value;
    let bogus = cluster.get("bogus").unwrap();
    assert_eq!((bogus.line, bogus.col), (1, 24));
    let p = run("m {/x: 1}", &mut TestEnv::default()).unwrap();
    let x = p.entries[0].1.value.get("x").unwrap();
    assert_eq!((x.line, x.col), (1, 4));

    let src = "port: 1\nX: 5\ncluster {\n  routes: [ \"nats://a:b@h:1\", 12, {a: 1}, [1 ], $X, -5, 'q', true ]\n}\n";
    let p = run(src, &mut TestEnv::default()).unwrap();
    let routes = p.entries[2].1.value.get("routes").unwrap();
    assert_eq!((routes.line, routes.col), (4, 3));
    let cols: Vec<(u32, u32)> = routes.value.as_array().unwrap().iter().map(|it| (it.line, it.col)).collect();
    assert_eq!(cols, vec![(4, 14), (4, 31), (4, 41), (4, 47), (4, 50), (4, 53), (4, 58), (4, 62)]);
    assert_eq!(p.used_vars, vec!["X".to_string()]);

    let e = err("port: 1\n  x: $NOPE\n");
    assert_eq!((e.line, e.col), (2, 6));
}

const SEED: &str =
    "# Cluster Seed Node\n\nlisten: 127.0.0.1:4222\nhttp: 8222\n\ncluster {\n  listen: 127.0.0.1:4248\n}\n";
const HOST_PORT: &str = "cluster {\n  host: 127.0.0.1\n  port: 4248\n}\n";
const CLUSTER_AUTH: &str = "cluster {
  name: example

  # host/port for inbound route connections from other server
  listen: localhost:4244

  # Authorization for route connections
  # Other server can connect if they supply the credentials listed here
  # This server will connect to discovered routes using this user
  authorization {
    user: route_user
    password: pwd
    timeout: 0.5
  }

  # This server establishes routes with these server.
  # This server solicits new routes and Routes are actively solicited and connected to from this server.
  # Other servers can connect to us if they supply the correct credentials
  # in their routes definitions from above.
  routes = [
    nats://route_user:pwd@127.0.0.1:4245
    nats://route_user:pwd@127.0.0.1:4246
  ]
}
";
const VARIABLES: &str =
        "# Define a variable in the config\nTOKEN: \"secret\"\n\n# Reference the variable\nauthorization {\n    token: $TOKEN\n}\n";
const TOKEN_3SECRET: &str =
    "listen: 127.0.0.1:4222\nauthorization: {\n    # Bad - Number parsing error\n    token: 3secret\n}\n";
const MAPPINGS: &str = "host: 0.0.0.0
port:4222

mappings: {
\tfoo: bar
}

accounts: {
    accountA: { 
\tmappings: {
\t    orders.acme.*: orders.$1
\t}
        users: [
            {user: admin, password: admin},
            {user: user, password: user}
           ]
    },
}
";
const FULL: &str = r#"server_name: n1
listen: 127.0.0.1:4222
http: 127.0.0.1:8222
max_payload: 1MB
max_control_line: 4KB
max_connections: 100
max_pending: 64MB
max_subscriptions: 1000
ping_interval: "2m"
ping_max: 2
write_deadline: "10s"
debug: false
trace: false
logtime: true
log_file: "/tmp/nats.log"
pid_file: "/tmp/nats.pid"
lame_duck_duration: "2m"
no_auth_user: bob
authorization {
  users = [
    { user: alice, password: "s3cr3t", permissions: { publish: ["a.>", "b"], subscribe: { allow: ["_INBOX.>"], deny: ["secret.>"] } } }
    { user: bob, password: bobpw }
  ]
  timeout: 2
}
cluster {
  name: C1
  listen: 127.0.0.1:4248
  advertise: "10.0.0.1:4248"
  no_advertise: true
  connect_retries: 5
  pool_size: 3
  authorization { user: ruser, password: T0pS3cr3t, timeout: 2 }
  routes: [
    nats-route://ruser:T0pS3cr3t@127.0.0.1:4249
  ]
}
"#;
const INCLUDER: &str = "listen: 127.0.0.1:4222\ninclude ./auth.conf\n";
const VALID: &[&str] = &[SEED, HOST_PORT, CLUSTER_AUTH, VARIABLES, TOKEN_3SECRET, MAPPINGS, FULL, INCLUDER];

fn include_env() -> TestEnv {
    TestEnv::default().file("./auth.conf", "authorization: { token: \"f0oBar\" }")
}

#[test]
fn documented_vectors() {
    assert_eq!(
        ok(SEED),
        m(vec![
            ("listen", s("127.0.0.1:4222")),
            ("http", i(8222)),
            ("cluster", m(vec![("listen", s("127.0.0.1:4248"))]))
        ])
    );
    assert_eq!(ok(HOST_PORT), m(vec![("cluster", m(vec![("host", s("127.0.0.1")), ("port", i(4248))]))]));
    assert_eq!(
        ok(CLUSTER_AUTH),
        m(vec![(
            "cluster",
            m(vec![
                ("name", s("example")),
                ("listen", s("localhost:4244")),
                ("authorization", m(vec![("user", s("route_user")), ("password", s("pwd")), ("timeout", V::F(0.5))])),
                (
                    "routes",
                    a(vec![s("nats://route_user:pwd@127.0.0.1:4245"), s("nats://route_user:pwd@127.0.0.1:4246")])
                ),
            ])
        )])
    );
    let p = run(VARIABLES, &mut TestEnv::default()).unwrap();
    assert_eq!(doc(&p.entries), m(vec![("TOKEN", s("secret")), ("authorization", m(vec![("token", s("secret"))]))]));
    assert_eq!(p.used_vars, vec!["TOKEN"]);
    assert_eq!(ok("host: 127.0.0.1; port: 4222;"), m(vec![("host", s("127.0.0.1")), ("port", i(4222))]));
    assert_eq!(
        ok(TOKEN_3SECRET),
        m(vec![("listen", s("127.0.0.1:4222")), ("authorization", m(vec![("token", s("3secret"))]))])
    );
    assert_eq!(
        ok_env(INCLUDER, &mut include_env()),
        m(vec![("listen", s("127.0.0.1:4222")), ("authorization", m(vec![("token", s("f0oBar"))]))])
    );
    assert_eq!(
        ok(MAPPINGS),
        m(vec![
            ("host", s("0.0.0.0")),
            ("port", i(4222)),
            ("mappings", m(vec![("foo", s("bar"))])),
            (
                "accounts",
                m(vec![(
                    "accountA",
                    m(vec![
                        ("mappings", m(vec![("orders.acme.*", s("orders.$1"))])),
                        (
                            "users",
                            a(vec![
                                m(vec![("user", s("admin")), ("password", s("admin"))]),
                                m(vec![("user", s("user")), ("password", s("user"))]),
                            ])
                        ),
                    ])
                )])
            ),
        ])
    );

    let p = run(FULL, &mut TestEnv::default()).unwrap();
    let get = |k: &str| p.entries.iter().rev().find(|(key, _)| key == k).map(|(_, it)| strip(&it.value)).unwrap();
    assert_eq!(p.entries.len(), 20);
    assert_eq!(get("server_name"), s("n1"));
    assert_eq!(get("max_payload"), i(1 << 20));
    assert_eq!(get("max_control_line"), i(4096));
    assert_eq!(get("max_pending"), i(64 << 20));
    assert_eq!(get("ping_interval"), s("2m"));
    assert_eq!(get("write_deadline"), s("10s"));
    assert_eq!(get("debug"), V::B(false));
    assert_eq!(get("logtime"), V::B(true));
    assert_eq!(get("log_file"), s("/tmp/nats.log"));
    assert_eq!(get("no_auth_user"), s("bob"));
    assert_eq!(
        get("authorization"),
        m(vec![
            (
                "users",
                a(vec![
                    m(vec![
                        ("user", s("alice")),
                        ("password", s("s3cr3t")),
                        (
                            "permissions",
                            m(vec![
                                ("publish", a(vec![s("a.>"), s("b")])),
                                (
                                    "subscribe",
                                    m(vec![("allow", a(vec![s("_INBOX.>")])), ("deny", a(vec![s("secret.>")]))])
                                ),
                            ])
                        ),
                    ]),
                    m(vec![("user", s("bob")), ("password", s("bobpw"))]),
                ])
            ),
            ("timeout", i(2)),
        ])
    );
    assert_eq!(
        get("cluster"),
        m(vec![
            ("name", s("C1")),
            ("listen", s("127.0.0.1:4248")),
            ("advertise", s("10.0.0.1:4248")),
            ("no_advertise", V::B(true)),
            ("connect_retries", i(5)),
            ("pool_size", i(3)),
            ("authorization", m(vec![("user", s("ruser")), ("password", s("T0pS3cr3t")), ("timeout", i(2))])),
            ("routes", a(vec![s("nats-route://ruser:T0pS3cr3t@127.0.0.1:4249")])),
        ])
    );

    // Error vectors of the notes that are parser-level.
    assert_eq!(one("server_tags: [1, 2, 3]"), a(vec![i(1), i(2), i(3)])); // lenient, see module docs
    assert_eq!(err("x: $NOPE").msg, "variable reference for 'NOPE' on line 1 can not be found");
    // The server-level ones parse fine.
    for src in [
        "foo: 1",
        "ping_interval: 30",
        "ping_interval: 2m",
        "ping_interval: \"abc\"",
        "lame_duck_duration: 60",
        "server_name: \"a b\"",
        "authorization { user: a, pass: b, token: c }",
        "cluster { listen: 4248, bogus: 1 }",
    ] {
        assert!(run(src, &mut TestEnv::default()).is_ok(), "{src}");
    }
    assert_eq!(one("ping_interval: 2m"), i(2_000_000));
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct FuzzEnv;
impl Env for FuzzEnv {
    fn var(&self, name: &str) -> Option<String> {
        match name.len() % 4 {
            0 => None,
            1 => Some("[1, $A ]".into()),
            2 => Some(format!("${name}")),
            _ => Some("{a: 1}".into()),
        }
    }
    fn include(&mut self, path: &str) -> Result<Vec<(String, Item)>, String> {
        if path.len().is_multiple_of(2) {
            Err("nope".into())
        } else {
            Ok(vec![("inc".into(), Item { value: Value::Integer(1), line: 1, col: 0 })])
        }
    }
}

#[test]
fn never_panics_on_prefixes_and_mutations() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let extras = [
        "x: (\nabc\n)\ny: \"a\\x41\\tb\"\nz: 'q'\nw: 2016-05-04T18:53:41Z\nv: -1.5\nu: [1, 2, 3]\n",
        "{ \"a\": 1, b: [ {c: $a}, 1kb, 2m ], include x.conf\n d: $ENV }\n",
    ];
    for src in VALID.iter().chain(extras.iter()) {
        for (cut, _) in src.char_indices().chain(std::iter::once((src.len(), ' '))) {
            let _ = parse(&src[..cut], &mut TestEnv::default());
            let _ = parse(&src[..cut], &mut FuzzEnv);
            let _ = parse(&src[cut..], &mut FuzzEnv);
        }
        // Random byte mutations (made valid UTF-8 lossily).
        let bytes = src.as_bytes();
        let alphabet = b"{}[]()\"'\\#/:=,;$-.0123456789kKbBiIeETZx \n\r\t";
        for _ in 0..300 {
            let mut b = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                if b.is_empty() {
                    break;
                }
                let at = rng.below(b.len());
                match rng.below(3) {
                    0 => b[at] = alphabet[rng.below(alphabet.len())],
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, alphabet[rng.below(alphabet.len())]),
                }
            }
            let text = String::from_utf8_lossy(&b);
            let _ = parse(&text, &mut FuzzEnv);
        }
    }
    // Random soup of significant characters.
    let soup: Vec<&str> = vec![
        "{", "}", "[", "]", "(", ")", "\"", "'", "\\", "\\x", "#", "/", "//", ":", "=", ",", ";", "$", "$A", "-", ".",
        "1", "12", "2016-", "T", "Z", "k", "kb", "e", " ", "\n", "\r", "\t", "a", "include ", "true", "é", "\u{a0}",
    ];
    for _ in 0..20_000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| soup[rng.below(soup.len())]).collect();
        let _ = parse(&text, &mut FuzzEnv);
    }
}

#[test]
fn go_type_names() {
    let src = "s: x, i: 1, f: 1.5, b: true, d: 2016-05-04T18:53:41Z, a: [], m: {}";
    let names: Vec<&str> = run(src, &mut TestEnv::default())
        .expect("parses")
        .entries
        .iter()
        .map(|(_, item)| item.value.go_type_name())
        .collect();
    assert_eq!(names, ["string", "int64", "float64", "bool", "time.Time", "[]interface {}", "map[string]interface {}"]);
}
