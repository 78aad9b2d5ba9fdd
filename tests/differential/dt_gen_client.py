"""Client-side ops and client scenarios (see dt_gen)."""

import json

from dt_gen import (HEADER_BLOCKS, REPLIES, Op, Step, Style, b, choose_splits, payload,
                    pub_subject, sub_subject, weighted)


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
