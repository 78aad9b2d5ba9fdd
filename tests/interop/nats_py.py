#!/usr/bin/env python3
"""Interoperability test: drive a NATS server with the nats-py client.

Starts the server binary on 127.0.0.1 with a free port and runs a series of
checks with the asyncio `nats` client from PyPI (package `nats-py`):

    python3 tests/interop/nats_py.py                      # target/release/rnats-server
    NATS_SERVER_BIN=/usr/sbin/nats-server python3 tests/interop/nats_py.py
    python3 tests/interop/nats_py.py --server-bin "$(which nats-server)"

Every check prints `ok - <name>` or `not ok - <name>: <reason>`; the last
line is `N passed, M failed` and the exit status is non-zero on any failure.
Each check has its own time bound and all checks share a 45 s budget, so a
run stays well under a minute even against a server that hangs. `--only TEXT`
runs just the checks whose name contains TEXT.

The server is started as `<bin> -a 127.0.0.1 -p <port>`; the reconnect check
kills it (SIGKILL to the process group it was started in) and starts it again
on the same port, so it must be the last check.
"""

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

try:
    import nats
    import nats.errors
except ImportError:  # pragma: no cover - environment problem, not a test failure
    print("nats-py is not installed (pip install nats-py)", file=sys.stderr)
    sys.exit(2)

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SERVER_BIN = REPO_ROOT / "target" / "release" / "rnats-server"
HOST = "127.0.0.1"

CHECK_TIMEOUT = 10.0  # default upper bound for a single check, seconds
TOTAL_BUDGET = 45.0  # upper bound for all checks together, seconds
STARTUP_TIMEOUT = 5.0  # how long a freshly started server may take to answer
CLOSE_TIMEOUT = 2.0  # upper bound for closing the client connections of a check


class CheckFailed(Exception):
    """Raised by a check when the observed behaviour is wrong."""


def expect(cond, reason):
    if not cond:
        raise CheckFailed(reason)


def nats_py_version():
    try:
        from importlib.metadata import version

        return version("nats-py")
    except Exception:
        return "unknown"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ServerProcess:
    """One server process on a fixed loopback port; can be killed and restarted."""

    def __init__(self, binary, port, log_dir):
        self.binary = binary
        self.port = port
        self.log_path = Path(log_dir) / f"server-{port}.log"
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return f"nats://{HOST}:{self.port}"

    def start(self):
        self.starts += 1
        log = open(self.log_path, "ab")
        try:
            log.write(f"--- start #{self.starts} ---\n".encode())
            log.flush()
            # A new session makes the child the leader of its own process
            # group, so a wrapper script and the real server die together.
            self.proc = subprocess.Popen(
                [str(self.binary), "-a", HOST, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {self.proc.returncode} during startup\n"
                    + self.log_tail()
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as s:
                    s.settimeout(1.0)
                    first = s.recv(4096)
                    if first.startswith(b"INFO "):
                        return
                    last_err = f"unexpected greeting {first[:60]!r}"
            except OSError as e:
                last_err = str(e)
            time.sleep(0.05)
        raise RuntimeError(
            f"server not ready on port {self.port} after {STARTUP_TIMEOUT}s ({last_err})\n"
            + self.log_tail()
        )

    def kill(self):
        """SIGKILL the process group of the process this object started."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def log_tail(self, lines=20):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join("    | " + line for line in text[-lines:])


class Context:
    """Per-check helper: opens client connections and closes them afterwards."""

    def __init__(self, server):
        self.server = server
        self.conns = []
        self.unexpected_errors = []

    async def connect(self, expect_errors=False, **kwargs):
        errors_seen = self.unexpected_errors if not expect_errors else []

        async def on_error(e):
            errors_seen.append(f"{type(e).__name__}: {e}")

        kwargs.setdefault("connect_timeout", 2)
        kwargs.setdefault("allow_reconnect", False)
        kwargs.setdefault("error_cb", on_error)
        nc = await nats.connect(servers=[self.server.url], **kwargs)
        self.conns.append(nc)
        return nc

    async def close_all(self):
        conns, self.conns = [n for n in self.conns if not n.is_closed], []
        if not conns:
            return
        try:
            await asyncio.wait_for(
                asyncio.gather(*(n.close() for n in conns), return_exceptions=True),
                CLOSE_TIMEOUT,
            )
        except (asyncio.TimeoutError, Exception):
            pass


async def sync(nc, timeout=2.0):
    """Round trip ordered after every command `nc` has queued so far.

    nats-py's flush() writes its PING straight to the socket, ahead of
    commands still sitting in the client's pending buffer, so a returned
    flush() does not prove that an earlier SUB or PUB reached the server.
    A message sent to a private inbox and received back does. Adds exactly
    one message to nc.stats["in_msgs"]. Needs echo (not for no_echo clients).
    """
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(inbox, b"")
    await sub.next_msg(timeout=timeout)
    await sub.unsubscribe()


async def wait_until(pred, timeout, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(step)
    return pred()


async def recv_until(sub, sentinel_subject, limit=100, timeout=2.0):
    """Collect message subjects from `sub` up to and including the sentinel."""
    got = []
    for _ in range(limit):
        msg = await sub.next_msg(timeout=timeout)
        got.append(msg.subject)
        if msg.subject == sentinel_subject:
            return got
    raise CheckFailed(f"sentinel {sentinel_subject} not seen; got {got}")


# --------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------


async def check_connect_info(ctx):
    nc = await ctx.connect(name="interop-info")
    expect(nc.is_connected, "client is not in connected state after connect()")
    info = nc._server_info
    for key in ("server_id", "version", "max_payload", "proto", "headers"):
        expect(key in info, f"INFO lacks {key!r}: {sorted(info)}")
    expect(info["headers"] is True, f"INFO headers={info['headers']!r}, expected true")
    expect(
        isinstance(info["max_payload"], int) and info["max_payload"] > 0,
        f"bad max_payload {info['max_payload']!r}",
    )
    expect(nc.max_payload == info["max_payload"], "client did not adopt max_payload")
    ver = nc.connected_server_version
    try:
        ver.major
    except ValueError as e:
        raise CheckFailed(f"server version not semver: {e}")
    expect(nc.client_id is not None, "INFO lacks client_id")


async def check_flush_rtt(ctx):
    nc = await ctx.connect()
    await nc.flush(timeout=2)
    rtt = await nc.rtt(timeout=2)
    expect(0 <= rtt < 2, f"implausible rtt {rtt}")
    for _ in range(50):
        await nc.flush(timeout=2)


async def check_pub_sub(ctx):
    nc = await ctx.connect()
    sub = await nc.subscribe("interop.pubsub")
    for i in range(3):
        await nc.publish("interop.pubsub", f"hello-{i}".encode())
    await nc.publish("interop.pubsub", b"")  # empty payload
    for i in range(3):
        msg = await sub.next_msg(timeout=2)
        expect(msg.subject == "interop.pubsub", f"subject {msg.subject!r}")
        expect(msg.data == f"hello-{i}".encode(), f"payload {msg.data!r}")
        expect(not msg.reply, f"unexpected reply subject {msg.reply!r}")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"", f"empty payload came back as {msg.data!r}")

    # Across connections as well.
    other = await ctx.connect()
    await other.publish("interop.pubsub", b"from-other", reply="interop.reply.to")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"from-other", f"payload {msg.data!r}")
    expect(msg.reply == "interop.reply.to", f"reply subject {msg.reply!r}")


async def check_no_echo(ctx):
    nc = await ctx.connect(no_echo=True)
    other = await ctx.connect()
    sub = await nc.subscribe("interop.noecho")
    watcher = await other.subscribe("interop.noecho")

    async def pong(msg):
        await msg.respond(b"pong")

    await other.subscribe("interop.noecho.ping", cb=pong)
    await sync(other)

    # A request answered by another connection orders everything nc queued
    # before it (sync() cannot be used: it relies on echo).
    await nc.request("interop.noecho.ping", b"", timeout=2)
    await nc.publish("interop.noecho", b"own")
    await nc.request("interop.noecho.ping", b"", timeout=2)
    msg = await watcher.next_msg(timeout=2)
    expect(msg.data == b"own", f"other connection saw {msg.data!r}")
    await other.publish("interop.noecho", b"foreign")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"foreign", f"no_echo connection received its own message {msg.data!r}")


async def check_request_reply(ctx):
    nc = await ctx.connect()
    responder = await ctx.connect()

    async def serve(msg):
        await msg.respond(b"echo:" + msg.data)

    await responder.subscribe("interop.svc", cb=serve)
    await sync(responder)

    msg = await nc.request("interop.svc", b"ping", timeout=2)
    expect(msg.data == b"echo:ping", f"reply {msg.data!r}")

    replies = await asyncio.gather(
        *(nc.request("interop.svc", str(i).encode(), timeout=3) for i in range(25))
    )
    for i, r in enumerate(replies):
        expect(r.data == f"echo:{i}".encode(), f"reply {i} was {r.data!r}")


async def check_request_old_style(ctx):
    nc = await ctx.connect()

    async def serve(msg):
        await msg.respond(msg.data.upper())

    await nc.subscribe("interop.svc.old", cb=serve)
    msg = await nc.request("interop.svc.old", b"quiet", timeout=2, old_style=True)
    expect(msg.data == b"QUIET", f"reply {msg.data!r}")


async def check_headers(ctx):
    nc = await ctx.connect()
    other = await ctx.connect()
    sub = await other.subscribe("interop.hdr")
    await sync(other)

    sent = {"X-Interop": "yes", "Trace-Id": "abc-123", "Spaced": "two words"}
    await nc.publish("interop.hdr", b"with-headers", headers=sent)
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"with-headers", f"payload {msg.data!r}")
    expect(msg.headers is not None, "headers were lost")
    for k, v in sent.items():
        expect(msg.headers.get(k) == v, f"header {k}: got {msg.headers.get(k)!r}, want {v!r}")

    # Headers with an empty payload, then a plain message on the same subject.
    await nc.publish("interop.hdr", b"", headers={"Only": "header"})
    await nc.publish("interop.hdr", b"plain")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"" and msg.headers == {"Only": "header"}, f"got {msg.data!r} {msg.headers!r}")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"plain" and not msg.headers, f"got {msg.data!r} {msg.headers!r}")

    # Headers in both directions of a request.
    async def serve(m):
        await other.publish(
            m.reply, b"answer", headers={"Echo": (m.headers or {}).get("Ask", "missing")}
        )

    await other.subscribe("interop.hdr.svc", cb=serve)
    await sync(other)
    reply = await nc.request("interop.hdr.svc", b"q", timeout=2, headers={"Ask": "42"})
    expect(reply.data == b"answer", f"reply payload {reply.data!r}")
    expect((reply.headers or {}).get("Echo") == "42", f"reply headers {reply.headers!r}")


async def check_queue_groups(ctx):
    n = 300
    pub = await ctx.connect()
    members = []
    counts = [0, 0, 0]
    seen = []
    plain_seen = []
    for idx in range(3):
        nc = await ctx.connect()

        def make_cb(k):
            async def cb(msg):
                counts[k] += 1
                seen.append(int(msg.data))

            return cb

        members.append(await nc.subscribe("interop.queue", queue="workers", cb=make_cb(idx)))
        await sync(nc)

    async def plain_cb(msg):
        plain_seen.append(int(msg.data))

    await pub.subscribe("interop.queue", cb=plain_cb)
    await sync(pub)

    for i in range(n):
        await pub.publish("interop.queue", str(i).encode())
    await sync(pub)

    await wait_until(lambda: len(seen) >= n and len(plain_seen) >= n, 5)
    await asyncio.sleep(0.2)  # give duplicates a chance to show up
    expect(len(seen) == n, f"queue group received {len(seen)} messages, expected {n}")
    expect(sorted(seen) == list(range(n)), "some messages duplicated or missing in queue group")
    expect(sum(1 for c in counts if c > 0) >= 2, f"no distribution across members: {counts}")
    expect(plain_seen == list(range(n)), f"plain subscriber got {len(plain_seen)} messages")


async def check_wildcard_star(ctx):
    nc = await ctx.connect()
    sub = await nc.subscribe("interop.wc.*")
    sub2 = await nc.subscribe("interop.*.mid.*")
    for subj in (
        "interop.wc.a",
        "interop.wc",
        "interop.wc.a.b",
        "interop.wc.b",
        "interop.x.mid.y",
        "interop.x.mid",
        "interop.wc.end",
    ):
        await nc.publish(subj, b"")
    await nc.publish("interop.end.mid.end", b"")
    got = await recv_until(sub, "interop.wc.end")
    expect(got == ["interop.wc.a", "interop.wc.b", "interop.wc.end"], f"'*' matched {got}")
    got = await recv_until(sub2, "interop.end.mid.end")
    expect(got == ["interop.x.mid.y", "interop.end.mid.end"], f"'*.mid.*' matched {got}")


async def check_wildcard_gt(ctx):
    nc = await ctx.connect()
    sub = await nc.subscribe("interop.fw.>")
    sub2 = await nc.subscribe(">")
    for subj in (
        "interop.fw",
        "interop.fw.a",
        "interop.other.a",
        "interop.fw.a.b.c",
        "interop.fwx.a",
        "interop.fw.end",
    ):
        await nc.publish(subj, b"")
    got = await recv_until(sub, "interop.fw.end")
    expect(got == ["interop.fw.a", "interop.fw.a.b.c", "interop.fw.end"], f"'>' matched {got}")
    got = await recv_until(sub2, "interop.fw.end")
    expect(len(got) == 6, f"full wildcard '>' saw {got}")


async def check_sub_drain(ctx):
    nc = await ctx.connect()
    pub = await ctx.connect()
    n = 200
    received = []

    async def slow(msg):
        await asyncio.sleep(0.001)
        received.append(int(msg.data))

    sub = await nc.subscribe("interop.drain.sub", cb=slow)
    await sync(nc)
    for i in range(n):
        await pub.publish("interop.drain.sub", str(i).encode())
    await sync(pub)
    await asyncio.wait_for(sub.drain(), 6)
    expect(received == list(range(n)), f"drained subscription processed {len(received)}/{n}")

    # The server must have dropped the interest: later messages never arrive.
    await sync(nc)
    before = nc.stats["in_msgs"]
    for i in range(10):
        await pub.publish("interop.drain.sub", b"late")
    await sync(pub)
    await sync(nc)
    late = nc.stats["in_msgs"] - before - 1  # minus the sync message
    expect(late == 0 and len(received) == n, f"{late} messages delivered after drain")
    expect(nc.is_connected, "connection not usable after subscription drain")


async def check_conn_drain(ctx):
    nc = await ctx.connect()
    closed = asyncio.Event()

    async def on_closed():
        closed.set()

    drainer = await ctx.connect(closed_cb=on_closed, drain_timeout=5)
    n = 100
    received = []

    async def cb(msg):
        await asyncio.sleep(0.001)
        received.append(int(msg.data))

    await drainer.subscribe("interop.drain.conn", cb=cb)
    await sync(drainer)
    out = await nc.subscribe("interop.drain.out")
    await sync(nc)

    for i in range(n):
        await nc.publish("interop.drain.conn", str(i).encode())
    await sync(nc)
    # Publications still buffered in the draining client must go out too.
    for i in range(10):
        await drainer.publish("interop.drain.out", str(i).encode())

    await asyncio.wait_for(drainer.drain(), 6)
    await asyncio.wait_for(closed.wait(), 3)
    expect(drainer.is_closed, "connection not closed after drain")
    expect(received == list(range(n)), f"drain processed {len(received)}/{n} messages")
    for i in range(10):
        msg = await out.next_msg(timeout=2)
        expect(msg.data == str(i).encode(), f"publish before drain lost: got {msg.data!r}")
    try:
        await drainer.publish("interop.drain.conn", b"x")
    except nats.errors.ConnectionClosedError:
        pass
    else:
        raise CheckFailed("publish after drain did not fail")


async def check_no_responders(ctx):
    nc = await ctx.connect()
    t0 = time.monotonic()
    try:
        await nc.request("interop.nobody.home", b"anyone?", timeout=3)
    except nats.errors.NoRespondersError:
        pass
    else:
        raise CheckFailed("request without responders returned a reply")
    elapsed = time.monotonic() - t0
    expect(elapsed < 2.0, f"no-responders status took {elapsed:.2f}s (a timeout, not a 503?)")

    try:
        await nc.request("interop.nobody.home", b"", timeout=3, old_style=True)
    except nats.errors.NoRespondersError:
        pass
    else:
        raise CheckFailed("old-style request without responders returned a reply")


async def check_large_payload(ctx):
    pub = await ctx.connect()
    rcv = await ctx.connect()
    max_payload = pub.max_payload
    expect(max_payload >= 1024 * 1024, f"max_payload {max_payload} below 1 MiB")
    sub = await rcv.subscribe("interop.big")
    await sync(rcv)
    for size in (1024 * 1024 - 1024, 1024 * 1024):
        data = os.urandom(size)
        await pub.publish("interop.big", data)
        msg = await sub.next_msg(timeout=5)
        expect(len(msg.data) == size, f"got {len(msg.data)} bytes, sent {size}")
        expect(msg.data == data, f"payload of {size} bytes corrupted")
    expect(pub.is_connected and rcv.is_connected, "connection dropped after large payloads")


async def check_many_messages(ctx):
    n = 10_000
    pub = await ctx.connect()
    rcv = await ctx.connect()
    received = []
    done = asyncio.Event()

    async def cb(msg):
        received.append(msg.data)
        if len(received) >= n:
            done.set()

    await rcv.subscribe("interop.many", cb=cb)
    await sync(rcv)
    for i in range(n):
        await pub.publish("interop.many", b"%d" % i)
    await sync(pub, 5)
    try:
        await asyncio.wait_for(done.wait(), 7)
    except asyncio.TimeoutError:
        raise CheckFailed(f"received {len(received)}/{n} messages")
    expected = [b"%d" % i for i in range(n)]
    if received != expected:
        first_bad = next(i for i, (a, b) in enumerate(zip(received, expected)) if a != b)
        raise CheckFailed(f"out of order at index {first_bad}: {received[first_bad]!r}")


async def check_auto_unsubscribe(ctx):
    pub = await ctx.connect()
    rcv = await ctx.connect()

    # Limit set before any message: exactly 5 of 10 may reach the client.
    sub = await rcv.subscribe("interop.auto")
    await sub.unsubscribe(limit=5)
    await sync(rcv)
    before = rcv.stats["in_msgs"]
    for i in range(10):
        await pub.publish("interop.auto", str(i).encode())
    await sync(pub)
    await sync(rcv)  # every delivery to rcv is in before this returns
    got = []
    for _ in range(5):
        got.append(int((await sub.next_msg(timeout=2)).data))
    expect(got == [0, 1, 2, 3, 4], f"auto-unsubscribed sub got {got}")
    delivered = rcv.stats["in_msgs"] - before - 1  # minus the sync message
    expect(delivered == 5, f"server delivered {delivered} messages past UNSUB limit 5")

    # Limit set after 3 messages: the limit counts those, so 2 more arrive.
    received = []

    async def cb(msg):
        received.append(int(msg.data))

    sub2 = await rcv.subscribe("interop.auto2", cb=cb)
    await sync(rcv)
    for i in range(3):
        await pub.publish("interop.auto2", str(i).encode())
    await sync(pub)
    await wait_until(lambda: len(received) >= 3, 2)
    expect(received == [0, 1, 2], f"before limit got {received}")
    await sub2.unsubscribe(limit=5)
    await sync(rcv)
    before = rcv.stats["in_msgs"]
    for i in range(3, 10):
        await pub.publish("interop.auto2", str(i).encode())
    await sync(pub)
    await sync(rcv)
    await wait_until(lambda: len(received) >= 5, 2)
    await asyncio.sleep(0.05)
    delivered = rcv.stats["in_msgs"] - before - 1  # minus the sync message
    expect(received == [0, 1, 2, 3, 4], f"after limit got {received}")
    expect(delivered == 2, f"server delivered {delivered} messages, expected 2")


async def check_reconnect(ctx):
    server = ctx.server
    disconnected = asyncio.Event()
    reconnected = asyncio.Event()

    async def on_disconnect():
        disconnected.set()

    async def on_reconnect():
        reconnected.set()

    nc = await ctx.connect(
        expect_errors=True,  # refused connection attempts while the server is down
        allow_reconnect=True,
        reconnect_time_wait=0.2,
        max_reconnect_attempts=60,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    sub = await nc.subscribe("interop.reconnect")
    limited = await nc.subscribe("interop.reconnect.limited")
    await limited.unsubscribe(limit=3)
    await nc.publish("interop.reconnect.limited", b"0")
    await nc.publish("interop.reconnect", b"before")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"before", f"pre-restart payload {msg.data!r}")

    server.kill()
    try:
        await asyncio.wait_for(disconnected.wait(), 5)
    except asyncio.TimeoutError:
        raise CheckFailed("disconnected callback did not fire after server was killed")

    # Buffered while the server is down, sent after the reconnect.
    await nc.publish("interop.reconnect", b"while-down")

    server.start()
    try:
        await asyncio.wait_for(reconnected.wait(), 6)
    except asyncio.TimeoutError:
        raise CheckFailed("client did not reconnect within 6s")
    expect(nc.is_connected, "client not connected after reconnected callback")
    expect(nc.stats["reconnects"] >= 1, "reconnect counter not incremented")
    await nc.flush(timeout=2)

    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"while-down", f"buffered publish came back as {msg.data!r}")
    await nc.publish("interop.reconnect", b"after")
    msg = await sub.next_msg(timeout=2)
    expect(msg.data == b"after", f"post-restart payload {msg.data!r}")

    # The re-sent subscription keeps its remaining auto-unsubscribe budget (2).
    for i in range(1, 6):
        await nc.publish("interop.reconnect.limited", str(i).encode())
    got = []
    for _ in range(3):
        got.append((await limited.next_msg(timeout=2)).data)
    expect(got == [b"0", b"1", b"2"], f"limited subscription got {got}")

    # A fresh connection and request/reply against the restarted server.
    other = await ctx.connect()

    async def serve(m):
        await m.respond(b"back")

    await other.subscribe("interop.reconnect.svc", cb=serve)
    await sync(other)
    reply = await nc.request("interop.reconnect.svc", b"", timeout=2)
    expect(reply.data == b"back", f"request after restart got {reply.data!r}")


CHECKS = [
    ("connect and INFO", check_connect_info),
    ("flush and round trip", check_flush_rtt),
    ("pub/sub", check_pub_sub),
    ("no_echo", check_no_echo),
    ("request/reply", check_request_reply),
    ("request/reply old-style inbox", check_request_old_style),
    ("headers", check_headers),
    ("queue groups", check_queue_groups),
    ("wildcard *", check_wildcard_star),
    ("wildcard >", check_wildcard_gt),
    ("subscription drain", check_sub_drain),
    ("connection drain", check_conn_drain),
    ("no responders", check_no_responders),
    ("payload near 1 MiB", check_large_payload),
    ("10000 messages in order", check_many_messages),
    ("auto-unsubscribe", check_auto_unsubscribe),
    # Keep last: kills and restarts the server. Needs room for a restart.
    ("reconnect after server restart", check_reconnect, 20.0),
]


def where(exc):
    """Locate exc in this file: the check's line, plus the helper's if different."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__]
    in_check = [f for f in frames if f.name.startswith("check_")]
    if not in_check:
        return ""
    out = f" (line {in_check[-1].lineno}: {in_check[-1].line}"
    if frames[-1] is not in_check[-1]:
        out += f"; in {frames[-1].name}() line {frames[-1].lineno}"
    return out + ")"


async def run_check(ctx, fn, timeout):
    """Run one check with a hard time bound; return None or a failure reason."""
    task = asyncio.ensure_future(fn(ctx))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            try:
                await asyncio.wait_for(task, 1)
            except BaseException:
                pass
            return f"timed out after {timeout:.1f}s"
        exc = task.exception()
        if exc is None:
            if ctx.unexpected_errors:
                return "async errors from client: " + "; ".join(ctx.unexpected_errors[:3])
            return None
        if isinstance(exc, CheckFailed):
            return str(exc)
        return f"{type(exc).__name__}: {exc}{where(exc)}"
    finally:
        await ctx.close_all()


async def run_all(server, only=None):
    passed = failed = 0
    deadline = time.monotonic() + TOTAL_BUDGET
    for name, fn, *limit in CHECKS:
        if only and not any(o in name for o in only):
            continue
        remaining = deadline - time.monotonic()
        if remaining < 1.0:
            failed += 1
            print(f"not ok - {name}: not run, {TOTAL_BUDGET:.0f}s time budget used up", flush=True)
            continue
        reason = None
        if server.proc is None or server.proc.poll() is not None:
            # A previous check crashed the server (or left it down); bring it back.
            server.kill()
            try:
                server.start()
            except RuntimeError as e:
                reason = f"server restart failed: {e}"
        if reason is None:
            ctx = Context(server)
            reason = await run_check(ctx, fn, min(limit[0] if limit else CHECK_TIMEOUT, remaining))
            code = server.proc.poll() if server.proc else None
            if code is not None:
                reason = f"server exited with status {code} during the check" + (
                    f"; {reason}" if reason else ""
                )
        if reason is None:
            passed += 1
            print(f"ok - {name}", flush=True)
        else:
            failed += 1
            reason = " ".join(str(reason).split())
            print(f"not ok - {name}: {reason}", flush=True)
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-bin",
        help="server binary (default: $NATS_SERVER_BIN or target/release/rnats-server)",
    )
    parser.add_argument(
        "--only", action="append", metavar="TEXT",
        help="run only checks whose name contains TEXT (repeatable)",
    )
    args = parser.parse_args()

    binary = args.server_bin or os.environ.get("NATS_SERVER_BIN") or str(DEFAULT_SERVER_BIN)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print(f"server binary not found or not executable: {binary}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1

    print(f"# server: {binary}", flush=True)
    print(f"# nats-py: {nats_py_version()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="interop-nats-py-") as log_dir:
        server = ServerProcess(binary, free_port(), log_dir)
        try:
            try:
                server.start()
            except RuntimeError as e:
                print(f"not ok - server start: {e}")
                print("0 passed, 1 failed")
                return 1
            passed, failed = asyncio.run(run_all(server, args.only))
            if failed:
                print("# server log tail:")
                print(server.log_tail())
        finally:
            server.kill()
    print(f"# elapsed {time.monotonic() - started:.1f}s", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
