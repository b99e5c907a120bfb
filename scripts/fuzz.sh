#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 600), one after the
# other, in one process (no -jobs/-workers); fails on the first crash (the reproducer is left in
# fuzz/artifacts/TARGET/). Corpora grow in fuzz/corpus/TARGET (not committed), seeded
# from the committed fuzz/seeds/TARGET (scripts/fuzz-corpus.sh regenerates those).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "== $t: ${secs}s"
    log=$(mktemp)
    if ! cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 > "$log" 2>&1; then
        grep -v '^#' "$log" | tail -60
        rm -f "$log"
        echo "fuzz.sh: $t crashed; reproduce with: cd fuzz && cargo +nightly fuzz run -O $t artifacts/$t/<file>" >&2
        exit 1
    fi
    grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
    rm -f "$log"
done
