#!/usr/bin/env bash
# bench-wrk.sh — side-by-side wrk figures on one machine, in one run.
#
# The system under test runs on CPU 0 (GOMAXPROCS=1), wrk on CPU 1. Targets
# alternate for ROUNDS rounds so drift on a shared machine hits them alike;
# the report gives each target's median req/s, its latency percentiles and
# its ratio to the bare fasthttp handler (the limit of this machine).
#
#   bare      tiercel-bench bare: fixed 1 KiB body, nothing else
#   tiercel   the products route: JWT (cached) + rate limit + proxy to bare
#             (both processes on CPU 0: the whole cost of the answer)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/results/$(date +%Y-%m-%d)}
mkdir -p "$OUT"
BIN=bin
ORIGIN_PORT=${BENCH_ORIGIN_PORT:-19000}
TIERCEL_PORT=${BENCH_TIERCEL_PORT:-18090}
export BENCH_ORIGIN_PORT=$ORIGIN_PORT BENCH_TIERCEL_PORT=$TIERCEL_PORT BENCH_TIERCEL_ADMIN_PORT=$((TIERCEL_PORT+1))

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

GOMAXPROCS=1 taskset -c 0 "$BIN/tiercel-bench" bare -listen 127.0.0.1:$ORIGIN_PORT -size 1024 & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$BIN/tiercel" serve -config deploy/examples/bench.yaml 2>"$OUT/tiercel.log" & pids+=($!)
wait_port "$ORIGIN_PORT"; wait_port "$TIERCEL_PORT"
TOKEN=$("$BIN/tiercel" token -config deploy/examples/bench.yaml -sub bench -scope products:read -ttl 2h)

run_wrk() { # name url [header]
  local name=$1 url=$2; shift 2
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url" > "$OUT/wrk-$name-$round.txt"
  local non2xx; non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$OUT/wrk-$name-$round.txt" | grep -o '[0-9]*$' || true)
  if [ -n "$non2xx" ]; then echo "$name: $non2xx non-2xx responses: the figure is invalid" >&2; exit 1; fi
}
# Warm-up: connections, token cache, rate-limit bucket.
round=warmup
run_wrk tiercel "http://127.0.0.1:$TIERCEL_PORT/api/products/1" -H "Authorization: Bearer $TOKEN"
for round in $(seq "$ROUNDS"); do
  run_wrk bare "http://127.0.0.1:$ORIGIN_PORT/api/products/1"
  run_wrk tiercel "http://127.0.0.1:$TIERCEL_PORT/api/products/1" -H "Authorization: Bearer $TOKEN"
done

summarize() { # name -> "median_rps p50 p90 p99" (latencies as wrk prints them)
  local name=$1 rps=() f
  for f in "$OUT"/wrk-"$name"-[0-9]*.txt; do rps+=("$(awk '/Requests\/sec/ {print $2}' "$f")"); done
  local med; med=$(printf '%s\n' "${rps[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  local best; best=$(grep -l "Requests/sec: *$med" "$OUT"/wrk-"$name"-[0-9]*.txt | head -1)
  local p50 p90 p99
  p50=$(awk '$1=="50%" {print $2}' "$best"); p90=$(awk '$1=="90%" {print $2}' "$best"); p99=$(awk '$1=="99%" {print $2}' "$best")
  echo "$med $p50 $p90 $p99"
}
read -r bare_rps bare_p50 bare_p90 bare_p99 <<<"$(summarize bare)"
read -r t_rps t_p50 t_p90 t_p99 <<<"$(summarize tiercel)"
ratio=$(awk -v a="$t_rps" -v b="$bare_rps" 'BEGIN {printf "%.2f", a/b}')
{
  echo "# wrk side by side ($(date -u +%FT%TZ), $(nproc) cores, wrk -t1 -c$CONNS -d$DURATION, $ROUNDS alternating rounds, median)"
  echo
  echo "| target | req/s | p50 | p90 | p99 | ratio to bare |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| bare fasthttp (1 KiB) | $bare_rps | $bare_p50 | $bare_p90 | $bare_p99 | 1.00 |"
  echo "| tiercel: JWT (cached) + rate limit + proxy to bare | $t_rps | $t_p50 | $t_p90 | $t_p99 | $ratio |"
} | tee "$OUT/wrk-report.md"
