#!/usr/bin/env bash
# scripts/turn-cost.sh: CPU per relayed packet of the embedded TURN server
# and of Debian's coturn, the same loadbot scenario relayed through each,
# measured in one run (compare the two as a ratio; absolute figures move
# with the machine). Run it under `quiet` on a shared machine.
#
# Each round runs the scenario twice, first through the embedded server,
# then through coturn. To measure the embedded server apart from the SFU,
# it runs in its own `surge serve` process (turn.enabled, allowed to relay
# to the SFU's media port); the SFU under test, another `surge serve`,
# mints credentials for it exactly as for coturn, through turn.external
# with the shared secret. So in both runs the SFU process does the same
# work and only the TURN process differs:
#
#   CPU per relayed packet = Δ(utime+stime of the TURN process) / relayed packets
#
# relayed packets: the embedded server's surge_turn_relayed_packets_total
# (both directions); coturn's per-session "usage" log lines (rp + sp, the
# packets received from and sent to its clients, logged with -v as each
# allocation ends; the "peer usage" lines count the same packets on the
# relay side and are left out). coturn's figure includes the few TURN
# control messages (refreshes, permissions), the embedded one does not.
# Everything binds 127.0.0.1, ports BASE..BASE+99.
#
# Environment: BASE (first port, default 24000), SUBSCRIBERS (12),
# DURATION (25s), ROUNDS (2), OUT (directory for logs and reports;
# default a temporary one, printed), PROFILE (set: a 10 s CPU profile of
# the embedded TURN process in round 1, saved as OUT/embedded-turn.pprof).
set -euo pipefail

cd "$(dirname "$0")/.."
BASE=${BASE:-24000}
SUBSCRIBERS=${SUBSCRIBERS:-12}
DURATION=${DURATION:-25s}
ROUNDS=${ROUNDS:-2}
GO=${GO:-go}
OUT=${OUT:-$(mktemp -d /tmp/turn-cost.XXXXXX)}
mkdir -p "$OUT"

if ! command -v turnserver >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y coturn
	else
		echo "turnserver not found: install Debian's coturn package" >&2
		exit 1
	fi
fi

SFU_HTTP=$BASE ; SFU_ADMIN=$((BASE + 1)) ; SFU_UDP=$((BASE + 2))
EMB_TURN=$((BASE + 10)) ; COTURN=$((BASE + 20))
EMB_HTTP=$((BASE + 30)) ; EMB_ADMIN=$((BASE + 31)) ; EMB_UDP=$((BASE + 32))
EMB_RELAY_MIN=$((BASE + 40)) ; EMB_RELAY_MAX=$((BASE + 69))
CO_RELAY_MIN=$((BASE + 70)) ; CO_RELAY_MAX=$((BASE + 99))
SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
CLK_TCK=$(getconf CLK_TCK)

echo "== build (logs and reports in $OUT)"
$GO build -o "$OUT/bin/" ./cmd/surge ./cmd/loadbot

pids=()
cleanup() {
	# Only the processes this script started, by pid.
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
healthy() {
	for _ in $(seq 1 100); do
		curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "no /healthz on port $1" >&2
	return 1
}
relayed_packets() {
	curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^surge_turn_relayed_packets_total/ {s += $2} END {printf "%.0f\n", s}'
}

# The SFU under test, minting TURN REST credentials for $1 (a turn: URL).
start_sfu() {
	SURGE_TURN_EXTERNAL="[{\"urls\":[\"$1\"],\"secret\":\"$SECRET\"}]" "$OUT/bin/surge" serve \
		--listen_addr "127.0.0.1:$SFU_HTTP" --admin_addr "127.0.0.1:$SFU_ADMIN" --rtc.udp_addr "127.0.0.1:$SFU_UDP" \
		--log.level warn >>"$OUT/sfu.log" 2>&1 &
	sfu_pid=$!
	pids+=("$sfu_pid")
	healthy "$SFU_ADMIN"
}

run_loadbot() {
	"$OUT/bin/loadbot" run --url "ws://127.0.0.1:$SFU_HTTP/rtc" --sfu-metrics "http://127.0.0.1:$SFU_ADMIN/metrics" \
		--instance-id "$1" --rooms 1 --publishers 1 --subscribers "$SUBSCRIBERS" --duration "$DURATION" \
		--join-rate 20 --ice-transport relay-udp --json "$OUT/$1.json" >"$OUT/$1.txt" 2>&1 || true
	grep -E "^(bots|paths|latency|loss|sfu|loadbot) " "$OUT/$1.txt" | sed 's/^/    /'
}

# us_per_packet TICKS PACKETS
us_per_packet() { awk -v t="$1" -v p="$2" -v hz="$CLK_TCK" 'BEGIN { if (p > 0) printf "%.2f", t / hz * 1e6 / p; else print "n/a" }'; }

results=()
for round in $(seq 1 "$ROUNDS"); do
	echo "== round $round: embedded TURN (its own surge process)"
	"$OUT/bin/surge" serve --listen_addr "127.0.0.1:$EMB_HTTP" --admin_addr "127.0.0.1:$EMB_ADMIN" --rtc.udp_addr "127.0.0.1:$EMB_UDP" \
		--turn.enabled --turn.udp_addr "127.0.0.1:$EMB_TURN" --turn.tcp_addr= --turn.tls_addr= --turn.secret "$SECRET" \
		--turn.relay_port_min "$EMB_RELAY_MIN" --turn.relay_port_max "$EMB_RELAY_MAX" \
		--turn.allowed_peers "127.0.0.1:$SFU_UDP" --log.level warn >>"$OUT/embedded.log" 2>&1 &
	emb_pid=$!
	pids+=("$emb_pid")
	healthy "$EMB_ADMIN"
	start_sfu "turn:127.0.0.1:$EMB_TURN?transport=udp"
	c0=$(cpu_ticks "$emb_pid"); p0=$(relayed_packets "$EMB_ADMIN"); s0=$(cpu_ticks "$sfu_pid")
	if [ -n "${PROFILE:-}" ] && [ "$round" = 1 ]; then
		(sleep 5; curl -fsS -o "$OUT/embedded-turn.pprof" "http://127.0.0.1:$EMB_ADMIN/debug/pprof/profile?seconds=10") &
	fi
	run_loadbot "embedded-$round"
	sleep 1 # allocations deleted, last packets counted
	c1=$(cpu_ticks "$emb_pid"); p1=$(relayed_packets "$EMB_ADMIN"); s1=$(cpu_ticks "$sfu_pid")
	stop "$sfu_pid"; stop "$emb_pid"
	emb_ticks=$((c1 - c0)); emb_pkts=$((p1 - p0)); emb_sfu=$((s1 - s0))
	echo "    embedded TURN: $emb_ticks ticks for $emb_pkts relayed packets = $(us_per_packet $emb_ticks $emb_pkts) µs/packet (SFU: $emb_sfu ticks)"

	echo "== round $round: coturn $(turnserver --version 2>/dev/null | head -1)"
	log="$OUT/coturn-$round.log"
	turnserver -n --no-cli --no-tls --no-dtls --no-rfc5780 --no-software-attribute \
		--listening-ip=127.0.0.1 --listening-port="$COTURN" --relay-ip=127.0.0.1 \
		--min-port="$CO_RELAY_MIN" --max-port="$CO_RELAY_MAX" \
		--use-auth-secret --static-auth-secret="$SECRET" --realm=surge --allow-loopback-peers -v \
		--userdb="$OUT/turndb" --pidfile="$OUT/coturn.pid" --log-file="$log" --simple-log --no-stdout-log 2>>"$log" &
	co_pid=$!
	pids+=("$co_pid")
	sleep 1
	start_sfu "turn:127.0.0.1:$COTURN?transport=udp"
	c0=$(cpu_ticks "$co_pid"); s0=$(cpu_ticks "$sfu_pid")
	run_loadbot "coturn-$round"
	sleep 1
	c1=$(cpu_ticks "$co_pid"); s1=$(cpu_ticks "$sfu_pid")
	stop "$sfu_pid"; stop "$co_pid"
	co_ticks=$((c1 - c0)); co_sfu=$((s1 - s0))
	# "... usage: realm=<surge>, username=<...>, rp=N, rb=N, sp=N, sb=N" per allocation.
	co_pkts=$(grep -h ': usage: ' "$log" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(rp|sp)=/) { split($i, kv, "="); s += kv[2] + 0 } } END {printf "%.0f\n", s}')
	echo "    coturn: $co_ticks ticks for $co_pkts relayed packets = $(us_per_packet $co_ticks $co_pkts) µs/packet (SFU: $co_sfu ticks)"
	results+=("$round $emb_ticks $emb_pkts $co_ticks $co_pkts")
done

echo
echo "| round | embedded TURN µs/packet | coturn µs/packet | embedded / coturn | packets (embedded, coturn) |"
echo "|---|---|---|---|---|"
for r in "${results[@]}"; do
	read -r round et ep ct cp <<<"$r"
	e=$(us_per_packet "$et" "$ep"); c=$(us_per_packet "$ct" "$cp")
	ratio=$(awk -v e="$e" -v c="$c" 'BEGIN { if (c > 0) printf "%.2f", e / c; else print "n/a" }')
	echo "| $round | $e | $c | $ratio | $ep, $cp |"
done
