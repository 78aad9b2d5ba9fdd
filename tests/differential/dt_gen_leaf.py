"""Leaf-side ops (a fake leaf peer dialing the server's leaf port) and leaf
scenarios (see dt_gen).

The server under test is the hub: it listens on a leaf port (profiles
``leaf*`` in dt_gen) and the fake peer acts as a leaf server would, so what
is compared is what the hub sends the leaf (INFO, its LS+/LS- interest,
LMSG/HMSG) and what the hub's clients get from the leaf.  What the Go hub
does with each op (what ``end`` says below) was seen on Go 2.9.10.

Queue groups: the hub's clients use ``qa``/``qb``/``q.a`` (dt_gen_client);
the first leaf announces ``lq1`` and ``qa`` (a local member is always picked
before a leaf one, so that is deterministic), the second leaf ``lq2`` only:
Go picks among several leafs of one group at random.
"""

import json

from dt_gen import (HEADER_BLOCKS, LITERALS, MAX_PAYLOAD, REPLIES, WILDCARDS, Op, Step, Style,
                    b, choose_splits, fake_id, payload, pub_subject, sub_subject, weighted)
from dt_gen_client import ClientOps, ClientScenarioBuilder

LEAF_QUEUES = {0: [b"lq1", b"qa"], 1: [b"lq2"]}
# Groups a message from a leaf may name (local ones, leaf ones, nobody's).
MSG_QUEUES = [b"qa", b"qb", b"lq1", b"lq2", b"zz"]
# Weights: the member count of the group on the leaf side.  Servers send 1
# or more; a weight that is not a positive number is sent rarely.
WEIGHTS = [b"1", b"1", b"1", b"2", b"3"]
ODD_WEIGHTS = [b"0", b"x", b"-1", b"2147483648", b"0001"]
# Subjects the leaf's CONNECT may deny (``deny_pub``, a leaf's deny_imports).
DENY_PUB = [["foo.deny"], ["w.>"], ["foo.deny", "q.*"]]


def subject_matches(subject, pattern):
    """Whether the literal ``subject`` matches ``pattern`` (a wildcard
    subject); False for a subject with wildcards of its own."""
    st, pt = subject.split(b"."), pattern.split(b".")
    if b"*" in st or b">" in st:
        return False
    for i, p in enumerate(pt):
        if p == b">":
            return len(st) > i
        if i >= len(st) or (p != b"*" and p != st[i]):
            return False
    return len(st) == len(pt)


class LeafOps:
    """What one fake leaf sends.  ``no`` is 0 for the first leaf, 1 for a
    second one."""

    def __init__(self, rng, profile, no, name, cluster):
        self.rng = rng
        self.profile = profile
        self.no = no
        self.name = name
        self.cluster = cluster
        self.queues = LEAF_QUEUES[no]
        self.deny = []
        self.headers = False

    # -- handshake -----------------------------------------------------------

    def credentials(self, opts):
        p = self.profile
        if p.get("leaf_users"):
            u = self.rng.choice(sorted(p["leaf_users"]))
            opts["user"], opts["pass"] = u, u
        elif p.get("leaf_auth"):
            opts["user"], opts["pass"] = p["leaf_auth"]

    def connect_opts(self):
        rng = self.rng
        opts = {}
        if rng.random() < 0.3:
            opts["version"] = "2.9.10"
        self.credentials(opts)
        if rng.random() < 0.5:
            opts["tls_required"] = False
        if rng.random() < 0.5:
            opts["server_id"] = fake_id(rng, "NLEAF")
        if self.name is not None:
            opts["name"] = self.name
        if self.cluster is not None:
            opts["cluster"] = self.cluster
        r = rng.random()
        if r < 0.75:
            opts["headers"] = True
        elif r < 0.9:
            opts["headers"] = False
        if rng.random() < 0.15:
            opts["remote_account"] = rng.choice(["$G", "A", "X"])
        if rng.random() < 0.1:
            opts["protocol"] = rng.choice([1, 3])
        return opts

    def handshake(self):
        """(ops, registered by Go?, sortable): the answer to CONNECT is an
        INFO and an LS+ burst in map order."""
        rng = self.rng
        opts = self.connect_opts()
        text = None
        good = True
        before = []
        sortable = True
        variant = "normal"
        r = rng.random()
        if r < 0.22:
            auth = bool(self.profile.get("leaf_auth") or self.profile.get("leaf_users"))
            variant = rng.choice(
                ["empty", "empty", "lang", "gateway", "verbose", "key_case", "deny_pub",
                 "deny_pub", "ping_first", "ls_first", "shape", "wrong_type", "no_name",
                 "space_cluster"]
                + (["bad_creds", "bad_creds", "no_creds"] if auth else [])
                + (["same_cluster", "same_cluster"] if self.profile.get("hub_cluster") else []))
        # Without a leaf authorization block the clients' rules apply, and
        # Go 2.9 binds a leaf whose credentials do not match to $G (without
        # any: the allowlist's leaf-no-credentials-refused).
        lenient = bool(self.profile.get("leaf_fallback_auth"))
        if variant == "empty":
            opts = {}
            text = "{}"
            if self.profile.get("leaf_auth") or self.profile.get("leaf_users"):
                good = lenient
        elif variant == "lang":
            opts["lang"] = rng.choice(["go", "python3", ""])
            good = opts["lang"] == ""
        elif variant == "gateway":
            opts["gateway"] = "G1"
            good = False
        elif variant == "verbose":
            opts.update({"verbose": True, "pedantic": True, "echo": True})
        elif variant == "key_case":
            k = rng.choice(["name", "cluster", "headers", "user"])
            if k in opts:
                opts[k.capitalize()] = opts.pop(k)
        elif variant == "deny_pub":
            self.deny = rng.choice(DENY_PUB)
            opts["deny_pub"] = self.deny
        elif variant == "ping_first":
            before = [Op(b"PING\r\n", pongs=0, end="close", note="PING before CONNECT")]
            good = False
        elif variant == "ls_first":
            before = [Op(b"LS+ foo\r\n", end="close", note="LS+ before CONNECT")]
            good = False
        elif variant == "shape":
            text = rng.choice(["{", "[]", "null", "1", '{"name":}'])
            good = False
        elif variant == "wrong_type":
            k = rng.choice(["headers", "name", "cluster", "verbose"])
            opts[k] = rng.choice(["x", 1, [], "true"]) if k in ("headers", "verbose") else 7
            good = False
        elif variant == "no_name":
            opts.pop("name", None)
            opts.pop("cluster", None)
        elif variant == "space_cluster":
            opts["cluster"] = "a b"
        elif variant == "bad_creds":
            opts["pass"] = "nope"
            good = lenient
        elif variant == "no_creds":
            opts.pop("user", None)
            opts.pop("pass", None)
            good = lenient
        elif variant == "same_cluster":
            opts["cluster"] = self.profile["hub_cluster"]
            good = False
        self.headers = opts.get("headers") is True or opts.get("Headers") is True
        if text is None:
            text = json.dumps(opts, separators=(",", ":"))
        verb = rng.choice([b"CONNECT ", b"CONNECT ", b"CONNECT ", b"connect "])
        c_op = Op(verb + text.encode("utf-8") + b"\r\n", end="ok" if good else "close",
                  note="CONNECT")
        if before:
            ops = before + ([c_op] if rng.random() < 0.5 else [])
        else:
            ops = [c_op]
        return ops, good, sortable

    # -- interest ------------------------------------------------------------

    def ls_plus(self, known):
        rng = self.rng
        subj = sub_subject(rng)
        if self.deny and rng.random() < 0.2:
            subj = rng.choice(self.deny).encode()
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        end = "ok"
        if rng.random() < 0.35:
            q = rng.choice(self.queues)
            w = rng.choice(ODD_WEIGHTS) if rng.random() < 0.05 else rng.choice(WEIGHTS)
            args = [subj, q, w]
            key = [subj, q]
        else:
            args = [subj]
            key = [subj]
        r = rng.random()
        if r < 0.015:
            args = [subj, rng.choice(self.queues)]          # weight missing
            end = "close"
        elif r < 0.025:
            args = args + [b"x"]                             # one too many
            end = "close"
        elif r < 0.03:
            args = []
            end = "close"
        if end == "ok" and any(subject_matches(subj, d.encode()) for d in self.deny):
            # Go refuses a literal subject its deny_pub covers.
            end = "close"
        op = Op(style.line(b"LS+", args), end=end, note="LS+")
        if end == "ok" and key not in known:
            known.append(key)
        return op

    def ls_minus(self, known):
        rng = self.rng
        if known and rng.random() < 0.8:
            parts = list(rng.choice(known))
        else:
            parts = [sub_subject(rng)]
        end = "ok"
        r = rng.random()
        if r < 0.03:
            parts = parts[:1] + [rng.choice(self.queues), b"1"]   # three arguments
        elif r < 0.04:
            parts = []
            end = "close"
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        return Op(style.line(b"LS-", parts), end=end, note="LS-")

    # -- messages ------------------------------------------------------------

    def lmsg(self):
        rng = self.rng
        subj = pub_subject(rng)
        reply = rng.choice(REPLIES) if rng.random() < 0.35 else None
        queues = []
        if rng.random() < 0.35:
            queues = rng.sample(MSG_QUEUES, rng.randint(1, 2))
        hdr = rng.choice(HEADER_BLOCKS) if rng.random() < 0.3 else None
        n = rng.choice([0, 2, 5, 11, 11, MAX_PAYLOAD + 20])
        body = payload(rng, n)
        args = [subj]
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
            verb = b"LMSG"
            data_body = body
        r = rng.random()
        if r < 0.02 and len(args) >= 4:
            args[1] = rng.choice([b"?", b"++", b"-"])         # neither + nor |
            end = "close"
        elif r < 0.035:
            args[-1] = b(int(args[-1]) + 1)
            end = "hang"
        style = Style(rng) if rng.random() < 0.3 else Style(rng, plain=True)
        return Op(style.line(verb, args) + data_body + b"\r\n", end=end, note=verb.decode())

    def misc(self):
        """Odd but harmless ops (Go keeps the connection)."""
        v = self.rng.choice([
            (b"PING\r\n", 1), (b"ping\r\n", 1), (b"PONG\r\n", 0), (b"+OK\r\n", 0),
            (b"INFO {}\r\n", 0),
            (b'INFO {"server_id":"x","leafnode_urls":["10.99.0.1:7422"]}\r\n', 0),
            (b"PUB foo 2\r\nhi\r\n", 0), (b"UNSUB 1\r\n", 0), (b"RMSG foo 2\r\nhi\r\n", 0),
            (b"RS- $G foo\r\n", 0), (b"A+ foo\r\n", 0),
            (b"LS+ $LDS.fakeLeafLoopSubject01\r\n", 0),
            (b"LS+ foo\nLMSG foo 2\nhi\r\n", 0),
        ])
        return Op(v[0], pongs=v[1], note="misc")

    def fatal(self):
        """Ops after which Go closes the connection."""
        v = self.rng.choice([
            b"INFO {\r\n", b"SUB foo 1\r\n", b"MSG foo 1 2\r\nhi\r\n", b"RS+ $G foo\r\n",
            b"xyz\r\n", b"LS+\r\n", b"LMSG\r\n", b"LMSG foo\r\n", b"LS+ {{LDS}}\r\n",
            b"LS+ {{LDS}}\r\n",
        ])
        return Op(v, end="close", note="fatal")

    def err(self):
        # Go logs an -ERR from a leaf and keeps the connection.
        v = self.rng.choice([b"-ERR 'boom'\r\n", b"-ERR\r\n"])
        # A bare "-ERR" is no op Go knows.
        return Op(v, end="ok" if v != b"-ERR\r\n" else "close", note="-ERR")

    def connect_again(self):
        # Go runs a second CONNECT through the whole handshake again.
        return Op(b"CONNECT {}\r\n", note="CONNECT again")


class LeafScenarioBuilder(ClientScenarioBuilder):
    def __init__(self, rng, scn):
        super().__init__(rng, scn)
        self.ops = ClientOps(rng, scn.profile, route_mode=True)
        self.leaf_alive = {}
        self.leaf_known = {}
        self.leafs = {}

    # -- clients -------------------------------------------------------------

    def client_connect(self, idx):
        rng = self.rng
        m = self.models[idx]
        opts = {"verbose": False, "pedantic": False, "headers": rng.random() < 0.8,
                "protocol": rng.choice([0, 1])}
        if rng.random() < 0.2:
            opts["echo"] = False
        if rng.random() < 0.2 and opts["headers"]:
            opts["no_responders"] = True
        users = self.scn.profile.get("client_users")
        if users:
            u = rng.choice(sorted(users))
            opts["user"] = u
            opts["pass"] = self.scn.profile.get("client_pass", u)
        m.connected = True
        m.headers = opts["headers"]
        m.verbose = False
        return [Op(b"CONNECT " + json.dumps(opts, separators=(",", ":")).encode() + b"\r\n")]

    def client_random_op(self, m):
        """Mostly well-formed client traffic on the subjects the leaf uses
        (client scenarios are where malformed client input is tried)."""
        rng = self.rng
        if rng.random() < 0.85:
            choice = weighted(rng, [("sub", 30), ("pub", 40), ("unsub", 10), ("hpub", 15)])
            if choice == "sub":
                return self.clean_sub(m)
            if choice == "pub":
                return self.clean_pub(m)
            if choice == "hpub" and m.headers:
                return self.clean_pub(m, header=True)
            if choice in ("unsub", "hpub"):
                return self.ops.unsub(m)
        o = self.ops
        choice = weighted(rng, [("sub", 30), ("pub", 40), ("unsub", 10), ("hpub", 8),
                                ("ping", 3), ("garbage", 2)])
        if choice == "sub" and not m.headers:
            # Queue members all take headers: which member gets a message
            # is Go's random pick, and a member without headers would get
            # other bytes.
            return self.clean_sub(m)
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
        return o.garbage()

    def clean_sub(self, m):
        rng = self.rng
        subj = rng.choice(LITERALS) if rng.random() < 0.6 else rng.choice(WILDCARDS)
        if rng.random() < 0.3 and m.headers:
            q = rng.choice([b"qa", b"qb"])
            sid = b"Q" + q + b"_" + b(m.next_sid)
            m.queue_sids.append(sid)
            args = [subj, q, sid]
        else:
            sid = b(m.next_sid)
            m.sids.append(sid)
            args = [subj, sid]
        m.next_sid += 1
        return Op(b"SUB " + b" ".join(args) + b"\r\n", note="SUB")

    def clean_pub(self, m, header=False):
        rng = self.rng
        subj = rng.choice(LITERALS) if rng.random() < 0.9 else pub_subject(rng)
        reply = [rng.choice(REPLIES[:3] + [b"_R_.x"])] if rng.random() < 0.3 else []
        n = rng.choice([0, 1, 2, 5, 11])
        body = payload(rng, n)
        if header:
            hdr = rng.choice(HEADER_BLOCKS[:5])
            line = b"HPUB " + b" ".join([subj] + reply + [b(len(hdr)), b(len(hdr) + n)])
            return Op(line + b"\r\n" + hdr + body + b"\r\n", note="HPUB")
        line = b"PUB " + b" ".join([subj] + reply + [b(n)])
        return Op(line + b"\r\n" + body + b"\r\n", note="PUB")

    # -- leafs ---------------------------------------------------------------

    def open_leaf(self, idx, no, name, cluster):
        self.scn.steps.append(Step("open", idx, "leaf"))
        lo = LeafOps(self.rng, self.scn.profile, no, name, cluster)
        ops, good, sortable = lo.handshake()
        data = b"".join(op.data for op in ops)
        self.scn.steps.append(Step("send", idx, ops=ops, splits=choose_splits(self.rng, data, ops),
                                   sortable=sortable))
        self.leaf_alive[idx] = good or self.rng.random() < 0.2
        self.leaf_known[idx] = []
        self.leafs[idx] = lo
        if self.leaf_alive[idx] and self.rng.random() < 0.7:
            # What a leaf server sends first: the interest it has.
            ops = []
            for _ in range(self.rng.randint(1, 4)):
                ops.append(lo.ls_plus(self.leaf_known[idx]))
                if ops[-1].end != "ok":
                    break
            data = b"".join(op.data for op in ops)
            self.scn.steps.append(Step("send", idx, ops=ops,
                                       splits=choose_splits(self.rng, data, ops)))
            if any(op.end != "ok" for op in ops):
                self.leaf_alive[idx] = self.rng.random() < 0.15
        return lo

    def leaf_ops(self, lo, idx):
        rng = self.rng
        k = 1 if rng.random() < 0.6 else rng.randint(2, 4)
        ops = []
        sortable = False
        for _ in range(k):
            choice = weighted(rng, [("ls+", 30), ("ls-", 10), ("lmsg", 40), ("misc", 6),
                                    ("fatal", 1.5), ("err", 2), ("connect", 1)])
            if choice == "ls+":
                op = lo.ls_plus(self.leaf_known[idx])
            elif choice == "ls-":
                op = lo.ls_minus(self.leaf_known[idx])
                parts = op.data.split()
                key = parts[1:]
                if key in self.leaf_known[idx]:
                    self.leaf_known[idx].remove(key)
            elif choice == "lmsg":
                op = lo.lmsg()
            elif choice == "err":
                # Alone at the end of its step: what follows an -ERR in one
                # write is not compared (allowlist: messages-after-err).
                ops.append(lo.err())
                break
            elif choice == "connect":
                ops.append(lo.connect_again())
                sortable = True
                break
            elif choice == "fatal":
                op = lo.fatal()
            else:
                op = lo.misc()
            ops.append(op)
            # Nothing after an op Go closes the connection for: Go may go
            # on with the rest of what it read (see messages-after-err),
            # and where its reads end is up to it.
            if op.end in ("hang", "close"):
                break
        return ops, sortable

    def leaf_names(self):
        """(name, cluster) of the first and the second leaf: a second leaf
        is another leaf, one of the same leaf cluster, or the same leaf
        again (a duplicate)."""
        rng = self.rng
        name1 = rng.choice(["leaf1", "leaf1", "", None])
        cluster1 = rng.choice(["LC1", "LC1", "leaf1", "", None])
        r = rng.random()
        if r < 0.5:
            second = (rng.choice(["leaf2", None]), rng.choice(["LC2", None]))
        elif r < 0.75:
            second = ("leaf2", cluster1)
        else:
            second = (name1, cluster1)
        return (name1, cluster1), second

    def build(self):
        rng = self.rng
        nclients = rng.choice([1, 2, 2, 3])
        for i in range(nclients):
            self.open(i)
            m = self.models[i]
            ops = self.client_connect(i)
            for _ in range(rng.randint(0, 3)):
                ops.append(self.ops.sub(m) if m.headers else self.clean_sub(m))
            self.add_send(i, ops)
        first, second = self.leaf_names()
        lidx = nclients
        self.open_leaf(lidx, 0, *first)
        two = rng.random() < 0.2
        second_at = rng.randint(0, 8) if two else None
        nsteps = rng.randint(6, 22)
        for round_no in range(nsteps):
            if second_at is not None and round_no == second_at:
                self.open_leaf(lidx + 1, 1, *second)
                second_at = None
                continue
            live_clients = [m for m in self.models.values() if m.alive]
            live_leafs = [i for i, a in self.leaf_alive.items() if a]
            if not live_clients and not live_leafs:
                break
            if live_leafs and (not live_clients or rng.random() < 0.5):
                idx = rng.choice(live_leafs)
                if rng.random() < 0.03:
                    self.scn.steps.append(Step("close", idx))
                    self.leaf_alive[idx] = False
                    continue
                ops, sortable = self.leaf_ops(self.leafs[idx], idx)
                data = b"".join(op.data for op in ops)
                splits = [] if b"{{" in data else choose_splits(rng, data, ops)
                self.scn.steps.append(Step("send", idx, ops=ops, splits=splits,
                                           sortable=sortable))
                for op in ops:
                    if op.end == "hang" or (op.end == "close" and rng.random() < 0.85):
                        self.leaf_alive[idx] = False
                continue
            m = rng.choice(live_clients)
            if rng.random() < 0.06:
                self.scn.steps.append(Step("close", m.idx))
                m.alive = False
                continue
            if rng.random() < 0.03 and len(self.models) < 5:
                idx = max(list(self.models) + list(self.leafs)) + 1
                self.open(idx)
                self.add_send(idx, self.client_connect(idx))
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
