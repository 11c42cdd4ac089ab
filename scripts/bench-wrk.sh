#!/usr/bin/env bash
# bench-wrk.sh — side-by-side wrk figures on one machine, in one run.
#
# Everything on the server side (the gateway, its origin, redis-server) runs
# on CPU 0 with GOMAXPROCS=1; wrk runs on CPU 1. Targets alternate for
# ROUNDS rounds so drift on a shared machine hits them alike; the report
# gives each target's median req/s, latency percentiles, server CPU time per
# request (from /proc, all server processes) and the ratio to the bare
# fasthttp handler, the limit of this machine.
#
#   bare         tiercel-bench bare: fixed 1 KiB body, nothing else
#   bare-jwt     the same handler sent the L1 row's exact request (the JWT
#                header, which it ignores): the reference that controls for
#                request size, so its ratio is the gateway's own work
#   tiercel-l1   cached route, L1 hits: JWT (cached) + rate limit + L1
#   tiercel-l1-open  the same without auth and rate limit: what they cost
#   tiercel-l2   cached route, 1 MiB L1 over 50k keys in Redis: mostly L2 hits
#   tiercel-proxy uncached route: JWT + rate limit + proxy to bare
#   ref-ristretto   bare + one ristretto Get, sent the L1 row's request
#   ref-redis-get   bare + one go-redis GET per request (same redis-server,
#                a pooled connection per wrk connection: 12-15% faster than
#                go-redis' default pool of 10), sent the L2 row's requests
# The two ref rows re-measure the anchors of shared/PLATFORM.md (1.01 and
# 0.33 of bare there) in the same run, so a ratio can be read against what
# this machine does to any server slower than bare.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-50000}
OUT=${OUT:-bench/results/$(date +%Y-%m-%d)}
mkdir -p "$OUT"
BIN=bin
ORIGIN_PORT=${BENCH_ORIGIN_PORT:-19000}
T1_PORT=18090   # L1 gateway (no Redis)
T2_PORT=18190   # L2 gateway (Redis, 1 MiB L1)
REDIS_PORT=${BENCH_REDIS_PORT:-16379}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

server() { GOMAXPROCS=1 taskset -c 0 "$@" & pids+=($!); }
server "$BIN/tiercel-bench" bare -listen 127.0.0.1:$ORIGIN_PORT -size 1024
server redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$OUT/redis.log"
redis_pid=$!
wait_port "$REDIS_PORT"
BENCH_ORIGIN_PORT=$ORIGIN_PORT BENCH_TIERCEL_PORT=$T1_PORT BENCH_TIERCEL_ADMIN_PORT=$((T1_PORT+1)) \
  server "$BIN/tiercel" serve -config deploy/examples/bench.yaml 2>"$OUT/tiercel-l1.log"
BENCH_ORIGIN_PORT=$ORIGIN_PORT BENCH_TIERCEL_PORT=$T2_PORT BENCH_TIERCEL_ADMIN_PORT=$((T2_PORT+1)) \
  BENCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 BENCH_L1_BYTES=1048576 \
  server "$BIN/tiercel" serve -config deploy/examples/bench.yaml 2>"$OUT/tiercel-l2.log"
REF1_PORT=18290 # bare + ristretto Get
REF2_PORT=18291 # bare + go-redis GET
server "$BIN/tiercel-bench" bare -listen 127.0.0.1:$REF1_PORT -ref ristretto -keys "$KEYS"
server "$BIN/tiercel-bench" bare -listen 127.0.0.1:$REF2_PORT -ref redis-get -keys "$KEYS" -redis "redis://127.0.0.1:$REDIS_PORT/0?pool_size=$CONNS"
wait_port "$ORIGIN_PORT"; wait_port "$T1_PORT"; wait_port "$T2_PORT"; wait_port "$REF1_PORT"; wait_port "$REF2_PORT"
server_pids="${pids[*]}"
export TOKEN; TOKEN=$("$BIN/tiercel" token -config deploy/examples/bench.yaml -sub bench -scope products:read -ttl 2h)
export KEYS


cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }

run_wrk() { # name url [wrk args...]
  local name=$1 url=$2; shift 2
  local f="$OUT/wrk-$name-$round.txt" c0 c1 r0 r1
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $server_pids); r0=$(cpu_ticks "$redis_pid")
  taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url" > "$f"
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $server_pids); r1=$(cpu_ticks "$redis_pid")
  local reqs; reqs=$(awk '/requests in/ {print $1}' "$f")
  # CPU µs per request, all server processes and redis-server alone (clock
  # ticks are 1/100 s).
  awk -v d=$((c1 - c0)) -v r="$reqs" 'BEGIN {printf "cpu_us_per_req %.2f\n", d * 10000 / r}' >> "$f"
  awk -v d=$((r1 - r0)) -v r="$reqs" 'BEGIN {printf "redis_us_per_req %.2f\n", d * 10000 / r}' >> "$f"
  local non2xx; non2xx=$(grep -o 'Non-2xx or 3xx responses: [0-9]*' "$f" | grep -o '[0-9]*$' || true)
  if [ -n "$non2xx" ]; then echo "$name: $non2xx non-2xx responses: the figure is invalid" >&2; exit 1; fi
}

auth=(-H "Authorization: Bearer $TOKEN")
round=warmup
echo "warming up: token caches, buckets, L1, and $KEYS keys into Redis" >&2
run_wrk tiercel-l1 "http://127.0.0.1:$T1_PORT/api/products/1" "${auth[@]}"
run_wrk tiercel-proxy "http://127.0.0.1:$T1_PORT/api/proxy/1" "${auth[@]}"
run_wrk tiercel-l1-open "http://127.0.0.1:$T1_PORT/open/products/1"
SEQUENTIAL=1 run_wrk tiercel-l2 "http://127.0.0.1:$T2_PORT" -s scripts/random-keys.lua
run_wrk ref-ristretto "http://127.0.0.1:$REF1_PORT/api/products/1" "${auth[@]}"
run_wrk ref-redis-get "http://127.0.0.1:$REF2_PORT" -s scripts/random-keys.lua
l2_metrics() { curl -s "http://127.0.0.1:$((T2_PORT+1))/metrics" | awk '/^tiercel_cache_lookups_total/ {print $1, $2}'; }
l2_metrics > "$OUT/l2-gateway-cache-metrics-warm.txt"
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  run_wrk bare "http://127.0.0.1:$ORIGIN_PORT/api/products/1"
  run_wrk bare-jwt "http://127.0.0.1:$ORIGIN_PORT/api/products/1" "${auth[@]}"
  run_wrk tiercel-l1 "http://127.0.0.1:$T1_PORT/api/products/1" "${auth[@]}"
  run_wrk tiercel-l1-open "http://127.0.0.1:$T1_PORT/open/products/1"
  run_wrk tiercel-l2 "http://127.0.0.1:$T2_PORT" -s scripts/random-keys.lua
  run_wrk tiercel-proxy "http://127.0.0.1:$T1_PORT/api/proxy/1" "${auth[@]}"
  run_wrk ref-ristretto "http://127.0.0.1:$REF1_PORT/api/products/1" "${auth[@]}"
  run_wrk ref-redis-get "http://127.0.0.1:$REF2_PORT" -s scripts/random-keys.lua
done
# Outcomes of the measured rounds only: the warm-up's misses are subtracted.
l2_metrics | awk 'NR == FNR {warm[$1] = $2; next} {printf "%s %d\n", $1, $2 - warm[$1]}' \
  "$OUT/l2-gateway-cache-metrics-warm.txt" - > "$OUT/l2-gateway-cache-metrics.txt" || true

summarize() { # name -> "median_rps p50 p90 p99 cpu_us redis_us"
  local name=$1 rps=() f
  for f in "$OUT"/wrk-"$name"-[0-9]*.txt; do rps+=("$(awk '/Requests\/sec/ {print $2}' "$f")"); done
  local med; med=$(printf '%s\n' "${rps[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  local best; best=$(grep -l "Requests/sec: *$med" "$OUT"/wrk-"$name"-[0-9]*.txt | head -1)
  echo "$med $(awk '$1=="50%" {print $2}' "$best") $(awk '$1=="90%" {print $2}' "$best") $(awk '$1=="99%" {print $2}' "$best") $(awk '/cpu_us_per_req/ {print $2}' "$best") $(awk '/redis_us_per_req/ {print $2}' "$best")"
}
# paired name -> the median over rounds of the round's req/s over that
# round's bare-jwt req/s: each ratio is taken a few seconds apart, so drift
# of a shared host between rounds cancels out, where a ratio of medians
# may pair a fast round with a slow one.
paired() { paired_to "$1" bare-jwt; }
paired_to() { # name reference
  local r a b
  for r in $(seq "$ROUNDS"); do
    a=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$1-$r.txt")
    b=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$2-$r.txt")
    awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f\n", a/b}'
  done | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}
read -r b_rps b_p50 b_p90 b_p99 b_cpu _ <<<"$(summarize bare)"
read -r bj_rps _ <<<"$(summarize bare-jwt)"
row() { # label name
  local rps p50 p90 p99 cpu
  read -r rps p50 p90 p99 cpu _ <<<"$(summarize "$2")"
  echo "| $1 | $rps | $p50 | $p90 | $p99 | $cpu | $(awk -v a="$rps" -v b="$b_rps" 'BEGIN {printf "%.2f", a/b}') | $(awk -v a="$rps" -v b="$bj_rps" 'BEGIN {printf "%.2f", a/b}') | $(paired "$2") |"
}
{
  echo "# wrk side by side ($(date -u +%FT%TZ), $(nproc) cores; servers on CPU 0 with GOMAXPROCS=1, wrk -t1 -c$CONNS -d$DURATION on CPU 1; median of $ROUNDS alternating rounds)"
  echo
  echo "| target | req/s | p50 | p90 | p99 | server CPU µs/req | ratio to bare | ratio to bare-jwt | same-round ratio to bare-jwt |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| bare fasthttp, 1 KiB | $b_rps | $b_p50 | $b_p90 | $b_p99 | $b_cpu | 1.00 | $(awk -v a="$b_rps" -v b="$bj_rps" 'BEGIN {printf "%.2f", a/b}') | $(paired bare) |"
  row "bare-jwt: bare sent the L1 row's request (JWT header)" bare-jwt
  row "tiercel L1 hit (JWT + rate limit + L1)" tiercel-l1
  row "tiercel L1 hit, no auth, no rate limit" tiercel-l1-open
  row "tiercel L2 hit ($KEYS keys, 1 MiB L1, Redis on CPU 0)" tiercel-l2
  row "tiercel proxy, uncached (JWT + rate limit + origin on CPU 0)" tiercel-proxy
  row "ref: bare + one ristretto Get, L1 row's request (PLATFORM.md: 1.01)" ref-ristretto
  row "ref: bare + one go-redis GET per request, L2 row's requests (PLATFORM.md: 0.33)" ref-redis-get
  echo
  echo "Against the references of the same run (median of each round's ratio): L1 row / ref-ristretto $(paired_to tiercel-l1 ref-ristretto), L2 row / ref-redis-get $(paired_to tiercel-l2 ref-redis-get). The goals assume 0.80 and 0.50/0.33 = 1.52 on the machine of PLATFORM.md."
  echo
  read -r _ _ _ _ l2_cpu l2_redis <<<"$(summarize tiercel-l2)"
  echo "The req/s columns are medians over the rounds; *same-round ratio* is the median of each round's ratio to the bare-jwt run of that round, the one to read on a busy host."
  echo
  echo "ratio to bare-jwt divides by the bare handler answering the very request the L1 row sends (same JWT header, ignored): it controls for request size, so it is the gateway's own work. The L2 and proxy rows send other paths, same header."
  echo
  echo "Server CPU counts every process on CPU 0: on the L2 row, redis-server's share was $l2_redis of its $l2_cpu µs/req."
  echo
  echo "L2 gateway cache outcomes over the measured rounds (warm-up excluded):"
  echo '```'
  cat "$OUT/l2-gateway-cache-metrics.txt"
  echo '```'
} | tee "$OUT/wrk-report.md"
