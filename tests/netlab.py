"""A small network of hosts on one machine for cluster fault tests.

Each host is a network namespace with one interface, ``eth0`` at
198.18.0.N/24, whose other end (``hN``) sits on a bridge inside a namespace
of its own. Nothing is added to the machine's own namespace. Faults:

* ``link_down(n)`` / ``link_up(n)``: the host's cable pulled and plugged in
  again (its bridge port set down: every packet to or from it is dropped).
* ``partition(group)`` / ``heal()``: the hosts of ``group`` move to a second
  bridge; the two sides no longer reach each other.
* ``DelayProxy``: this kernel may lack netem, so latency is added by a
  forwarding proxy in the host's namespace that holds every chunk for a
  fixed time in each direction; servers advertise the proxy's address for
  routes, so every route connection crosses one.

The test process opens its sockets inside a host's namespace with
``setns(2)`` on the calling thread (``with lab.inside(n): ...``); a socket
stays in the namespace it was created in. Servers run under ``ip netns
exec``, are stopped by their pid, and the namespaces are deleted at the end.

Route connections are counted from the sockets a server process holds
(``/proc/PID/fd`` and ``/proc/PID/net/tcp``), not from what it reports.
"""

import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
CLIENT_PORT = 4222
ROUTE_PORT = 6222
PROXY_PORT = 6223
HTTP_PORT = 8222

_libc = ctypes.CDLL(None, use_errno=True)


def available():
    """Root with ``ip`` and network namespaces: the lab can be built."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = "rnlprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, timeout=10)
    if r.returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return True


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


def ip(*args):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def addr(n):
    return "198.18.0.%d" % n


class Lab:
    """Hosts 1..count on one bridge (see the module docstring)."""

    def __init__(self, count):
        self.tag = "rnl%d" % os.getpid()
        self.bridge_ns = self.tag + "br"
        self.count = count
        self.partitioned = set()
        self.servers = []
        self.proxies = []
        ip("netns", "add", self.bridge_ns)
        try:
            ip("-n", self.bridge_ns, "link", "set", "lo", "up")
            for br in ("br0", "br1"):
                ip("-n", self.bridge_ns, "link", "add", br, "type", "bridge")
                ip("-n", self.bridge_ns, "link", "set", br, "up")
            for n in range(1, count + 1):
                ns = self.ns(n)
                ip("netns", "add", ns)
                ip("-n", self.bridge_ns, "link", "add", "h%d" % n, "type", "veth",
                   "peer", "name", "eth0", "netns", ns)
                ip("-n", self.bridge_ns, "link", "set", "h%d" % n, "master", "br0", "up")
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "addr", "add", addr(n) + "/24", "dev", "eth0")
                ip("-n", ns, "link", "set", "eth0", "up")
        except Exception:
            self.close()
            raise

    def ns(self, n):
        return "%sh%d" % (self.tag, n)

    @contextlib.contextmanager
    def inside(self, n):
        """Run the block with this thread in host ``n``'s namespace."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            _setns("/run/netns/" + self.ns(n))
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's namespace")
        finally:
            os.close(own)

    def link_down(self, n):
        ip("-n", self.bridge_ns, "link", "set", "h%d" % n, "down")

    def link_up(self, n):
        ip("-n", self.bridge_ns, "link", "set", "h%d" % n, "up")

    def partition(self, group):
        for n in group:
            ip("-n", self.bridge_ns, "link", "set", "h%d" % n, "master", "br1")
        self.partitioned |= set(group)

    def heal(self):
        for n in sorted(self.partitioned):
            ip("-n", self.bridge_ns, "link", "set", "h%d" % n, "master", "br0")
        self.partitioned = set()

    def start(self, n, binary, config_text, log_path, extra_args=()):
        """Starts a server in host ``n`` with the given configuration."""
        conf = "%s.conf" % log_path
        with open(conf, "w") as f:
            f.write(config_text)
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns(n), binary, "-c", conf] + list(extra_args),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self.servers.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def close(self):
        for p in self.proxies:
            p.close()
        for proc in self.servers:
            try:
                self.stop(proc, signal.SIGKILL)
            except OSError:
                pass
        for n in range(1, self.count + 1):
            subprocess.run(["ip", "netns", "del", self.ns(n)], capture_output=True, timeout=20)
        subprocess.run(["ip", "netns", "del", self.bridge_ns], capture_output=True, timeout=20)

    def connect(self, n, port, timeout=5.0):
        """A TCP socket from inside host ``n`` to its own ``port``."""
        with self.inside(n):
            return socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def http_json(self, n, path, timeout=2.0):
        import json
        s = self.connect(n, HTTP_PORT, timeout)
        try:
            s.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % path).encode())
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n")[0]:
            raise OSError("GET %s: %r" % (path, head[:100]))
        return json.loads(body)


# ---------------------------------------------------------------------------
# Sockets of a process
# ---------------------------------------------------------------------------

def _socket_inodes(pid):
    out = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for fd in names:
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _hex_ip(h):
    if len(h) == 8:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(h)[::-1])
    raw = bytes.fromhex(h)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    if words[:12] == b"\0" * 10 + b"\xff\xff":
        return socket.inet_ntop(socket.AF_INET, words[12:])
    return socket.inet_ntop(socket.AF_INET6, words)


def established(pid):
    """[((local_ip, local_port), (remote_ip, remote_port))] of the
    established TCP sockets process ``pid`` holds."""
    inodes = _socket_inodes(pid)
    out = []
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "01" or parts[9] not in inodes:
                continue
            (lh, lp), (rh, rp) = (x.split(":") for x in parts[1:3])
            out.append(((_hex_ip(lh), int(lp, 16)), (_hex_ip(rh), int(rp, 16))))
    return out


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------

class DelayProxy:
    """Listens on ``addr(n):PROXY_PORT`` in host ``n`` and forwards to the
    host's route port, delaying each direction by ``delay`` seconds.
    ``origin[port]`` maps the proxy's upstream source port to the address the
    connection came from, so the server's side of a proxied route can be
    traced to its peer."""

    def __init__(self, lab, n, delay):
        self.lab, self.n, self.delay = lab, n, delay
        self.origin = {}
        self.stopping = False
        self.ready = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10) or self.error:
            raise RuntimeError("proxy in host %d did not start: %s" % (n, self.error))
        lab.proxies.append(self)

    def close(self):
        self.stopping = True
        self.thread.join(5)

    def _run(self):
        try:
            _setns("/run/netns/" + self.lab.ns(self.n))
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((addr(self.n), PROXY_PORT))
            ls.listen(64)
            ls.setblocking(False)
        except OSError as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        sel = selectors.DefaultSelector()
        sel.register(ls, selectors.EVENT_READ, None)
        peer_of = {}
        queue = []  # (due, dst socket, bytes or None for EOF)
        while not self.stopping:
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, dst, data = queue.pop(0)
                try:
                    if data is None:
                        dst.shutdown(socket.SHUT_WR)
                    else:
                        dst.setblocking(True)
                        dst.settimeout(5)
                        dst.sendall(data)
                        dst.setblocking(False)
                except OSError:
                    pass
            timeout = 0.01 if not queue else max(0.0, min(0.01, queue[0][0] - now))
            for key, _ in sel.select(timeout):
                s = key.fileobj
                if s is ls:
                    try:
                        c, src = ls.accept()
                        up = socket.create_connection(("127.0.0.1", ROUTE_PORT), timeout=2)
                    except OSError:
                        continue
                    self.origin[up.getsockname()[1]] = src[0]
                    for a, b in ((c, up), (up, c)):
                        a.setblocking(False)
                        a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        peer_of[a] = b
                        sel.register(a, selectors.EVENT_READ, None)
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                dst = peer_of.get(s)
                if not data:
                    sel.unregister(s)
                    queue.append((time.monotonic() + self.delay, dst, None))
                    continue
                queue.append((time.monotonic() + self.delay, dst, data))
        for s in list(peer_of):
            s.close()
        ls.close()
