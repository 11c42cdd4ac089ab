#!/usr/bin/env bash
# bench-ab-l2.sh — A/B of gateway binaries on the L2-hit row of
# bench-wrk.sh, in one run: CPU per request of the gateway AND of
# redis-server, since an L2 hit costs both.
#
#   scripts/bench-ab-l2.sh OLD_BIN NEW_BIN [more binaries...]
#
# Starts the bare baseline, one redis-server and one gateway per binary
# (deploy/examples/bench.yaml, 1 MiB L1, all sharing the redis-server), all
# on CPU 0 with GOMAXPROCS=1. A warm-up walks the KEYS keys through the
# first gateway (filling Redis), then each binary's L1 is warmed by a short
# random run. For ROUNDS rounds wrk (CPU 1) then runs against bare and each
# binary in turn, after waiting until both CPUs were at least 85% idle for a
# second (at most QUIET_MAX seconds). Every request carries the bench JWT,
# the bare one's too. One line per run: req/s, ratio to the round's bare
# run, gateway and redis CPU µs/req (utime+stime from /proc), p99. The
# binaries must read the same L2 format.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
KEYS=${KEYS:-50000}
QUIET_MAX=${QUIET_MAX:-60}
BASE_PORT=${BASE_PORT:-19700}
REDIS_PORT=$((BASE_PORT + 9))
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
GOMAXPROCS=1 taskset -c 0 bin/tiercel-bench bare -listen "127.0.0.1:$BASE_PORT" -size 1024 & pids+=($!)
taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --logfile "$tmp/redis.log" & pids+=($!)
redis_pid=$!
wait_port "$REDIS_PORT"
names=(bare); spids=("${pids[0]}"); ports=("$BASE_PORT")
for i in "${!bins[@]}"; do
  port=$((BASE_PORT + 10 * (i + 1)))
  BENCH_ORIGIN_PORT=$BASE_PORT BENCH_TIERCEL_PORT=$port BENCH_TIERCEL_ADMIN_PORT=$((port + 1)) \
    BENCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 BENCH_L1_BYTES=1048576 GOMAXPROCS=1 \
    taskset -c 0 "${bins[$i]}" serve -config deploy/examples/bench.yaml 2>"$tmp/gw-$i.log" & pids+=($!)
  names+=("$(basename "${bins[$i]}")"); spids+=($!); ports+=("$port")
done
for p in "${ports[@]}"; do wait_port "$p"; done
export TOKEN KEYS
TOKEN=$(bin/tiercel token -config deploy/examples/bench.yaml -sub bench -scope products:read -ttl 2h)
cat > "$tmp/keys.lua" <<'LUA'
local token = os.getenv("TOKEN")
local keys = tonumber(os.getenv("KEYS"))
local n = 0
request = function()
  n = n + 1
  local id = (os.getenv("SEQUENTIAL") and (n % keys) + 1) or math.random(1, keys)
  return wrk.format("GET", "/api/products/" .. id, {["Authorization"] = "Bearer " .. token})
end
LUA
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk_run() { # port duration: wrk output
  if [ "$1" = "$BASE_PORT" ]; then
    taskset -c 1 wrk -t1 -c64 -d"$2" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/api/products/1"
  else
    taskset -c 1 wrk -t1 -c64 -d"$2" --latency -s "$tmp/keys.lua" "http://127.0.0.1:$1"
  fi
}
SEQUENTIAL=1 wrk_run "${ports[1]}" 10s > /dev/null
for p in "${ports[@]}"; do wrk_run "$p" 2s > /dev/null; done
for round in $(seq "$ROUNDS"); do
  bare_rps=
  for i in "${!names[@]}"; do
    quiet
    c0=$(ticks "${spids[$i]}"); r0=$(ticks "$redis_pid")
    out=$(wrk_run "${ports[$i]}" "$DURATION")
    c1=$(ticks "${spids[$i]}"); r1=$(ticks "$redis_pid")
    if grep -q 'Non-2xx' <<< "$out"; then echo "${names[$i]}: non-2xx answers, figure invalid" >&2; exit 1; fi
    reqs=$(awk '/requests in/ {print $1}' <<< "$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
    [ -n "$bare_rps" ] || bare_rps=$rps
    printf "round %d %-16s %9s req/s  ratio %.3f  gw %6.2f + redis %5.2f = %6.2f µs/req  p99 %s\n" "$round" "${names[$i]}" \
      "$rps" "$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN {print a / b}')" \
      "$(awk -v d=$((c1 - c0)) -v r="$reqs" 'BEGIN {print d * 10000 / r}')" \
      "$(awk -v d=$((r1 - r0)) -v r="$reqs" 'BEGIN {print d * 10000 / r}')" \
      "$(awk -v d=$((c1 - c0 + r1 - r0)) -v r="$reqs" 'BEGIN {print d * 10000 / r}')" \
      "$(awk '$1 == "99%" {print $2}' <<< "$out")"
  done
done
for i in "${!names[@]}"; do
  [ "$i" = 0 ] && continue
  echo "${names[$i]}: $(curl -s "http://127.0.0.1:$((ports[i] + 1))/metrics" | awk '/^tiercel_cache_lookups_total/ && $2 > 0 {sub(/tiercel_cache_lookups_total/, ""); printf "%s=%s ", $1, $2}')"
done
