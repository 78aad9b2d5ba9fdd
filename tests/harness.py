"""Process and raw-socket helpers for the integration tests.

The server under test is the binary named by ``NATS_SERVER_BIN`` (default:
``<repo>/target/release/rnats-server``).  Every suite here also passes against
the Go ``nats-server``, which keeps the tests honest about wire compatibility:

    NATS_SERVER_BIN=/usr/sbin/nats-server python3 -m pytest -q tests/

Everything binds to 127.0.0.1, every port is picked free, every loop is
bounded in iterations and time, and teardown only ever signals the process the
fixture itself started (by its pid, through ``subprocess.Popen``).
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import namedtuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.path.join(REPO_ROOT, "target", "release", "rnats-server")
SERVER_BIN = os.environ.get("NATS_SERVER_BIN", DEFAULT_BIN)

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

def free_port():
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


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
    """

    def __init__(self, log_path, extra_args=(), port=None, binary=None):
        self.binary = binary or SERVER_BIN
        self.log_path = str(log_path)
        self.extra_args = list(extra_args)
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
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
        )
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
