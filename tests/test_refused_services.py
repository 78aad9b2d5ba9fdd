"""What this server does not provide yet is refused at start with a one-line
error naming the key, instead of being ignored: services of the Go server
(leaf node TLS and credentials, gateways, WebSocket cookies, MQTT, JetStream encryption and server limits, subject mappings), so
that nobody runs a box believing, say, that it reaches its hub, and security
settings (operator, resolver, trusted keys, account exports, the system
account, verify_and_map on routes), which fail closed. Go starts with each
of these, so the checks run against this server only."""

import subprocess

import pytest

from harness import SERVER_BIN, SERVER_IS_RNATS

REFUSED = [
    ("handshake_first", "leafnodes { port: -1, tls { cert_file: c.pem, key_file: k.pem, handshake_first: true } }\n"),
    ("ws_compression", 'leafnodes { remotes: [ { url: "ws://127.0.0.1:7422", ws_compression: true } ] }\n'),
    ("gateway", "gateway { name: G, port: -1 }\n"),
    ("jwt_cookie", "websocket { port: -1, no_tls: true, jwt_cookie: jwt }\n"),
    ("mqtt", "mqtt { port: -1 }\n"),
    ("key", "jetstream { store_dir: /tmp/js, key: s3cr3t }\n"),
    ("limits", "jetstream { store_dir: /tmp/js, limits { max_ack_pending: 10 } }\n"),
    ("mappings", "mappings { a: b }\n"),
]


def refusal(tmp_path, text):
    """The one line this server prints when it refuses to start with the
    configuration ``text``."""
    conf = tmp_path / "s.conf"
    conf.write_text("port: -1\n" + text)
    r = subprocess.run([SERVER_BIN, "-c", str(conf)], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL, text=True)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "not supported by this server yet" in lines[0], lines
    return lines[0]


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="the Go server provides these services")
@pytest.mark.parametrize("key,text", REFUSED, ids=["%s-%d" % (k, i) for i, (k, _) in enumerate(REFUSED)])
def test_unprovided_service_refuses_to_start(key, text, tmp_path):
    line = refusal(tmp_path, text)
    assert '"%s"' % key in line, line


REFUSED_CONFIGS = [
    ("operator", "operator: /nonexistent/op.jwt\n"),
    ("resolver", "resolver: MEMORY\n"),
    ("resolver_preload", "resolver_preload: { ACC: \"eyJ\" }\n"),
    ("trusted_keys", "trusted_keys: [\"OABC\"]\n"),
    ("accounts exports", "accounts: { A: { exports: [ { stream: \"x.>\" } ] } }\n"),
    ("system_account", "accounts: { A: {} }\nsystem_account: A\n"),
    ("cluster tls verify_and_map", "cluster { listen: \"127.0.0.1:4248\", tls { cert_file: \"c.pem\", "
     "key_file: \"k.pem\", ca_file: \"ca.pem\", verify_and_map: true } }\n"),
]


@pytest.mark.skipif(not SERVER_IS_RNATS, reason="these settings are implemented by Go")
@pytest.mark.parametrize("key,text", REFUSED_CONFIGS, ids=[k for k, _ in REFUSED_CONFIGS])
def test_unsupported_security_settings_refuse_to_start(key, text, tmp_path):
    line = refusal(tmp_path, text)
    assert key.split()[-1] in line, line
