#!/usr/bin/env bash
# make bench: run the budget benchmarks and write benchmarks/RESULTS.md.
# Each figure is compared with its DESIGN.md budget in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/out
mkdir -p "$out"
cpus=${BENCH_CPUS:-2}
# Production runs on a real Redis: measure against one when it answers
# (database 8 is emptied), else against the in-memory dev registry.
if [ -z "${CANOPY_BENCH_REDIS+x}" ] && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export CANOPY_BENCH_REDIS=redis://127.0.0.1:6379/8
fi
run() { # name package pattern benchtime
  echo "== $1" >&2
  go test -run '^$' -cpu "$cpus" -bench "$3" -benchtime "$4" -count "${BENCH_COUNT:-1}" -benchmem "$2" | tee "$out/$1.txt" >&2
}
run detail ./benchmarks/ '^BenchmarkServerDetail1000$' 100x
run token ./benchmarks/ '^BenchmarkTokenValidation$' 200000x
run bootdelete ./benchmarks/ '^BenchmarkBootDelete$' 3000x
run scheduler ./scheduler/ '^BenchmarkDecide10k$' 2000x
run ports ./gateway/network/ '^BenchmarkCreatePortParallel$' 2000x

metric() { # file metric-unit → value
  awk -v u="$2" '/^Benchmark/ { for (i = 3; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$out/$1.txt"
}
verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN { if (v == "") { print "not measured"; exit } ok = (dir == "max") ? (v <= lim) : (v >= lim); print ok ? "within budget" : "OVER BUDGET" }'; }

detail_p50=$(metric detail p50-µs); detail_p99=$(metric detail p99-µs)
token_p50=$(metric token p50-µs); token_p99=$(metric token p99-µs)
boot=$(metric bootdelete servers/s)
decide_p99=$(metric scheduler p99-µs); decide_ns=$(metric scheduler ns/op)
ports=$(metric ports addresses/s)
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), GOMAXPROCS=$cpus, registry: ${CANOPY_BENCH_REDIS:-in-memory dev server}."
  echo "Raw \`go test -bench\` output is in benchmarks/out/."
  echo
  echo "| benchmark | figure | budget (DESIGN.md) | verdict |"
  echo "|---|---|---|---|"
  echo "| GET /servers/detail, 1,000 servers, through HTTP | p50 ${detail_p50} µs, p99 ${detail_p99} µs | well under 50 ms | $(verdict "$detail_p99" 50000 max) |"
  echo "| Fernet token validation (Authenticate) | p50 ${token_p50} µs, p99 ${token_p99} µs | ≤ 50 µs at p50 | $(verdict "$token_p50" 50 max) |"
  echo "| boot + delete on simulated hosts, whole API path | ${boot} servers/s | ≥ 500 servers/s | $(verdict "$boot" 500 min) |"
  echo "| scheduler: choose among 10,000 candidates | p99 ${decide_p99} µs (${decide_ns} ns/op) | ≤ 1 ms at p99 | $(verdict "$decide_p99" 1000 max) |"
  echo "| port create with address allocation, 32 in parallel | ${ports} addresses/s, no duplicates | — | — |"
} > benchmarks/RESULTS.md
cat benchmarks/RESULTS.md
