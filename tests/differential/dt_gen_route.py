"""Route-side ops (a fake route peer) and route scenarios (see dt_gen)."""

import json
import random
import re

from dt_gen import (HEADER_BLOCKS, MAX_PAYLOAD, REPLIES, ROUTE_NAME, Op, Step, Style, b,
                    choose_splits, fake_id, payload, pub_subject, sub_subject, weighted)
from dt_gen_client import ClientModel, ClientOps, ClientScenarioBuilder


# ---------------------------------------------------------------------------
# Route side
# ---------------------------------------------------------------------------

ROUTE_QUEUES = [b"rq1", b"rq2"]
LOCAL_QUEUES = [b"qa", b"qb"]

# Queue weights of every magnitude.  Go reads a weight as a number only when
# it is 1 to 9 decimal digits; anything else (2^31 and up, a sign, letters)
# counts as no member at all.  Positive weights stay small: Go lists a
# route's member once per unit of weight in every fresh match.
ODD_WEIGHTS = [b"0", b"1", b"7", b"65536", b"0001", b"2147483647", b"2147483648",
               b"4294967295", b"4294967296", b"4294967297", b"99999999999",
               b"9223372036854775807", b"9223372036854775808", b"18446744073709551615",
               b"18446744073709551616", b"340282366920938463463374607431768211456",
               b"00000000001", b"-1", b"-0", b"-2147483648", b"+1", b"x", b"1x", b"0x10",
               b"1e3"]


# Connection numbers of late clients (see open_late_clients), above any
# other connection's.
LATE_CLIENT_IDX = 20
# The client publishing around RS+ with odd weights (see vary_weights).
PROBE_IDX = 24

# A queue RS+ (four arguments) and its weight, the line's last token.
WEIGHT_RE = re.compile(rb"(?i)RS\+[ \t]+\S+[ \t]+(\S+)[ \t]+\S+[ \t]+(\S+)[ \t]*\r?\n\Z")


def aux_rng(scn, feature):
    """A random stream of its own for a feature added after seeds were in
    use: a scenario the feature leaves alone is built as it always was."""
    return random.Random("%s:%d:%s" % (scn.seed, scn.index, feature))


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
        # Features with random streams of their own (see aux_rng).
        self.weight_rng = aux_rng(scn, "weights")
        self.late_rng = aux_rng(scn, "late")
        # Late clients: idx -> main-loop round their CONNECT comes at (None
        # once sent).
        self.late = {}

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

    def open_late_clients(self, first_idx):
        """Clients that read their INFO before the route handshake and send
        their CONNECT and first PING only after it (or a few rounds later):
        the cluster changed in between (its client URLs, with a generated
        name maybe the name too), so a protocol-1 one gets an INFO after
        that first PONG.  They only probe: the rest of the scenario is built
        as without them (their steps use their own random stream)."""
        lrng = self.late_rng
        if lrng.random() >= 0.2:
            return
        for k in range(1 if lrng.random() < 0.8 else 2):
            idx = first_idx + k
            self.late[idx] = lrng.choice([0, 0, 0, 1, 2, 4, 8])
            self.scn.steps.append(Step("open", idx, "client"))

    def connect_late_clients(self, round_no, last=False):
        lrng = self.late_rng
        ops_gen = ClientOps(lrng, self.scn.profile, route_mode=True)
        for idx, when in sorted(self.late.items()):
            if when is None or (when > round_no and not last):
                continue
            self.late[idx] = None
            m = ClientModel(idx)
            opts = {"verbose": False, "pedantic": False, "headers": lrng.random() < 0.8,
                    "protocol": 1 if lrng.random() < 0.85 else 0}
            ops = [Op(b"CONNECT " + json.dumps(opts, separators=(",", ":")).encode() + b"\r\n")]
            for _ in range(lrng.choice([0, 0, 1])):
                ops.append(ops_gen.sub(m))
            data = b"".join(op.data for op in ops)
            self.scn.steps.append(Step("send", idx, ops=ops,
                                       splits=choose_splits(lrng, data, ops)))

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
        self.open_late_clients(LATE_CLIENT_IDX)
        peer = fake_id(rng)
        routes[ridx] = self.open_route(ridx, peer)
        if rng.random() < 0.12:
            # A second peer: another id, or the same id (a duplicate).
            ridx2 = ridx + 1
            routes[ridx2] = self.open_route(ridx2, peer if rng.random() < 0.5 else fake_id(rng))
        nsteps = rng.randint(6, 22)
        for round_no in range(nsteps):
            self.connect_late_clients(round_no)
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
                # such steps are sent whole (Go's own reads may still cut
                # them; see the allowlist's route-pub-across-reads).
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
        self.connect_late_clients(nsteps, last=True)
        self.vary_weights()
        return self.scn

    def vary_weights(self):
        """Gives some queue RS+ of the scenario a weight of another magnitude
        (ODD_WEIGHTS), once it is built: the weight is the last token of its
        line, so only the bytes of that token change (and the write
        boundaries after it move along).  Around some of them a probe client
        of its own publishes a subject the RS+ matches just before and just
        after (Go then holds a match result for it when the interest
        arrives)."""
        wrng = self.weight_rng
        if wrng.random() >= 0.3:
            return
        steps = []
        for step in self.scn.steps:
            if step.kind != "send" or step.conn not in self.route_alive:
                steps.append(step)
                continue
            pos = 0
            probe = None
            for i, op in enumerate(step.ops):
                m = WEIGHT_RE.match(op.data)
                if m and wrng.random() < 0.5:
                    w = wrng.choice(ODD_WEIGHTS)
                    start, end = pos + m.start(2), pos + m.end(2)
                    delta = len(w) - (end - start)
                    step.ops[i] = Op(op.data[:m.start(2)] + w + op.data[m.end(2):],
                                     pongs=op.pongs, end=op.end, note=op.note)
                    step.splits = sorted(set(
                        c if c <= start else
                        c + delta if c >= end else start + min(c - start, len(w))
                        for c in step.splits))
                    pos += delta
                    if probe is None and wrng.random() < 0.6:
                        probe = literal_for(m.group(1))
                pos += len(op.data)
            if probe:
                pub = [Op(b"PUB " + probe + b" 2\r\nhi\r\n", note="PUB")]
                steps.append(Step("send", PROBE_IDX, ops=pub))
                steps.append(step)
                steps.append(Step("send", PROBE_IDX, ops=pub))
            else:
                steps.append(step)
        if any(s.conn == PROBE_IDX for s in steps):
            connect = [Op(b'CONNECT {"verbose":false,"pedantic":false}\r\n')]
            steps[:0] = [Step("open", PROBE_IDX, "client"), Step("send", PROBE_IDX, ops=connect)]
        self.scn.steps = steps


def literal_for(subject):
    """A subject that matches ``subject`` (wildcards filled in), or None
    when ``subject`` is not a valid one."""
    toks = subject.split(b".")
    if any(not t for t in toks) or b">" in toks[:-1]:
        return None
    fill = {b"*": b"x", b">": b"baz"}
    return b".".join(fill.get(t, t) for t in toks)
