"""Authorization and permissions seen through a real client library
(nats-py): credentials, a permission violation reported through the error
callback while the connection keeps working, and a refused login."""

import asyncio

import pytest

nats = pytest.importorskip("nats")

CONF = """
authorization {
  users = [
    { user: alice, password: pa, permissions: { publish: "ok.>", subscribe: ["ok.>", "_INBOX.>"] } }
  ]
}
"""


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_nats_py_user_permissions(start_server, tmp_path):
    conf = tmp_path / "auth.conf"
    conf.write_text(CONF)
    srv = start_server("-c", str(conf))
    url = "nats://alice:pa@127.0.0.1:%d" % srv.port

    async def main():
        errors = []

        async def on_error(e):
            errors.append(str(e))

        nc = await nats.connect(url, error_cb=on_error, allow_reconnect=False)
        got = []
        sub = await nc.subscribe("ok.x")
        await nc.publish("denied.x", b"no")
        await nc.publish("ok.x", b"yes")
        msg = await sub.next_msg(timeout=5)
        got.append(msg.data)
        for _ in range(50):
            if errors:
                break
            await asyncio.sleep(0.1)
        assert nc.is_connected
        await nc.close()
        return got, errors

    got, errors = run(main())
    assert got == [b"yes"]
    assert any("permissions violation for publish to \"denied.x\"" in e.lower() for e in errors), errors


def test_nats_py_wrong_password_refused(start_server, tmp_path):
    conf = tmp_path / "auth.conf"
    conf.write_text(CONF)
    srv = start_server("-c", str(conf))

    async def main():
        try:
            nc = await nats.connect("nats://alice:wrong@127.0.0.1:%d" % srv.port, allow_reconnect=False,
                                    connect_timeout=3, max_reconnect_attempts=0)
        except Exception as e:  # nats-py raises its own error types here
            return str(e) or type(e).__name__
        await nc.close()
        return None

    err = run(main())
    assert err is not None
    assert "authorization" in err.lower() or "Authorization" in err, err
