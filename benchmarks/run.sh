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
run burst ./scheduler/ '^BenchmarkBurst$' 5x
run ports ./gateway/network/ '^BenchmarkCreatePortParallel$' 2000x
# The cloud proxies (issues 4, 5, 6): each in its proxy's package, against
# that cloud's simulator (vcsim in-process; moto must be installed for AWS).
run os_routed ./proxies/openstack/ '^BenchmarkRoutedVsDirect$' 300x
run vsphere100 ./proxies/vmware/ '^BenchmarkGatewayVsGovmomi$' 1x
run aws200 ./proxies/aws/ '^BenchmarkThrottled200$' 1x

metric() { # file metric-unit → value
  awk -v u="$2" '/^Benchmark/ { for (i = 3; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$out/$1.txt"
}
metric_of() { # file benchmark-name-prefix metric-unit → value
  awk -v n="$2" -v u="$3" 'index($1, n) == 1 { for (i = 3; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$out/$1.txt"
}
verdict() { awk -v v="$1" -v lim="$2" -v dir="$3" 'BEGIN { if (v == "") { print "not measured"; exit } ok = (dir == "max") ? (v <= lim) : (v >= lim); print ok ? "within budget" : "OVER BUDGET" }'; }

detail_p50=$(metric detail p50-µs); detail_p99=$(metric detail p99-µs)
token_p50=$(metric token p50-µs); token_p99=$(metric token p99-µs)
boot=$(metric bootdelete servers/s)
decide_p99=$(metric_of scheduler BenchmarkDecide10k/top8 p99-µs); decide_ns=$(metric_of scheduler BenchmarkDecide10k/top8 ns/op)
decide_cpu99=$(metric_of scheduler BenchmarkDecide10k/top8 p99-cpu-µs)
decide_all_p99=$(metric_of scheduler BenchmarkDecide10k/all p99-µs); decide_all_cpu99=$(metric_of scheduler BenchmarkDecide10k/all p99-cpu-µs)
burst_rate=$(metric burst places/s); burst_p99=$(metric burst p99-ms)
burst_placed=$(metric burst placed/burst); burst_refused=$(metric burst refused/burst)
ports=$(metric ports addresses/s)
os_top=$(metric os_routed top/bottom); os_proxy=$(metric os_routed proxy/bottom)
os_top_ns=$(metric os_routed top-ns/get); os_bottom_ns=$(metric os_routed bottom-ns/get)
vs_gw=$(metric vsphere100 gateway-s); vs_direct=$(metric vsphere100 govmomi-s); vs_ratio=$(metric vsphere100 gateway/govmomi)
vs_gw_create=$(metric vsphere100 gateway-create-s); vs_direct_create=$(metric vsphere100 govmomi-create-s)
aws_req=$(metric aws200 requests/server); aws_throttled=$(metric aws200 throttled-frac); aws_rate=$(metric aws200 rate-frac)
aws_boot=$(metric aws200 boot-s); aws_moto=$(metric aws200 moto-busy)
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), GOMAXPROCS=$cpus, registry: ${CANOPY_BENCH_REDIS:-in-memory dev server}."
  echo "Raw \`go test -bench\` output is in benchmarks/out/."
  echo
  echo "| benchmark | figure | budget (DESIGN.md) | verdict |"
  echo "|---|---|---|---|"
  echo "| GET /servers/detail, 1,000 servers, through HTTP | p50 ${detail_p50} µs, p99 ${detail_p99} µs | well under 50 ms | $(verdict "$detail_p99" 50000 max) |"
  echo "| Fernet token validation (Authenticate) | p50 ${token_p50} µs, p99 ${token_p99} µs | ≤ 50 µs at p50 | $(verdict "$token_p50" 50 max) |"
  echo "| boot + delete on simulated hosts, whole API path | ${boot} servers/s | ≥ 500 servers/s | $(verdict "$boot" 500 min) |"
  echo "| scheduler: choose among 10,000 candidates (the 8 a placement tries) | p99 ${decide_p99} µs wall, ${decide_cpu99} µs CPU (${decide_ns} ns/op); ranking all 10,000 (explain): p99 ${decide_all_p99} µs wall, ${decide_all_cpu99} µs CPU | ≤ 1 ms at p99 | wall $(verdict "$decide_p99" 1000 max), CPU $(verdict "$decide_cpu99" 1000 max) |"
  echo "| burst: 1,000 concurrent places through two schedulers, limited room | ${burst_rate} places/s, p99 ${burst_p99} ms per place (${burst_placed} placed, ${burst_refused} refused) | no double booking (TestBurstTwoSchedulers checks it) | — |"
  echo "| port create with address allocation, 32 in parallel | ${ports} addresses/s, no duplicates | — | — |"
  echo "| OpenStack: GET /servers/{id} through the top gateway and through the proxy, over a direct GET on the bottom Canopy | top/bottom ${os_top}, proxy/bottom ${os_proxy} (top ${os_top_ns} ns, bottom ${os_bottom_ns} ns) | routed ≤ 2× nginx proxy_pass (compared here with the direct call, not nginx) | — |"
  echo "| vSphere (vcsim): 100 servers created and deleted through the gateway vs clone+power-on+destroy with govmomi | gateway ${vs_gw} s, govmomi ${vs_direct} s, ratio ${vs_ratio} (creates alone: ${vs_gw_create} s vs ${vs_direct_create} s) | — | — |"
  echo "| AWS (moto behind an EC2-like throttling proxy: 20/s describe, 5/s mutating, 5/s RunInstances): 200 servers to ACTIVE | ${aws_req} requests/server, throttled fraction ${aws_throttled}, busiest class at ${aws_rate} of its allowed rate, ${aws_boot} s (moto: ${aws_moto} requests in flight on average) | throttled ≤ 0.001, rate ≥ 0.9 of allowed | throttled: $(verdict "$aws_throttled" 0.001 max); rate: $(verdict "$aws_rate" 0.9 min) |"
} > benchmarks/RESULTS.md
cat benchmarks/RESULTS.md
