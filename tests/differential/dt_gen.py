"""Seeded random scenarios for the differential harness.

Scenario ``index`` of seed ``seed`` is built from ``random.Random("seed:index")``
alone, so any scenario can be rebuilt on its own (``--replay SEED INDEX``).
Indices with ``index % 3 == 2`` are route scenarios, the others client ones.
Leaf scenarios (a fake leaf peer) are numbered apart, ``leaf:N``, so that
adding them changed no existing index; so are JetStream scenarios, ``js:N``
(``dt_gen_js``).

A scenario is a list of steps over a few connections.  Each step sends one or
more ops; every op carries what the Go server does with it as far as framing
goes: how many PONGs it earns (``pongs``) and whether the parser is at an op
boundary afterwards (``end``: "ok", "close" when the server probably closes,
"hang" when the parser may be waiting for more bytes).  The runner uses that
to know when a step is over; the generator uses it to stop using connections
that are probably closed.

This module holds the data model, the server profiles and the spelling and
splitting helpers; the client ops and scenarios are in ``dt_gen_client``, the
fake route peer's in ``dt_gen_route``, the fake leaf peer's in
``dt_gen_leaf``.
"""

import random

from dt_core import HOST

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

# Leaf scenarios: the server under test listens on a leaf port too.
LEAF_LISTEN = 'leafnodes {\n  listen: "%s:-1"\n%s}\n'
LEAF_AUTH = "  authorization { user: lu, password: lp }\n"
LEAF_USERS = """  authorization {
    users = [
      {user: lg, password: lg}
      {user: la, password: la, account: A}
    ]
  }
"""
LEAF_ACCOUNTS = """
accounts {
  A { users: [ {user: ca, password: ca} ] }
}
authorization { users: [ {user: cg, password: cg} ] }
"""
HUB_CLUSTER = "HUB"

PROFILES.update({
    "leaf": {"config": SMALL_CONF + LEAF_LISTEN % (HOST, ""), "leaf": True,
             "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE)},
    "leaf_default": {"config": LEAF_LISTEN % (HOST, ""), "leaf": True,
                     "limits": (1048576, 4096)},
    # Leaf credentials of the leaf port's own.
    "leaf_auth": {"config": SMALL_CONF + LEAF_LISTEN % (HOST, LEAF_AUTH), "leaf": True,
                  "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "leaf_auth": ("lu", "lp")},
    # Leaf users bound to $G and to account A; clients in $G (cg) and A (ca).
    "leaf_accounts": {"config": SMALL_CONF + LEAF_ACCOUNTS + LEAF_LISTEN % (HOST, LEAF_USERS),
                      "leaf": True, "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE),
                      "leaf_users": {"lg": "$G", "la": "A"},
                      "client_users": {"cg": "$G", "ca": "A"}},
    # No leaf authorization: the clients' rules (one user) apply to leafs.
    "leaf_clientauth": {"config": SMALL_CONF + LEAF_LISTEN % (HOST, ""), "leaf": True,
                        "args": ["--user", "u", "--pass", "p"],
                        "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "leaf_auth": ("u", "p"),
                        "client_users": {"u": "$G"}, "client_pass": "p",
                        "leaf_fallback_auth": True},
    # A named cluster (no peers): its name is in the leaf INFO, and a leaf
    # claiming it is refused.
    "leaf_cluster": {"config": SMALL_CONF + LEAF_LISTEN % (HOST, ""), "leaf": True,
                     "cluster": True,
                     "args": ["-cluster", "nats://%s:-1" % HOST, "--cluster_name", HUB_CLUSTER],
                     "limits": (MAX_PAYLOAD, MAX_CONTROL_LINE), "hub_cluster": HUB_CLUSTER},
})
for _name, _p in PROFILES.items():
    _p["name"] = _name

# JetStream scenarios (dt_gen_js): a fresh store directory per run, and a
# Go 2.10+ oracle (dt_js.go_js_oracle) instead of 2.9.10.
PROFILES["js"] = {"args": ["-js"], "store_dir": True, "limits": (1048576, 4096),
                  "oracle": "go2.10+", "name": "js"}

LEAF_PROFILE_WEIGHTS = [("leaf", 40), ("leaf_default", 8), ("leaf_auth", 17),
                        ("leaf_accounts", 15), ("leaf_clientauth", 10), ("leaf_cluster", 10)]

CLIENT_PROFILE_WEIGHTS = [("small", 40), ("default", 15), ("auth", 15), ("token", 5),
                          ("perms", 18), ("perms_noauth", 7)]
ROUTE_PROFILE_WEIGHTS = [("route", 72), ("route_auth", 13), ("route_dyn", 15)]


def scenario_kind(index):
    if isinstance(index, str):
        if index.startswith("leaf:"):
            return "leaf"
        if index.startswith("js:"):
            return "js"
        index = int(index)
    return "route" if index % 3 == 2 else "client"


def parse_index(text):
    """A scenario index as given on the command line: ``7``, ``leaf:7`` or
    ``js:7``."""
    text = str(text)
    for prefix in ("leaf:", "js:"):
        if text.startswith(prefix):
            return "%s%d" % (prefix, int(text.split(":", 1)[1]))
    return int(text)


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
        return "%s#%s (seed %s, %s, profile %s)" % (
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
    # boundaries.  (Go's own reads may still cut one: see the allowlist's
    # crlf-in-subject.)
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

def make_scenario(seed, index):
    index = parse_index(index)
    rng = random.Random("%s:%s" % (seed, index))
    kind = scenario_kind(index)
    # The builders import this module's helpers, hence the late import.
    from dt_gen_client import ClientScenarioBuilder
    from dt_gen_leaf import LeafScenarioBuilder
    from dt_gen_route import RouteScenarioBuilder
    if kind == "js":
        from dt_gen_js import JsScenarioBuilder
        scn = Scenario(kind, seed, index, PROFILES["js"])
        return JsScenarioBuilder(rng, scn).build()
    if kind == "leaf":
        profile = PROFILES[weighted(rng, LEAF_PROFILE_WEIGHTS)]
        scn = Scenario(kind, seed, index, profile)
        return LeafScenarioBuilder(rng, scn).build()
    if kind == "route":
        profile = PROFILES[weighted(rng, ROUTE_PROFILE_WEIGHTS)]
        scn = Scenario(kind, seed, index, profile)
        return RouteScenarioBuilder(rng, scn).build()
    profile = PROFILES[weighted(rng, CLIENT_PROFILE_WEIGHTS)]
    scn = Scenario(kind, seed, index, profile)
    return ClientScenarioBuilder(rng, scn).build()
