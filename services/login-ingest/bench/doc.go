// Package bench measures login-ingest end to end against the machine's PostgreSQL and NATS:
// the figures of docs/benchmarks.md. It has no code of its own outside its test, which runs
// only when DORMANT_BENCH=1 (make bench), as a benchmark and not a timed test.
package bench
