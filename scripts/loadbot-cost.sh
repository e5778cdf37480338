#!/usr/bin/env bash
# loadbot-cost.sh: loadbot's own CPU and allocations per received packet.
#
#   scripts/loadbot-cost.sh [--baseline REV] [--window S] [--settle S] [--profile DIR] N...
#
# Builds surge and loadbot from the working tree (and loadbot from REV, via
# `git archive`, when --baseline is given) into a temp dir, then for each N:
# starts `surge serve`, runs `loadbot run --rooms 1 --publishers 1
# --subscribers N --audio=false --srtp gcm`, waits until every bot is
# connected and SETTLE seconds more, and over WINDOW seconds measures
#   loadbot µs/pkt    Δ loadbot utime+stime (/proc/PID/stat) / Δ loadbot_packets_received_total
#   allocs/pkt        Δ go_memstats_mallocs_total / the same
#   B/pkt             Δ go_memstats_alloc_bytes_total / the same
#   f share           Δ loadbot_layer_seconds_total{layer="f"} / (WINDOW × N)
# and the SFU's µs per packet sent beside it. With --baseline, the baseline
# loadbot runs right after the current one against the same surge binary
# (the current tree's), so only loadbot differs. Run it under `quiet`:
#   quiet bash scripts/loadbot-cost.sh --baseline 0c90aab 50 100 250
#
# The measurement itself is a function, loadbot_cost_measure SURGE LOADBOT N,
# that prints one key=value line; other scripts source this file and call it
# (scripts/bench-load.sh). Ports: LOADBOT_COST_PORT_BASE (default 21000) and
# the three after it.
set -euo pipefail

LOADBOT_COST_PORT_BASE=${LOADBOT_COST_PORT_BASE:-21000}
LOADBOT_COST_WINDOW=${LOADBOT_COST_WINDOW:-20}
LOADBOT_COST_SETTLE=${LOADBOT_COST_SETTLE:-8}
LOADBOT_COST_PROFILE=${LOADBOT_COST_PROFILE:-} # dir: save a CPU profile of loadbot over the window
LOADBOT_COST_LOG=${LOADBOT_COST_LOG:-/tmp}      # surge/loadbot logs
CLK_TCK=$(getconf CLK_TCK)

# _lc_cpu_ticks PID: utime+stime of PID in clock ticks.
_lc_cpu_ticks() {
	# Fields after the ")" that ends comm: state is $1, utime $12, stime $13.
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# _lc_metric URL NAME [LABEL_MATCH]: sum of the series of NAME whose label
# set contains LABEL_MATCH (0 if the endpoint does not answer).
_lc_metric() {
	{ curl -fsS "$1" 2>/dev/null || true; } | awk -v n="$2" -v m="${3:-}" '
		$1 ~ "^"n"({|$)" && index($1, m) { s += $NF }
		END { printf "%.0f\n", s }'
}

_LC_SPID="" _LC_LPID=""

# loadbot_cost_stop ends what loadbot_cost_measure started (it does so
# itself; callers put this in their EXIT trap for an interrupted run).
loadbot_cost_stop() {
	if [ -n "$_LC_LPID" ]; then kill "$_LC_LPID" 2>/dev/null || true; wait "$_LC_LPID" 2>/dev/null || true; fi
	if [ -n "$_LC_SPID" ]; then kill "$_LC_SPID" 2>/dev/null || true; wait "$_LC_SPID" 2>/dev/null || true; fi
	_LC_SPID="" _LC_LPID=""
}

# _lc_sample LOADBOT_METRICS SFU_METRICS: the counters the figures are
# differences of: loadbot CPU ticks, packets, mallocs, bytes, f seconds;
# surge CPU ticks, packets sent.
_lc_sample() {
	echo "$(_lc_cpu_ticks "$_LC_LPID") $(_lc_metric "$1" loadbot_packets_received_total)" \
		"$(_lc_metric "$1" go_memstats_mallocs_total) $(_lc_metric "$1" go_memstats_alloc_bytes_total)" \
		"$(_lc_metric "$1" loadbot_layer_seconds_total 'layer="f"')" \
		"$(_lc_cpu_ticks "$_LC_SPID") $(_lc_metric "$2" surge_packets_sent_total)"
}

# loadbot_cost_measure SURGE LOADBOT N: one measurement, one line of
# key=value pairs on stdout. Everything it starts it stops.
loadbot_cost_measure() {
	local rc=0
	_lc_measure "$@" || rc=$?
	loadbot_cost_stop
	return $rc
}

_lc_measure() {
	local surge=$1 loadbot=$2 n=$3
	local b=$LOADBOT_COST_PORT_BASE
	local sig=127.0.0.1:$b admin=127.0.0.1:$((b + 1)) udp=127.0.0.1:$((b + 2)) lbm=127.0.0.1:$((b + 3))
	local dur=$((LOADBOT_COST_SETTLE + LOADBOT_COST_WINDOW + n / 10 + 30))
	local tag
	tag=$(basename "$(dirname "$loadbot")")-$n-$$
	"$surge" serve --listen_addr "$sig" --admin_addr "$admin" --rtc.udp_addr "$udp" \
		--room.max_participants $((n + 10)) --log.level warn >"$LOADBOT_COST_LOG/lc-surge-$tag.log" 2>&1 &
	_LC_SPID=$!
	local i
	for i in $(seq 1 100); do
		curl -fsS "http://$admin/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$loadbot" run --url "ws://$sig/rtc" --sfu-metrics "http://$admin/metrics" --metrics-addr "$lbm" \
		--rooms 1 --publishers 1 --subscribers "$n" --audio=false --srtp gcm \
		--join-rate 50 --duration "${dur}s" --slo-freezes-per-min 0 --slo-loss-pct 0 --slo-p99-latency-ms 0 \
		>"$LOADBOT_COST_LOG/lc-loadbot-$tag.log" 2>&1 &
	_LC_LPID=$!
	local lm=http://$lbm/metrics sm=http://$admin/metrics up=0
	for i in $(seq 1 $((n + 60))); do
		sleep 1
		up=$(_lc_metric "$lm" loadbot_bots 'state="connected"')
		[ "${up:-0}" -ge $((n + 1)) ] && break
	done
	if [ "${up:-0}" -lt $((n + 1)) ]; then
		echo "n=$n error=only_${up}_of_$((n + 1))_bots_connected log=$LOADBOT_COST_LOG/lc-loadbot-$tag.log"
		return 1
	fi
	sleep "$LOADBOT_COST_SETTLE"
	local prof_pid=""
	if [ -n "$LOADBOT_COST_PROFILE" ]; then
		mkdir -p "$LOADBOT_COST_PROFILE"
		curl -fsS -o "$LOADBOT_COST_PROFILE/loadbot-$tag.pprof" \
			"http://$lbm/debug/pprof/profile?seconds=$LOADBOT_COST_WINDOW" 2>/dev/null &
		prof_pid=$!
		curl -fsS -o "$LOADBOT_COST_PROFILE/loadbot-$tag.allocs.pprof" \
			"http://$lbm/debug/pprof/allocs?seconds=$LOADBOT_COST_WINDOW" 2>/dev/null &
		prof_pid="$prof_pid $!"
	fi
	local before after
	before=$(_lc_sample "$lm" "$sm")
	sleep "$LOADBOT_COST_WINDOW"
	after=$(_lc_sample "$lm" "$sm")
	# shellcheck disable=SC2086 # word lists
	set -- $before
	local t0=$1 p0=$2 m0=$3 a0=$4 f0=$5 st0=$6 sp0=$7
	# shellcheck disable=SC2086
	set -- $after
	local t1=$1 p1=$2 m1=$3 a1=$4 f1=$5 st1=$6 sp1=$7
	# shellcheck disable=SC2086 # two pids
	if [ -n "$prof_pid" ]; then wait $prof_pid 2>/dev/null || true; fi
	awk -v n="$n" -v w="$LOADBOT_COST_WINDOW" -v hz="$CLK_TCK" \
		-v t="$((t1 - t0))" -v p="$((p1 - p0))" -v m="$((m1 - m0))" -v a="$((a1 - a0))" \
		-v f="$((f1 - f0))" -v st="$((st1 - st0))" -v sp="$((sp1 - sp0))" 'BEGIN {
		if (p <= 0) { printf "n=%d error=no_packets\n", n; exit 1 }
		printf "n=%d pkts_per_s=%.0f loadbot_cores=%.3f loadbot_us_per_pkt=%.2f allocs_per_pkt=%.3f bytes_per_pkt=%.1f f_share=%.3f sfu_cores=%.3f sfu_us_per_pkt_sent=%.2f\n",
			n, p / w, t / hz / w, t / hz * 1e6 / p, m / p, a / p, f / (w * n), st / hz / w, (sp > 0 ? st / hz * 1e6 / sp : -1)
	}'
}

_lc_build() { # _lc_build SRC_DIR OUT_DIR
	(cd "$1" && go build -o "$2/" ./cmd/surge ./cmd/loadbot)
}

_lc_main() {
	local baseline="" ns=()
	while [ $# -gt 0 ]; do
		case $1 in
		--baseline) baseline=$2; shift 2 ;;
		--window) LOADBOT_COST_WINDOW=$2; shift 2 ;;
		--settle) LOADBOT_COST_SETTLE=$2; shift 2 ;;
		--profile) LOADBOT_COST_PROFILE=$2; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; return 0 ;;
		*) ns+=("$1"); shift ;;
		esac
	done
	[ ${#ns[@]} -gt 0 ] || ns=(50 100 250)
	local root tmp
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	tmp=$(mktemp -d /tmp/loadbot-cost.XXXXXX)
	trap loadbot_cost_stop EXIT
	LOADBOT_COST_LOG=$tmp
	echo "== build current tree ($(git -C "$root" describe --always --dirty))" >&2
	_lc_build "$root" "$tmp/current"
	if [ -n "$baseline" ]; then
		echo "== build baseline $baseline" >&2
		mkdir -p "$tmp/src-baseline"
		git -C "$root" archive "$baseline" | tar -x -C "$tmp/src-baseline"
		_lc_build "$tmp/src-baseline" "$tmp/baseline"
	fi
	echo "== window ${LOADBOT_COST_WINDOW}s after ${LOADBOT_COST_SETTLE}s settle; logs in $tmp" >&2
	local n
	for n in "${ns[@]}"; do
		echo "current  $(loadbot_cost_measure "$tmp/current/surge" "$tmp/current/loadbot" "$n")"
		if [ -n "$baseline" ]; then
			echo "baseline $(loadbot_cost_measure "$tmp/current/surge" "$tmp/baseline/loadbot" "$n")"
		fi
	done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	_lc_main "$@"
fi
