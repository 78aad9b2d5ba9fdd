"""The static ARM builds (scripts/build-static.sh --target ...), run under
qemu user-mode emulation: the 64-bit ARM binary named by RNATS_ARM64_BIN
(aarch64-unknown-linux-musl) under qemu-aarch64 and the 32-bit ARMv7 one named
by RNATS_ARMV7_BIN (armv7-unknown-linux-musleabihf, or the static glibc
armv7-unknown-linux-gnueabihf build) under qemu-arm.

For each: the file is a static ELF executable for that machine, the server
starts and serves raw-socket clients (pub/sub, wildcards, queue groups,
headers, a payload near max_payload, request/reply), and it forms a route
with the x86-64 server under test (NATS_SERVER_BIN), dialing and dialed,
over which messages, interest, queue groups and replies cross in both
directions. A build with TLS (not --minimal) serves a TLS client that
presents a certificate (--tlsverify) and refuses one that does not.

A binary that is not built or a missing qemu skips its tests with the reason
(scripts/test.sh installs Debian's qemu-user and builds both binaries when it
can). Emulation makes the server many times slower, so waits are generous,
but every one is bounded. Every process is started by the test and stopped
by its pid.
"""

import os
import shutil
import struct
import subprocess

import pytest

from harness import (
    ClusterNode,
    NatsServer,
    check_headers,
    check_pubsub_all_pairs,
    check_queue_group,
    check_request_reply,
    hmsg,
    hpub,
    msg,
    open_client,
    pub,
    round_trip,
    wait_full_mesh,
)
from tlsclient import CLIENT_EXT, Certs, TlsClient, client_ctx, needs_openssl

# (label, environment variable, qemu program, ELF class, ELF e_machine, how it is built)
ARCHES = {
    "arm64": ("RNATS_ARM64_BIN", "qemu-aarch64", 2, 183,
              "scripts/build-static.sh --target aarch64-unknown-linux-musl"),
    "armv7": ("RNATS_ARMV7_BIN", "qemu-arm", 1, 40,
              "scripts/build-static.sh --target armv7-unknown-linux-musleabihf"),
}

# Generous bounds for a server running under emulation.
MESH_TIMEOUT = 60.0
TRAFFIC_TIMEOUT = 30.0


class Arm:
    def __init__(self, label, binary, qemu, elf_class, machine):
        self.label = label
        self.binary = binary
        self.qemu = qemu
        self.elf_class = elf_class
        self.machine = machine


@pytest.fixture(params=sorted(ARCHES))
def arm(request):
    """The ARM binary of one architecture and its qemu, or a skip saying why not."""
    label = request.param
    var, qemu_name, elf_class, machine, how = ARCHES[label]
    binary = os.environ.get(var)
    if not binary:
        pytest.skip("%s is not set: no %s binary to test (build one with %s, or let "
                    "scripts/test.sh do it)" % (var, label, how))
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.skip("%s=%s: no such executable file (build it with %s)" % (var, binary, how))
    qemu = shutil.which(qemu_name)
    if qemu is None:
        pytest.skip("%s not found: install Debian's qemu-user (apt-get install qemu-user) "
                    "to run the %s binary" % (qemu_name, label))
    return Arm(label, binary, qemu, elf_class, machine)


class QemuServer(NatsServer):
    """A NatsServer whose binary runs under qemu user-mode emulation.

    qemu-user runs the guest in its own process, so the pid is the server's
    and SIGTERM/SIGKILL reach it as they would natively."""

    def __init__(self, log_path, qemu, **kw):
        self.qemu = qemu
        super().__init__(log_path, **kw)

    @property
    def args(self):
        return [self.qemu] + super().args


class QemuClusterNode(ClusterNode):
    def __init__(self, log_path, qemu, **kw):
        self.qemu = qemu
        super().__init__(log_path, **kw)

    @property
    def args(self):
        return [self.qemu] + super().args


@pytest.fixture
def arm_server(arm, tmp_path):
    srv = QemuServer(tmp_path / ("%s.log" % arm.label), arm.qemu, binary=arm.binary)
    try:
        yield srv.start()
    finally:
        srv.stop()


def arm_node(cluster, arm, routes=()):
    """An ARM cluster node of the test's cluster, stopped with the others."""
    n = QemuClusterNode(cluster.tmp_path / ("%s-node.log" % arm.label), arm.qemu,
                        binary=arm.binary, cluster_name=cluster.name, routes=routes,
                        name="%s-node" % arm.label)
    cluster.nodes.append(n)
    return n.start()


# ---------------------------------------------------------------------------
# The binary itself
# ---------------------------------------------------------------------------

def test_binary_is_static_arm_elf(arm):
    with open(arm.binary, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF", "%s is not an ELF file" % arm.binary
        elf_class, data = head[4], head[5]
        assert elf_class == arm.elf_class, "ELF class %d, want %d" % (elf_class, arm.elf_class)
        assert data == 1, "not little-endian"
        e_type, e_machine = struct.unpack_from("<HH", head, 16)
        assert e_machine == arm.machine, "e_machine %d, want %d" % (e_machine, arm.machine)
        assert e_type == 2, "ELF type %d: not a position-dependent executable" % e_type
        if elf_class == 2:
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
        else:
            phoff, = struct.unpack_from("<I", head, 28)
            phentsize, phnum = struct.unpack_from("<HH", head, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    types = [struct.unpack_from("<I", table, i * phentsize)[0] for i in range(phnum)]
    # PT_INTERP (3) or PT_DYNAMIC (2) would mean a dynamically linked program.
    assert 3 not in types and 2 not in types, "not statically linked: %r" % types


def test_version_under_qemu(arm):
    r = subprocess.run([arm.qemu, arm.binary, "--version"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r
    assert "rnats" in r.stdout + r.stderr, r


# ---------------------------------------------------------------------------
# One ARM server and raw-socket clients
# ---------------------------------------------------------------------------

def expect_msgs(client, wanted):
    """Exactly the messages ``wanted`` (their bytes), in any order: the order in
    which one message reaches several matching subscriptions is not defined."""
    got = sorted(op.raw for op in client.flush(timeout=TRAFFIC_TIMEOUT))
    assert got == sorted(wanted), "got %r, want %r" % (
        [g[:80] for g in got], [w[:80] for w in sorted(wanted)])


def test_pubsub_on_arm_server(arm_server):
    sub = open_client(arm_server)
    other = open_client(arm_server)
    p = open_client(arm_server)
    try:
        assert sub.info["max_payload"] == 1048576, sub.info
        sub.send("SUB arm.* 1\r\nSUB arm.x 2\r\nSUB arm.q workers 3\r\n")
        other.send("SUB arm.q workers 3\r\n")
        round_trip(sub, timeout=TRAFFIC_TIMEOUT)
        round_trip(other, timeout=TRAFFIC_TIMEOUT)

        p.send(pub("arm.x", "hello", reply="_INBOX.r") + pub("arm.y", b""))
        round_trip(p, timeout=TRAFFIC_TIMEOUT)
        expect_msgs(sub, [msg("arm.x", 1, "hello", reply="_INBOX.r"),
                          msg("arm.x", 2, "hello", reply="_INBOX.r"),
                          msg("arm.y", 1, b"")])

        # Headers and a payload near max_payload.
        big = bytes(range(256)) * 4000
        p.send(hpub("arm.x", "NATS/1.0\r\nK: v\r\n\r\n", "h") + pub("arm.big", big))
        round_trip(p, timeout=TRAFFIC_TIMEOUT)
        expect_msgs(sub, [hmsg("arm.x", 1, "NATS/1.0\r\nK: v\r\n\r\n", "h"),
                          hmsg("arm.x", 2, "NATS/1.0\r\nK: v\r\n\r\n", "h"),
                          msg("arm.big", 1, big)])

        # Queue group: each message to exactly one of the two members.
        p.send(b"".join(pub("arm.q", str(i)) for i in range(20)))
        round_trip(p, timeout=TRAFFIC_TIMEOUT)
        got = []
        for c in (sub, other):
            ops = c.flush(timeout=TRAFFIC_TIMEOUT)
            got += [op.payload for op in ops if op.args[1] == "3"]
            assert all(op.args[0] == "arm.q" for op in ops), [op.raw for op in ops]
        assert sorted(got, key=int) == [str(i).encode() for i in range(20)], got

        # Unsubscribe: nothing more arrives.
        sub.send("UNSUB 1\r\nUNSUB 2\r\nUNSUB 3\r\n")
        round_trip(sub, timeout=TRAFFIC_TIMEOUT)
        p.send(pub("arm.x", "late"))
        round_trip(p, timeout=TRAFFIC_TIMEOUT)
        assert sub.flush(timeout=TRAFFIC_TIMEOUT) == []
    finally:
        for c in (sub, other, p):
            c.close()


def test_request_reply_on_arm_server(arm_server):
    check_request_reply(arm_server, arm_server, timeout=TRAFFIC_TIMEOUT)


def test_arm_server_stops_on_sigterm(arm_server):
    c = open_client(arm_server)
    c.close()
    arm_server.stop()
    assert arm_server.proc.returncode == 0, arm_server.log_text()


# ---------------------------------------------------------------------------
# A route between the ARM build and the x86-64 server under test
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dialer", ["arm", "x86"])
def test_route_between_arm_and_x86(arm, cluster, dialer):
    """The ARM server and the x86-64 server form one route, whichever of them
    dials; messages (plain, wildcard, headers, queue groups, replies) cross it
    in both directions."""
    if dialer == "arm":
        x86 = cluster.node(name="x86")
        a = arm_node(cluster, arm, routes=[x86])
    else:
        a = arm_node(cluster, arm)
        x86 = cluster.node(routes=[a], name="x86")
    nodes = [a, x86]
    wait_full_mesh(nodes, timeout=MESH_TIMEOUT, stable=0.5)
    check_pubsub_all_pairs(nodes, count=10, timeout=TRAFFIC_TIMEOUT)
    check_headers(a, x86, timeout=TRAFFIC_TIMEOUT)
    check_headers(x86, a, timeout=TRAFFIC_TIMEOUT)
    check_request_reply(a, x86, timeout=TRAFFIC_TIMEOUT)
    check_request_reply(x86, a, timeout=TRAFFIC_TIMEOUT)
    check_queue_group(nodes, count=20, timeout=TRAFFIC_TIMEOUT)
    for n in nodes:
        errs = n.error_lines()
        assert not errs, "unexpected error lines from %s:\n%s" % (n.label, "\n".join(errs))


# ---------------------------------------------------------------------------
# TLS on the ARM build (ring's C and assembly compiled for the target)
# ---------------------------------------------------------------------------

def _has_tls(arm):
    r = subprocess.run([arm.qemu, arm.binary, "--help_tls"], capture_output=True, text=True, timeout=60)
    return "built without the \"tls\"" not in (r.stdout + r.stderr).replace("\n", " ")


@needs_openssl
def test_tls_on_arm_server(arm, tmp_path):
    """A TLS client with a client certificate (verify on) publishes and
    subscribes through the ARM server; a client without one is refused."""
    import ssl

    if not _has_tls(arm):
        pytest.skip("the %s binary was built without TLS (--minimal)" % arm.label)
    certs = Certs(tmp_path)
    certs.ca("ca")
    certs.leaf("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    certs.leaf("client", "ca", CLIENT_EXT)
    srv = QemuServer(tmp_path / "tls.log", arm.qemu, binary=arm.binary,
                     extra_args=["--tlsverify", "--tlscert", certs("server.pem"), "--tlskey",
                                 certs("server-key.pem"), "--tlscacert", certs("ca.pem")])
    srv.start()
    try:
        def connect(cert):
            c = TlsClient(srv.port, client_ctx(certs, cert), timeout=TRAFFIC_TIMEOUT)
            assert c.info["tls_verify"] is True
            return c

        c = connect("client")
        big = bytes(range(256)) * 400
        c.send(b'CONNECT {"verbose":false}\r\nSUB t.a 1\r\nPUB t.a %d\r\n%s\r\nPING\r\n' % (len(big), big))
        got = c.read_until(b"PONG\r\n", TRAFFIC_TIMEOUT)
        assert got.startswith(b"MSG t.a 1 %d\r\n%s\r\n" % (len(big), big)), got[:80]
        refused = False
        try:
            bad = connect(None)
            bad.send(b"PING\r\n")
            refused = bad.sock.recv(100) == b""
        except (ssl.SSLError, OSError):
            refused = True
        assert refused
        c.send(b"PUB t.a 2\r\nok\r\nPING\r\n")
        assert c.read_until(b"PONG\r\n", TRAFFIC_TIMEOUT).startswith(b"MSG t.a 1 2\r\nok\r\n")
        c.close()
    finally:
        srv.stop()
