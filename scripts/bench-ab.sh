#!/usr/bin/env bash
# bench-ab.sh — A/B of gateway binaries in one run, for judging a change on
# a shared, noisy machine by server CPU per request rather than by req/s.
#
#   [ROW=l1|l2] scripts/bench-ab.sh OLD_BIN NEW_BIN [more binaries...]
#
# Starts the bare baseline and one gateway per binary (deploy/examples/
# bench.yaml) on CPU 0 with GOMAXPROCS=1, then for ROUNDS rounds runs wrk
# (CPU 1) against bare and each binary in turn, waiting before each run
# until both CPUs were at least 85% idle for a second (at most QUIET_MAX
# seconds). Every request carries the bench JWT, the bare one's too.
#
#   ROW=l1 (default)  L1 hits on ROUTE (default /api/products/1), L1 only.
#   ROW=l2            L2 hits: one redis-server on CPU 0 shared by every
#                     gateway, 1 MiB L1s, KEYS random keys
#                     (scripts/random-keys.lua); a warm-up walks the keys
#                     through the first gateway to fill Redis. Its CPU time
#                     is counted with each gateway's, since an L2 hit costs
#                     both. The binaries must read the same L2 format.
#
# One line per run: req/s, ratio to the round's bare run, server CPU µs/req
# (utime+stime from /proc: the user part on the l1 row, the redis part on
# the l2 row), p99. Build OLD_BIN from main in a second worktree:
#   git worktree add /tmp/main main && (cd /tmp/main && go build -o /tmp/old ./cmd/tiercel)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: [ROW=l1|l2] $0 BIN [BIN...]" >&2; exit 2; }
ROW=${ROW:-l1}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-4s}
ROUTE=${ROUTE:-/api/products/1}
KEYS=${KEYS:-50000}
QUIET_MAX=${QUIET_MAX:-60}
BASE_PORT=${BASE_PORT:-19600}
REDIS_PORT=$((BASE_PORT + 9))
case $ROW in l1 | l2) ;; *) echo "ROW=$ROW: l1 or l2" >&2; exit 2 ;; esac
bins=("$@")
pids=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
quiet() { # both CPUs >= 85% idle over one second
  local a b
  for _ in $(seq "$QUIET_MAX"); do
    a=$(awk '/^cpu[01] /{print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat | tr '\n' ' ')
    sleep 1
    b=$(awk '/^cpu[01] /{print $5+$6, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat | tr '\n' ' ')
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); for (k = 1; k <= 3; k += 2) if ((y[k]-x[k]) / (y[k+1]-x[k+1]) < 0.85) exit 1}' && return 0
  done
  echo "(never quiet: the next figure shares the CPUs)" >&2
}
make -s build
GOMAXPROCS=1 taskset -c 0 bin/tiercel-bench bare -listen "127.0.0.1:$BASE_PORT" -size 1024 & pids+=($!)
names=(bare); spids=($!); ports=("$BASE_PORT")
l2env=()
redis_pid=
if [ "$ROW" = l2 ]; then
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$tmp/redis.log" & pids+=($!)
  redis_pid=$!
  wait_port "$REDIS_PORT"
  l2env=(BENCH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" BENCH_L1_BYTES=1048576)
fi
for i in "${!bins[@]}"; do
  port=$((BASE_PORT + 10 * (i + 1)))
  env BENCH_ORIGIN_PORT="$BASE_PORT" BENCH_TIERCEL_PORT="$port" BENCH_TIERCEL_ADMIN_PORT=$((port + 1)) "${l2env[@]}" GOMAXPROCS=1 \
    taskset -c 0 "${bins[$i]}" serve -config deploy/examples/bench.yaml 2>"$tmp/gw-$i.log" & pids+=($!)
  names+=("$(basename "${bins[$i]}")"); spids+=($!); ports+=("$port")
done
for p in "${ports[@]}"; do wait_port "$p"; done
export TOKEN KEYS
TOKEN=$(bin/tiercel token -config deploy/examples/bench.yaml -sub bench -scope products:read -ttl 2h)
ticks() { # pid: utime+stime, utime (0 0 without a pid)
  if [ -z "$1" ]; then echo 0 0; else awk '{print $14 + $15, $14}' "/proc/$1/stat"; fi
}
wrk_run() { # port duration: wrk output
  if [ "$ROW" = l1 ] || [ "$1" = "$BASE_PORT" ]; then
    taskset -c 1 wrk -t1 -c64 -d"$2" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1$ROUTE"
  else
    taskset -c 1 wrk -t1 -c64 -d"$2" --latency -s scripts/random-keys.lua "http://127.0.0.1:$1"
  fi
}
if [ "$ROW" = l2 ]; then SEQUENTIAL=1 wrk_run "${ports[1]}" 10s > /dev/null; fi
for p in "${ports[@]}"; do wrk_run "$p" 2s > /dev/null; done
for round in $(seq "$ROUNDS"); do
  bare_rps=
  for i in "${!names[@]}"; do
    quiet
    read -r c0 u0 < <(ticks "${spids[$i]}"); read -r r0 _ < <(ticks "$redis_pid")
    out=$(wrk_run "${ports[$i]}" "$DURATION")
    read -r c1 u1 < <(ticks "${spids[$i]}"); read -r r1 _ < <(ticks "$redis_pid")
    if grep -q 'Non-2xx' <<< "$out"; then echo "${names[$i]}: non-2xx answers, figure invalid" >&2; exit 1; fi
    reqs=$(awk '/requests in/ {print $1}' <<< "$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
    [ -n "$bare_rps" ] || bare_rps=$rps
    per() { awk -v d="$1" -v r="$reqs" 'BEGIN {printf "%.2f", d * 10000 / r}'; }
    if [ "$ROW" = l1 ]; then
      detail="cpu $(per $((c1 - c0))) µs/req (user $(per $((u1 - u0))))"
    else
      detail="gw $(per $((c1 - c0))) + redis $(per $((r1 - r0))) = $(per $((c1 - c0 + r1 - r0))) µs/req"
    fi
    printf "round %d %-16s %9s req/s  ratio %.3f  %s  p99 %s\n" "$round" "${names[$i]}" "$rps" \
      "$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN {print a / b}')" "$detail" "$(awk '$1 == "99%" {print $2}' <<< "$out")"
  done
done
if [ "$ROW" = l2 ]; then
  for i in "${!names[@]}"; do
    [ "$i" = 0 ] && continue
    echo "${names[$i]}: $(curl -s "http://127.0.0.1:$((ports[i] + 1))/metrics" | awk '/^tiercel_cache_lookups_total/ && $2 > 0 {sub(/tiercel_cache_lookups_total/, ""); printf "%s=%s ", $1, $2}')"
  done
fi
