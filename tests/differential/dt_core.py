"""Running one scenario against one server binary, and comparing two runs.

A scenario (see ``dt_gen``) is a list of steps over a few TCP connections:
open a client, route or leaf connection, send some bytes (optionally split
into several writes), close a connection.  ``run_scenario`` starts a fresh
server for it, plays the steps and records every byte each connection received
and whether the server closed it.  ``normalise`` turns such a record into what is
compared: server ops with the volatile INFO values replaced by placeholders,
timer-driven server PINGs removed, RS+/RS- and LS+/LS- bursts whose order
comes from a hash map sorted, deliveries to queue-group members pooled per
scenario.

Determinism rests on three waits, all bounded:

* after every partial write the runner waits until the server has read it
  (the server socket's receive queue in /proc/net/tcp drops to 0), so the
  server's reads end where our writes end, whatever the machine's load;
* a step that leaves its connection at an op boundary ends with a PING glued
  to its last write; the step is over when every PONG owed has arrived or the
  server closed the connection (PONGs owed are counted by the generator under
  the Go server's rules);
* after a connection closed, the runner waits until the server's side of the
  socket is gone and then a short settle time, so the interest it held is
  gone before the next step.

Only 127.0.0.1 is used, ports are picked by the servers (``-p -1``) and read
from their logs, and every wait has a deadline.
"""

import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

GO_BIN = os.environ.get("DIFFTEST_GO_BIN", "/usr/sbin/nats-server")
RNATS_BIN = (os.environ.get("DIFFTEST_RNATS_BIN")
             or os.environ.get("NATS_SERVER_BIN")
             or os.path.join(REPO_ROOT, "target", "release", "rnats-server"))


class Timing:
    """Deadlines and settle times (seconds).  ``slow()`` gives the generous
    set used to confirm a difference before reporting it: the waits that only
    guard against a busy machine grow, the deadlines for answers that may
    legitimately never come (a PONG the server does not owe) grow less."""

    def __init__(self, slow=False):
        self.is_slow = slow
        self.start = 10.0
        self.first_line = 3.0 if slow else 2.0
        self.barrier = 2.0 if slow else 1.0
        self.drain = 2.0 if slow else 1.0
        self.gone = 2.0 if slow else 1.0
        self.quiet = 0.25 if slow else 0.02
        self.settle = 0.08 if slow else 0.005

    def slow(self):
        return Timing(slow=True)


# ---------------------------------------------------------------------------
# Server processes
# ---------------------------------------------------------------------------

LISTEN_CLIENT_RE = re.compile(rb"Listening for client connections on [^\s]+:(\d+)")
LISTEN_ROUTE_RE = re.compile(rb"Listening for route connections on [^\s]+:(\d+)")
LISTEN_LEAF_RE = re.compile(rb"Listening for leafnode connections on [^\s]+:(\d+)")
# A profile with "store_dir" (JetStream) waits for this line too: a server
# may listen before its JetStream is up.
READY_RE = re.compile(rb"\[INF\] Server is ready")
# The loop-detection subject a server announces to its leafs.
LDS_RE = re.compile(rb"(?m)^LS\+ (\$LDS\.[A-Za-z0-9]+)\r\n")
# Connection kinds that speak a server-to-server protocol: the runner
# delimits what they receive with a PING at every step.
PEER_KINDS = ("route", "leaf")


class ServerStartError(RuntimeError):
    pass


class Server:
    """One server process; ports come from its log (it binds ``-p -1``)."""

    def __init__(self, binary, profile, workdir, tag):
        self.binary = binary
        self.profile = profile
        self.workdir = workdir
        self.tag = tag
        self.proc = None
        self.client_port = None
        self.cluster_port = None
        self.leaf_port = None
        self.log_path = os.path.join(workdir, "%s.log" % tag)
        self.store_dir = None

    def _store_dir(self):
        """A fresh JetStream store directory (``-sd``) for profiles that
        want one; removed by ``stop``."""
        if self.store_dir is None:
            self.store_dir = tempfile.mkdtemp(prefix="%s-js-" % self.tag, dir=self.workdir)
        return self.store_dir

    def args(self):
        args = [self.binary, "-a", HOST, "-p", "-1"]
        conf = self.profile.get("config")
        if conf:
            path = os.path.join(self.workdir, "%s-%s.conf" % (self.tag, self.profile["name"]))
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write(conf)
            args += ["-c", path]
        args += list(self.profile.get("args", ()))
        if self.profile.get("store_dir"):
            args += ["-sd", self._store_dir()]
        return args

    def start(self, timing):
        log = open(self.log_path, "wb")
        try:
            args = self.args()
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()
        want_route = self.profile.get("cluster", False)
        want_leaf = self.profile.get("leaf", False)
        deadline = time.monotonic() + timing.start
        while True:
            text = self.log_bytes()
            m = LISTEN_CLIENT_RE.search(text)
            r = LISTEN_ROUTE_RE.search(text) if want_route else None
            lf = LISTEN_LEAF_RE.search(text) if want_leaf else None
            ready = READY_RE.search(text) if self.profile.get("store_dir") else True
            if m and ready and (r or not want_route) and (lf or not want_leaf):
                self.client_port = int(m.group(1))
                self.cluster_port = int(r.group(1)) if r else None
                self.leaf_port = int(lf.group(1)) if lf else None
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerStartError("%s did not start (%s):\n%s" % (
                    self.binary, " ".join(args), text.decode("utf-8", "replace")[-2000:]))
            time.sleep(0.001)

    def log_bytes(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        if self.store_dir is not None:
            shutil.rmtree(self.store_dir, ignore_errors=True)
            self.store_dir = None


def binary_version(binary):
    try:
        r = subprocess.run([binary, "--version"], capture_output=True, timeout=10, text=True)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e


# ---------------------------------------------------------------------------
# The server side of our sockets, from /proc/net/tcp
# ---------------------------------------------------------------------------

TCP_ESTABLISHED = 1
TCP_CLOSE_WAIT = 8
_NL_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR = 2
_local = threading.local()


def _netlink():
    nl = getattr(_local, "nl", None)
    if nl is None:
        try:
            nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NL_SOCK_DIAG)
            nl.bind((0, 0))
        except OSError:
            nl = False
        _local.nl = nl
    return nl


def _state_netlink(nl, server_port, client_port):
    ip = socket.inet_aton(HOST)
    sockid = (struct.pack("!HH", server_port, client_port) + ip + bytes(12) + ip + bytes(12)
              + struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    nl.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, 1, 1, 0) + req)
    data = nl.recv(8192)
    if struct.unpack_from("=H", data, 4)[0] == _NLMSG_ERROR:
        return None
    state = data[17]
    rxq = struct.unpack_from("=I", data, 16 + 56)[0]
    return state, rxq


def _state_proc(server_port, client_port):
    key = "0100007F:%04X 0100007F:%04X" % (server_port, client_port)
    try:
        with open("/proc/net/tcp") as f:
            text = f.read()
    except OSError:
        return None
    i = text.find(key)
    if i < 0:
        return None
    fields = text[i:text.find("\n", i)].split()
    return int(fields[2], 16), int(fields[3].split(":")[1], 16)


def server_socket_state(server_port, client_port):
    """(TCP state, receive queue) of the server's socket for our connection,
    or None once it is gone.  The exact-socket sock_diag query costs a few
    microseconds; /proc/net/tcp is the fallback."""
    nl = _netlink()
    if nl:
        try:
            return _state_netlink(nl, server_port, client_port)
        except OSError:
            pass
    return _state_proc(server_port, client_port)


def server_side_open(st):
    """True while the server has not closed its side (the exact lookup falls
    back to the listening socket once the connection is gone)."""
    return st is not None and st[0] in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)


# ---------------------------------------------------------------------------
# Server output framing
# ---------------------------------------------------------------------------

def _last_int(parts, k=1):
    try:
        return int(parts[-k])
    except (ValueError, IndexError):
        return None


def split_ops(buf, pos=0):
    """Split server output into whole ops (MSG-like ops with their payload).
    Returns (ops, end) where ``end`` is where the first incomplete op starts."""
    ops = []
    n = len(buf)
    while pos < n:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            break
        line = bytes(buf[pos:nl + 1])
        parts = line.split()
        verb = parts[0].upper() if parts else b""
        need = 0
        if verb in (b"MSG", b"RMSG", b"LMSG", b"HMSG"):
            size = _last_int(parts)
            if size is not None and size >= 0:
                need = size + 2
        end = nl + 1 + need
        if end > n:
            break
        ops.append(bytes(buf[pos:end]))
        pos = end
    return ops, pos


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------

class Conn:
    """One TCP connection of a scenario and everything it received."""

    def __init__(self, idx, kind, server_port, timing, server_alive=lambda: True):
        self.idx = idx
        self.kind = kind
        self.server_port = server_port
        self.rx = bytearray()
        self.eof = False
        self.closed_by_us = False
        self.pongs_owed = 0
        self.pongs_seen = 0
        self.parse_pos = 0
        self.first_info = None
        self.lds = None           # the server's $LDS subject, seen on a leaf
        self.timeouts = []
        self.retired = False      # parser state unknown after a "hang" op
        self.sock = None
        self.local_port = 0
        deadline = time.monotonic() + timing.first_line
        while True:
            try:
                self.sock = socket.create_connection((HOST, server_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline or not server_alive():
                    # Refused for good (the server died): a connection that
                    # received nothing and is closed.
                    self.eof = True
                    return
                time.sleep(0.002)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.local_port = self.sock.getsockname()[1]

    def fileno(self):
        return self.sock.fileno()

    def recv_some(self):
        """Read what is available; False when nothing was (or EOF)."""
        if self.eof:
            return False
        got = False
        for _ in range(64):
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                return got
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, OSError):
                data = b""
            if not data:
                self.eof = True
                return True
            self.rx += data
            got = True
        return got

    def count_pongs(self):
        ops, end = split_ops(self.rx, self.parse_pos)
        for op in ops:
            if op[:4].upper() == b"PONG":
                self.pongs_seen += 1
            if self.first_info is None and op[:5].upper() == b"INFO ":
                self.first_info = op
            if self.lds is None and self.kind == "leaf":
                m = LDS_RE.match(op)
                if m:
                    self.lds = m.group(1)
        self.parse_pos = end
        return self.pongs_seen

    def send(self, data):
        """Write all of ``data``; False if the peer is gone."""
        if self.eof or self.closed_by_us:
            return False
        view = memoryview(data)
        deadline = time.monotonic() + 5.0
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                select.select([], [self.sock], [], 0.05)
            except (BrokenPipeError, ConnectionResetError, OSError):
                return False
        return True

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.closed_by_us = True


def pump(conns, timeout):
    """Wait up to ``timeout`` for input on any connection and read it."""
    live = [c for c in conns if not c.eof and not c.closed_by_us]
    if not live:
        time.sleep(min(timeout, 0.001))
        return False
    try:
        r, _, _ = select.select(live, [], [], max(0.0, timeout))
    except (OSError, ValueError):
        return False
    got = False
    for c in r:
        got = c.recv_some() or got
    return got


# ---------------------------------------------------------------------------
# Playing a scenario
# ---------------------------------------------------------------------------

class Observation:
    """What one server did with one scenario."""

    def __init__(self, binary, profile):
        self.binary = binary
        self.profile = profile
        self.conns = {}           # idx -> dict(kind, rx, closed, timeouts)
        self.server_id = None
        self.cluster_name = None  # a generated cluster name, to be normalised
        self.server_exit = None   # exit status if the server died mid-scenario
        self.server_log_tail = ""
        self.ports = {}
        self.sortable = {}        # idx -> set of segment numbers (PONG-delimited)
        self.js = False           # a JetStream scenario (dt_js normalises it)


def step_writes(step, substitute):
    """The writes a send step makes, in order: its ops (placeholders replaced
    by ``substitute``), then a PING unless an op leaves the parser waiting,
    cut at the step's split points.  Each write is read by the server before
    the next one is sent."""
    data = substitute(b"".join(op.data for op in step.ops))
    if not any(op.end == "hang" for op in step.ops):
        data += b"PING\r\n"
    cuts = [0] + [s for s in step.splits if 0 < s < len(data)] + [len(data)]
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if a != b]


class Player:
    def __init__(self, scenario, server, timing):
        self.scn = scenario
        self.srv = server
        self.t = timing
        self.conns = {}
        self.obs = Observation(server.binary, scenario.profile["name"])

    # -- waits -------------------------------------------------------------

    def wait_read_by_server(self, conn):
        """Until the server has read everything we wrote on ``conn``."""
        deadline = time.monotonic() + self.t.drain
        while True:
            st = server_socket_state(conn.server_port, conn.local_port)
            if not server_side_open(st) or st[1] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            pump(self.conns.values(), 0.0002)

    def wait_server_side_gone(self, conn):
        deadline = time.monotonic() + self.t.gone
        while time.monotonic() < deadline:
            st = server_socket_state(conn.server_port, conn.local_port)
            if not server_side_open(st):
                break
            pump(self.conns.values(), 0.001)
        end = time.monotonic() + self.t.settle
        while time.monotonic() < end:
            pump(self.conns.values(), max(0.0, end - time.monotonic()))

    def barrier(self, conn, step_no):
        """Until every PONG owed on ``conn`` arrived or the server closed it."""
        deadline = time.monotonic() + self.t.barrier
        while True:
            if conn.count_pongs() >= conn.pongs_owed or conn.eof:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # The server owes fewer PONGs than Go would: note it (the
                # streams differ anyway) and count from here, so that later
                # steps do not each wait out the deadline again.
                conn.timeouts.append(step_no)
                conn.pongs_owed = conn.pongs_seen
                return False
            pump(self.conns.values(), min(remaining, 0.05))

    def quiet(self, conn):
        """Until ``conn`` got nothing for ``quiet`` seconds (or closed)."""
        deadline = time.monotonic() + self.t.barrier
        last = len(conn.rx)
        calm_until = time.monotonic() + self.t.quiet
        while time.monotonic() < deadline and not conn.eof:
            pump(self.conns.values(), max(0.0, min(calm_until, deadline) - time.monotonic()))
            if len(conn.rx) != last:
                last = len(conn.rx)
                calm_until = time.monotonic() + self.t.quiet
            elif time.monotonic() >= calm_until:
                break

    def first_line(self, conn):
        deadline = time.monotonic() + self.t.first_line
        while b"\n" not in conn.rx and not conn.eof and time.monotonic() < deadline:
            pump([conn], 0.05)
        conn.count_pongs()

    # -- steps -------------------------------------------------------------

    def substitute(self, data, conn=None):
        if b"{{" not in data:
            return data
        sid = (self.obs.server_id or "NOSERVERID").encode()
        data = data.replace(b"{{SELF_ID}}", sid)
        if b"{{LDS}}" in data:
            # The loop-detection subject the server announced on this leaf
            # connection, sent back to it.
            if conn is not None:
                conn.count_pongs()
            data = data.replace(b"{{LDS}}", (conn and conn.lds) or b"$LDS.none")
        return data

    def run(self):
        try:
            for no, step in enumerate(self.scn.steps):
                self.play(no, step)
            # Final sweep: whatever is still in flight to any connection.
            for c in self.conns.values():
                if not c.eof and not c.closed_by_us and not c.retired:
                    c.send(b"PING\r\n")
                    c.pongs_owed += 1
                    self.barrier(c, len(self.scn.steps))
            for c in self.conns.values():
                if c.retired and not c.eof and not c.closed_by_us:
                    self.quiet(c)
        finally:
            for idx, c in self.conns.items():
                c.count_pongs()
                self.obs.conns[idx] = {
                    "kind": c.kind, "rx": bytes(c.rx), "closed": c.eof,
                    "timeouts": list(c.timeouts),
                }
                c.close()
        return self.obs

    def play(self, no, step):
        srv = self.srv
        if step.kind == "open":
            port = {"route": srv.cluster_port, "leaf": srv.leaf_port}.get(step.conn_kind,
                                                                         srv.client_port)
            c = Conn(step.conn, step.conn_kind, port, self.t,
                     server_alive=lambda: srv.proc is not None and srv.proc.poll() is None)
            self.conns[step.conn] = c
            self.first_line(c)
            if self.obs.server_id is None and c.first_info is not None:
                m = re.search(rb'"server_id":"([^"]*)"', c.first_info)
                if m:
                    self.obs.server_id = m.group(1).decode()
                m = re.search(rb'"cluster":"([^"]*)"', c.first_info)
                if m and self.scn.profile.get("dynamic_name"):
                    self.obs.cluster_name = m.group(1)
            self.obs.ports = {srv.client_port: "client_port"}
            if srv.cluster_port:
                self.obs.ports[srv.cluster_port] = "cluster_port"
            if srv.leaf_port:
                self.obs.ports[srv.leaf_port] = "leaf_port"
            return
        c = self.conns.get(step.conn)
        if c is None:
            return
        closed_before = {i: x.eof or x.closed_by_us for i, x in self.conns.items()}
        if step.kind == "close":
            if not c.eof and not c.closed_by_us:
                # Collect what is still in flight to it first (deliveries
                # other connections caused are written asynchronously).
                if c.retired:
                    self.quiet(c)
                elif c.send(b"PING\r\n"):
                    c.pongs_owed += 1
                    self.barrier(c, no)
                c.close()
                self.wait_server_side_gone(c)
        elif step.kind == "send":
            self.send_step(no, c, step)
        # Any connection the server closed during this step: let the server
        # finish tearing it down (interest removal, RS-/LS- to peers).
        newly = [x for i, x in self.conns.items()
                 if (x.eof or x.closed_by_us) and not closed_before.get(i, True)]
        for x in newly:
            if not x.closed_by_us:
                self.wait_server_side_gone(x)
        if newly:
            for i, x in self.conns.items():
                if x.kind in PEER_KINDS and not x.eof and not x.closed_by_us and not x.retired:
                    self.obs.sortable.setdefault(i, set()).add(x.pongs_owed + 1)
        # Routes and leafs delimit their segments with a PING at every step.
        for i, x in self.conns.items():
            if (x.kind in PEER_KINDS and x is not c and not x.eof and not x.closed_by_us
                    and not x.retired):
                x.send(b"PING\r\n")
                x.pongs_owed += 1
                self.barrier(x, no)

    def send_step(self, no, c, step):
        if c.eof or c.closed_by_us or c.retired:
            return
        owed = sum(op.pongs for op in step.ops)
        hang = any(op.end == "hang" for op in step.ops)
        if step.sortable and c.kind in PEER_KINDS:
            self.obs.sortable.setdefault(step.conn, set()).add(c.pongs_owed + 1)
        if not hang:
            owed += 1
        writes = step_writes(step, lambda d: self.substitute(d, c))
        ok = True
        for n, w in enumerate(writes):
            if not c.send(w):
                ok = False
                break
            if n + 1 != len(writes):
                self.wait_read_by_server(c)
        c.pongs_owed += owed
        if hang:
            c.retired = True
            self.wait_read_by_server(c)
            self.quiet(c)
            return
        if ok:
            self.barrier(c, no)
        else:
            self.quiet(c)


def run_scenario(scenario, binary, workdir, timing, tag):
    srv = Server(binary, scenario.profile, workdir, tag)
    srv.start(timing)
    try:
        if scenario.kind == "js":
            from dt_js import JsPlayer
            player = JsPlayer(scenario, srv, timing)
        else:
            player = Player(scenario, srv, timing)
        obs = player.run()
        code = srv.proc.poll()
        if code is not None:
            # The server died during the scenario (a crash is a difference
            # of its own, whatever the connections saw).
            obs.server_exit = code
            obs.server_log_tail = srv.log_bytes()[-3000:].decode("utf-8", "replace")
    finally:
        srv.stop()
    return obs
