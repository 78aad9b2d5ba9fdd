#!/usr/bin/env bash
# Runs the protocol crate's fuzz targets, one after the other.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Each target (all of client route leaf json conf http ws jsapi jsstore by default) runs for
# SECONDS seconds of fuzzing, starting from its seeds (fuzz/seeds/<target>/,
# copied into the working corpus fuzz/corpus/<target>/) and its dictionary
# (fuzz/dicts/<target>.dict). Installs the nightly toolchain (minimal
# profile) and cargo-fuzz when they are missing. Exits non-zero if a target
# fails to build, crashes, times out on an input or breaks one of its
# checks; the input is then in fuzz/artifacts/<target>/ and the libFuzzer
# log in fuzz/artifacts/<target>.log.
#
# Environment:
#   FUZZ_SANITIZER    address (default) or none
#   FUZZ_MAX_LEN      longest input libFuzzer tries (default 4096)
#   FUZZ_BUILD_LIMIT  seconds allowed for building one target (default 1800)
set -euo pipefail

ALL_TARGETS=(client route leaf json conf http ws jsapi jsstore)

usage() {
  echo "usage: $0 SECONDS [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
SECONDS_PER_TARGET=$1
shift
[[ $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]] || usage
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; usage; }
done

SANITIZER=${FUZZ_SANITIZER:-address}
MAX_LEN=${FUZZ_MAX_LEN:-4096}
BUILD_LIMIT=${FUZZ_BUILD_LIMIT:-1800}

cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz

now() { date +%s; }

# ---- tools ----
install_start=$(now)
if ! command -v rustup >/dev/null 2>&1; then
  echo "fuzz.sh: rustup is required (to get a nightly toolchain)" >&2
  exit 1
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== installing the nightly toolchain"
  timeout 900 rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  timeout 1200 nice cargo install cargo-fuzz --locked
fi
install_secs=$(( $(now) - install_start ))
echo "== tools ready in ${install_secs}s: $(rustup run nightly rustc --version), $(cargo fuzz --version)"

# ---- targets ----
mkdir -p "$FUZZ/artifacts"
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  corpus=$FUZZ/corpus/$t
  mkdir -p "$corpus" "$FUZZ/artifacts/$t"
  cp "$FUZZ/seeds/$t"/* "$corpus"/
  log=$FUZZ/artifacts/$t.log

  echo "== building $t"
  build_start=$(now)
  if ! (timeout --kill-after=30 "$BUILD_LIMIT" nice cargo +nightly fuzz build -s "$SANITIZER" "$t"); then
    echo "== $t: build failed" >&2
    failed+=("$t (build)")
    summary+=("$t: build failed")
    continue
  fi
  build_secs=$(( $(now) - build_start ))

  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s (log: $log)"
  run_start=$(now)
  status=0
  # libFuzzer stops itself after max_total_time; the outer timeout only
  # guards against a hang that its own per-input timeout would not catch.
  (timeout --kill-after=30 $((SECONDS_PER_TARGET + 300)) nice cargo +nightly fuzz run -s "$SANITIZER" "$t" \
    "$corpus" -- \
    -max_total_time="$SECONDS_PER_TARGET" \
    -max_len="$MAX_LEN" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -dict="$FUZZ/dicts/$t.dict" \
    -print_final_stats=1) >"$log" 2>&1 || status=$?
  run_secs=$(( $(now) - run_start ))

  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' || true)
  line="$t: exit $status, ${run_secs}s fuzzing (build ${build_secs}s), execs ${execs:-?}, last: ${stats:-none}"
  summary+=("$line")
  if [[ $status -ne 0 ]]; then
    failed+=("$t")
    echo "== $t FAILED (exit $status); end of the log:" >&2
    tail -n 40 "$log" >&2
    ls -1 "$FUZZ/artifacts/$t" >&2 || true
  else
    echo "== $line"
  fi
done

echo
echo "== summary (tools ${install_secs}s)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== failed: ${failed[*]}" >&2
  exit 1
fi
