#!/usr/bin/env bash
# The whole test suite: unit, property, conformance, hostile-input, end-to-end engine and
# simulator tests. Tests that need root or a missing tool print why they skip.
# Ends with one summary line: "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
# System tools some tests drive (nftables to strip options, iperf3 and mptcpize for perf
# interoperability, tshark to check our captures with Wireshark's MPTCP dissector):
# installed when running as root and missing; otherwise those tests print why they skip.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    command -v nft >/dev/null 2>&1 || missing+=(nftables)
    command -v iperf3 >/dev/null 2>&1 || missing+=(iperf3)
    command -v mptcpize >/dev/null 2>&1 || missing+=(mptcpd)
    command -v tshark >/dev/null 2>&1 || missing+=(tshark)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]}"
        # wireshark-common asks whether non-root users may capture: no (the tests only read
        # capture files, as root).
        echo "wireshark-common wireshark-common/install-setuid boolean false" \
            | debconf-set-selections 2>/dev/null
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null 2>&1 \
            || echo "warning: could not install ${missing[*]}; the tests that need them will skip"
    fi
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
