#!/usr/bin/env bash
# Goodput of the user-space stack (mptcp --tun) against the kernel's MPTCP, over the
# namespace topology of crates/mptcp-cli/tests/interop.rs:
#
#   ns "us":  mptcp --tun mtun0 --addr 10.7.0.1 [--addr 10.7.0.2]   (or the kernel client)
#       v1a 10.7.1.1/24 <--veth--> v1b 10.7.1.2/24   ns "srv": mptcpize run iperf3 -s
#       v2a 10.7.2.1/24 <--veth--> v2b 10.7.2.2/24   (second path)
#
# (a) one path, no shaping: ours -> kernel and kernel -> kernel, and their ratio;
# (b) two paths, each shaped to 100 Mbit/s (tbf on both ends' egress): goodput of one
#     connection / 200 Mbit/s, for ours and for the kernel (subflow endpoint on 10.7.2.1).
#
# Needs root, iproute2, tc, iperf3, mptcpize (package mptcpd). Usage:
#   scripts/bench_net.sh [SECONDS]      (default 10; MPTCP_BIN overrides the binary)
set -euo pipefail

SECS=${1:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${MPTCP_BIN:-$ROOT/target/release/mptcp}
ID=$$
US=bus$ID
SRV=bsrv$ID
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$US" 2>/dev/null || true
    ip netns del "$SRV" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

die() { echo "bench_net: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
for t in ip tc iperf3 mptcpize; do command -v "$t" >/dev/null || die "$t is missing"; done
if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -q -p mptcp-cli) || die "build failed"
fi

ip netns add "$US"
ip netns add "$SRV"
for ns in "$US" "$SRV"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" mptcp limits set subflows 8 add_addr_accepted 8
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
ip netns exec "$US" sysctl -qw net.ipv4.ip_forward=1
for p in 1 2; do
    ip link add "v${p}a" netns "$US" type veth peer name "v${p}b" netns "$SRV"
    ip -n "$US" addr add "10.7.$p.1/24" dev "v${p}a"
    ip -n "$SRV" addr add "10.7.$p.2/24" dev "v${p}b"
    ip -n "$US" link set "v${p}a" up
    ip -n "$SRV" link set "v${p}b" up
    ip -n "$SRV" route add "10.7.0.$p/32" via "10.7.$p.1"
done
# Our second address leaves through the second path.
ip -n "$US" rule add from 10.7.0.2/32 table 102
ip -n "$US" route add default via 10.7.2.2 table 102
# The kernel client's second address (10.7.2.1) too.
ip -n "$US" rule add from 10.7.2.1/32 table 202
ip -n "$US" route add default via 10.7.2.2 dev v2a table 202

# Runs one iperf3 server (kernel MPTCP) for one test; prints the receiver's Mbit/s.
run_test() { # $1... = client command in ns US
    local port=$((5300 + RANDOM % 500))
    ip netns exec "$SRV" mptcpize run iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    local spid=$!
    PIDS+=("$spid")
    for _ in $(seq 100); do
        ip netns exec "$SRV" ss -Hltn | grep -q ":$port " && break
        sleep 0.05
    done
    local out
    out=$(ip netns exec "$US" "$@" -p "$port" -t "$SECS" 2>&1) || {
        echo "bench_net: client failed: $(echo "$out" | tail -1)" >&2
        wait "$spid" 2>/dev/null || true
        echo 0
        return
    }
    wait "$spid" 2>/dev/null || true
    echo "$out" | grep -E 'receiver$' | sed 's/^/    /' >&2
    echo "$out" | awk '/receiver$/ && /bits\/sec/ {
        for (i = 1; i <= NF; i++) if ($i ~ /bits\/sec$/) {
            v = $(i-1); u = substr($i, 1, 1)
            m = (u == "G") ? 1000 : (u == "M") ? 1 : (u == "K") ? 0.001 : 0.000001
            printf "%.1f\n", v * m; exit
        }
    }'
}

ours() { # $1 = number of paths
    local a=(--tun mtun0 --addr 10.7.0.1)
    [ "$1" -ge 2 ] && a+=(--addr 10.7.0.2)
    run_test "$BIN" "${a[@]}" perf client 10.7.1.2
}
kernel() { run_test "$BIN" --kernel perf client 10.7.1.2; }

echo "== (a) one path, no shaping, ${SECS}s, one connection (Mbit/s at the receiver)"
OA=$(ours 1)
KA=$(kernel)
echo "ours -> kernel:   $OA"
echo "kernel -> kernel: $KA"
awk -v o="$OA" -v k="$KA" 'BEGIN { if (k > 0) printf "ratio ours/kernel: %.2f\n", o / k }'

echo "== (b) two paths, each tbf 100 Mbit/s, ${SECS}s, one connection"
for p in 1 2; do
    tc -n "$US" qdisc add dev "v${p}a" root tbf rate 100mbit burst 64kb latency 50ms
    tc -n "$SRV" qdisc add dev "v${p}b" root tbf rate 100mbit burst 64kb latency 50ms
done
OB=$(ours 2)
ip -n "$US" mptcp endpoint add 10.7.2.1 dev v2a subflow
KB=$(kernel)
echo "ours (2 subflows):   $OB Mbit/s = $(awk -v x="$OB" 'BEGIN { printf "%.2f", x / 200 }') of 200"
echo "kernel (2 subflows): $KB Mbit/s = $(awk -v x="$KB" 'BEGIN { printf "%.2f", x / 200 }') of 200"
