#!/usr/bin/env bash
# selftest-starved.sh [RUNS]: `surge selftest` RUNS times (default 20) in a
# row while busy loops hog every core, as on an oversubscribed host.
#
# Joins must still end in joins (or clear refusals), never in timeouts
# caused by the server's own slowness. It builds surge first (before the
# busy loops start), prints each run's verdict lines and a tally, and exits
# non-zero if any run failed. The busy loops are killed on any exit.
#
# Environment: SURGE (a surge binary to use instead of building one),
# HOGS (busy loops, default: the number of cores), ONLY (comma-separated
# selftest scenarios, default all).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${1:-20}
HOGS=${HOGS:-$(nproc)}
GO=${GO:-go}

tmp=$(mktemp -d)
hogs=()
cleanup() {
	for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${hogs[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=${SURGE:-}
if [[ -z $bin ]]; then
	bin=$tmp/surge
	$GO build -o "$bin" ./cmd/surge
fi
args=()
if [[ -n ${ONLY:-} ]]; then args+=(--only "$ONLY"); fi

for _ in $(seq "$HOGS"); do
	yes >/dev/null &
	hogs+=($!)
done
echo "selftest-starved: $HOGS busy loops on $(nproc) cores, $RUNS runs of $bin selftest ${args[*]}"

passed=0
for i in $(seq "$RUNS"); do
	if "$bin" selftest "${args[@]}" >"$tmp/out" 2>"$tmp/err"; then
		passed=$((passed + 1))
		word=PASS
	else
		word=FAIL
	fi
	echo "run $i: $word"
	grep -E '^(PASS|FAIL) |^      ' "$tmp/out" | sed 's/^/  /' || true
	if [[ $word == FAIL ]]; then tail -n 3 "$tmp/err" | sed 's/^/  stderr: /'; fi
done
echo "selftest-starved: $passed/$RUNS runs passed"
[[ $passed -eq $RUNS ]]
