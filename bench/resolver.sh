#!/usr/bin/env bash
# bench/resolver.sh compares curfew's resolver with dnsmasq and unbound on
# this machine, in one run, with the same 1,000,000-domain blocklist and the
# same local upstream, all on 127.0.0.1.
#
# For each resolver it measures:
#   - load: seconds from starting the process to its first answer from the
#     blocklist (bench/cmd/waitdns polls a listed name every 20 ms);
#   - memory: VmRSS once loaded, and VmRSS and VmHWM (peak) after all runs;
#   - throughput: dnsperf queries per second (2 threads, 16 clients, up to
#     200 queries outstanding) for blocked names (100,000 of the listed
#     names) and for forwarded names (10,000 names under .test, answered by
#     the upstream with TTL 3600 during a warm-up pass, so the measured runs
#     are cache hits);
#   - CPU: the resolver process's CPU time (user and system, all threads,
#     from /proc/PID/stat) per query during the throughput runs;
#   - latency: average and p99 at a fixed rate (RATE queries per second),
#     computed from the per-query latencies dnsperf -v prints (dnsperf 2.10
#     has no histogram option), written to a file and sorted after the run;
#     latency during the throughput runs is time spent queueing behind 200
#     outstanding queries, not service time, so it is not reported.
# All three resolvers are loaded first, one at a time, then measured in
# rounds, each round running every measurement on each resolver in turn,
# so that a change in background load affects all three alike. The table
# gives the median over RUNS rounds.
#
# Usage: bench/resolver.sh [OUTPUT.md]     (run from the repository root, as root)
# Environment: RUNS (3), DURATION seconds per dnsperf run (10), RATE (10000),
# DOMAINS (1000000), KEEP=1 to keep the work directory.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-10000}
DOMAINS=${DOMAINS:-1000000}
OUT=${1:-/dev/stdout}

PORT_UPSTREAM=5399
PORT_CURFEW=5301
PORT_DNSMASQ=5302
PORT_UNBOUND=5303

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }

work=$(mktemp -d /tmp/curfew-resolver-bench.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$work"; else log "kept $work"; fi
}
trap cleanup EXIT

# --- tools ------------------------------------------------------------------

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base) # the binary, without a system service
command -v unbound >/dev/null || need+=(unbound)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

log "building bench programs"
go build -o "$work/bin/" ./bench/cmd/...
log "generating $DOMAINS domains"
"$work/bin/genlist" -n "$DOMAINS" -out "$work"
probe=$(sed -n '$p' "$work/queries-blocked.txt" | cut -d' ' -f1)

"$work/bin/dnsupstream" -listen "127.0.0.1:$PORT_UPSTREAM" &
pids+=($!)

# --- resolvers --------------------------------------------------------------

cat >"$work/dnsmasq.conf" <<EOF
port=$PORT_DNSMASQ
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
server=127.0.0.1#$PORT_UPSTREAM
cache-size=20000
dns-forward-max=1000
user=root
pid-file=
conf-file=$work/dnsmasq-blocklist.conf
EOF

cat >"$work/unbound.conf" <<EOF
server:
	interface: 127.0.0.1
	port: $PORT_UNBOUND
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "$work"
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: $(nproc)
	so-reuseport: yes
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	module-config: "iterator"
	qname-minimisation: no
	prefetch: no
	msg-cache-size: 32m
	rrset-cache-size: 64m
include: "$work/unbound-blocklist.conf"
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$PORT_UPSTREAM
EOF

start_curfew() {
	"$work/bin/resolverbench" -listen "127.0.0.1:$PORT_CURFEW" -upstream "127.0.0.1:$PORT_UPSTREAM" \
		-blocklist "$work/blocklist.hosts" 2>"$work/curfew.log" &
}
start_dnsmasq() { dnsmasq -k -C "$work/dnsmasq.conf" 2>"$work/dnsmasq.log" & }
start_unbound() { unbound -d -c "$work/unbound.conf" 2>"$work/unbound.log" & }

# --- measuring ----------------------------------------------------------------

# qps FILE PORT: queries per second at full load.
# qps FILE PORT PID: queries per second at full load, and the CPU time the
# resolver process (all its threads, user and system) spent per query, in
# microseconds: a figure that background load disturbs far less.
qps() {
	local t0 t1 out
	t0=$(cputicks "$3")
	out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$1" -l "$DURATION" -T 2 -c 16 -q 200 2>&1)
	t1=$(cputicks "$3")
	awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
		/Queries completed/ {n = $3} /Queries per second/ {q = $4}
		END {printf "%.0f %.2f\n", q, n ? t / hz * 1e6 / n : 0}' <<<"$out"
}

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# latency FILE PORT: average and p99 in milliseconds at RATE queries per second.
latency() {
	dnsperf -s 127.0.0.1 -p "$2" -d "$1" -l "$DURATION" -c 8 -Q "$RATE" -v >"$work/latency.out" 2>/dev/null
	awk '$1 == ">" {print $NF}' "$work/latency.out" | sort -g |
		awk '{v[NR] = $1; s += $1} END {if (NR == 0) {print "- -"; exit} i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f %.3f\n", 1000 * s / NR, 1000 * v[i]}'
}

mem() { awk -v k="$2:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else print v[int((NR + 1) / 2)]}'; }

declare -A result
declare -A pid_of

load() {
	local name=$1 port=$2
	log "$name: starting"
	local since
	since=$(date +%s.%N)
	"start_$name"
	pid_of[$name]=$!
	pids+=("$!")
	result[$name.load]=$("$work/bin/waitdns" -server "127.0.0.1:$port" -name "$probe" -want 0.0.0.0 -since "$since" -timeout 15m)
	result[$name.rss_loaded]=$(mem "${pid_of[$name]}" VmRSS)
	log "$name: loaded in ${result[$name.load]}s, ${result[$name.rss_loaded]} MB"
	dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries-forwarded.txt" -n 1 -c 8 -q 100 >/dev/null 2>&1
}

declare -A port_of=([curfew]=$PORT_CURFEW [dnsmasq]=$PORT_DNSMASQ [unbound]=$PORT_UNBOUND)
names=(curfew dnsmasq unbound)
for name in "${names[@]}"; do
	load "$name" "${port_of[$name]}"
done

for run in $(seq "$RUNS"); do
	for name in "${names[@]}"; do
		port=${port_of[$name]}
		read -r q c < <(qps "$work/queries-blocked.txt" "$port" "${pid_of[$name]}")
		result[$name.bq]+=" $q" result[$name.bcpu]+=" $c"
		read -r q c < <(qps "$work/queries-forwarded.txt" "$port" "${pid_of[$name]}")
		result[$name.fq]+=" $q" result[$name.fcpu]+=" $c"
		read -r a p < <(latency "$work/queries-blocked.txt" "$port")
		result[$name.bavg]+=" $a" result[$name.bp99]+=" $p"
		read -r a p < <(latency "$work/queries-forwarded.txt" "$port")
		result[$name.favg]+=" $a" result[$name.fp99]+=" $p"
		log "$name: round $run: blocked/forwarded qps${result[$name.bq]} /${result[$name.fq]}; cpu µs/query${result[$name.bcpu]} /${result[$name.fcpu]}; p99 ms${result[$name.bp99]} /${result[$name.fp99]}"
	done
done
for name in "${names[@]}"; do
	for k in bq fq bcpu fcpu bavg bp99 favg fp99; do
		result[$name.$k]=$(echo "${result[$name.$k]}" | median)
	done
	result[$name.rss]=$(mem "${pid_of[$name]}" VmRSS)
	result[$name.hwm]=$(mem "${pid_of[$name]}" VmHWM)
done

# --- report -------------------------------------------------------------------

{
	echo "| resolver | load (s) | RSS loaded (MB) | RSS after (MB) | peak RSS (MB) | blocked QPS | forwarded QPS | CPU µs/query blocked / forwarded | blocked avg / p99 (ms) | forwarded avg / p99 (ms) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for name in curfew dnsmasq unbound; do
		printf '| %s | %s | %s | %s | %s | %.0f | %.0f | %s / %s | %s / %s | %s / %s |\n' "$name" \
			"${result[$name.load]}" "${result[$name.rss_loaded]}" "${result[$name.rss]}" "${result[$name.hwm]}" \
			"${result[$name.bq]}" "${result[$name.fq]}" "${result[$name.bcpu]}" "${result[$name.fcpu]}" \
			"${result[$name.bavg]}" "${result[$name.bp99]}" "${result[$name.favg]}" "${result[$name.fp99]}"
	done
	echo
	echo "Versions: $(dnsmasq --version | head -1 | cut -d' ' -f1-3); $(unbound -V | head -1 | tr -d '\n'); dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'); $(go version | cut -d' ' -f3)."
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)."
	echo "Settings: $DOMAINS domains, $RUNS rounds of ${DURATION}s dnsperf runs, latency at $RATE qps; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
} >"$OUT"
log "done"
