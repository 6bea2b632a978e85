// Package benchmarks measures Canopy against the budgets of DESIGN.md
// through the whole API path: a real HTTP server over loopback, the wired
// app (identity, compute, broker, scheduler, registry) and the local pool's
// simulated hosts with zero delay. `make bench` runs them and writes
// benchmarks/RESULTS.md.
//
// The registry is the in-memory dev server by default; set
// CANOPY_BENCH_REDIS=redis://127.0.0.1:6379/8 to measure against a real
// redis-server (that database is emptied).
package benchmarks
