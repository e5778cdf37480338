#!/usr/bin/env bash
# make profile: CPU and heap profiles of a loaded SFU.
#
# Builds surge and loadbot, starts `surge serve` with its defaults
# (loopback, dev key), runs a standard scenario (4 rooms × (1 publisher +
# 10 subscribers), 30 s), takes a 15 s CPU profile in the steady middle of
# it and a heap profile, saves them under profiles/, prints the top of the
# CPU profile and stops everything it started.
#
# Environment: ROOMS, SUBSCRIBERS, DURATION (seconds), CPU_SECONDS, OUT.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOMS=${ROOMS:-4}
SUBSCRIBERS=${SUBSCRIBERS:-10}
DURATION=${DURATION:-30}
CPU_SECONDS=${CPU_SECONDS:-15}
OUT=${OUT:-profiles}
ADMIN=http://127.0.0.1:7881
GO=${GO:-go}

mkdir -p bin "$OUT"
echo "== build"
$GO build -o bin/surge ./cmd/surge
$GO build -o bin/loadbot ./cmd/loadbot

stamp=$(date +%Y%m%d-%H%M%S)
surge_pid=""
loadbot_pid=""
cleanup() {
	# Only the processes this script started, by pid.
	[ -n "$loadbot_pid" ] && kill "$loadbot_pid" 2>/dev/null || true
	if [ -n "$surge_pid" ]; then
		kill "$surge_pid" 2>/dev/null || true
		wait "$surge_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

echo "== surge serve"
bin/surge serve >"$OUT/surge-$stamp.log" 2>&1 &
surge_pid=$!
for _ in $(seq 1 50); do
	curl -fsS "$ADMIN/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "$ADMIN/healthz" >/dev/null || { echo "surge did not become healthy; see $OUT/surge-$stamp.log"; exit 1; }

echo "== loadbot: $ROOMS rooms × (1 publisher + $SUBSCRIBERS subscribers), ${DURATION}s"
bin/loadbot run --rooms "$ROOMS" --publishers 1 --subscribers "$SUBSCRIBERS" \
	--duration "${DURATION}s" --json "$OUT/loadbot-$stamp.json" >"$OUT/loadbot-$stamp.txt" 2>&1 &
loadbot_pid=$!

# Skip the joins, then profile the steady part.
warmup=$(( (DURATION - CPU_SECONDS) / 2 ))
[ "$warmup" -lt 3 ] && warmup=3
sleep "$warmup"
echo "== CPU profile (${CPU_SECONDS}s)"
curl -fsS -o "$OUT/cpu-$stamp.pprof" "$ADMIN/debug/pprof/profile?seconds=$CPU_SECONDS"
echo "== heap profile"
curl -fsS -o "$OUT/heap-$stamp.pprof" "$ADMIN/debug/pprof/heap"

set +e
wait "$loadbot_pid"
lb_status=$?
set -e
loadbot_pid=""
tail -n 25 "$OUT/loadbot-$stamp.txt"

echo "== top of the CPU profile"
$GO tool pprof -top bin/surge "$OUT/cpu-$stamp.pprof" 2>/dev/null | head -n 25
echo
echo "saved: $OUT/cpu-$stamp.pprof $OUT/heap-$stamp.pprof $OUT/loadbot-$stamp.json"
echo "explore: go tool pprof -http=127.0.0.1:8081 bin/surge $OUT/cpu-$stamp.pprof"
# loadbot's exit code 3 (SLO breached) is a finding, not a script failure.
[ "$lb_status" -eq 0 ] || [ "$lb_status" -eq 3 ] || { echo "loadbot exited $lb_status"; exit "$lb_status"; }
