#!/usr/bin/env bash
# make bench-load: what one forwarded packet costs the whole SFU process.
#
#   scripts/bench-load.sh [N ...] [--srtp gcm|browser] [--baseline REV] [--window S] [--profile]
#
# For each N (default: 100 250) and each revision (the baseline first when
# --baseline is given, then the working tree, back to back so both see the
# same machine), it starts `surge serve` and
#   loadbot run --rooms 1 --publishers 1 --subscribers N --audio=false
# waits until every bot receives, then measures a steady window (default
# 30 s) and prints one line:
#   N, SRTP profile, server cores, packets/s forwarded, µs of server CPU per
#   forwarded packet, heap allocations per forwarded packet (whole process),
#   in-SFU forwarding latency p50/p99 (surge_forward_latency_seconds), RSS,
#   loadbot cores, loadbot µs per received packet, and packets per UDP
#   message (surge_udp_messages_sent_total; above 1 with UDP GSO, "-" for a
#   revision without the counter).
# CPU is utime+stime of the process (/proc/PID/stat); packets are
# Δsurge_packets_sent_total; allocations Δgo_memstats_mallocs_total.
# --profile also saves a CPU profile and an allocation profile of the
# window under profiles/ (run with ALLOC_EXACT=1 for exact allocation counts:
# every allocation sampled, which slows the server).
# loadbot is the working tree's for every revision, so that revisions differ
# only in the SFU. It scrapes the SFU's /metrics every SCRAPE (default 5s;
# Prometheus' usual cadence is 15 s or more): each scrape costs the SFU
# ~1 500 allocations, which at 1 s is 0.03 per packet at N = 250.
# Environment: PORT (base port, default 20080), GOMAXPROCS_SFU, JOIN_RATE, SCRAPE,
# SETTLE (seconds after every bot joined before measuring, default 6),
# SURGE_FLAGS (extra flags for surge serve), LOADBOT_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

ns=()
srtp=gcm
baseline=""
window=30
profile=0
while [ $# -gt 0 ]; do
	case "$1" in
	--srtp) srtp=$2; shift 2 ;;
	--baseline) baseline=$2; shift 2 ;;
	--window) window=$2; shift 2 ;;
	--profile) profile=1; shift ;;
	-h|--help) sed -n 2,25p "$0"; exit 0 ;;
	*) ns+=("$1"); shift ;;
	esac
done
[ ${#ns[@]} -gt 0 ] || ns=(100 250)
PORT=${PORT:-20080}
JOIN_RATE=${JOIN_RATE:-50}
SCRAPE=${SCRAPE:-5s}
GO=${GO:-go}

work=$(mktemp -d /tmp/bench-load.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$baseline" ] && [ -d "$work/src-base" ]; then
		git -C "$top" worktree remove --force "$work/src-base" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

build() { # build DIR OUT
	(cd "$1" && $GO build -o "$2/" ./cmd/surge ./cmd/loadbot)
}
revs=()
if [ -n "$baseline" ]; then
	git -C "$top" worktree add --detach "$work/src-base" "$baseline" >/dev/null 2>&1
	build "$work/src-base" "$work/bin-base"
	revs+=("base:$(git -C "$top" rev-parse --short "$baseline")")
fi
build "$top" "$work/bin-head"
head_rev=$(git -C "$top" rev-parse --short HEAD)
[ -n "$(git -C "$top" status --porcelain -- '*.go')" ] && head_rev="$head_rev+dirty"
revs+=("head:$head_rev")

# metric FILE NAME: the sum of a metric's samples (all label sets).
metric() { awk -v n="$2" '$1==n || index($1, n"{")==1 {s+=$NF} END {printf "%.0f\n", s}' "$1"; }
# cpu_ticks PID: utime+stime in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
# quantile Q BEFORE AFTER: histogram_quantile of the bucket deltas, in ms.
quantile() {
	python3 - "$1" "$2" "$3" <<'PY'
import re, sys
q = float(sys.argv[1])
def buckets(path):
    b = {}
    for line in open(path):
        m = re.match(r'surge_forward_latency_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            b[float(m.group(1))] = float(m.group(2))
    return b
a, z = buckets(sys.argv[2]), buckets(sys.argv[3])
les = sorted(z)
d = [z[le] - a.get(le, 0) for le in les]
total = d[-1]
if total <= 0:
    print("nan"); sys.exit()
rank = q * total
prev_le, prev_c = 0.0, 0.0
for le, c in zip(les, d):
    if c >= rank:
        if le == float("inf"):
            print("%.3f" % (prev_le * 1e3)); break
        frac = (rank - prev_c) / max(c - prev_c, 1e-9)
        print("%.3f" % ((prev_le + (le - prev_le) * frac) * 1e3)); break
    prev_le, prev_c = le, c
PY
}

hz=$(getconf CLK_TCK)
printf '%-5s %-8s %-9s %-6s %-9s %-8s %-7s %-8s %-8s %-6s %-8s %-9s %-6s\n' \
	N srtp rev sfu_c pkts/s us/pkt allocs p50_ms p99_ms rss_mb lb_c lb_us/pkt pk/msg
for n in "${ns[@]}"; do
	for rv in "${revs[@]}"; do
		kind=${rv%%:*} rev=${rv#*:}
		bin="$work/bin-$kind"
		adm="http://127.0.0.1:$((PORT + 1))"
		log="$work/surge-$kind-$n.log"
		gd=""
		# Exact counts need every allocation sampled, and frequent collections:
		# records are published two collections late.
		[ "${ALLOC_EXACT:-0}" = 1 ] && gd="memprofilerate=1" && export GOGC=5
		GODEBUG=$gd GOMAXPROCS=${GOMAXPROCS_SFU:-$(nproc)} "$bin/surge" serve \
			--listen_addr "127.0.0.1:$PORT" --admin_addr "127.0.0.1:$((PORT + 1))" \
			--rtc.udp_addr "127.0.0.1:$((PORT + 2))" --room.max_participants $((n + 10)) \
			--log.level warn ${SURGE_FLAGS:-} >"$log" 2>&1 &
		spid=$!
		pids+=("$spid")
		for _ in $(seq 1 100); do curl -fsS "$adm/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
		settle=${SETTLE:-6}
		"$work/bin-head/loadbot" run --url "ws://127.0.0.1:$PORT/rtc" --sfu-metrics "$adm/metrics" \
			--scrape-interval "$SCRAPE" \
			--rooms 1 --publishers 1 --subscribers "$n" --audio=false --srtp "$srtp" \
			--join-rate "$JOIN_RATE" --duration "$((n / 5 + settle + window + 30))s" \
			--metrics-addr "127.0.0.1:$((PORT + 3))" --slo-p99-latency-ms 0 \
			${LOADBOT_FLAGS:-} >"$work/loadbot-$kind-$n.txt" 2>&1 &
		lpid=$!
		pids+=("$lpid")
		# Every bot in, then SETTLE seconds for layers to settle.
		for _ in $(seq 1 600); do
			[ "$(curl -fsS "$adm/metrics" 2>/dev/null | awk '$1=="surge_participants" {print $2}')" -ge $((n + 1)) ] 2>/dev/null && break
			sleep 0.2
		done
		sleep "$settle"
		curl -fsS "$adm/metrics" >"$work/m0"
		curl -fsS "http://127.0.0.1:$((PORT + 3))/metrics" >"$work/l0"
		c0=$(cpu_ticks "$spid") l0=$(cpu_ticks "$lpid") t0=$(date +%s.%N)
		if [ "$profile" = 1 ]; then
			mkdir -p "$top/profiles"
			curl -fsS -o "$top/profiles/bench-load-$kind-$rev-$n.allocs.pprof" "$adm/debug/pprof/allocs?seconds=$window" &
			p1=$!
			curl -fsS -o "$top/profiles/bench-load-$kind-$rev-$n.pprof" "$adm/debug/pprof/profile?seconds=$window" &
			p2=$!
			pids+=("$p1" "$p2")
		fi
		sleep "$window"
		if [ "$profile" = 1 ]; then
			wait "$p1" "$p2" || true
		fi
		curl -fsS "$adm/metrics" >"$work/m1"
		curl -fsS "http://127.0.0.1:$((PORT + 3))/metrics" >"$work/l1"
		c1=$(cpu_ticks "$spid") l1=$(cpu_ticks "$lpid") t1=$(date +%s.%N)
		rss=$(rss_mb "$spid")
		kill -INT "$lpid" 2>/dev/null || true
		wait "$lpid" 2>/dev/null || true
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		pk=$(( $(metric "$work/m1" surge_packets_sent_total) - $(metric "$work/m0" surge_packets_sent_total) ))
		al=$(( $(metric "$work/m1" go_memstats_mallocs_total) - $(metric "$work/m0" go_memstats_mallocs_total) ))
		ms=$(( $(metric "$work/m1" surge_udp_messages_sent_total) - $(metric "$work/m0" surge_udp_messages_sent_total) ))
		rx=$(( $(metric "$work/l1" loadbot_packets_received_total) - $(metric "$work/l0" loadbot_packets_received_total) ))
		p50=$(quantile 0.50 "$work/m0" "$work/m1")
		p99=$(quantile 0.99 "$work/m0" "$work/m1")
		awk -v n="$n" -v srtp="$srtp" -v rev="$rev" -v c=$((c1 - c0)) -v l=$((l1 - l0)) -v hz="$hz" \
			-v t0="$t0" -v t1="$t1" -v pk="$pk" -v al="$al" -v rx="$rx" -v p50="$p50" -v p99="$p99" -v rss="$rss" -v ms="$ms" 'BEGIN {
			dt = t1 - t0; if (pk < 1) pk = 1; if (rx < 1) rx = 1
			pm = ms > 0 ? sprintf("%.2f", pk/ms) : "-"
			printf "%-5d %-8s %-9s %-6.2f %-9.0f %-8.2f %-7.3f %-8s %-8s %-6d %-8.2f %-9.2f %-6s\n",
				n, srtp, rev, c/hz/dt, pk/dt, c/hz/pk*1e6, al/pk, p50, p99, rss, l/hz/dt, l/hz/rx*1e6, pm }'
		# The room row shows the layers received (every subscriber should be on f).
		grep -E '^ +load-0 ' "$work/loadbot-$kind-$n.txt" | sed 's/^/      loadbot: /' >&2 || true
	done
done
