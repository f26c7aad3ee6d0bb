#!/usr/bin/env bash
# Capacity run: a release server on the embedded defaults in a fresh data dir, N bots with the
# default command mix for S seconds, on this machine. Prints the bots' report, the server's tick
# figures from /metrics (ticks, overruns, skipped, p99 from the histogram buckets) and the CPU
# seconds the server and the bots each used.
#
#   tools/capacity.sh [BOTS=1000] [SECONDS=60]
#
# Extra server flags go in $SERVER_ARGS (e.g. SERVER_ARGS=--no-journal to compare the command
# RTT without the tick-input journal).
#
# Needs `cargo build --release -p dominion -p dominion-tools` first (uses $CARGO_TARGET_DIR or
# ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
BOTS="${1:-1000}"
SECONDS_TO_RUN="${2:-60}"
BIN="${CARGO_TARGET_DIR:-target}/release"
DATA="$(mktemp -d)"
QUIC_PORT=$((20000 + RANDOM % 20000))
METRICS_PORT=$((QUIC_PORT + 1))
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; grep -c "tick overran" "$DATA/server.log" | sed "s/^/server log: overrun warnings: /"; cp "$DATA/server.log" /tmp/capacity-server.log; rm -rf "$DATA"' EXIT

# Every bot comes from this one address: lift the per-address connection limits.
"$BIN/dominion" serve --data "$DATA" --listen "127.0.0.1:$QUIC_PORT" \
    --max-connections-per-ip 1000000 --max-unauthenticated-per-ip 1000000 \
    --pre-login-requests-per-ip-per-sec 1000000 \
    --metrics-addr "127.0.0.1:$METRICS_PORT" --admin-addr "127.0.0.1:$((QUIC_PORT + 2))" ${SERVER_ARGS:-} >"$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
    FP=$(grep -o 'sha256 [0-9a-f]\{64\}' "$DATA/server.log" | head -1 | cut -d' ' -f2 || true)
    OBJECTS=$(grep -o '[0-9]\+ objects' "$DATA/server.log" | head -1 | cut -d' ' -f1 || true)
    if [[ -n "$FP" ]] && curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null; then break; fi
    sleep 0.5
done
[[ -n "${FP:-}" ]] || { echo "server did not start:"; cat "$DATA/server.log"; exit 2; }

metric() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
# Measure the steady state: wait for the first (full) save of the freshly generated world.
for _ in $(seq 1 600); do
    [[ "$(metric dominion_save_batches_written)" -ge 1 ]] 2>/dev/null && break
    sleep 0.5
done
sleep 2
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
before_ticks=$(metric dominion_ticks_total); before_skipped=$(metric dominion_ticks_skipped_total)
before_over=$(metric dominion_tick_overruns_total); before_cpu=$(cpu "$SERVER")
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^dominion_tick_seconds_bucket' >"$DATA/before"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^dominion_tick_(phase|system)_seconds_bucket' >"$DATA/before_parts"

/usr/bin/time -f "bots cpu: %U s user + %S s system, %e s wall" \
    "$BIN/bots" --server "127.0.0.1:$QUIC_PORT" --fingerprint "$FP" --clients "$BOTS" \
    --seconds "$SECONDS_TO_RUN" --max-object-id "${OBJECTS:-288703}" --quiet

after_cpu=$(cpu "$SERVER")
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^dominion_tick_seconds_bucket' >"$DATA/after"
ticks=$(( $(metric dominion_ticks_total) - before_ticks ))
echo "server: $ticks ticks, $(( $(metric dominion_tick_overruns_total) - before_over )) overran the period, $(( $(metric dominion_ticks_skipped_total) - before_skipped )) skipped"
echo "server cpu during the run: $(echo "$after_cpu - $before_cpu" | bc) s"
# p50/p99 of the ticks of this run from the histogram buckets (upper bound of the bucket).
paste "$DATA/before" "$DATA/after" | awk -v n="$ticks" '
    { match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5); c = $4 - $2
      if (p50 == "" && c >= n * 0.50) p50 = le
      if (p99 == "" && c >= n * 0.99) p99 = le }
    END { print "tick p50 <= " p50 " s, p99 <= " p99 " s (histogram bucket bounds)" }'
# Each phase and system of the tick over this run: calls, p50/p99 (bucket upper bounds), max bucket.
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^dominion_tick_(phase|system)_seconds_bucket' >"$DATA/after_parts"
# Series are matched by name (a series may first appear during the run: it counts from 0).
awk 'NR == FNR { before[$1] = $2; next }
    { name = $1; sub(/,?le="[^"]+"/, "", name); sub(/_bucket/, "", name); sub(/\{\}/, "", name)
      match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5); c = $2 - before[$1]
      if (!(name in seen)) { seen[name] = 1; order[++k] = name }
      n[name, ++m[name]] = c; b[name, m[name]] = le }
    END { for (i = 1; i <= k; i++) { s = order[i]; tot = n[s, m[s]]; p50 = ""; p99 = ""; mx = ""
            for (j = 1; j <= m[s]; j++) { if (p50 == "" && n[s, j] >= tot * 0.5) p50 = b[s, j]
                                          if (p99 == "" && n[s, j] >= tot * 0.99) p99 = b[s, j]
                                          if (mx == "" && n[s, j] >= tot) mx = b[s, j] }
            printf "%-60s n=%-7d p50 <= %-9s p99 <= %-9s max <= %s\n", s, tot, p50, p99, mx } }' \
    "$DATA/before_parts" "$DATA/after_parts"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E '^dominion_tick_(phase|system)_seconds_sum' || true
# A command's time inside the server (gateway queue to reply pushed), whole run, bucket bounds.
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^dominion_command_server_seconds_bucket' | awk '
    { match($1, /le="[^"]+"/); le[NR] = substr($1, RSTART + 4, RLENGTH - 5); c[NR] = $2; n = $2 }
    END { for (i = 1; i <= NR; i++) { if (p50 == "" && c[i] >= n * 0.50) p50 = le[i]
                                      if (p99 == "" && c[i] >= n * 0.99) p99 = le[i] }
          print "command in server (gateway to reply): p50 <= " p50 " s, p99 <= " p99 " s, n=" n }'
for m in dominion_route_orders_total dominion_route_searches_total dominion_route_searches_ahead_total dominion_inbox_refused_total; do
    curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | grep "^$m" || true
done
