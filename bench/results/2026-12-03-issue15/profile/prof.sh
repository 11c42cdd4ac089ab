#!/bin/bash
# Profiles each scenario of profile/prof.yaml while its measured load runs.
set -u
cd /work/wt-cl-chaos
out=/tmp/prof
rm -rf $out; mkdir -p $out
./bin/tiercel-bench run -q -scenarios bench/results/2026-12-03-issue15/profile/prof.yaml -out $out > $out/run.log 2>&1 &
bench=$!
for sc in l2-hit-prof l2-hit-cluster-prof; do
  # wait for the scenario's gateway config, then for its prefill to end (the load's warm-up)
  while [ ! -f $out/logs/$sc/tiercel.yaml ]; do sleep 0.5; done
  admin=$(grep admin_listen $out/logs/$sc/tiercel.yaml | sed 's/.*"\(.*\)"/\1/')
  while ! grep -q "== $sc" $out/run.log; do sleep 0.5; done
  # prefill of 50000 keys then 2 s warm-up: poll the L2 read counter's rate
  sleep 14
  curl -s "http://$admin/debug/pprof/profile?seconds=8" > $out/$sc.pprof &
  perf record -q -e cpu-clock -C 0 -g -o $out/$sc.perf.data -- sleep 8 2>/dev/null
  wait %2 2>/dev/null
done
wait $bench
