"""A raw WebSocket client for the WebSocket suites: it sends the upgrade
request and frames byte by byte as the tests choose (masked or not,
fragmented, control frames), and reads the server's answer and frames."""

import base64
import hashlib
import os
import socket
import struct
import time

from harness import HOST

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    pass


def upgrade_request(port, path="/", headers=None, method="GET", key=None, version="13"):
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (HOST, port)]
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": version}
    for k, v in (headers or {}).items():
        base[k] = v
    for k, v in base.items():
        if v is not None:
            lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


class WsClient:
    """One connection to a WebSocket port: ``status`` and ``headers`` of the
    answer to the upgrade; then frames."""

    def __init__(self, port, path="/", headers=None, method="GET", key=None, version="13", timeout=5.0, body=b""):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""
        req, self.key = upgrade_request(port, path, headers, method, key, version)
        self.sock.sendall(req + body)
        head = self._read_until(b"\r\n\r\n", timeout)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 101 and "content-length" in self.headers:
            self.body = self._read_exactly(int(self.headers["content-length"]), timeout)

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("nothing from the server in time; have %r" % self.buf[:200])
        except ConnectionResetError:
            data = b""
        if not data:
            raise Closed("connection closed; have %r" % self.buf[:200])
        self.buf += data

    def _read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exactly(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, payload, opcode=2, fin=True, mask=True, rsv1=False):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def recv_frame(self, timeout=5.0):
        """(fin, rsv1, opcode, payload) of the next server frame."""
        h = self._read_exactly(2, timeout)
        fin, rsv1, opcode = bool(h[0] & 0x80), bool(h[0] & 0x40), h[0] & 0x0F
        assert not h[1] & 0x80, "server frames are not masked"
        n = h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exactly(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exactly(8, timeout))[0]
        return fin, rsv1, opcode, self._read_exactly(n, timeout)

    def read_stream_until(self, marker, timeout=5.0):
        """The data frames' payloads, joined, until ``marker`` appears;
        control frames are returned aside as (opcode, payload)."""
        deadline = time.monotonic() + timeout
        data, control = b"", []
        while marker not in data:
            fin, rsv1, opcode, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if opcode in (1, 2, 0):
                data += payload
            else:
                control.append((opcode, payload))
        return data, control

    def info(self):
        """The first frame: the INFO line, as a dict."""
        import json
        data, _ = self.read_stream_until(b"\r\n")
        assert data.startswith(b"INFO "), data
        return json.loads(data[5:data.index(b"\r\n")])

    def nats(self, text):
        """Sends NATS protocol text in one masked binary frame."""
        self.send_frame(text.encode() if isinstance(text, str) else text)

    def closed_within(self, timeout):
        """True when the server ends the connection (close frame or EOF)
        within ``timeout``."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                _, _, opcode, _ = self.recv_frame(max(0.01, deadline - time.monotonic()))
                if opcode == 8:
                    return True
        except Closed:
            return True
        except AssertionError:
            return False
        return False
