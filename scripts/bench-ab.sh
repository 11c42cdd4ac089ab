#!/usr/bin/env bash
# bench-ab.sh — A/B of gateway binaries in one run, for judging a change on
# a shared, noisy machine by server CPU per request rather than by req/s.
#
#   scripts/bench-ab.sh OLD_BIN NEW_BIN [more binaries...]
#
# Starts the bare baseline and one gateway per binary (deploy/examples/
# bench.yaml, L1 only) on CPU 0 with GOMAXPROCS=1, then for ROUNDS rounds
# runs wrk (CPU 1) against bare and each binary in turn, waiting before each
# run until both CPUs were at least 85% idle for a second (at most QUIET_MAX
# seconds). Every request carries the bench JWT, the bare one's too. Prints
# one line per run: req/s, server CPU µs/req (utime+stime from /proc, and
# the user part), p99. Build OLD_BIN from main in a second worktree:
#   git worktree add /tmp/main main && (cd /tmp/main && go build -o /tmp/old ./cmd/tiercel)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-4s}
ROUTE=${ROUTE:-/api/products/1}
QUIET_MAX=${QUIET_MAX:-60}
BASE_PORT=${BASE_PORT:-19600}
bins=("$@")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
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
for i in "${!bins[@]}"; do
  port=$((BASE_PORT + 10 * (i + 1)))
  BENCH_ORIGIN_PORT=$BASE_PORT BENCH_TIERCEL_PORT=$port BENCH_TIERCEL_ADMIN_PORT=$((port + 1)) GOMAXPROCS=1 \
    taskset -c 0 "${bins[$i]}" serve -config deploy/examples/bench.yaml 2>/dev/null & pids+=($!)
  names+=("$(basename "${bins[$i]}")"); spids+=($!); ports+=("$port")
done
for p in "${ports[@]}"; do wait_port "$p"; done
token=$(bin/tiercel token -config deploy/examples/bench.yaml -sub bench -scope products:read -ttl 2h)
ticks() { awk '{print $14 + $15, $14}' "/proc/$1/stat"; }
for p in "${ports[@]}"; do taskset -c 1 wrk -t1 -c64 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$p$ROUTE" > /dev/null; done
for round in $(seq "$ROUNDS"); do
  for i in "${!names[@]}"; do
    quiet
    read -r c0 u0 < <(ticks "${spids[$i]}")
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DURATION" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:${ports[$i]}$ROUTE")
    read -r c1 u1 < <(ticks "${spids[$i]}")
    if grep -q 'Non-2xx' <<< "$out"; then echo "${names[$i]}: non-2xx answers, figure invalid" >&2; exit 1; fi
    reqs=$(awk '/requests in/ {print $1}' <<< "$out")
    printf "round %d %-16s %9s req/s  cpu %6.2f µs/req (user %5.2f)  p99 %s\n" "$round" "${names[$i]}" \
      "$(awk '/Requests\/sec/ {print $2}' <<< "$out")" "$(awk -v d=$((c1 - c0)) -v r="$reqs" 'BEGIN {print d * 10000 / r}')" \
      "$(awk -v d=$((u1 - u0)) -v r="$reqs" 'BEGIN {print d * 10000 / r}')" "$(awk '$1 == "99%" {print $2}' <<< "$out")"
  done
done
