#!/usr/bin/env bash
# Instructions per message when the match cache cannot hold the working set:
#
#   scripts/bench/profile-subjects.sh [SUBJECTS] [MSGS]     (defaults 100000 40000)
#
# Runs target/profiling/rnats-server under callgrind with instrumentation off
# while a subscriber takes SUBJECTS literal subscriptions plus 1 000
# wildcards (scripts/bench/subjects_load.py), on while a publisher sends MSGS
# 8-byte messages to random subjects among them, and prints the server's
# instructions per published (and delivered) message. Deterministic for the
# same binary and arguments, so usable on a busy machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100000}
m=${2:-40000}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build -q --profile profiling
bin=target/profiling/rnats-server
out=target/profile-subjects-$n.callgrind
rm -f "$out"*
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin" -a 127.0.0.1 -p "$port" \
  >/dev/null 2>"$out.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break
  sleep 0.1
done
coproc LOAD { python3 -u scripts/bench/subjects_load.py "$port" "$n" "$m"; }
read -r _ <&"${LOAD[0]}"          # SETUP_DONE
callgrind_control -i on "$pid" >/dev/null
echo go >&"${LOAD[1]}"
read -r _ delivered <&"${LOAD[0]}"  # PUB_DONE <count>
callgrind_control -i off "$pid" >/dev/null
echo go >&"${LOAD[1]}"
wait "$LOAD_PID" 2>/dev/null || true
kill -INT "$pid"
wait "$pid" 2>/dev/null || true
trap - EXIT
total=$(grep -hE '^(summary|totals):' "$out"* | awk '{s += $2} END {print s}')
echo "subjects=$n msgs=$m delivered=$delivered instructions=$total per_message=$((total / m))"
echo "profile: $out (callgrind_annotate --inclusive=yes $out)"
