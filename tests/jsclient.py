"""A small synchronous JetStream client on top of harness.Client, for the
JetStream integration tests (test_jetstream.py).

It speaks the core protocol with ``headers`` and ``no_responders`` on, keeps
one wildcard inbox subscription for requests, and sorts every delivered
message by subscription id, so a test can wait for one subscription while
others keep receiving.  Every wait is bounded.
"""

import base64
import json
import os
import time
from collections import defaultdict, deque, namedtuple

from harness import Client, ConnectionClosed, hpub, pub

API = "$JS.API."

Msg = namedtuple("Msg", "subject sid reply hdr data status description headers")
"""One delivered message.

hdr: the raw header block (bytes, b"" for MSG); status/description: the
status code and text of the ``NATS/1.0 <code> <text>`` line (None/"" when
absent); headers: {name: [values]} in arrival order.
"""


def parse_headers(block):
    """(status, description, {name: [values]}) of a raw header block."""
    if not block:
        return None, "", {}
    text = block.decode("utf-8", "replace")
    lines = text.split("\r\n")
    first = lines[0]
    assert first.startswith("NATS/1.0"), "header block must start with NATS/1.0: %r" % block
    rest = first[len("NATS/1.0"):].strip()
    status, description = None, ""
    if rest:
        code, _, description = rest.partition(" ")
        status = int(code)
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        assert sep, "malformed header line %r in %r" % (line, block)
        headers.setdefault(name, []).append(value.strip())
    return status, description.strip(), headers


def header_block(headers=None, status=None):
    """A raw header block from a dict (value: str or list of str)."""
    out = "NATS/1.0" + ("" if status is None else " %s" % status) + "\r\n"
    for name, value in (headers or {}).items():
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            out += "%s: %s\r\n" % (name, v)
    return out + "\r\n"


def hval(msg, name):
    """The first value of header ``name`` (exact case) of ``msg``, or None."""
    values = msg.headers.get(name)
    return values[0] if values else None


class AckInfo(namedtuple("AckInfo", "stream consumer delivered sseq cseq ts pending")):
    """The tokens of a v1 ack subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``."""


def ack_info(reply):
    tokens = reply.split(".")
    assert len(tokens) == 9 and tokens[:2] == ["$JS", "ACK"], "not a v1 ack subject: %r" % reply
    s, c, dc, sseq, cseq, ts, pending = tokens[2:]
    return AckInfo(s, c, int(dc), int(sseq), int(cseq), int(ts), int(pending))


class JsError(AssertionError):
    pass


class JsClient:
    """One connection; ``api()`` for JSON API calls, ``publish()`` for
    PubAcks, ``sub()``/``next_msg()`` for deliveries."""

    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.c = Client(port, timeout=timeout)
        self.c.connect(verbose=False, pedantic=False, headers=True, no_responders=True,
                       protocol=1)
        self.inbox = "_INBOX.%s" % os.urandom(8).hex()
        self._sid = 1
        self._req = 0
        self.queues = defaultdict(deque)
        self.c.send("SUB %s.* 1\r\n" % self.inbox)
        self.c.ping(timeout)

    # -- plumbing -----------------------------------------------------------

    def close(self):
        self.c.close()

    def new_inbox(self):
        self._req += 1
        return "%s.%d" % (self.inbox, self._req)

    def sub(self, subject, queue=None):
        """Subscribe; returns the sid."""
        self._sid += 1
        sid = self._sid
        self.c.send("SUB %s %s%d\r\n" % (subject, queue + " " if queue else "", sid))
        return sid

    def unsub(self, sid):
        self.c.send("UNSUB %d\r\n" % sid)
        self.queues.pop(sid, None)

    def send_pub(self, subject, payload=b"", reply=None, headers=None):
        if isinstance(payload, str):
            payload = payload.encode()
        if headers is None:
            self.c.send(pub(subject, payload, reply))
        else:
            block = headers if isinstance(headers, (str, bytes)) else header_block(headers)
            self.c.send(hpub(subject, block, payload, reply))

    def _file(self, op):
        """Handle one op that is not a PONG."""
        if op.kind == "PING":
            self.c.send(b"PONG\r\n")
        elif op.kind in ("MSG", "HMSG"):
            subject, sid = op.args[0], int(op.args[1])
            n_fixed = 3 if op.kind == "MSG" else 4
            reply = op.args[2] if len(op.args) > n_fixed else None
            status, description, headers = parse_headers(op.header)
            self.queues[sid].append(Msg(subject, sid, reply, op.header, op.payload, status,
                                        description, headers))
        elif op.kind == "-ERR":
            raise AssertionError("-ERR from server: %r" % (op.raw,))

    def _pump(self, timeout):
        """Read one op (or none within ``timeout``); False when none arrived."""
        op = self.c.poll_op(timeout)
        if op is None:
            return False
        self._file(op)
        return True

    def flush(self, timeout=None):
        """PING/PONG; messages read meanwhile are kept."""
        timeout = self.timeout if timeout is None else timeout
        self.c.send(b"PING\r\n")
        deadline = time.monotonic() + timeout
        while True:
            op = self.c.poll_op(deadline - time.monotonic())
            if op is None:
                raise AssertionError("no PONG within %.1f s" % timeout)
            if op.kind == "PONG":
                return
            self._file(op)

    def next_msg(self, sid, timeout=None, subject=None):
        """The next message of subscription ``sid`` (and, if given, exactly
        ``subject``), or None after ``timeout`` seconds."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            q = self.queues[sid]
            for i, m in enumerate(q):
                if subject is None or m.subject == subject:
                    del q[i]
                    return m
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(remaining)

    def msgs(self, sid, count=None, timeout=None, settle=0.0, subject=None):
        """Messages of ``sid`` until ``count`` arrived (or ``timeout``), then
        whatever arrives within ``settle`` seconds."""
        timeout = self.timeout if timeout is None else timeout
        out = []
        deadline = time.monotonic() + timeout
        while count is None or len(out) < count:
            m = self.next_msg(sid, max(0.0, deadline - time.monotonic()), subject)
            if m is None:
                break
            out.append(m)
        if settle:
            end = time.monotonic() + settle
            while True:
                m = self.next_msg(sid, max(0.0, end - time.monotonic()), subject)
                if m is None:
                    break
                out.append(m)
        return out

    # -- requests -----------------------------------------------------------

    def request(self, subject, payload=b"", headers=None, timeout=None):
        """Send with a fresh reply subject; the reply Msg or None on timeout."""
        reply = self.new_inbox()
        self.send_pub(subject, payload, reply, headers)
        return self.next_msg(1, timeout, subject=reply)

    def request_ok(self, subject, payload=b"", headers=None, timeout=None):
        m = self.request(subject, payload, headers, timeout)
        assert m is not None, "no reply to %s within %.1f s" % (
            subject, self.timeout if timeout is None else timeout)
        return m

    def api(self, suffix, body=None, timeout=None):
        """JSON API call ``$JS.API.<suffix>``; returns the decoded reply."""
        if body is None:
            payload = b""
        elif isinstance(body, (bytes, str)):
            payload = body
        else:
            payload = json.dumps(body)
        m = self.request_ok(API + suffix, payload, timeout=timeout)
        assert m.status is None, "status reply to %s: %r" % (suffix, m.hdr)
        return json.loads(m.data)

    def api_ok(self, suffix, body=None, timeout=None):
        r = self.api(suffix, body, timeout)
        if "error" in r:
            raise JsError("%s -> %r" % (suffix, r["error"]))
        return r

    def api_err(self, suffix, body=None, timeout=None):
        """The ``error`` object of a reply that must be an error."""
        r = self.api(suffix, body, timeout)
        assert "error" in r, "%s should fail, got %r" % (suffix, r)
        return r["error"]

    def publish(self, subject, payload=b"", headers=None, timeout=None):
        """Publish with a reply; returns the decoded PubAck."""
        m = self.request_ok(subject, payload, headers, timeout)
        assert m.status is None, "status reply to publish on %s: %r" % (subject, m.hdr)
        return json.loads(m.data)

    def publish_ok(self, subject, payload=b"", headers=None, timeout=None):
        ack = self.publish(subject, payload, headers, timeout)
        if "error" in ack:
            raise JsError("publish on %s -> %r" % (subject, ack))
        return ack

    # -- streams and consumers -------------------------------------------

    def add_stream(self, name, **config):
        config["name"] = name
        return self.api_ok("STREAM.CREATE." + name, config)

    def stream_info(self, name, body=None):
        return self.api_ok("STREAM.INFO." + name, body)

    def state(self, name):
        return self.stream_info(name)["state"]

    def add_consumer(self, stream, name=None, action=None, **config):
        body = {"stream_name": stream, "config": config}
        if action is not None:
            body["action"] = action
        if name is not None:
            subject = "CONSUMER.CREATE.%s.%s" % (stream, name)
        else:
            subject = "CONSUMER.CREATE.%s" % stream
        return self.api_ok(subject, body)

    def consumer_info(self, stream, name):
        return self.api_ok("CONSUMER.INFO.%s.%s" % (stream, name))

    def get_msg(self, stream, seq):
        """MSG.GET by sequence: (subject, data bytes, hdrs bytes) or None on
        10037."""
        r = self.api("STREAM.MSG.GET." + stream, {"seq": seq})
        if "error" in r:
            assert r["error"]["err_code"] == 10037, r
            return None
        m = r["message"]
        return (m["subject"], base64.b64decode(m.get("data", "")),
                base64.b64decode(m.get("hdrs", "")))

    def pull(self, stream, consumer, request=None, max_msgs=None, timeout=None, settle=0.0):
        """Send one pull request (``request``: dict, int, raw bytes or None)
        with its own reply subscription; returns the messages received on it
        until ``max_msgs`` data messages arrived, a terminating status
        (anything but 100) arrived, or ``timeout``, plus whatever arrives
        within ``settle``."""
        self._req += 1
        reply = "%s.pull.%d" % (self.inbox, self._req)
        sid = self.sub(reply)
        try:
            self.send_pull(stream, consumer, request, reply)
            timeout = self.timeout if timeout is None else timeout
            deadline = time.monotonic() + timeout
            out = []
            data = 0
            while max_msgs is None or data < max_msgs:
                m = self.next_msg(sid, max(0.0, deadline - time.monotonic()))
                if m is None:
                    break
                out.append(m)
                if m.status is None:
                    data += 1
                elif m.status != 100:
                    break
            if settle:
                out += self.msgs(sid, timeout=settle)
            return out
        finally:
            self.unsub(sid)

    def send_pull(self, stream, consumer, request, reply):
        """Publish a pull request without waiting for anything."""
        if request is None:
            payload = b""
        elif isinstance(request, (bytes, str)):
            payload = request
        elif isinstance(request, int):
            payload = str(request).encode()
        else:
            payload = json.dumps(request).encode()
        self.send_pub(API + "CONSUMER.MSG.NEXT.%s.%s" % (stream, consumer), payload, reply)

    def ack(self, msg, payload=b""):
        """Publish ``payload`` to ``msg``'s ack subject (no reply)."""
        self.send_pub(msg.reply, payload)


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it returns a true value; that value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except (ConnectionClosed, OSError) as e:
            last = e
            value = None
        else:
            value = last
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s not reached within %.1f s (last: %r)" % (what, timeout, last))
        time.sleep(interval)


def wait_js_ready(port, timeout=15.0):
    """Wait until ``$JS.API.INFO`` on ``port`` answers with account info."""
    def ready():
        c = JsClient(port, timeout=1.0)
        try:
            m = c.request("$JS.API.INFO", timeout=1.0)
            return m is not None and m.status is None and b"account_info_response" in m.data
        finally:
            c.close()
    wait_for(ready, timeout, 0.1, "JetStream answering on port %d" % port)
