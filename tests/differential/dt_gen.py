"""Seeded random scenarios for the differential harness.

Scenario ``index`` of seed ``seed`` is built from ``random.Random("seed:index")``
alone, so any scenario can be rebuilt on its own (``--replay SEED INDEX``).
Indices with ``index % 3 == 2`` are route scenarios, the others client ones.

A scenario is a list of steps over a few connections.  Each step sends one or
more ops; every op carries what the Go server does with it as far as framing
goes: how many PONGs it earns (``pongs``) and whether the parser is at an op
boundary afterwards (``end``: "ok", "close" when the server probably closes,
"hang" when the parser may be waiting for more bytes).  The runner uses that
to know when a step is over; the generator uses it to stop using connections
that are probably closed.
"""

import json
import random

from dt_core import HOST  # noqa: F401  (shared constants live in dt_core)

MAX_PAYLOAD = 128
MAX_CONTROL_LINE = 256
SMALL_CONF = "max_payload: %d\nmax_control_line: %d\n" % (MAX_PAYLOAD, MAX_CONTROL_LINE)

PERMS_CONF = SMALL_CONF + """
authorization {
  users = [
    {user: "a", password: "a", permissions: {
      publish: {allow: ["foo", "foo.>", "_INBOX.>", "w.>"], deny: ["foo.deny", "foo.*.x"]},
      subscribe: {allow: ["foo.>", "bar", "_INBOX.>", "q.* qa", "w.>"], deny: ["foo.deny"]}}}
    {user: "b", password: "b", permissions: {publish: ["bar", "foo.*"], subscribe: "foo.>"}}
    {user: "c", password: "c"}
  ]
}
"""

ROUTE_NAME = "X"

# name -> how the server is started.  "limits": (max_payload, max_control_line).
PROFILES = {
    "small": {"config": SMALL_CONF, "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE)},
    "default": {"limits": (1048576, 4096)},
    "auth": {"config": SMALL_CONF, "args": ["--user", "u", "--pass", "p"],
             "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "auth": "user"},
    "token": {"config": SMALL_CONF, "args": ["--auth", "s3cret"],
              "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "auth": "token"},
    "perms": {"config": PERMS_CONF, "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "auth": "perms"},
    "perms_noauth": {"config": PERMS_CONF + "no_auth_user: c\n",
                     "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "auth": "perms",
                     "no_auth_user": True},
    "route": {"config": SMALL_CONF, "cluster": True,
              "args": ["-cluster", "nats://%s:-1" % HOST, "--cluster_name", ROUTE_NAME],
              "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE)},
    # No --cluster_name: the server generates a name; the fake peer's names
    # sort before ("!") or after ("~") any generated one, so the adoption
    # rule has one outcome.
    "route_dyn": {"config": SMALL_CONF, "cluster": True, "dynamic_name": True,
                  "args": ["-cluster", "nats://%s:-1" % HOST],
                  "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE)},
    "route_auth": {"config": SMALL_CONF, "cluster": True,
                   "args": ["-cluster", "nats://ru:rp@%s:-1" % HOST, "--cluster_name", ROUTE_NAME],
                   "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "route_auth": True},
}
for _name, _p in PROFILES.items():
    _p["name"] = _name

CLIENT_PROFILE_WEIGHTS = [("small", 40), ("default", 15), ("auth", 15), ("token", 5),
                          ("perms", 18), ("perms_noauth", 7)]
ROUTE_PROFILE_WEIGHTS = [("route", 72), ("route_auth", 13), ("route_dyn", 15)]


def scenario_kind(index):
    return "route" if index % 3 == 2 else "client"


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------

class Op:
    __slots__ = ("data", "pongs", "end", "note")

    def __init__(self, data, pongs=0, end="ok", note=""):
        self.data = data
        self.pongs = pongs
        self.end = end
        self.note = note


class Step:
    def __init__(self, kind, conn, conn_kind=None, ops=(), splits=(), sortable=False):
        self.kind = kind
        self.conn = conn
        self.conn_kind = conn_kind
        self.ops = list(ops)
        self.splits = list(splits)
        self.sortable = sortable

    def data(self):
        return b"".join(op.data for op in self.ops)


class Scenario:
    def __init__(self, kind, seed, index, profile):
        self.kind = kind
        self.seed = seed
        self.index = index
        self.profile = profile
        self.steps = []

    @property
    def name(self):
        return "%s#%d (seed %s, %s, profile %s)" % (
            self.kind, self.index, self.seed, "%d steps" % len(self.steps), self.profile["name"])

    def copy_with_steps(self, steps):
        s = Scenario(self.kind, self.seed, self.index, self.profile)
        s.steps = steps
        return s


def weighted(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


# ---------------------------------------------------------------------------
# Wire formatting
# ---------------------------------------------------------------------------

SEPS = [b" ", b" ", b" ", b" ", b"\t", b"  ", b" \t", b"\t\t ", b"   "]


def case_variant(rng, verb):
    r = rng.random()
    if r < 0.7:
        return verb
    if r < 0.85:
        return verb.lower()
    return bytes(c ^ 0x20 if (65 <= c <= 90 or 97 <= c <= 122) and rng.random() < 0.5 else c
                 for c in verb)


class Style:
    """How one op is spelled: verb case, blanks, line end."""

    def __init__(self, rng, plain=False):
        if plain:
            self.case = lambda v: v
            self.sep1 = self.sep = b" "
            self.trail = b""
            self.eol = b"\r\n"
            return
        self.case = lambda v: case_variant(rng, v)
        self.sep1 = rng.choice(SEPS)
        self.sep = rng.choice(SEPS) if rng.random() < 0.25 else b" "
        self.trail = rng.choice([b" ", b"\t", b"  "]) if rng.random() < 0.08 else b""
        self.eol = b"\n" if rng.random() < 0.15 else b"\r\n"

    def line(self, verb, args):
        return self.case(verb) + self.sep1 + self.sep.join(args) + self.trail + self.eol

    def arg_len(self, args):
        return len(self.sep.join(args) + self.trail)


def b(x):
    return x if isinstance(x, bytes) else str(x).encode()


# ---------------------------------------------------------------------------
# Subjects, payloads
# ---------------------------------------------------------------------------

LITERALS = [b"foo", b"foo.bar", b"bar", b"a.b.c", b"foo.baz", b"q.x", b"q.y", b"_INBOX.r1",
            b"foo.deny", b"w.x", b"foo.bar.x", b"w"]
WILDCARDS = [b"*", b">", b"foo.*", b"foo.>", b"*.bar", b"a.*.c", b"q.*", b"w.>", b"*.*.x"]
INVALID_SUBS = [b"w.", b".w", b"w..x", b"foo.>.bar", b">.foo", b"..", b".", b"foo..>",
                b"a.*.", b"*.>.x"]
ODD_LITERALS = [b"foo*", b"a>b", b"*x.y", b"foo.*x", b"w.*", b"foo.>", b">", b"*"]
REPLIES = [b"_INBOX.r1", b"r.1", b"_INBOX.r2", b"foo.bar", b"w.", b".r", b"_R_.x", b"$JS.ACK.x.y",
           b"_GR_.abc.x", b"foo"]
PAYLOAD_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789 .-_\t"


def payload(rng, n):
    if n > 512:
        return bytes([rng.choice(PAYLOAD_CHARS)]) * n
    r = rng.random()
    if r < 0.1 and n >= 2:
        # CR LF inside a payload is just payload.
        k = rng.randrange(0, n - 1)
        body = bytes(rng.choice(PAYLOAD_CHARS) for _ in range(n))
        return body[:k] + b"\r\n" + body[k + 2:]
    if r < 0.15:
        return bytes(rng.randrange(256) for _ in range(n))
    return bytes(rng.choice(PAYLOAD_CHARS) for _ in range(n))


def pub_subject(rng):
    r = rng.random()
    if r < 0.72:
        return rng.choice(LITERALS)
    if r < 0.84:
        return rng.choice(INVALID_SUBS)
    if r < 0.94:
        return rng.choice(ODD_LITERALS)
    return rng.choice(WILDCARDS)


def sub_subject(rng):
    r = rng.random()
    if r < 0.5:
        return rng.choice(LITERALS)
    if r < 0.85:
        return rng.choice(WILDCARDS)
    if r < 0.95:
        return rng.choice(INVALID_SUBS)
    return rng.choice(ODD_LITERALS)


HEADER_BLOCKS = [
    b"NATS/1.0\r\nA: b\r\n\r\n",
    b"NATS/1.0\r\n\r\n",
    b"NATS/1.0 503\r\n\r\n",
    b"NATS/1.0\r\nX-One: 1\r\nX-One: 2\r\nlower: v\r\n\r\n",
    b"NATS/1.0 404 Not Found\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"NATS/1.0\r\nNo-Colon\r\n\r\n",
]


def fake_id(rng, prefix="NFAKE"):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return prefix + "".join(rng.choice(alphabet) for _ in range(56 - len(prefix)))


# ---------------------------------------------------------------------------
# Splitting a step's bytes into writes
# ---------------------------------------------------------------------------

def choose_splits(rng, data, ops):
    n = len(data)
    if n < 2 or b"{{" in data:
        return []
    r = rng.random()
    if r < 0.45:
        cuts = []
    elif r < 0.75:
        cuts = sorted(set(rng.randrange(1, n) for _ in range(rng.randint(1, 3))))
    elif r < 0.93:
        # every op split once at a random byte
        cuts, pos = [], 0
        for op in ops:
            if len(op.data) > 1:
                cuts.append(pos + rng.randrange(1, len(op.data)))
            pos += len(op.data)
            cuts.append(pos)
    else:
        cuts = list(range(1, n)) if n <= 48 else sorted(set(rng.randrange(1, n) for _ in range(12)))
    # Never cut a line that holds a CR other than its final one: Go keeps a
    # control line that spans reads without its CRs (and, unsplit, drops the
    # line's last byte instead), so the result would depend on read
    # boundaries.
    out = []
    for c in cuts:
        if not 0 < c < n:
            continue
        start = data.rfind(b"\n", 0, c) + 1
        end = data.find(b"\n", c)
        line = data[start:end if end >= 0 else n]
        if line.endswith(b"\r"):
            line = line[:-1]
        if b"\r" not in line:
            out.append(c)
    return sorted(set(out))


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------

class ClientModel:
    """What the generator believes about one client connection."""

    def __init__(self, idx):
        self.idx = idx
        self.connected = False     # a CONNECT the server should accept was sent
        self.headers = False
        self.verbose = True
        self.alive = True
        self.sids = []
        self.queue_sids = []
        self.next_sid = 1
        self.user = None


class ClientOps:
    """Ops a client sends, with Go's framing outcome."""

    def __init__(self, rng, profile, route_mode=False):
        self.rng = rng
        self.profile = profile
        self.max_payload, self.mcl = profile["limits"]
        self.route_mode = route_mode

    # -- CONNECT -------------------------------------------------------------

    def connect(self, m, good=True):
        rng = self.rng
        auth = self.profile.get("auth")
        opts = {}
        fails = False
        for key in ("verbose", "pedantic"):
            r = rng.random()
            if r < 0.8:
                opts[key] = rng.random() < (0.35 if key == "verbose" else 0.3)
        opts["tls_required"] = False
        if rng.random() < 0.5:
            opts["name"] = rng.choice(["c%d" % m.idx, "", "n\u00e9", "x y"])
        if rng.random() < 0.5:
            opts["lang"] = rng.choice(["python3", "go", "rust"])
            opts["version"] = rng.choice(["1.0.0", "2.10.0"])
        if rng.random() < 0.7:
            opts["protocol"] = rng.choice([1, 1, 0])
        if rng.random() < 0.8:
            opts["headers"] = rng.random() < 0.8
        if opts.get("headers") and rng.random() < 0.4:
            opts["no_responders"] = True
        if rng.random() < 0.3:
            opts["echo"] = rng.random() < 0.5
        if auth == "user":
            if good or rng.random() < 0.3:
                opts["user"], opts["pass"] = "u", "p"
            else:
                opts["user"], opts["pass"] = rng.choice([("u", "x"), ("x", "p"), ("", "")])
                fails = True
        elif auth == "token":
            if good or rng.random() < 0.3:
                opts["auth_token"] = "s3cret"
            else:
                opts["auth_token"] = rng.choice(["nope", ""])
                fails = True
        elif auth == "perms":
            u = rng.choice(["a", "a", "b", "c"])
            if self.profile.get("no_auth_user") and rng.random() < 0.3:
                u = None
            elif good or rng.random() < 0.3:
                opts["user"], opts["pass"] = u, u
            else:
                opts["user"], opts["pass"] = u, "wrong"
                fails = True
            m.user = u or "c"
        # Mutations of the option set itself.
        text = None
        if not good or rng.random() < 0.35:
            kind = rng.choice([
                "wrong_type", "unknown_key", "key_case", "protocol", "no_resp_no_hdr",
                "dup_key", "account", "escape", "shape", "empty", "number_forms",
                "string_bool"])
            if kind == "wrong_type":
                k = rng.choice(["verbose", "pedantic", "echo", "headers", "protocol", "name",
                                "no_responders", "user"])
                opts[k] = rng.choice(["true", 1, None, [], {}, 1.5, "x"])
                fails = fails or opts[k] is not None
            elif kind == "unknown_key":
                opts[rng.choice(["foo", "jwt", "sig", "nkey", "tls_required"])] = rng.choice(
                    [1, "x", True, {"a": [1, 2]}])
            elif kind == "key_case":
                k = rng.choice(["Verbose", "VERBOSE", "Pedantic", "Headers", "Echo",
                                "Protocol", "No_Responders", "USER", "Pass"])
                v = {"Protocol": 1}.get(k, True)
                if k in ("USER", "Pass"):
                    v = opts.get(k.lower(), "u")
                opts[k] = v
            elif kind == "protocol":
                opts["protocol"] = rng.choice([2, -1, 3, 100])
                fails = True
            elif kind == "no_resp_no_hdr":
                opts["no_responders"] = True
                opts["headers"] = False
                fails = True
            elif kind == "dup_key":
                k = rng.choice(["verbose", "echo", "headers", "protocol"])
                v1, v2 = (0, 1) if k == "protocol" else (True, False)
                body = json.dumps(opts)[1:-1]
                extra = '"%s":%s,"%s":%s' % (k, json.dumps(v1), k, json.dumps(v2))
                text = "{" + (body + "," if body else "") + extra + "}"
            elif kind == "account":
                opts[rng.choice(["account", "new_account"])] = rng.choice(["A", ""])
            elif kind == "escape":
                body = json.dumps(opts)
                text = body.replace('"verbose"', '"verb\\u006fse"').replace(
                    '"user"', '"\\u0075ser"')
            elif kind == "shape":
                text = rng.choice(["null", "[]", '"x"', "1", "{", "{}}", "{\"verbose\":}",
                                   "{'verbose':true}", "", " {}", "{} x", "true"])
                fails = True
            elif kind == "empty":
                text = "{}"
            elif kind == "number_forms":
                opts["protocol"] = rng.choice([1.0, 1e0, "1", 0.5])
                text = json.dumps(opts).replace("1.0", rng.choice(["1.0", "1e0", "01", "-0"]))
                fails = True
            elif kind == "string_bool":
                opts[rng.choice(["verbose", "echo"])] = rng.choice(["true", "false", "yes"])
                fails = True
        if text is None:
            text = json.dumps(opts, separators=(",", ":") if rng.random() < 0.6 else (", ", ": "))
        data = text.encode("utf-8")
        # Long CONNECT lines around max_control_line.
        if rng.random() < 0.06:
            target = self.mcl + rng.choice([-1, 0, 1, 2, -2])
            pad = target - len(data) - len(',"name":""')
            if pad > 0 and data.startswith(b"{") and data.endswith(b"}"):
                data = data[:-1] + (b"," if len(data) > 2 else b"") + b'"name":"' + b"n" * pad + b'"}'
                if len(data) > self.mcl:
                    fails = True
        style = Style(rng)
        sep = rng.choice([b" ", b" ", b"\t", b"", b"  "])
        line = style.case(b"CONNECT") + sep + data + style.eol
        m.connected = not fails
        m.verbose = opts.get("verbose", True) if isinstance(opts.get("verbose", True), bool) else True
        hdr = opts.get("headers")
        m.headers = bool(hdr) if isinstance(hdr, bool) else False
        return Op(line, end="close" if fails else "ok", note="CONNECT")

    def partial_connect(self, m):
        """A later CONNECT naming only a key or two: Go decodes it over the
        options the connection already has."""
        rng = self.rng
        opts = {}
        for _ in range(rng.randint(1, 2)):
            k = rng.choice(["verbose", "pedantic", "echo", "headers", "no_responders",
                            "protocol", "name", "user", "pass", "auth_token"])
            opts[k] = {"protocol": rng.choice([0, 1]), "name": "again", "user": "x",
                       "pass": "y", "auth_token": "z"}.get(k, rng.random() < 0.5)
        if "verbose" in opts:
            m.verbose = opts["verbose"]
        style = Style(rng)
        data = json.dumps(opts, separators=(",", ":")).encode()
        risky = any(k in opts for k in ("user", "pass", "auth_token", "no_responders"))
        return Op(style.case(b"CONNECT") + b" " + data + style.eol,
                  end="close" if risky else "ok", note="CONNECT again")

    # -- SUB / UNSUB ---------------------------------------------------------

    def sub(self, m):
        rng = self.rng
        subject = sub_subject(rng)
        queue = None
        if rng.random() < 0.3:
            queue = rng.choice([b"qa", b"qb", b"qa", b"q.a"])
        if queue:
            sid = b"Q" + queue.replace(b".", b"") + b"_" + b(m.next_sid)
            m.queue_sids.append(sid)
        else:
            sid = b(m.next_sid)
            m.sids.append(sid)
        m.next_sid += 1
        if rng.random() < 0.05 and (m.sids or m.queue_sids):
            sid = rng.choice(m.sids + m.queue_sids)   # duplicate sid
        style = Style(rng)
        args = [subject] + ([queue] if queue else []) + [sid]
        end = "ok"
        if rng.random() < 0.05:
            target = self.mcl + rng.choice([-1, 0, 1])
            rest = style.arg_len(args[1:]) + len(style.sep)
            n = target - rest
            if n > 0:
                subject = (b"long." + b"s" * n)[:n]
                args[0] = subject
                if style.arg_len(args) > self.mcl:
                    end = "close"
        r = rng.random()
        if r < 0.03:
            args = [subject]                        # too few arguments
            end = "close"
        elif r < 0.05:
            args = [subject, b"g1", b"g2", sid]     # too many
            end = "close"
        return Op(style.line(b"SUB", args), end=end, note="SUB")

    def unsub(self, m):
        rng = self.rng
        pool = m.sids + m.queue_sids
        sid = rng.choice(pool) if pool and rng.random() < 0.9 else b"99"
        args = [sid]
        if rng.random() < 0.45 and not (self.route_mode and sid.startswith(b"Q")):
            args.append(rng.choice([b"1", b"2", b"3", b"0", b"1", b"x", b"-1", b"10"]))
        end = "ok"
        if rng.random() < 0.03:
            args = [sid, b"1", b"2"]
            end = "close"
        style = Style(rng)
        return Op(style.line(b"UNSUB", args), end=end, note="UNSUB")

    # -- PUB / HPUB ----------------------------------------------------------

    def size_choice(self):
        rng = self.rng
        mp = self.max_payload
        r = rng.random()
        if r < 0.6:
            return rng.choice([0, 1, 2, 3, 5, 8, 13, 21])
        if r < 0.85:
            return rng.choice([mp - 1, mp, mp + 1]) if mp <= 4096 else rng.choice([100, 1000])
        if mp > 4096:
            return rng.choice([mp - 1, mp, mp + 1]) if rng.random() < 0.2 else 4000
        return rng.randrange(0, mp + 3)

    def pub(self, m, subject=None):
        rng = self.rng
        subject = subject or pub_subject(rng)
        reply = None
        if rng.random() < 0.3:
            reply = rng.choice(REPLIES)
            if (m.sids or m.queue_sids) and rng.random() < 0.3:
                reply = rng.choice([b"_INBOX.r1", b"_INBOX.r2"])
        cr = rng.random() < 0.02
        if cr:
            # A CR inside the subject (documented deliberate difference).
            subject = subject + b"\rz"
        n = self.size_choice()
        body = payload(rng, n)
        style = Style(rng)
        if cr:
            style.eol = b"\r\n"
        declared = b(n)
        end = "close" if n > self.max_payload else "ok"
        extra = b""
        r = rng.random()
        if r < 0.04:
            declared = b(n + rng.choice([1, 2, 5]))
            end = "hang"
        elif r < 0.08 and n > 0:
            declared = b(n - 1)
            end = "close"
        elif r < 0.11:
            declared = rng.choice([b"x", b"-1", b"+5", b"1234567890", b"", b"0x10", b"5a"])
            end = "close"
            body = b""
        elif r < 0.13:
            extra = rng.choice([b"\n", b"X\r\n", b"\r"])     # wrong payload terminator
            end = "close" if extra != b"\r" else "hang"
        args = [subject] + ([reply] if reply else []) + [declared]
        if r >= 0.13 and rng.random() < 0.04:
            target = self.mcl + rng.choice([-1, 0, 1])
            rest = style.arg_len(args[1:]) + len(style.sep)
            k = target - rest
            if k > 0:
                args[0] = (b"pub.long." + b"p" * k)[:k]
                if style.arg_len(args) > self.mcl:
                    end = "close"
        if rng.random() < 0.02:
            args = [subject, b"a", b"b", declared]     # too many arguments
            end = "close"
        line = style.line(b"PUB", args)
        if extra:
            data = line + body + extra
        else:
            data = line + body + b"\r\n"
        return Op(data, end=end, note="PUB")

    def hpub(self, m):
        rng = self.rng
        subject = pub_subject(rng)
        reply = rng.choice(REPLIES) if rng.random() < 0.25 else None
        hdr = rng.choice(HEADER_BLOCKS)
        r = rng.random()
        if r < 0.7:
            n = rng.choice([0, 1, 4, 9])
        else:
            n = max(0, self.max_payload - len(hdr) + rng.choice([-1, 0, 1]))
            if self.max_payload > 4096:
                n = 50
        body = payload(rng, n)
        hlen, total = len(hdr), len(hdr) + n
        end = "ok"
        if total > self.max_payload:
            end = "close"
        if not m.headers:
            end = "close"
        r = rng.random()
        if r < 0.05:
            hlen = total + 1        # header longer than total
            end = "close"
        elif r < 0.08:
            hdr, hlen = b"", 0      # no header at all
            total = n
        elif r < 0.1:
            hlen = hlen - 2         # header size not covering the blank line
        style = Style(rng)
        args = [subject] + ([reply] if reply else []) + [b(hlen), b(total)]
        data = style.line(b"HPUB", args) + hdr + body + b"\r\n"
        return Op(data, end=end, note="HPUB")

    # -- the rest ------------------------------------------------------------

    def ping(self):
        rng = self.rng
        v = rng.choice([b"PING\r\n", b"ping\r\n", b"PiNg\r\n", b"PING\n", b"PING \r\n",
                        b"PINGxyz\r\n", b"PING\t\r\n", b"Ping extra words\r\n"])
        return Op(v, pongs=1, note="PING")

    def pong(self):
        return Op(self.rng.choice([b"PONG\r\n", b"pong\r\n", b"PONG\n"]), note="PONG")

    def plus_ok(self):
        return Op(self.rng.choice([b"+OK\r\n", b"+ok\r\n", b"+OK\n"]), note="+OK")

    def client_info(self):
        v = self.rng.choice([b'INFO {}\r\n', b'INFO {"server_id":"x"}\r\n', b'info {"a":1}\n',
                             b"INFO {\r\n", b"INFO nope\r\n"])
        bad = v in (b"INFO {\r\n", b"INFO nope\r\n")
        return Op(v, end="close" if bad else "ok", note="INFO")

    def garbage(self):
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            # Starts with a byte no op starts with.
            first = rng.choice(b"xyzXYZ0123456789!@#$%^&*()[]{}<>?/.,;: \t\r\n")
            rest = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
            return Op(bytes([first]) + rest + b"\r\n", end="close", note="garbage")
        if r < 0.6:
            v = rng.choice([
                b"MSG foo 1 2\r\nhi\r\n", b"HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
                b"RS+ $G foo\r\n", b"RMSG $G foo 2\r\nhi\r\n", b"LS+ x $G foo\r\n", b"A+ foo\r\n",
                b"-ERR 'boom'\r\n", b"PUBX foo 1\r\nx\r\n", b"SUBfoo 1\r\n", b"PUB\r\n",
                b"SUB\r\n", b"UNSUB\r\n", b"CONNEC {}\r\n", b"PINX\r\n", b"P\r\n", b"+OX\r\n",
                b"-ERR\r\n", b" PING\r\n", b"\r\n", b"\n", b"PUB foo\r\n", b"SUB foo\r\n",
                b"UNSUB 1 2 3\r\n", b"HPUB foo 5\r\nhello\r\n", b"PUB foo 1 2 3\r\nx\r\n",
                b"\x00PING\r\n", b"SUB foo \xff\xfe 1\r\n", b"PONGPONG\r\n",
            ])
            end = "ok" if v in (b"PONGPONG\r\n", b"SUB foo \xff\xfe 1\r\n") else "close"
            return Op(v, end=end, note="odd")
        if r < 0.8:
            # A truncated op: the server waits for the rest.
            v = rng.choice([b"PUB foo 10\r\nabc", b"SUB foo", b"CONNECT {", b"PI", b"PUB foo 5",
                            b"HPUB foo 12 14\r\nNATS/1.0\r\n", b"UNSUB 1", b"P", b"PING"])
            return Op(v, end="hang", note="truncated")
        # Blank runs between a verb and its arguments, long or short.
        n = rng.choice([1, 5, self.mcl - 2, self.mcl + 3])
        v = rng.choice([b"PUB", b"SUB", b"UNSUB"]) + b" " * n
        if v.startswith(b"PUB"):
            v += b"foo 1\r\nx\r\n"
        elif v.startswith(b"SUB"):
            v += b"foo 77\r\n"
        else:
            v += b"77\r\n"
        return Op(v, end="ok", note="blanks")


class ClientScenarioBuilder:
    def __init__(self, rng, scn):
        self.rng = rng
        self.scn = scn
        self.ops = ClientOps(rng, scn.profile)
        self.models = {}

    def open(self, idx):
        self.models[idx] = ClientModel(idx)
        self.scn.steps.append(Step("open", idx, "client"))

    def add_send(self, idx, ops):
        data = b"".join(op.data for op in ops)
        splits = choose_splits(self.rng, data, ops)
        self.scn.steps.append(Step("send", idx, ops=ops, splits=splits))
        m = self.models[idx]
        for op in ops:
            if op.end == "hang":
                m.alive = False
            elif op.end == "close" and self.rng.random() < 0.85:
                m.alive = False

    def connect_step(self, idx):
        m = self.models[idx]
        rng = self.rng
        good = rng.random() < 0.85
        ops = [self.ops.connect(m, good=good)]
        if rng.random() < 0.3 and ops[0].end == "ok":
            ops.append(self.ops.sub(m))
        self.add_send(idx, ops)

    def random_op(self, m):
        rng = self.rng
        o = self.ops
        if not m.connected and self.scn.profile.get("auth") and rng.random() < 0.5:
            return o.connect(m, good=rng.random() < 0.8)
        choice = weighted(rng, [("sub", 22), ("pub", 34), ("unsub", 8), ("hpub", 8),
                                ("ping", 5), ("pong", 2), ("ok", 1), ("info", 1),
                                ("connect", 3), ("garbage", 4)])
        if choice == "sub":
            return o.sub(m)
        if choice == "pub":
            return o.pub(m)
        if choice == "unsub":
            return o.unsub(m)
        if choice == "hpub":
            return o.hpub(m)
        if choice == "ping":
            return o.ping()
        if choice == "pong":
            return o.pong()
        if choice == "ok":
            return o.plus_ok()
        if choice == "info":
            return o.client_info()
        if choice == "connect":
            if m.connected and rng.random() < 0.5:
                return o.partial_connect(m)
            return o.connect(m, good=rng.random() < 0.7)
        return o.garbage()

    def build(self):
        rng = self.rng
        nconns = rng.choice([2, 2, 3, 3, 4])
        for i in range(nconns):
            self.open(i)
            if rng.random() < 0.92:
                self.connect_step(i)
        nsteps = rng.randint(6, 22)
        for _ in range(nsteps):
            live = [m for m in self.models.values() if m.alive]
            if not live:
                break
            if rng.random() < 0.04 and len(self.models) < 6:
                idx = len(self.models)
                self.open(idx)
                self.connect_step(idx)
                continue
            m = rng.choice(live)
            if rng.random() < 0.04:
                self.scn.steps.append(Step("close", m.idx))
                m.alive = False
                continue
            k = 1 if rng.random() < 0.7 else rng.randint(2, 4)
            ops = []
            for _ in range(k):
                op = self.random_op(m)
                ops.append(op)
                if op.end == "hang":
                    break
            self.add_send(m.idx, ops)
        return self.scn


# ---------------------------------------------------------------------------
# Route side
# ---------------------------------------------------------------------------

ROUTE_QUEUES = [b"rq1", b"rq2"]
LOCAL_QUEUES = [b"qa", b"qb"]


class RouteOps:
    def __init__(self, rng, profile, peer_id):
        self.rng = rng
        self.profile = profile
        self.peer_id = peer_id
        self.names = self.__init_names()
        # A dynamic name compared with a generated one: make the order certain.
        self.dynamic_other = (rng.choice(["~zdyn", "!zdyn"]) if profile.get("dynamic_name")
                              else "Zdyn")

    def __init_names(self):
        """The cluster name (and dynamic flag) this fake peer claims."""
        if not self.profile.get("dynamic_name"):
            return ROUTE_NAME, False
        name = self.rng.choice(["~dyn", "!dyn", "Static", "Static", None, ""])
        dynamic = name in ("~dyn", "!dyn")
        return name, dynamic

    def _apply_name(self, info, name, dynamic):
        if name is None:
            info.pop("cluster", None)
        else:
            info["cluster"] = name
        if dynamic:
            info["cluster_dynamic"] = True

    def connect_json(self, variant):
        info = {"echo": True, "verbose": False, "pedantic": False, "tls_required": False,
                "headers": True, "name": self.peer_id, "cluster": ROUTE_NAME, "lnoc": True}
        if self.profile.get("dynamic_name") and variant == "normal":
            self._apply_name(info, *self.names)
        if self.profile.get("route_auth"):
            info["user"], info["pass"] = "ru", "rp"
        if variant == "bad_cluster":
            info["cluster"] = "Y"
        elif variant == "no_cluster":
            del info["cluster"]
        elif variant == "empty_cluster":
            info["cluster"] = ""
        elif variant == "lang":
            info["lang"] = "go"
        elif variant == "gateway":
            info["gateway"] = "G1"
        elif variant == "verbose":
            info["verbose"] = True
        elif variant == "key_case":
            info["Cluster"] = info.pop("cluster")
        elif variant == "dynamic":
            info["cluster_dynamic"] = True
            info["cluster"] = self.dynamic_other
        elif variant == "bad_creds":
            info["user"], info["pass"] = "ru", "nope"
        elif variant == "no_creds":
            info.pop("user", None)
            info.pop("pass", None)
        elif variant == "wrong_type":
            info["verbose"] = "false"
        elif variant == "null":
            return "null"
        return json.dumps(info, separators=(",", ":"))

    def info_json(self, variant, server_id=None, headers=True):
        info = {"server_id": server_id or self.peer_id, "server_name": "fake-%s" % (
            (server_id or self.peer_id)[-4:]), "version": "2.9.10", "proto": 2, "go": "go1.19.8",
                "host": "127.0.0.1", "port": 1, "headers": headers, "max_payload": 1048576,
                "cluster": ROUTE_NAME, "connect_urls": ["10.99.0.1:4222"], "lnoc": True}
        if self.profile.get("dynamic_name") and variant not in ("bad_cluster", "no_cluster",
                                                                "dynamic"):
            name, dynamic = self.names
            if self.rng.random() < 0.15:
                name, dynamic = self.__init_names()
            self._apply_name(info, name, dynamic)
        if variant == "self_id":
            info["server_id"] = "{{SELF_ID}}"
        elif variant == "self_name":
            info["server_name"] = "{{SELF_ID}}"
        elif variant == "bad_cluster":
            info["cluster"] = "Y"
        elif variant == "no_cluster":
            del info["cluster"]
        elif variant == "no_urls":
            del info["connect_urls"]
        elif variant == "dynamic":
            info["cluster_dynamic"] = True
            info["cluster"] = self.dynamic_other
        elif variant == "proto1":
            info["proto"] = 1
        return json.dumps(info, separators=(",", ":"))

    def handshake(self):
        """(ops, registered?)"""
        rng = self.rng
        cvar = "normal"
        ivar = "normal"
        order = "connect_info"
        r = rng.random()
        if r < 0.35:
            cvar = rng.choice(["bad_cluster", "no_cluster", "empty_cluster", "lang", "gateway",
                               "verbose", "key_case", "dynamic", "wrong_type", "null"]
                              + (["bad_creds", "no_creds"] * 2 if self.profile.get("route_auth")
                                 else []))
        elif r < 0.55:
            ivar = rng.choice(["self_id", "self_name", "bad_cluster", "no_cluster", "no_urls",
                               "dynamic", "proto1", "no_headers"])
        elif r < 0.62:
            order = rng.choice(["info_connect", "info_only", "connect_only"])
        headers = ivar != "no_headers"
        c_line = rng.choice([b"CONNECT ", b"CONNECT ", b"connect "]) + \
            self.connect_json(cvar).encode() + b"\r\n"
        i_line = b"INFO " + self.info_json(ivar, headers=headers).encode() + b"\r\n"
        lines = {"connect_info": [c_line, i_line], "info_connect": [i_line, c_line],
                 "info_only": [i_line], "connect_only": [c_line]}[order]
        good = cvar in ("normal", "verbose", "key_case") and ivar in (
            "normal", "no_urls", "proto1", "no_headers") and order == "connect_info"
        ops = [Op(x, end="ok" if good else "close", note="handshake") for x in lines]
        return ops, good, headers, cvar == "verbose"

    def rs_plus(self, subj=None, queue=None):
        rng = self.rng
        subj = subj or sub_subject(rng)
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        # Not $SYS: rnats has no system account (allowlisted).
        acct = b"$G" if rng.random() < 0.92 else b"$NOPE"
        if queue or rng.random() < 0.3:
            queue = queue or rng.choice(ROUTE_QUEUES)
            w = rng.choice([b"1", b"1", b"2", b"3", b"0", b"x"])
            args = [acct, subj, queue, w]
            end = "ok" if w not in (b"x",) else "close"
            if rng.random() < 0.05:
                args = [acct, subj, queue]          # weight missing
                end = "close"
        else:
            args = [acct, subj]
            end = "ok"
        return Op(style.line(b"RS+", args), end=end, note="RS+")

    def rs_minus(self, known):
        rng = self.rng
        if known and rng.random() < 0.8:
            parts = rng.choice(known)
        else:
            parts = [b"$G", sub_subject(rng)]
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        return Op(style.line(b"RS-", parts), note="RS-")

    def rmsg(self, headers_ok=True):
        rng = self.rng
        subj = pub_subject(rng)
        acct = b"$G" if rng.random() < 0.93 else b"$NOPE"
        reply = rng.choice(REPLIES) if rng.random() < 0.35 else None
        queues = []
        if rng.random() < 0.35:
            queues = rng.sample(LOCAL_QUEUES + ROUTE_QUEUES + [b"zz"], rng.randint(1, 2))
        hdr = rng.choice(HEADER_BLOCKS) if rng.random() < 0.3 else None
        n = rng.choice([0, 2, 5, 11, MAX_PAYLOAD + 20])
        body = payload(rng, n)
        args = [acct, subj]
        if queues:
            args += ([b"+", reply] if reply else [b"|"]) + queues
        elif reply:
            args.append(reply)
        end = "ok"
        if hdr is not None:
            args += [b(len(hdr)), b(len(hdr) + n)]
            verb = b"HMSG"
            data_body = hdr + body
        else:
            args.append(b(n))
            verb = b"RMSG"
            data_body = body
        r = rng.random()
        if r < 0.04 and len(args) >= 5:
            args[2] = b"?"                          # neither + nor |
            end = "close"
        elif r < 0.07:
            args[-1] = b(int(args[-1]) + 1)
            end = "hang"
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        return Op(style.line(verb, args) + data_body + b"\r\n", end=end, note=verb.decode())

    def misc(self):
        rng = self.rng
        v = rng.choice([
            (b"PING\r\n", 1, "ok"), (b"ping\r\n", 1, "ok"), (b"PONG\r\n", 0, "ok"),
            (b"+OK\r\n", 0, "ok"), (b"-ERR 'boom'\r\n", 0, "close"),
            (b"LS+ C1 $G foo\r\n", 0, "ok"), (b"LS- C1 $G foo\r\n", 0, "ok"),
            (b"A+ foo\r\n", 0, "ok"), (b"A- foo\r\n", 0, "ok"),
            (b"SUB foo 1\r\n", 0, "ok"), (b"UNSUB 1\r\n", 0, "ok"),
            (b"PUB foo 2\r\nhi\r\n", 0, "ok"), (b"MSG foo 1 2\r\nhi\r\n", 0, "ok"),
            (b"xyz\r\n", 0, "close"), (b"RS*\r\n", 0, "close"), (b"RMSG $G\r\n", 0, "close"),
            (b"RS+\r\n", 0, "close"), (b"RS+ $G\r\n", 0, "close"), (b"RS- $G\r\n", 0, "close"),
            (b"RMSG $G foo x\r\n", 0, "close"), (b"CONNECT {}\r\n", 0, "ok"),
            (b"INFO {}\r\n", 0, "ok"), (b"INFO {\r\n", 0, "close"),
            (b"RS+ $G foo\n", 0, "ok"), (b"RMSG $G foo 2\nhi\r\n", 0, "ok"),
        ])
        return Op(v[0], pongs=v[1], end=v[2], note="misc")

    def info_update(self):
        # Same id again: a permission update; nothing to dial.
        return Op(b"INFO " + self.info_json("normal").encode() + b"\r\n", note="INFO update")


class RouteScenarioBuilder(ClientScenarioBuilder):
    def __init__(self, rng, scn):
        super().__init__(rng, scn)
        self.ops = ClientOps(rng, scn.profile, route_mode=True)
        self.route_alive = {}
        self.route_known = {}

    def client_random_op(self, m):
        rng = self.rng
        o = self.ops
        choice = weighted(rng, [("sub", 30), ("pub", 40), ("unsub", 10), ("hpub", 8),
                                ("ping", 3), ("garbage", 2)])
        if choice == "sub":
            op = o.sub(m)
            # Local queue groups never share a name with the route's.
            return op
        if choice == "pub":
            return o.pub(m)
        if choice == "unsub":
            return o.unsub(m)
        if choice == "hpub":
            return o.hpub(m)
        if choice == "ping":
            return o.ping()
        return o.garbage()

    def open_route(self, idx, peer_id):
        self.scn.steps.append(Step("open", idx, "route"))
        ro = RouteOps(self.rng, self.scn.profile, peer_id)
        ops, good, headers, verbose = ro.handshake()
        data = b"".join(op.data for op in ops)
        self.scn.steps.append(Step("send", idx, ops=ops, splits=choose_splits(self.rng, data, ops),
                                   sortable=True))
        self.route_alive[idx] = good or self.rng.random() < 0.3
        self.route_known[idx] = []
        return ro, headers

    def route_op(self, ro, idx, headers):
        rng = self.rng
        choice = weighted(rng, [("rs+", 30), ("rs-", 10), ("rmsg", 40), ("misc", 10),
                                ("info", 2)])
        if choice == "rs+":
            op = ro.rs_plus()
            parts = op.data.split()
            if len(parts) >= 3 and op.end == "ok":
                self.route_known[idx].append([parts[1], parts[2]] + (
                    [parts[3]] if len(parts) >= 5 else []))
            return op
        if choice == "rs-":
            return ro.rs_minus(self.route_known[idx])
        if choice == "rmsg":
            return ro.rmsg(headers)
        if choice == "info":
            return ro.info_update()
        return ro.misc()

    def build(self):
        rng = self.rng
        nclients = rng.choice([1, 2, 2, 3])
        for i in range(nclients):
            self.open(i)
            m = self.models[i]
            # Clients of route scenarios connect cleanly (their protocol is
            # what client scenarios are for).
            opts = {"verbose": False, "pedantic": False, "headers": rng.random() < 0.8,
                    "protocol": rng.choice([0, 1])}
            if rng.random() < 0.2:
                opts["echo"] = False
            if rng.random() < 0.2 and opts["headers"]:
                opts["no_responders"] = True
            m.connected = True
            m.headers = opts["headers"]
            m.verbose = False
            ops = [Op(b"CONNECT " + json.dumps(opts, separators=(",", ":")).encode() + b"\r\n")]
            for _ in range(rng.randint(0, 3)):
                ops.append(self.ops.sub(m))
            self.add_send(i, ops)
        routes = {}
        ridx = nclients
        peer = fake_id(rng)
        routes[ridx] = self.open_route(ridx, peer)
        if rng.random() < 0.12:
            # A second peer: another id, or the same id (a duplicate).
            ridx2 = ridx + 1
            routes[ridx2] = self.open_route(ridx2, peer if rng.random() < 0.5 else fake_id(rng))
        nsteps = rng.randint(6, 22)
        for _ in range(nsteps):
            live_clients = [m for m in self.models.values() if m.alive]
            live_routes = [i for i, a in self.route_alive.items() if a]
            if not live_clients and not live_routes:
                break
            if live_routes and (not live_clients or rng.random() < 0.5):
                idx = rng.choice(live_routes)
                ro, headers = routes[idx]
                k = 1 if rng.random() < 0.6 else rng.randint(2, 4)
                ops = []
                for _ in range(k):
                    op = self.route_op(ro, idx, headers)
                    ops.append(op)
                    if op.end == "hang":
                        break
                data = b"".join(op.data for op in ops)
                # An INFO may be what registers the route: the interest
                # burst that answers it comes in hash-map order.
                burst = any(op.data[:4].upper() == b"INFO" for op in ops)
                # Go reads a client PUB/HPUB on a route differently when it
                # spans reads (the held line is re-parsed as RMSG arguments):
                # such steps are sent whole.
                whole = any(op.data.split(b" ", 1)[0].upper() in (b"PUB", b"HPUB")
                            for op in ops)
                splits = [] if whole else choose_splits(rng, data, ops)
                self.scn.steps.append(Step("send", idx, ops=ops, splits=splits, sortable=burst))
                for op in ops:
                    if op.end == "hang" or (op.end == "close" and rng.random() < 0.85):
                        self.route_alive[idx] = False
                continue
            m = rng.choice(live_clients)
            if rng.random() < 0.06:
                self.scn.steps.append(Step("close", m.idx))
                m.alive = False
                continue
            if rng.random() < 0.03 and len(self.models) < 5:
                idx = max(list(self.models) + list(routes)) + 1
                self.open(idx)
                self.models[idx].connected = True
                self.add_send(idx, [Op(b'CONNECT {"verbose":false,"protocol":1,"headers":true}\r\n')])
                continue
            k = 1 if rng.random() < 0.75 else rng.randint(2, 3)
            ops = []
            for _ in range(k):
                op = self.client_random_op(m)
                ops.append(op)
                if op.end == "hang":
                    break
            self.add_send(m.idx, ops)
        return self.scn


# ---------------------------------------------------------------------------

def make_scenario(seed, index):
    rng = random.Random("%s:%d" % (seed, index))
    kind = scenario_kind(index)
    if kind == "route":
        profile = PROFILES[weighted(rng, ROUTE_PROFILE_WEIGHTS)]
        scn = Scenario(kind, seed, index, profile)
        return RouteScenarioBuilder(rng, scn).build()
    profile = PROFILES[weighted(rng, CLIENT_PROFILE_WEIGHTS)]
    scn = Scenario(kind, seed, index, profile)
    return ClientScenarioBuilder(rng, scn).build()
