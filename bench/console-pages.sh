#!/usr/bin/env bash
# bench/console-pages.sh measures the console's pages (BenchmarkPages in
# internal/web: one signed-in GET of each page, rendered from a SQLite
# store of 1,000 restrictions and 10,000 or 100,000 devices) for this
# tree and for BASE, an earlier revision (default: the last one before the
# console read devices a page at a time), in one run: the two test
# binaries take turns, round after round, so that a change in the
# machine's load hits both alike. A page BASE does not serve is skipped.
#
# It prints the 1-minute load average before each round, then every
# benchmark line, labelled "base" or "this"; the medians over the rounds
# go in docs/benchmarks.md (benchstat, from the Go module proxy, computes
# them: benchstat base.txt this.txt).
#
# Usage: bench/console-pages.sh [BASE] [ROUNDS] [OUTDIR]   (from the repository root)
set -euo pipefail

base=${1:-d688ad1}
rounds=${2:-5}
out=${3:-$(mktemp -d)}
mkdir -p "$out"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT

git archive "$base" | tar -x -C "$src"
# BASE runs this tree's benchmark, so that both measure the same pages.
cp internal/web/bench_test.go internal/web/fixture_test.go "$src/internal/web/"
(cd "$src" && go test -c -o "$out/base.test" ./internal/web/)
go test -c -o "$out/this.test" ./internal/web/
: >"$out/base.txt"
: >"$out/this.txt"
for round in $(seq "$rounds"); do
	echo "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for which in base this; do
		(cd internal/web && "$out/$which.test" -test.run '^$' -test.bench BenchmarkPages -test.benchtime 5x -test.count 1) |
			grep '^Benchmark' | tee -a "$out/$which.txt" | sed "s/^/$which /"
	done
done
echo "results in $out (base.txt, this.txt)"
