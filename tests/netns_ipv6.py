"""IPv6 checks run inside a fresh network namespace (see test_ipv6.py):
loopback up, plus the ULA fd00:1::1 on it, so the machine's own addresses
do not matter. Usage: unshare -n python3 netns_ipv6.py SERVER_A SERVER_B

SERVER_A and SERVER_B are server binaries (the same one twice, or a mix of
Go and rnats). Prints one line per check and exits non-zero on the first
failure."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ULA = "fd00:1::1"


def sh(*args):
    subprocess.run(args, check=True)


def free_ports(n):
    """n distinct ports that were free a moment ago (all held while picking)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def connect(host, port, timeout=5.0):
    """Connect, read INFO, CONNECT+PING, expect PONG; returns (sock, info)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    buf = b""
    while b"\r\n" not in buf:
        d = s.recv(65536)
        assert d, "closed before INFO"
        buf += d
    line, _, rest = buf.partition(b"\r\n")
    assert line.startswith(b"INFO "), line
    info = json.loads(line[5:])
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\nPING\r\n')
    buf = rest
    deadline = time.monotonic() + timeout
    while b"PONG\r\n" not in buf:
        assert time.monotonic() < deadline, buf
        d = s.recv(65536)
        assert d, "closed before PONG: %r" % buf
        buf += d
    return s, info


def read_until(s, needle, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        assert time.monotonic() < deadline, "no %r in %r" % (needle, buf)
        s.settimeout(max(0.05, deadline - time.monotonic()))
        d = s.recv(65536)
        assert d, "closed: %r" % buf
        buf += d
    return buf


class Proc:
    def __init__(self, binary, args, tmp, label):
        self.log = os.path.join(tmp, label + ".log")
        self.p = subprocess.Popen([binary] + args, stdout=open(self.log, "wb"),
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_port(self, host, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.p.poll() is None, "exited: " + open(self.log).read()
            try:
                fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.settimeout(0.2)
                    s.connect((host, port))
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("port %s:%d not open; log:\n%s" % (host, port, open(self.log).read()))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def check(name, fn):
    fn()
    print("ok   " + name, flush=True)


def main():
    a_bin, b_bin = sys.argv[1], sys.argv[2]
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "-6", "addr", "add", ULA + "/64", "dev", "lo", "nodad")
    tmp = tempfile.mkdtemp(prefix="ipv6-")
    procs = []
    try:
        pa, ca, ha, pb, cb, hb = free_ports(6)
        # A: default (any-address) client listener, IPv6 route listener, IPv6 monitoring.
        conf = os.path.join(tmp, "a.conf")
        with open(conf, "w") as f:
            f.write('port: %d\nhttp: "[::1]:%d"\ncluster { name: V6, listen: "[::]:%d" }\n' % (pa, ha, ca))
        a = Proc(a_bin, ["-c", conf], tmp, "a")
        procs.append(a)
        a.wait_port("::1", pa)
        # B: -a ::, routes to A over [::1].
        b = Proc(b_bin, ["-a", "::", "-p", str(pb), "-m", str(hb), "--cluster_name", "V6",
                         "-cluster", "nats://[::1]:%d" % cb, "-routes", "nats://[::1]:%d" % ca], tmp, "b")
        procs.append(b)
        b.wait_port("::1", pb)

        def reach_default_listener():
            for host in ("127.0.0.1", "::1", ULA):
                s, _ = connect(host, pa)
                s.close()

        def reach_v6_any_listener():
            for host in ("127.0.0.1", "::1", ULA):
                s, _ = connect(host, pb)
                s.close()

        def monitoring_over_v6():
            with urllib.request.urlopen("http://[::1]:%d/varz" % ha, timeout=5) as r:
                v = json.loads(r.read())
            assert v["port"] == pa, v["port"]

        def mesh_and_connect_urls():
            deadline = time.monotonic() + 20
            while True:
                s, info = connect("::1", pa)
                s.close()
                urls = info.get("connect_urls") or []
                want = {"[%s]:%d" % (ULA, pa), "[%s]:%d" % (ULA, pb)}
                if want <= set(urls):
                    break
                assert time.monotonic() < deadline, "connect_urls %r lack %r" % (urls, want)
                time.sleep(0.1)
            assert not any(u.startswith(("127.", "[::1]", "[fe80")) for u in urls), urls

        def pubsub_over_v6_route():
            sub, _ = connect(ULA, pb)
            sub.sendall(b"SUB v6.x 1\r\nPING\r\n")
            read_until(sub, b"PONG\r\n")
            pub, _ = connect("::1", pa)
            deadline = time.monotonic() + 10
            while True:
                pub.sendall(b"PUB v6.x 2\r\nhi\r\nPING\r\n")
                read_until(pub, b"PONG\r\n")
                try:
                    sub.settimeout(0.2)
                    data = sub.recv(65536)
                except socket.timeout:
                    data = b""
                if b"MSG v6.x 1 2\r\nhi\r\n" in data:
                    break
                assert time.monotonic() < deadline, "no message over the IPv6 route"

        check("clients reach the default listener over 127.0.0.1, ::1 and %s" % ULA, reach_default_listener)
        check("clients reach -a :: over 127.0.0.1, ::1 and %s" % ULA, reach_v6_any_listener)
        check("monitoring on http: [::1]:port", monitoring_over_v6)
        check("IPv6 routes mesh; connect_urls list [%s]:port of both" % ULA, mesh_and_connect_urls)
        check("messages cross the IPv6 route", pubsub_over_v6_route)
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    main()
