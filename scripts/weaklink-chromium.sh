#!/usr/bin/env bash
# A real Chromium subscriber behind a bottleneck: runs TestBrowserWeakLink
# (sfu/web/weaklink_linux_test.go) RUNS times and prints, per run, the
# per-second timeline (frame width, fps, freezes, pauses, bitrate received,
# the SFU's estimate and layer) and the verdict of each phase against issue
# 10's targets. Each run's raw samples go to $OUT/run-N/weaklink-chromium.json.
# Each run counts alone (SURGE_WEAKLINK_ATTEMPTS=1: no repeat on a miss,
# unlike in make test).
#
# Needs root (tc on lo: HTB + bfifo + u32, removed again by the test even
# if it is killed) and Chromium. On the shared machine wrap it:
#   heavy bash scripts/weaklink-chromium.sh            (or quiet, to measure)
#
# Environment:
#   RATES    shaped phases, kbit/s, comma-separated   (default 250,400,700)
#   SHAPED   length of each shaped phase              (default 30s)
#   RECOVER  unshaped time after each                 (default 10s)
#   RUNS     how many runs                            (default 1)
#   RACE     1: build with -race, as CI does          (default 0)
#   OUT      where the samples go                     (default testdata/artifacts/weaklink)
set -euo pipefail

cd "$(dirname "$0")/.."
RATES=${RATES:-250,400,700}
SHAPED=${SHAPED:-30s}
RECOVER=${RECOVER:-10s}
RUNS=${RUNS:-1}
OUT=${OUT:-testdata/artifacts/weaklink}
GO=${GO:-go}
flags=(-count=1 -v -run '^TestBrowserWeakLink$' -timeout 20m)
[ "${RACE:-0}" = 1 ] && flags+=(-race)

if [ "$(id -u)" != 0 ]; then
	echo "weaklink-chromium: needs root to shape lo with tc" >&2
	exit 2
fi
passed=0
for i in $(seq 1 "$RUNS"); do
	dir="$OUT/run-$i"
	mkdir -p "$dir"
	echo "== run $i of $RUNS: rates $RATES kbit/s, $SHAPED each, $RECOVER unshaped after"
	if SURGE_WEAKLINK_ATTEMPTS=1 SURGE_WEAKLINK_RATES=$RATES SURGE_WEAKLINK_SHAPED=$SHAPED SURGE_WEAKLINK_RECOVER=$RECOVER SURGE_ARTIFACTS=$dir \
		$GO test "${flags[@]}" ./sfu/web >"$dir/test.log" 2>&1; then
		passed=$((passed + 1))
	fi
	# The test's own lines, without the file:line prefix.
	sed -n 's/^ *weaklink_linux_test.go:[0-9]*: //p; /^ *--- \|^\(ok\|FAIL\|panic\)/p' "$dir/test.log"
done
echo "== $passed of $RUNS runs met every target; logs and samples in $OUT"
