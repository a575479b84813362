#!/usr/bin/env bash
# bench/resolver.sh compares curfew's resolver with CoreDNS, dnsmasq and
# unbound on this machine, in one run, with the same 1,000,000-domain
# blocklist and the same local upstream, all on 127.0.0.1, driven by dnsperf.
#
# Resolvers: curfew (bench/cmd/resolverbench, defaults), curfew with every
# client restricted in blocklist mode (curfew-restricted: its queries take
# the restricted client's path), CoreDNS (hosts, cache and forward plugins,
# built with `go install` at a pinned version; left out, and said so, if the
# module proxy does not serve it), dnsmasq and unbound (installed with
# apt-get if missing), and, with BASELINE=REF, curfew as of the git
# revision REF (curfew-baseline: its bench/cmd/resolverbench built from
# `git archive REF`), so that a change is measured against the code before
# it in the same run; with NOLIMIT=1, curfew also without its soft memory
# limit (curfew-nolimit), to show what the limit costs in CPU.
#
# Each round runs, on each resolver in turn (so that a change of background
# load hits all alike), these phases:
#   1. blocked: dnsperf at full load (2 threads, 16 clients, 200 queries
#      outstanding) on 100,000 of the listed names;
#   2. unique: the same on names never asked before, of any resolver, in any
#      round: every query is a cache miss and goes upstream;
#   3. cached p99: right after the unique burst, a fixed RATE (5,000) per
#      second of the 10,000 names warmed into the cache at start; p50 and
#      p99 of every query's latency (dnsperf -v prints each);
#   4. cached: full load on those names;
#   5. blocked p99: RATE per second of blocked names.
# For each full-load phase it reports NOERROR answers per second and the resolver
# process's CPU time (user + system, all threads, /proc/PID/stat) per query
# in microseconds: dnsperf and the upstream share the machine's CPUs, so
# QPS says as much about them as about the resolver, CPU per query less.
# Memory: VmRSS once loaded, and VmHWM (peak) after every phase of every
# round. curfew runs with the soft memory limit its configuration gives by
# default (memory_limit: twice dns.cache_size plus 24MiB, 88MiB); a
# baseline older than that setting runs without one. Load: seconds from start to the first answer from the blocklist.
#
# The machine's state is recorded for every round: the 1-minute load
# average at its start and end, the share of CPU time stolen by the
# hypervisor during it, and the CPU that processes other than the
# benchmark's own used during it (the machine's busy time less that of the
# resolvers, the upstream and the script's children, dnsperf among them,
# as a share of one CPU). The load average counts the benchmark's own
# processes, which keep about two CPUs busy, so it does not decide: a
# round in which others used more than 10% of a CPU, or whose steal
# exceeds 5%, is marked busy in the output; with BUSY=refuse the script
# instead waits up to 10 minutes before each round for a load average
# under the number of CPUs and gives up (exit 3) if none comes.
# The table gives medians over RUNS rounds, and every round's figures follow
# it, so nothing is hidden by the median.
#
# Usage: bench/resolver.sh [OUTPUT.md]     (run from the repository root, as root)
# Environment: RUNS (3), DURATION seconds per dnsperf run (10), RATE (5000),
# DOMAINS (1000000), UNIQUE names per unique phase (400000), BUSY (mark or
# refuse), COREDNS_VERSION (v1.12.1), COREDNS (a coredns binary to use
# instead of building one, or none), BASELINE (a git revision of curfew to
# compare with), NOLIMIT (1 for curfew-nolimit), KEEP=1 to keep the work
# directory.
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
RATE=${RATE:-5000}
DOMAINS=${DOMAINS:-1000000}
UNIQUE=${UNIQUE:-400000}
BUSY=${BUSY:-mark}
COREDNS_VERSION=${COREDNS_VERSION:-v1.12.1}
OUT=${1:-/dev/stdout}

PORT_UPSTREAM=5399
PORT_CURFEW=5301
PORT_DNSMASQ=5302
PORT_UNBOUND=5303
PORT_COREDNS=5304
PORT_RESTRICTED=5305
PORT_BASELINE=5306
PORT_NOLIMIT=5307

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
curfew_rev="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' with uncommitted changes')"
if [[ -n ${BASELINE:-} ]]; then
	log "building curfew's resolver as of $BASELINE"
	mkdir -p "$work/baseline-src" "$work/baseline"
	git archive "$BASELINE" | tar -x -C "$work/baseline-src"
	(cd "$work/baseline-src" && go build -o "$work/baseline/" ./bench/cmd/resolverbench)
	baseline_rev=$(git rev-parse --short "$BASELINE")
fi
coredns_note=""
if [[ ${COREDNS:-} == none ]]; then
	coredns_note="CoreDNS left out (COREDNS=none)."
elif [[ -n ${COREDNS:-} ]]; then
	cp "$COREDNS" "$work/bin/coredns"
else
	log "building CoreDNS $COREDNS_VERSION with go install (several minutes the first time)"
	if ! (cd "$work" && GOBIN="$work/bin" GOFLAGS=-mod=mod go install "github.com/coredns/coredns@$COREDNS_VERSION") >"$work/coredns-build.log" 2>&1; then
		coredns_note="CoreDNS $COREDNS_VERSION could not be built here (go install failed: $(tail -1 "$work/coredns-build.log")), so it is left out."
		log "$coredns_note"
	fi
fi

log "generating $DOMAINS domains"
"$work/bin/genlist" -n "$DOMAINS" -out "$work"
probe=$(sed -n '$p' "$work/queries-blocked.txt" | cut -d' ' -f1)

"$work/bin/dnsupstream" -listen "127.0.0.1:$PORT_UPSTREAM" &
upstream_pid=$!
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
	# test. is one of unbound's default local zones (RFC 6761), answered
	# NXDOMAIN without asking anyone: forward it like any other name.
	local-zone: "test." nodefault
include: "$work/unbound-blocklist.conf"
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$PORT_UPSTREAM
EOF

cat >"$work/Corefile" <<EOF
.:$PORT_COREDNS {
	bind 127.0.0.1
	hosts $work/blocklist.hosts {
		no_reverse
		reload 0
		fallthrough
	}
	cache 3600 {
		success 100000
		denial 10000
	}
	forward . 127.0.0.1:$PORT_UPSTREAM
}
EOF

start_curfew() {
	"$work/bin/resolverbench" -listen "127.0.0.1:$PORT_CURFEW" -upstream "127.0.0.1:$PORT_UPSTREAM" \
		-blocklist "$work/blocklist.hosts" 2>"$work/curfew.log" &
}
start_curfew-restricted() {
	"$work/bin/resolverbench" -listen "127.0.0.1:$PORT_RESTRICTED" -upstream "127.0.0.1:$PORT_UPSTREAM" \
		-blocklist "$work/blocklist.hosts" -restrict blocklist 2>"$work/curfew-restricted.log" &
}
start_curfew-baseline() {
	"$work/baseline/resolverbench" -listen "127.0.0.1:$PORT_BASELINE" -upstream "127.0.0.1:$PORT_UPSTREAM" \
		-blocklist "$work/blocklist.hosts" 2>"$work/curfew-baseline.log" &
}
start_curfew-nolimit() {
	"$work/bin/resolverbench" -listen "127.0.0.1:$PORT_NOLIMIT" -upstream "127.0.0.1:$PORT_UPSTREAM" \
		-blocklist "$work/blocklist.hosts" -memory-limit 0 2>"$work/curfew-nolimit.log" &
}
start_coredns() { "$work/bin/coredns" -conf "$work/Corefile" -quiet >"$work/coredns.log" 2>&1 & }
start_dnsmasq() { dnsmasq -k -C "$work/dnsmasq.conf" 2>"$work/dnsmasq.log" & }
start_unbound() { unbound -d -c "$work/unbound.conf" 2>"$work/unbound.log" & }

# --- measuring ----------------------------------------------------------------

# qps FILE PORT PID [dnsperf options]: answers per second at full load
# that were NOERROR (a resolver that gives up on a busy upstream answers
# SERVFAIL fast, which is no answer), the CPU time the resolver process
# spent per query (µs), the queries completed, and the share of them that
# were NOERROR (%).
qps() {
	local file=$1 port=$2 pid=$3 t0 t1 out
	shift 3
	t0=$(cputicks "$pid")
	out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$DURATION" -T 2 -c 16 -q 200 "$@" 2>&1)
	t1=$(cputicks "$pid")
	awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
		/Queries completed/ {n = $3} /Queries per second/ {q = $4}
		/Response codes/ {for (i = 1; i <= NF; i++) if ($i ~ /^NOERROR/) {ok = $(i + 1)}}
		END {share = n ? ok / n : 0; printf "%.0f %.2f %d %.1f\n", q * share, n ? t / hz * 1e6 / n : 0, n, 100 * share}' <<<"$out"
}

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# latency FILE PORT: p50 and p99 in milliseconds at RATE queries per
# second, from every query's latency, and the share of queries lost (%).
latency() {
	dnsperf -s 127.0.0.1 -p "$2" -d "$1" -l "$DURATION" -c 8 -Q "$RATE" -v >"$work/latency.out" 2>/dev/null || true
	local lost
	lost=$(awk '/Queries lost/ {gsub(/[()%]/, "", $4); print $4}' "$work/latency.out")
	awk '$1 == ">" {print $NF}' "$work/latency.out" | sort -g |
		awk -v lost="${lost:-0}" '{v[NR] = $1} END {if (NR == 0) {print "- - -"; exit}
			i50 = int(NR * 0.5); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			printf "%.3f %.3f %s\n", 1000 * v[i50], 1000 * v[i99], lost}'
}

mem() { awk -v k="$2:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else print v[int((NR + 1) / 2)]}'; }

# steal: the CPU time stolen so far and the total, in ticks.
steal() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# busy: the ticks all CPUs spent running something (user, nice, system,
# irq, softirq), then the ticks the benchmark's own processes used: the
# resolvers', the upstream's and the script's waited-for children's.
busy() {
	local own=0 p f
	for p in "${pid_of[@]}" "$upstream_pid"; do
		read -r -a f <"/proc/$p/stat" || continue
		own=$((own + f[13] + f[14]))
	done
	read -r -a f <"/proc/$$/stat"
	own=$((own + f[13] + f[14] + f[15] + f[16]))
	awk -v own="$own" '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8, own}' /proc/stat
}
busy_load() { awk -v l="$(load1)" -v n="$(nproc)" 'BEGIN {exit !(l > n)}'; }

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
	# Warm the cache with the names of the cached phases.
	dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries-forwarded.txt" -n 1 -c 8 -q 100 >/dev/null 2>&1
}

declare -A port_of=([curfew]=$PORT_CURFEW [curfew-restricted]=$PORT_RESTRICTED [curfew-baseline]=$PORT_BASELINE [curfew-nolimit]=$PORT_NOLIMIT [coredns]=$PORT_COREDNS
	[dnsmasq]=$PORT_DNSMASQ [unbound]=$PORT_UNBOUND)
names=(curfew curfew-restricted)
[[ ${NOLIMIT:-0} == 1 ]] && names+=(curfew-nolimit)
[[ -n ${BASELINE:-} ]] && names+=(curfew-baseline)
[[ -x $work/bin/coredns ]] && names+=(coredns)
names+=(dnsmasq unbound)
for name in "${names[@]}"; do
	load "$name" "${port_of[$name]}"
done

rounds=""
for run in $(seq "$RUNS"); do
	if [[ $BUSY == refuse ]]; then
		waited=0
		while busy_load; do
			if ((waited >= 600)); then
				log "load average $(load1) above $(nproc) CPUs for 10 minutes: giving up"
				exit 3
			fi
			sleep 10
			waited=$((waited + 10))
		done
	fi
	l0=$(load1)
	read -r s0 t0 < <(steal)
	read -r b0 o0 < <(busy)
	w0=$(date +%s.%N)
	for name in "${names[@]}"; do
		port=${port_of[$name]} pid=${pid_of[$name]}
		awk -v p="r$run-$name" -v n="$UNIQUE" 'BEGIN {for (i = 0; i < n; i++) printf "u%d.%s.uniq.test A\n", i, p}' >"$work/unique.txt"
		read -r q c _ < <(qps "$work/queries-blocked.txt" "$port" "$pid")
		result[$name.bq]+=" $q" result[$name.bcpu]+=" $c"
		read -r q c n ok < <(qps "$work/unique.txt" "$port" "$pid" -n 1)
		result[$name.uq]+=" $q" result[$name.ucpu]+=" $c" result[$name.uok]+=" $ok"
		((n < UNIQUE)) || log "$name: round $run: all $UNIQUE unique names were used; raise UNIQUE"
		read -r p50 p99 lost < <(latency "$work/queries-forwarded.txt" "$port")
		result[$name.cp50]+=" $p50" result[$name.cp99]+=" $p99" result[$name.clost]+=" $lost"
		read -r q c _ < <(qps "$work/queries-forwarded.txt" "$port" "$pid")
		result[$name.cq]+=" $q" result[$name.ccpu]+=" $c"
		read -r p50 p99 lost < <(latency "$work/queries-blocked.txt" "$port")
		result[$name.bp50]+=" $p50" result[$name.bp99]+=" $p99"
		log "$name: round $run: blocked/unique/cached qps${result[$name.bq]} /${result[$name.uq]} /${result[$name.cq]}; cached p99 after unique${result[$name.cp99]} ms"
	done
	read -r s1 t1 < <(steal)
	read -r b1 o1 < <(busy)
	w1=$(date +%s.%N)
	l1=$(load1)
	st=$(awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.1f", t ? 100 * s / t : 0}')
	# Others' share of one CPU: ticks are 1/CLK_TCK s (getconf CLK_TCK).
	others=$(awk -v b=$((b1 - b0 - (o1 - o0))) -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" -v hz="$(getconf CLK_TCK)" \
		'BEGIN {o = 100 * b / hz / w; printf "%.1f", o < 0 ? 0 : o}')
	mark=quiet
	if awk -v o="$others" -v s="$st" 'BEGIN {exit !(o > 10 || s > 5)}'; then
		mark=busy
	fi
	rounds+="| $run | $l0 | $l1 | $st | $others | $mark |"$'\n'
	result[busy]+=" $mark"
done
for name in "${names[@]}"; do
	for k in bq bcpu uq ucpu uok cq ccpu cp50 cp99 clost bp50 bp99; do
		result[$name.$k.all]=${result[$name.$k]# }
		result[$name.$k]=$(echo "${result[$name.$k]}" | median)
	done
	result[$name.hwm]=$(mem "${pid_of[$name]}" VmHWM)
done

# --- report -------------------------------------------------------------------

{
	echo "| resolver | load (s) | RSS loaded (MB) | peak RSS (MB) | blocked QPS | blocked CPU µs/q | unique QPS | unique CPU µs/q | cached QPS | cached CPU µs/q | cached p50 / p99 at $RATE qps after unique (ms) | blocked p50 / p99 at $RATE qps (ms) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for name in "${names[@]}"; do
		printf '| %s | %s | %s | %s | %.0f | %s | %.0f | %s | %.0f | %s | %s / %s | %s / %s |\n' "$name" \
			"${result[$name.load]}" "${result[$name.rss_loaded]}" "${result[$name.hwm]}" \
			"${result[$name.bq]}" "${result[$name.bcpu]}" "${result[$name.uq]}" "${result[$name.ucpu]}" \
			"${result[$name.cq]}" "${result[$name.ccpu]}" "${result[$name.cp50]}" "${result[$name.cp99]}" \
			"${result[$name.bp50]}" "${result[$name.bp99]}"
	done
	echo
	echo "Every round (blocked, unique, cached QPS; unique and cached CPU µs/q; cached p99 ms; share of unique names answered NOERROR):"
	echo
	for name in "${names[@]}"; do
		echo "- $name: QPS ${result[$name.bq.all]} / ${result[$name.uq.all]} / ${result[$name.cq.all]}; CPU ${result[$name.ucpu.all]} / ${result[$name.ccpu.all]}; p99 ${result[$name.cp99.all]}; unique NOERROR % ${result[$name.uok.all]}"
	done
	echo
	echo "| round | load average at start | at end | steal (%) | others' CPU (% of one) | machine |"
	echo "|---:|---:|---:|---:|---:|---|"
	printf '%s' "$rounds"
	echo
	[[ -n $coredns_note ]] && echo "$coredns_note" && echo
	[[ -n ${BASELINE:-} ]] && echo "curfew-baseline is curfew as of $baseline_rev ($BASELINE), curfew is $curfew_rev." && echo
	coredns_v=""
	[[ -x $work/bin/coredns ]] && coredns_v="; CoreDNS $("$work/bin/coredns" -version 2>/dev/null | sed -n 1p | cut -d- -f2)"
	echo "Versions: $(dnsmasq --version | sed -n 1p | cut -d' ' -f1-3); $(unbound -V | sed -n 1p | tr -d '\n')$coredns_v; dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'); $(go version | cut -d' ' -f3)."
	echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)."
	echo "Run: $(date -u +%F) $(date -u +%H:%M) UTC, RUNS=$RUNS DURATION=$DURATION RATE=$RATE DOMAINS=$DOMAINS UNIQUE=$UNIQUE${BASELINE:+ BASELINE=$BASELINE}${NOLIMIT:+ NOLIMIT=$NOLIMIT} bench/resolver.sh; rounds marked busy:$(echo "${result[busy]}" | tr ' ' '\n' | grep -c busy) of $RUNS."
} >"$OUT"
log "done"
