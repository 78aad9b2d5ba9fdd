"""IPv6 in a network namespace of its own (`unshare -n`, loopback plus the
ULA fd00:1::1), so the checks do not depend on the machine's addresses: the
default listener is dual-stack, `-a ::`, `-routes nats://[::1]:P`,
`cluster { listen: "[::]:P" }` and `http: "[::1]:P"` work, connect_urls list
IPv6 addresses as `[addr]:port`. Run for the server under test alone, both
Go versions alone (the same checks hold there), and mixed pairs."""

import os
import shutil
import subprocess
import sys

import pytest

from harness import oracle_binary

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_ipv6.py")


def _netns_available():
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    r = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    return r.returncode == 0


NETNS = _netns_available()


PAIRS = [("under-test", "under-test"), ("go2.9", "go2.9"), ("go2.10+", "go2.10+"),
         ("under-test", "go2.9"), ("go2.9", "under-test"), ("under-test", "go2.10+"), ("go2.10+", "under-test")]


@pytest.mark.against_go
@pytest.mark.skipif(not NETNS, reason="needs unshare -n and ip (root or user namespaces)")
@pytest.mark.parametrize("a,b", PAIRS, ids=["%s+%s" % p for p in PAIRS])
def test_ipv6_in_namespace(a, b):
    r = subprocess.run(["unshare", "-n", sys.executable, SCRIPT, oracle_binary(a), oracle_binary(b)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok   ") == 5, r.stdout
