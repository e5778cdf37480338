#!/usr/bin/env bash
# Issue 15's media attacks against one surge binary, on loopback, with one
# attack client (scripts/attack): NACK storm and spoofed-SSRC flood while a
# healthy pair streams. Prints the client's JSON and the server's log-line
# counts. Compare revisions by running it for each binary in one session:
#   quiet bash scripts/attack.sh /path/to/surge-old; quiet bash scripts/attack.sh bin/surge
set -euo pipefail
SURGE=${1:?usage: attack.sh SURGE_BINARY [PORT_BASE]}
BASE=${2:-26000}
ATTACK=${ATTACK:-$(mktemp -d)/attack}
[ -x "$ATTACK" ] || go build -o "$ATTACK" ./scripts/attack
LOG=$(mktemp)
"$SURGE" serve --listen_addr=127.0.0.1:$BASE --admin_addr=127.0.0.1:$((BASE+1)) --rtc.udp_addr=127.0.0.1:$((BASE+2)) >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:$((BASE+1))/healthz >/dev/null && break; sleep 0.1; done
"$ATTACK" -url ws://127.0.0.1:$BASE/rtc -admin http://127.0.0.1:$((BASE+1)) "${@:3}"
echo "server log: $(wc -l <"$LOG") lines, $(wc -c <"$LOG") bytes, $(grep -c 'ERROR' "$LOG" || true) with ERROR"
