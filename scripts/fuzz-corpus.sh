#!/usr/bin/env bash
# Seeds the cargo-fuzz corpora from simulator captures: runs every scenario in scenarios/
# (shrunk to 300 KB per flow, so that handshakes, joins, DATA_FINs and middlebox rewrites
# dominate the capture) plus a few extra middlebox and direction variants with
# `mptcp sim --pcap`, then extracts packets with the `fuzz_corpus` example into
# fuzz/seeds/{wire_parse,endpoint_packets} (the committed seed corpus).
# Usage: scripts/fuzz-corpus.sh [OUT_DIR]   (default fuzz/seeds)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-fuzz/seeds}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p mptcp-cli --bin mptcp
cargo build --release -q -p mptcp-sim --example fuzz_corpus
mptcp=target/release/mptcp
extract=target/release/examples/fuzz_corpus
for f in scenarios/*.toml; do
    name=$(basename "$f" .toml)
    sed -E 's/^bytes = .*/bytes = "300KB"/' "$f" > "$work/$name.toml"
done
# Middleboxes and options the shipped scenarios do not show.
for mb in split coalesce seq-rewrite strip-mptcp-data; do
    cat > "$work/mb-$mb.toml" <<TOML
seed = 7
duration = "30s"
[[path]]
rate = "20Mbit"
delay = "5ms"
middlebox = "$mb"
[[path]]
rate = "20Mbit"
delay = "10ms"
loss = 0.01
[[flow]]
kind = "mptcp"
paths = [0, 1]
bytes = "300KB"
checksum = true
direction = "download"
TOML
done
for s in "$work"/*.toml; do
    name=$(basename "$s" .toml)
    mkdir -p "$work/pcap-$name"
    "$mptcp" sim "$s" --pcap "$work/pcap-$name" > /dev/null || echo "warning: $name failed" >&2
    for p in "$work/pcap-$name"/*.pcap; do
        mv "$p" "$work/$name-$(basename "$p")"
    done
done
rm -rf "$out/wire_parse" "$out/endpoint_packets"
"$extract" "$out" "$work"/*.pcap
du -sh "$out"
