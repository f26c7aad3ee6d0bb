#!/usr/bin/env bash
# Grant soak: the kill -9 test of `tests/it/grant_soak.rs` with many rounds — a real
# `dominion serve` (SQLite) whose players claim every attachment they see (often twice at once)
# while `dominion ticket` processes deliver compensation tickets; both are killed with kill -9 at
# random moments and restarted / issued again. At the end: 0 duplicate grants, 0 lost grants
# (per player, resources granted = attachments claimed), every ticket delivered once to each
# recipient. Prints the figures.
#
#   tools/grant_soak.sh [ROUNDS=20]
#
# Uses $CARGO_TARGET_DIR like any cargo command.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOMINION_GRANT_ROUNDS="${1:-20}"
exec cargo test --test it grant_soak -- --nocapture --test-threads 1
