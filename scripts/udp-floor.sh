#!/usr/bin/env bash
# scripts/udp-floor.sh: the kernel's CPU per datagram under a fan-out shaped
# like the SFU's (250 destinations x 5 packets of 1 200 bytes per round), one
# datagram per message against GSO, delivered to loopback receivers against
# dropped by the device. See scripts/udpfloor/main.go for what each measures.
#
#   sudo bash scripts/udp-floor.sh [ROUNDS]     (default 3 rounds of the four)
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
(cd "$top" && go build -o "$bin/udpfloor" ./scripts/udpfloor)
ip netns add "$ns"
nsx() { ip netns exec "$ns" "$@"; }
nsx ip link set lo up
nsx ip link add fl0 type veth peer name fl1
nsx ip addr add 10.99.0.1/24 dev fl0
nsx ip link set fl0 up
# fl1 stays down: fl0 has no carrier and drops every frame it is handed.
nsx ip neigh add 10.99.0.2 lladdr 02:00:00:00:00:02 dev fl0 nud permanent
for _ in $(seq 1 "$rounds"); do
	for mode in dgram gso; do
		for dest in lo drop; do
			nsx "$bin/udpfloor" -mode "$mode" -dest "$dest"
		done
	done
done
echo "dropped by fl0: $(nsx cat /sys/class/net/fl0/statistics/tx_dropped) messages"
