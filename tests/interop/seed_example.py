#!/usr/bin/env python3
"""The three-server cluster example of the NATS clustering page, run as
written with rnats-server in place of nats-server, on the page's ports.

Part 1 starts the seed from the command line (`-p 4222 -cluster
nats://localhost:4248`) and two servers that route to it; part 2 starts the
seed from `seed.conf` with `-D`. Each part waits for the full mesh (every
server names both others in its client INFO `connect_urls`), then does the
page's nats-sub / nats-pub check with the nats-py client: a subscriber on
4222 must receive exactly the four messages published on 4222, 5222, 6222
and on a random server of the three.

Prints `ok - ...` lines and ends with `N passed, M failed`; exits non-zero
on failure. Needs the ports 4222, 4248, 5222, 5248, 6222, 6248 and 8222 free.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("NATS_SERVER_BIN", os.path.join(ROOT, "target", "release", "rnats-server"))
SEED_CONF = os.path.join(ROOT, "scripts", "deploy", "seed.conf")
PORTS = [4222, 4248, 5222, 5248, 6222, 6248, 8222]

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else ": " + detail), flush=True)


def port_free(p):
    with socket.socket() as s:
        # Like the servers, ignore connections of a previous run in TIME_WAIT.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", p))
            return True
        except OSError:
            return False


def client_info(port, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            line += chunk
    return json.loads(line[5:].strip())


def wait_full_mesh(ports, deadline_s=15.0):
    deadline = time.time() + deadline_s
    want = set(ports)
    last = None
    while time.time() < deadline:
        try:
            ok = True
            for p in ports:
                urls = client_info(p).get("connect_urls", [])
                last = (p, urls)
                if not want <= {int(u.rsplit(":", 1)[1]) for u in urls}:
                    ok = False
            if ok:
                return True, last
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    return False, last


def start(args, log):
    return subprocess.Popen([BIN] + args, stdout=subprocess.DEVNULL, stderr=open(log, "w"))


async def sub_pub_check():
    import nats

    sub_nc = await nats.connect("nats://127.0.0.1:4222")
    got = []
    done = asyncio.Event()

    async def cb(msg):
        got.append(msg.data.decode())
        if len(got) >= 4:
            done.set()

    await sub_nc.subscribe("hello", cb=cb)
    await sub_nc.flush()
    # Wait until the subscription is known on every server.
    await asyncio.sleep(0.5)
    sent = []
    for url, text in [("nats://127.0.0.1:4222", "world_4222"), ("nats://127.0.0.1:5222", "world_5222"),
                      ("nats://127.0.0.1:6222", "world_6222"),
                      ("nats://127.0.0.1:4222,nats://127.0.0.1:5222,nats://127.0.0.1:6222", "whole_world")]:
        nc = await nats.connect(url.split(","))
        await nc.publish("hello", text.encode())
        await nc.flush()
        await nc.close()
        sent.append(text)
    try:
        await asyncio.wait_for(done.wait(), 5)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0.3)
    await sub_nc.close()
    return sent, got


def run_part(name, server_args, logs):
    procs = []
    try:
        procs.append(start(server_args[0], logs[0]))
        time.sleep(0.3)
        for a, log in zip(server_args[1:], logs[1:]):
            procs.append(start(a, log))
        ok, last = wait_full_mesh([4222, 5222, 6222])
        check(name + ": full mesh, every server advertises all three", ok, repr(last))
        sent, got = asyncio.run(sub_pub_check())
        check(name + ": subscriber on 4222 got each message once", sorted(sent) == sorted(got), "got %r" % got)
        return procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    busy = [p for p in PORTS if not port_free(p)]
    if busy:
        print("ports in use: %s" % busy)
        print("0 passed, 1 failed")
        return 1
    logdir = os.environ.get("TMPDIR", "/tmp")
    logs = [os.path.join(logdir, "seed-example-%s.log" % n) for n in ("a", "b", "c")]
    run_part("command line", [
        ["-p", "4222", "-cluster", "nats://localhost:4248"],
        ["-p", "5222", "-cluster", "nats://localhost:5248", "-routes", "nats://localhost:4248"],
        ["-p", "6222", "-cluster", "nats://localhost:6248", "-routes", "nats://localhost:4248"],
    ], logs)
    time.sleep(0.5)
    run_part("seed.conf", [
        ["-config", SEED_CONF, "-D"],
        ["-p", "5222", "-cluster", "nats://localhost:5248", "-routes", "nats://localhost:4248", "-D"],
        ["-p", "6222", "-cluster", "nats://localhost:6248", "-routes", "nats://localhost:4248", "-D"],
    ], logs)
    with open(logs[1]) as f:
        text = f.read()
    for line in ["Trying to connect to route on localhost:4248", "Route connect msg sent", "Route connection created",
                 "Registering remote route", "Sent local subscriptions to route"]:
        check("seed.conf: joiner's -D log has %r" % line, line in text, "missing")
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
