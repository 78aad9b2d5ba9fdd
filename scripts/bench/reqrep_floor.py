#!/usr/bin/env python3
"""Request/reply against its floor: server CPU per round for rnats and Go,
and for a bare epoll relay that only moves bytes (`loadgen floor`).

    python3 scripts/bench/reqrep_floor.py [--rounds 5] [--msgs 20000]

Each round runs, in turn, the relay, our server and Go's server with one
requester and one responder doing `--msgs` sequential request/reply rounds
(the `reqrep` scenario of scripts/bench/bench.py). The servers' CPU time is read
from /proc/PID/task/*/schedstat (nanoseconds, user and system together);
the user/system split and the voluntary context switches (sleeps in
epoll_wait or futex) come from /proc/PID/stat and status. The relay does per
hop what a single-threaded reactor must do at the least (epoll_wait, read,
write), so its CPU per round is the kernel's share of a round on this
machine; a server cannot go below it without leaving that design.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Seconds a fresh server idles before it is timed.
WARM = 0.5
LOADGEN = os.path.join(REPO, "scripts", "bench", "loadgen", "target", "release", "loadgen")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kv(line):
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


def proc_cpu(pid):
    """(schedstat ns, user s, system s, voluntary switches) over all threads."""
    ns = vol = 0
    tdir = f"/proc/{pid}/task"
    for tid in os.listdir(tdir):
        try:
            with open(f"{tdir}/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
            with open(f"{tdir}/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
        except OSError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return ns, int(fields[11]) / tck, int(fields[12]) / tck, vol


def wait_port(port, proc, limit=10.0):
    end = time.time() + limit
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not start")


def server_round(binary, msgs):
    port = free_port()
    proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        # As scripts/bench/bench.py: a process timed in its first few hundred
        # milliseconds is placed differently by the scheduler.
        time.sleep(WARM)
        c0 = proc_cpu(proc.pid)
        out = subprocess.run([LOADGEN, "reqrep", "--host", "127.0.0.1", "--port", str(port),
                              "--msgs", str(msgs), "--size", "16", "--timeout", "60"],
                             capture_output=True, text=True, timeout=120).stdout
        c1 = proc_cpu(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    r = kv(out)
    if r.get("ok") != "1":
        raise RuntimeError(f"{binary}: {out.strip()}")
    n = int(r["delivered"])
    return {
        "cpu": (c1[0] - c0[0]) / 1e3 / n,
        "user": (c1[1] - c0[1]) * 1e6 / n,
        "sys": (c1[2] - c0[2]) * 1e6 / n,
        "sleeps": (c1[3] - c0[3]) / n,
        "p50": float(r["p50_us"]),
    }


def floor_round(msgs):
    out = subprocess.run([LOADGEN, "floor", "--msgs", str(msgs), "--size", "16", "--timeout", "60"],
                         capture_output=True, text=True, timeout=120).stdout
    r = kv(out)
    if r.get("ok") != "1":
        raise RuntimeError(f"floor: {out.strip()}")
    return {
        "cpu": float(r["relay_cpu_us_per_round"]),
        "user": float(r["relay_user_us_per_round"]),
        "sys": float(r["relay_sys_us_per_round"]),
        "sleeps": float(r["relay_sleeps_per_round"]),
        "p50": float(r["p50_us"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--msgs", type=int, default=20000)
    ap.add_argument("--go", default="/usr/sbin/nats-server")
    ap.add_argument("--ours", default=os.environ.get("RNATS_BIN")
                    or os.path.join(REPO, "target", "release", "rnats-server"))
    opts = ap.parse_args()
    if not os.path.exists(LOADGEN) or "floor" not in subprocess.run(
            [LOADGEN], capture_output=True, text=True).stderr:
        subprocess.run(["cargo", "build", "-q", "--release"],
                       cwd=os.path.join(REPO, "scripts", "bench", "loadgen"), check=True)
    rows = {"relay (floor)": [], "rnats": [], "Go": []}
    for i in range(opts.rounds):
        rows["relay (floor)"].append(floor_round(opts.msgs))
        rows["rnats"].append(server_round(opts.ours, opts.msgs))
        rows["Go"].append(server_round(opts.go, opts.msgs))
        print(f"round {i + 1}/{opts.rounds}: " + ", ".join(
            f"{k} {v[-1]['cpu']:.1f}" for k, v in rows.items()) + " µs/round", file=sys.stderr)
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in rows.items()}
    go = med["Go"]["cpu"]
    print(f"{opts.rounds} rounds of {opts.msgs} request/reply rounds, 16-byte payloads, medians")
    print()
    print("| process | CPU µs/round | × Go | user µs | system µs | sleeps/round | p50 µs |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for k, m in med.items():
        print(f"| {k} | {m['cpu']:.1f} | {m['cpu'] / go:.2f} | {m['user']:.1f} | {m['sys']:.1f} "
              f"| {m['sleeps']:.2f} | {m['p50']:.1f} |")
    print()
    print(f"0.25 × Go = {go / 4:.1f} µs/round; the relay's floor is "
          f"{med['relay (floor)']['cpu'] / go:.2f} × Go, ours {med['rnats']['cpu'] / go:.2f} × Go")


if __name__ == "__main__":
    main()
