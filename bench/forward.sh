#!/usr/bin/env bash
# bench/forward.sh measures what the gateway forwards of 64-byte frames
# with curfew's table loaded (BenchmarkForwardTrafgen in internal/netfilter:
# a client, a gateway and a server namespace; trafgen writes the frames
# into the client's link as fast as it can, and the server's interface
# counts what arrives; 100,000 cut-off devices, and in "prefixes" 100,000
# prefixes of each family, none of them the client) for this tree and for
# BASE, an earlier revision (default: main), in one run: the two test
# binaries take turns, round after round, so that a change in the
# machine's load hits both alike. Every sample is bounded in frames and
# time, and the traffic stays in the namespaces the benchmark creates.
#
# It needs root (network namespaces) and trafgen, from Debian's
# netsniff-ng, which it installs with apt-get if missing. It prints the
# 1-minute load average before each round, then every benchmark line,
# labelled "base" or "this"; the medians over the rounds go in
# docs/benchmarks.md.
#
# Usage: bench/forward.sh [BASE] [ROUNDS] [OUTDIR]   (from the repository root)
set -euo pipefail

base=${1:-main}
rounds=${2:-3}
out=${3:-$(mktemp -d)}
mkdir -p "$out"
if ! command -v trafgen >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y netsniff-ng >/dev/null
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT

git archive "$base" | tar -x -C "$src"
# BASE runs this tree's benchmark, so that both measure the same traffic.
cp internal/netfilter/forward_bench_linux_test.go internal/netfilter/forward_gen_bench_linux_test.go "$src/internal/netfilter/"
(cd "$src" && go test -c -tags=integration -o "$out/base.test" ./internal/netfilter/)
go test -c -tags=integration -o "$out/this.test" ./internal/netfilter/
: >"$out/base.txt"
: >"$out/this.txt"
for round in $(seq "$rounds"); do
	echo "round $round: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	for which in base this; do
		(cd internal/netfilter && timeout 300 "$out/$which.test" -test.run '^$' -test.bench BenchmarkForwardTrafgen -test.benchtime 1x -test.count 1) |
			grep '^Benchmark' | tee -a "$out/$which.txt" | sed "s/^/$which /"
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $out (base.txt, this.txt)"
