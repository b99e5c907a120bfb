#!/usr/bin/env bash
# The whole test suite: unit, property, hostile-input, end-to-end engine and simulator
# tests. Tests that need root or a missing tool print why they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
