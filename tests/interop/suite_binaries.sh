# Sourced by the client-library suites: picks the two servers they compare.
# Needs ROOT, PY, LOCK, WORK and NAME (the suite's script name, for
# messages). Sets SERVER (SUITE_SERVER_BIN, or the release build, built if
# missing) and ORACLE (SUITE_ORACLE_BIN, or the Go 2.10+ server the tests'
# harness finds), both absolute, and makes WORK absolute; exits 2 when one
# of them cannot run.
SERVER=${SUITE_SERVER_BIN:-$ROOT/target/release/rnats-server}
if [ -z "${SUITE_SERVER_BIN:-}" ] && [ ! -x "$SERVER" ]; then
  flock "$LOCK" cargo build --release --quiet
fi
ORACLE=${SUITE_ORACLE_BIN:-$(cd "$ROOT/tests" && NATS_SERVER_BIN="$SERVER" "$PY" -c \
  'import harness; print(harness.go_server_binary("2.10+") or "")' 2>/dev/null || true)}
for b in "$SERVER" "$ORACLE"; do
  if [ -z "$b" ] || [ ! -x "$b" ]; then
    echo "$NAME: server binary ${b:-(Go 2.10+ not found)} is not executable" >&2
    exit 2
  fi
done
SERVER=$(realpath "$SERVER")
ORACLE=$(realpath "$ORACLE")
echo "$NAME: server under test: $SERVER ($("$SERVER" --version 2>&1 | head -1))"
echo "$NAME: oracle: $ORACLE ($("$ORACLE" --version 2>&1 | head -1))"
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
