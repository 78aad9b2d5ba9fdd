#!/usr/bin/env bash
# Instruction-level profile of the server under one load, with valgrind's
# callgrind (counts instructions, so it is repeatable on a busy machine).
#
#   scripts/bench/profile.sh [pub|pubsub|fanout|queue] [MSGS]
#
# Builds target/profiling/rnats-server (release code with symbols), runs it
# under callgrind while scripts/bench/loadgen sends MSGS 16-byte messages, then
# prints instructions per message and the functions that cost the most
# (self cost). The raw profile is left in target/profile-SCENARIO.callgrind
# for callgrind_annotate or kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
scen=${1:-pubsub}
msgs=${2:-200000}
case "$scen" in pub | pubsub | fanout | queue) ;; *)
    echo "scenario must be pub, pubsub, fanout or queue" >&2
    exit 2
    ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
cargo build -q --profile profiling
(cd scripts/bench/loadgen && cargo build -q --release)
bin=target/profiling/rnats-server
out=target/profile-$scen.callgrind
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" -a 127.0.0.1 -p "$port" >/dev/null 2>"$out.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
result=$(scripts/bench/loadgen/target/release/loadgen "$scen" --port "$port" --msgs "$msgs" --size 16 --timeout 120)
kill -INT "$pid"
wait "$pid" || true
trap - EXIT
echo "$result"
delivered=$(tr ' ' '\n' <<<"$result" | sed -n 's/^delivered=//p')
[ "$scen" = pub ] && delivered=$msgs
total=$(callgrind_annotate "$out" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
echo "instructions: $total in all, $((total / delivered)) per message (incl. start-up and shutdown)"
echo "top functions by self cost:"
callgrind_annotate --inclusive=no --threshold=95 "$out" 2>/dev/null |
    grep -E '^ *[0-9,]+ \(' | grep -v 'PROGRAM TOTALS' | head -25 |
    sed -E 's#/rustc/[0-9a-f]+/library/#std:#; s# \[[^]]*\]$##'
