#!/usr/bin/env bash
# bench/forward-miss.sh compares the CPU curfew's resolver spends per
# forwarded, never-repeated question at two git revisions, in one run: the
# unique phase of bench/resolver.sh alone, the two binaries alternately.
#
# Each round starts bench/cmd/dnsupstream and bench/cmd/resolverbench (its
# defaults: 32 MiB cache, the daemon's soft memory limit) of one revision on
# 127.0.0.1, drives it with dnsperf (2 threads, 16 clients, 200 queries
# outstanding) on UNIQUE names never asked before, for at most DURATION
# seconds, and prints the resolver's CPU time (user + system,
# /proc/PID/stat) per query, answers per second, the NOERROR count, the
# collector's cycles during the phase (GODEBUG=gctrace=1) and the 1-minute
# load average.
#
# Usage: bench/forward-miss.sh BEFORE [AFTER]   (git revisions; AFTER is the
# work tree if left out; run from the repository root)
# Environment: RUNS (3), DURATION (10), UNIQUE (400000).
set -euo pipefail

BEFORE=${1:?usage: bench/forward-miss.sh BEFORE [AFTER]}
AFTER=${2:-}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
UNIQUE=${UNIQUE:-400000}
PORT_UPSTREAM=5391
PORT_RESOLVER=5392

command -v dnsperf >/dev/null || { echo "dnsperf is needed (apt-get install dnsperf)" >&2; exit 1; }
work=$(mktemp -d /tmp/curfew-forward-miss.XXXXXX)
trap 'rm -rf "$work"' EXIT

build() { # build NAME REV: the bench programs of REV (or the work tree) into $work/NAME
	local src=.
	if [[ -n $2 ]]; then
		src="$work/$1-src"
		mkdir -p "$src"
		git archive "$2" | tar -x -C "$src"
	fi
	(cd "$src" && go build -o "$work/$1/" ./bench/cmd/resolverbench ./bench/cmd/dnsupstream)
}
build before "$BEFORE"
build after "$AFTER"

round() { # round NAME N
	local bin="$work/$1" up rb
	"$bin/dnsupstream" -listen "127.0.0.1:$PORT_UPSTREAM" &
	up=$!
	GODEBUG=gctrace=1 "$bin/resolverbench" -listen "127.0.0.1:$PORT_RESOLVER" -upstream "127.0.0.1:$PORT_UPSTREAM" 2>"$work/gc.log" &
	rb=$!
	for _ in $(seq 100); do
		dig +short +time=1 +tries=1 -p "$PORT_RESOLVER" @127.0.0.1 warm.test >/dev/null 2>&1 && break
		sleep 0.1
	done
	awk -v p="r$2-$1" -v n="$UNIQUE" 'BEGIN {for (i = 0; i < n; i++) printf "u%d.%s.uniq.test A\n", i, p}' >"$work/unique.txt"
	local load t0 t1 g0 g1 out
	load=$(cut -d' ' -f1 /proc/loadavg)
	t0=$(awk '{print $14 + $15}' "/proc/$rb/stat")
	g0=$(grep -c '^gc ' "$work/gc.log" || true)
	out=$(dnsperf -s 127.0.0.1 -p "$PORT_RESOLVER" -d "$work/unique.txt" -l "$DURATION" -T 2 -c 16 -q 200 -n 1 2>&1)
	t1=$(awk '{print $14 + $15}' "/proc/$rb/stat")
	g1=$(grep -c '^gc ' "$work/gc.log" || true)
	kill -INT "$rb"
	wait "$rb" || true
	kill "$up"
	wait "$up" 2>/dev/null || true
	awk -v name="$1" -v n="$2" -v load="$load" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" -v gc=$((g1 - g0)) '
		/Queries completed/ {q = $3}
		/Queries per second/ {qps = $4}
		/NOERROR/ {for (i = 1; i <= NF; i++) if ($i == "NOERROR") ok = $(i + 1)}
		END {printf "%s round %d: load %s; %d queries, %d NOERROR; %.0f qps; CPU %.2f µs/q; %.1f GC cycles per 100,000 q\n",
			name, n, load, q, ok, qps, (t1 - t0) / hz * 1e6 / q, gc * 1e5 / q}' <<<"$out"
}

for n in $(seq "$RUNS"); do
	round before "$n"
	round after "$n"
done
