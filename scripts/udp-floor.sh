#!/usr/bin/env bash
# scripts/udp-floor.sh: the floor under the fan-out, what surge's batch sends
# cost the sending thread per datagram (nothing sealed), 250 subscribers x 5
# packets of 1 200 bytes, one datagram per message against GSO, delivered to
# loopback receivers against dropped by the device: sfu's BenchmarkBatchSend,
# whose comment says what each case measures.
#
#   sudo bash scripts/udp-floor.sh [ROUNDS]     (default 3 runs of the four)
#
# Everything runs in a network namespace the script creates and deletes:
# its own loopback, and a veth pair whose peer stays down so the device drops
# what it is handed. No other interface or address is touched. Needs root
# (CAP_NET_ADMIN, CAP_SYS_ADMIN for the namespace). Run it under `quiet` on a
# shared machine; compare the rows as ratios within one run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
ns="surge-udpfloor-$$"
bin=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$bin"; }
trap cleanup EXIT
(cd "$top" && go test -c -o "$bin/sfu.test" ./sfu)
ip netns add "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx ip link set lo up
nsx ip link add fl0 type veth peer name fl1
nsx ip addr add 10.99.0.1/24 dev fl0
nsx ip link set fl0 up
# fl1 stays down: fl0 has no carrier and drops every frame it is handed.
nsx ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev fl0 nud permanent
SURGE_BENCH_DROP_SRC=10.99.0.1 SURGE_BENCH_DROP_DST=10.99.0.2 nsx "$bin/sfu.test" \
	-test.run '^$' -test.bench 'BatchSend' -test.benchtime 400x -test.count "$rounds"
echo "dropped by fl0: $(nsx cat /sys/class/net/fl0/statistics/tx_dropped) messages"
