#!/usr/bin/env bash
# Paired A/B runs of the load benchmark: the same benchmark executable runs
# against two service binaries in turn (A, B, A, B, ...), so both see the
# same phases of a machine whose speed drifts. Prints each run's table rows.
#
#   scripts/bench-ab.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Build the two binaries first (for instance `cargo build --release` at each
# commit, copying target/release/hookbridge aside). BENCH_ONLY picks the
# workloads (default: ingest,fanout1,fanout10), BENCH_SECONDS their length
# (default 5); BENCH_POSTGRES=1 adds the PostgreSQL rows. The benchmark runs
# the binary at target/release/hookbridge, so each one is copied there in
# turn; the binary that was there is put back at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,13p "$0"; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")
rounds=${3:-3}

bench=$(cargo bench --bench load --no-run 2>&1 |
  grep -o 'target/release/deps/load-[0-9a-f]*' | tail -1)
service=target/release/hookbridge
saved=$(mktemp)
cp "$service" "$saved"
output=$(mktemp)
trap 'cp "$saved" "$service"; rm -f "$saved" "$output"' EXIT

for round in $(seq "$rounds"); do
  for binary in "$old" "$new"; do
    cp "$binary" "$service"
    echo "== round $round: $binary"
    status=0
    BENCH_ONLY=${BENCH_ONLY:-ingest,fanout1,fanout10} \
      BENCH_SECONDS=${BENCH_SECONDS:-5} BENCH_POSTGRES=${BENCH_POSTGRES:-0} \
      "$bench" > "$output" 2>&1 || status=$?
    grep '^| SQLite\|^| steady\|^| one\|^| PostgreSQL' "$output" || true
    if [ "$status" -ne 0 ]; then
      echo "the benchmark failed (exit $status) against $binary:" >&2
      tail -n 20 "$output" >&2
      exit "$status"
    fi
  done
done
