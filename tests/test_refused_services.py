"""Services of the Go server that this server does not provide yet (leaf
nodes, gateways, WebSocket, MQTT, JetStream, subject mappings) are refused
at start with a one-line error naming the key, so that nobody runs a box
believing, say, that it reaches its hub. Go starts with each of these
blocks, so the checks run against this server only."""

import subprocess

import pytest

from harness import SERVER_BIN, SERVER_IS_RNATS

REFUSED = [
    ("leafnodes", 'leafnodes { remotes: [ { url: "nats-leaf://127.0.0.1:7422" } ] }\n'),
    ("leafnodes", "leafnodes { port: -1 }\n"),
    ("gateway", "gateway { name: G, port: -1 }\n"),
    ("websocket", "websocket { port: -1, no_tls: true }\n"),
    ("mqtt", "mqtt { port: -1 }\n"),
    ("jetstream", "jetstream: enabled\n"),
    ("jetstream", "jetstream { store_dir: /tmp/js }\n"),
    ("mappings", "mappings { a: b }\n"),
]


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="the Go server provides these services")
@pytest.mark.parametrize("key,text", REFUSED, ids=["%s-%d" % (k, i) for i, (k, _) in enumerate(REFUSED)])
def test_unprovided_service_refuses_to_start(key, text, tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("port: -1\n" + text)
    r = subprocess.run([SERVER_BIN, "-c", str(conf)], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL, text=True)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "not supported by this server yet" in lines[0], lines
    assert '"%s"' % key in lines[0], lines
