#!/usr/bin/env bash
# JetStream memory: the anonymous memory (RssAnon) a server holds per stored
# message and per stream, for rnats and the Go server side by side.
#
#   scripts/bench/js_memory.sh [BINARY...]
#
# Each server starts with JetStream on a fresh store directory; its RssAnon
# is read idle, after 200 000 16-byte messages in one file stream (loadgen
# jsfill), and after 500 more (empty) file streams. Default binaries:
# target/release/rnats-server and the Go server tests/harness.py finds.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo "$PWD/.venv/bin/python" || echo python3)}
LG=scripts/bench/loadgen/target/release/loadgen
[ -x "$LG" ] || (cd scripts/bench/loadgen && cargo build -q --release)
if [ $# -eq 0 ]; then
  set -- target/release/rnats-server "$(cd tests && "$PY" -c 'import harness; print(harness.go_server_binary("2.10+") or "")')"
fi
MSGS=200000
STREAMS=500
for bin in "$@"; do
  [ -x "$bin" ] || { echo "js_memory.sh: $bin is not executable" >&2; exit 2; }
  dir=$(mktemp -d)
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" -js -sd "$dir" -p "$port" -a 127.0.0.1 >"$dir/log" 2>&1 &
  pid=$!
  trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
  for _ in $(seq 1 100); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  anon() { awk '/RssAnon/ {print $2}' "/proc/$pid/status"; }
  a0=$(anon)
  "$LG" jsfill --port "$port" --msgs "$MSGS" --timeout 120 >/dev/null
  a1=$(anon)
  "$PY" - "$port" "$STREAMS" <<'PY'
import json, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), 30)
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.mem 1\r\n')
for i in range(n):
    body = json.dumps({"name": "M%d" % i, "subjects": ["m%d.>" % i], "storage": "file"}).encode()
    s.sendall(b"PUB $JS.API.STREAM.CREATE.M%d _INBOX.mem %d\r\n%s\r\n" % (i, len(body), body))
buf = b""
while buf.count(b"stream_create_response") < n:
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("connection closed")
    buf += chunk
PY
  a2=$(anon)
  printf '%s: idle %d KiB; %d B per stored message; %d B per stream\n' "$("$bin" --version 2>&1 | head -1)" \
    "$a0" $(( (a1 - a0) * 1024 / MSGS )) $(( (a2 - a1) * 1024 / STREAMS ))
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  trap - EXIT
done
