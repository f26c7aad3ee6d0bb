#!/usr/bin/env bash
# Crash soak: the kill -9 test of `tests/it/crash_recovery.rs` with many rounds — a real
# `dominion serve` killed at random moments under bots load, restarted, and checked: every
# command a client was told succeeded is in the recovered world, and the recovered world hashes
# like a replay of the whole journal from the seed.
#
#   tools/crash_soak.sh [SQLITE_ROUNDS=20] [MONGO_ROUNDS=3]
#
# MongoDB rounds run when DOMINION_TEST_MONGO_URL is set (source .ci/services.sh for one).
# Uses $CARGO_TARGET_DIR like any cargo command.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOMINION_CRASH_ROUNDS="${1:-20}"
export DOMINION_CRASH_ROUNDS_MONGO="${2:-3}"
exec cargo test --test it crash_recovery -- --include-ignored --nocapture --test-threads 1
