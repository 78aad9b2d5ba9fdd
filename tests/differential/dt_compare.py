"""Normalising two observations of one scenario and comparing them.

What is normalised, and why (nothing else is):

* INFO values that differ between any two server processes: ``server_id``
  (and ``server_name`` when it is the id), ``nonce``, ``client_id``,
  ``version``, ``go``, ``git_commit``, and the listen ports (in ``port``,
  ``ip``, ``connect_urls`` and ``leafnode_urls``), replaced by placeholders.
  Key order, the other keys and the framing are compared as sent.
* The random loop-detection subject (``$LDS.`` and 22 characters) a server
  announces to its leafs.
* A generated cluster name (servers started without one), wherever it
  appears.
* ``PING`` from the server: timer driven (first one about a second or two
  after a connection starts), so dropped.
* On a route or leaf: RS+/RS- (LS+/LS-) ops within the PONG-delimited
  stretch that answers our handshake or follows a disconnection; the Go
  server emits those from a hash map walk, so their order is not part of the
  protocol and they are sorted within that stretch.
* On a leaf: the queue names an LMSG/HMSG lists (``| q1 q2``), which Go
  collects from a map walk, sorted.
* Copies of one message for several subscriptions of one connection: Go
  lists matching subscriptions from a map walk, so their order is random;
  each run of such copies is sorted by sid.
* Deliveries to queue-group members (the generator gives them sids starting
  with ``Q``): which member gets a message is random by design, so they are
  taken out of the per-connection streams and compared as one multiset per
  scenario, keyed by group instead of sid.
* JetStream scenarios (``js:N``): what dt_js's docstring lists (JSON
  compared parsed, times, random names, Go 2.11+ additions).
* Route INFO: the ``lnocu`` flag of Go 2.10+ (rnats announces it; the
  reference, Go 2.9.10, does not).
* Whatever the allowlist (allowlist.toml) says.
"""

import difflib
import json
import re

from dt_core import split_ops

INFO_STR_PLACEHOLDERS = {
    "version": "<version>", "go": "<go>", "git_commit": "<git_commit>", "nonce": "<nonce>",
}


def norm_info(op, server_id, ports):
    try:
        text = op.decode("utf-8")
    except UnicodeDecodeError:
        return op

    def repl_str(m):
        key, val = m.group(1), m.group(2)
        if key in INFO_STR_PLACEHOLDERS:
            return '"%s":"%s"' % (key, INFO_STR_PLACEHOLDERS[key])
        if key in ("server_id", "server_name") and server_id and val == server_id:
            return '"%s":"<server_id>"' % key
        return m.group(0)

    text = re.sub(r'"(version|go|git_commit|nonce|server_id|server_name)":"((?:[^"\\]|\\.)*)"',
                  repl_str, text)
    text = re.sub(r'"client_id":\d+', '"client_id":"<client_id>"', text)
    # Go 2.10+ announces `lnocu` (origins in LS-) on routes, as rnats does;
    # the reference, Go 2.9.10, predates it.
    text = text.replace(',"lnocu":true', '')

    def repl_port(m):
        p = int(m.group(1))
        return '"port":"<%s>"' % ports[p] if p in ports else m.group(0)

    text = re.sub(r'"port":(\d+)', repl_port, text)

    def repl_urls(m):
        def one(u):
            host, _, port = u.group(1).rpartition(":")
            if port.isdigit() and int(port) in ports:
                return '"%s:<%s>"' % (host, ports[int(port)])
            return u.group(0)
        return '"%s":[' % m.group(1) + re.sub(r'"([^"]*)"', one, m.group(2)) + "]"

    text = re.sub(r'"(connect_urls|leafnode_urls)":\[([^\]]*)\]', repl_urls, text)

    def repl_ip(m):
        host, _, port = m.group(1).rpartition(":")
        if port.isdigit() and int(port) in ports:
            return '"ip":"%s:<%s>"' % (host, ports[int(port)])
        return m.group(0)

    text = re.sub(r'"ip":"([^"]*)"', repl_ip, text)
    return text.encode("utf-8")


def is_rs(op):
    head = op[:3].upper()
    return head in (b"RS+", b"RS-", b"LS+", b"LS-")


LDS_SUBJECT_RE = re.compile(rb"\$LDS\.[A-Za-z0-9]{22}(?![A-Za-z0-9])")


def sort_leaf_queues(op):
    """An LMSG/HMSG with the queue names it lists sorted."""
    nl = op.find(b"\n")
    line = op[:nl + 1]
    body = line.rstrip(b"\r\n")
    parts = body.split(b" ")
    verb = parts[0].upper()
    if verb not in (b"LMSG", b"HMSG") or len(parts) < 4 or parts[2] not in (b"+", b"|"):
        return op
    nsizes = 2 if verb == b"HMSG" else 1
    start = 4 if parts[2] == b"+" else 3
    end = len(parts) - nsizes
    if end - start < 2:
        return op
    parts[start:end] = sorted(parts[start:end])
    return b" ".join(parts) + line[len(body):] + op[nl + 1:]


def _copy_key(op):
    """An MSG/HMSG without its sid: copies of one message to several
    subscriptions of a connection share it."""
    nl = op.find(b"\n")
    parts = op[:nl].split(b" ")
    if parts[0].upper() not in (b"MSG", b"HMSG") or len(parts) < 4:
        return None
    return (parts[0], parts[1], b" ".join(parts[3:]), op[nl:])


def sort_copies(ops):
    """Go walks a map to list the subscriptions a message matches, so the
    copies a connection gets for its several matching subscriptions come in
    any order: sort each run of copies of one message by sid."""
    out = []
    i = 0
    while i < len(ops):
        k = _copy_key(ops[i])
        j = i + 1
        if k is not None:
            while j < len(ops) and _copy_key(ops[j]) == k:
                j += 1
        out += sorted(ops[i:j]) if j - i > 1 else ops[i:j]
        i = j
    return out


def queue_key(op):
    """For a MSG/HMSG to a sid starting with Q: the op with the sid replaced
    by its group (``Qqa_3`` -> ``Qqa``); else None."""
    nl = op.find(b"\n")
    parts = op[:nl].split(b" ")
    verb = parts[0].upper()
    if verb not in (b"MSG", b"HMSG") or len(parts) < 4:
        return None
    sid = parts[2]
    if not sid.startswith(b"Q"):
        return None
    parts[2] = sid.split(b"_")[0]
    return b" ".join(parts) + op[nl:]


class Normalised:
    def __init__(self):
        self.js = False      # a JetStream scenario (signatures from dt_js)
        self.conns = {}      # idx -> {"kind", "ops", "tail", "closed"}
        self.queue = []      # sorted queue deliveries
        self.server_exit = None
        self.server_log_tail = ""


def normalise(obs, allow):
    out = Normalised()
    out.js = getattr(obs, "js", False)
    out.server_exit = obs.server_exit
    out.server_log_tail = obs.server_log_tail
    queue = []
    for idx in sorted(obs.conns):
        c = obs.conns[idx]
        ops, end = split_ops(c["rx"])
        tail = c["rx"][end:]
        # Segment number of each op: 1 + PONGs before it.
        segs, n = [], 1
        for op in ops:
            segs.append(n)
            if op[:4].upper() == b"PONG":
                n += 1
        keep = []
        gen = obs.cluster_name
        for op, seg in zip(ops, segs):
            if op == b"PING\r\n":
                continue
            if gen and gen in op:
                op = op.replace(gen, b"<generated-cluster-name>")
            if b"$LDS." in op:
                op = LDS_SUBJECT_RE.sub(b"$LDS.<lds>", op)
            if c["kind"] == "leaf" and op[1:4].upper() == b"MSG":
                op = sort_leaf_queues(op)
            if op[:5].upper() == b"INFO ":
                op = norm_info(op, obs.server_id, obs.ports)
            keep.append((op, seg))
        sortable = obs.sortable.get(idx, set())
        if c["kind"] in ("route", "leaf") and sortable:
            for seg in sortable:
                pos = [i for i, (op, s) in enumerate(keep) if s == seg and is_rs(op)]
                vals = sorted(keep[i][0] for i in pos)
                for i, v in zip(pos, vals):
                    keep[i] = (v, seg)
        ops = [op for op, _ in keep]
        if getattr(obs, "js", False) and c["kind"] == "client":
            # JetStream scenarios: see dt_js's docstring.
            from dt_js import normalise_ops
            ops = normalise_ops(ops, obs)
        ops = allow.apply_ops(ops, c["kind"])
        if c["kind"] == "client":
            rest = []
            for op in ops:
                k = queue_key(op)
                if k is None:
                    rest.append(op)
                else:
                    queue.append(k)
            ops = sort_copies(rest)
        out.conns[idx] = {"kind": c["kind"], "ops": ops, "tail": tail, "closed": c["closed"],
                          "timeouts": c.get("timeouts", [])}
    out.queue = sorted(queue)
    return out


def op_shape(op):
    """A short description of an op for grouping differences."""
    if op is None:
        return "<nothing>"
    line = op.split(b"\n", 1)[0].rstrip(b"\r")
    parts = line.split(b" ")
    verb = parts[0].upper().decode("latin-1")
    if verb in ("-ERR",):
        return line.decode("latin-1")
    if verb == "INFO":
        return "INFO"
    if verb in ("MSG", "HMSG", "RMSG", "LMSG", "RS+", "RS-", "LS+", "LS-"):
        return verb
    if verb in ("PONG", "+OK"):
        return verb
    return "<%s...>" % line[:20].decode("latin-1")


def info_delta(a, b):
    """Keys/values that differ between two normalised INFO lines."""
    try:
        ja = json.loads(a[5:].strip())
        jb = json.loads(b[5:].strip())
    except ValueError:
        return "INFO text differs"
    diffs = []
    for k in list(ja) + [k for k in jb if k not in ja]:
        if ja.get(k, "<absent>") != jb.get(k, "<absent>"):
            diffs.append("%s: %s vs %s" % (k, json.dumps(ja.get(k, "<absent>")),
                                           json.dumps(jb.get(k, "<absent>"))))
    if not diffs and list(ja) != list(jb):
        diffs.append("key order")
    if not diffs:
        diffs.append("INFO framing/spacing")
    return "; ".join(diffs)


class Difference:
    def __init__(self, conn, kind, signature, detail):
        self.conn = conn
        self.kind = kind
        self.signature = signature
        self.detail = detail

    def __repr__(self):
        return "conn %s (%s): %s" % (self.conn, self.kind, self.signature)


def _hunk_signature(kind, a, b, i, j, js=False):
    oa = a["ops"][i] if i < len(a["ops"]) else None
    ob = b["ops"][j] if j < len(b["ops"]) else None
    if js and kind == "client":
        from dt_js import hunk_signature
        return hunk_signature(oa, ob)
    if oa is not None and ob is not None and oa[:5] == b"INFO " and ob[:5] == b"INFO ":
        return "%s INFO differs: %s" % (kind, info_delta(oa, ob))
    sa = op_shape(oa) if oa is not None else ("<closed>" if a["closed"] else "<end, open>")
    sb = op_shape(ob) if ob is not None else ("<closed>" if b["closed"] else "<end, open>")
    return "%s: reference %s / candidate %s" % (kind, sa, sb)


def _is_info_hunk(a, b, tag, i1, i2, j1, j2):
    return (tag == "replace" and i2 - i1 == j2 - j1
            and all(x[:5] == b"INFO " for x in a["ops"][i1:i2] + b["ops"][j1:j2]))


def compare(na, nb):
    """Differences between reference ``na`` and candidate ``nb``: per
    connection, every differing INFO (paired up) and the first other
    difference, each with a signature for grouping."""
    diffs = []
    for label, n in (("reference", na), ("candidate", nb)):
        if n.server_exit is not None:
            diffs.append(Difference("-", "server", "%s server exited during the scenario" % label,
                                    "status %s; log tail:\n%s" % (n.server_exit,
                                                                  n.server_log_tail)))
    if na.js:
        from dt_js import pair_masks
        pair_masks(na, nb)
    for idx in sorted(set(na.conns) | set(nb.conns)):
        a = na.conns.get(idx)
        b = nb.conns.get(idx)
        if a is None or b is None:
            diffs.append(Difference(idx, "?", "connection missing on one side", ""))
            continue
        kind = a["kind"]
        other = False
        if a["ops"] != b["ops"]:
            sm = difflib.SequenceMatcher(a=a["ops"], b=b["ops"], autojunk=False)
            for tag, i1, i2, j1, j2 in sm.get_opcodes():
                if tag == "equal":
                    continue
                if _is_info_hunk(a, b, tag, i1, i2, j1, j2):
                    for k in range(i2 - i1):
                        diffs.append(Difference(idx, kind, _hunk_signature(
                            kind, a, b, i1 + k, j1 + k), "INFO at op %d" % (i1 + k)))
                    continue
                if not other:
                    diffs.append(Difference(idx, kind, _hunk_signature(kind, a, b, i1, j1,
                                                                       na.js),
                                            "ops %d..%d vs %d..%d" % (i1, i2, j1, j2)))
                    other = True
        if not other and a["closed"] != b["closed"]:
            sig = "%s: same output, reference %s / candidate %s" % (
                kind, "closed" if a["closed"] else "open", "closed" if b["closed"] else "open")
            diffs.append(Difference(idx, kind, sig, ""))
        elif not other and a["tail"] != b["tail"]:
            diffs.append(Difference(idx, kind, "%s: trailing partial output differs" % kind, ""))
    if na.queue != nb.queue:
        sa, sb = set(na.queue), set(nb.queue)
        only_a = [x for x in na.queue if x not in sb][:3]
        only_b = [x for x in nb.queue if x not in sa][:3]
        diffs.append(Difference("*", "queue", "queue-group deliveries differ",
                                "only reference: %r; only candidate: %r" % (only_a, only_b)))
    return diffs
