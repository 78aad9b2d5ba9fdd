#!/usr/bin/env bash
# Differential test against Go nats-server 2.9.10 (see docs/testing.md):
#   scripts/difftest.sh ROUNDS SEED                 compare rnats with Go
#   scripts/difftest.sh --calibrate ROUNDS SEED     Go against Go (no difference expected)
#   scripts/difftest.sh --replay SEED INDEX         one scenario in full (INDEX or cluster:N)
# More options: scripts/difftest.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tests/differential/difftest.py "$@"
