#!/usr/bin/env bash
# bench/forward.sh measures what the gateway forwards of 64-byte frames,
# with and without curfew's table, and where the gateway's CPU goes.
#
# Each configuration gets its own chain of three namespaces, client —
# gateway — server, all built before the first sample, so that samples of
# different configurations can alternate second by second without
# reloading a table (a change in the machine's load then hits all alike).
# trafgen (Debian's netsniff-ng) writes UDP frames into the client's link
# as fast as it can (60 bytes of IPv4, 64 of IPv6, one flow each, to a
# port the server drops before its UDP layer); the server's interface
# counts what arrives over one second after 0.3 s of warm-up. Every sample
# is bounded in frames and time; the traffic stays in the namespaces.
#
# Configurations of the gateway:
#   none           no table at all
#   masquerade     an inet NAT table masquerading to the WAN side: what
#                  every IPv4 NAT gateway has, and what turns on
#                  connection tracking (an empty NAT chain does not)
#   curfew         curfew's table as the daemon builds it (bench/cmd/fwdtable:
#                  DNS and notice redirects, 100,000 cut-off devices,
#                  none of them the client)
#   masq+curfew    both
#   masq+curfew+prefixes   both, with 100,000 cut-off IPv4 addresses and as
#                  many IPv6 /64s as well
#   masq+flowcache masq+curfew with an experimental forward chain that
#                  remembers in the flow's ct mark that a flow went
#                  through curfew's rules unrestricted, and skips the
#                  rules for its later packets (not what curfew does; it
#                  measures what such a cache would be worth)
#
# With perf installed, it also records, for each configuration, 2 s of
# CPU samples while IPv4 frames flow, and reports the share of the
# sending path (packet_sendmsg and all below it: over veth the sender's
# CPU carries each frame through the gateway and the server) spent in the
# gateway's forward hook (ip_forward and below: routing, curfew's forward
# chain, output), in connection tracking (nf_conntrack_in), in nftables
# chains of every hook (nft_do_chain_* and below; this includes the
# server's drop rule, the same in every configuration, so compare with
# none) and, of those, in the set backends' lookups (nft_rhash_lookup,
# nft_rbtree_lookup and the like).
#
# With COMPARE=REV, one more configuration, masq+curfew@REV, is
# masq+curfew with curfew's table as revision REV builds it, so that a
# change to the table is measured beside the table before it.
#
# Needs root, trafgen (installed with apt-get if missing), python3 and Go.
# Usage: [COMPARE=REV] bench/forward.sh [ROUNDS]   (from the repository root; default 9)
set -euo pipefail

rounds=${1:-9}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench/forward.sh: ROUNDS must be a positive number, not '$rounds'" >&2; exit 2; }
if ! command -v trafgen >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y netsniff-ng >/dev/null
fi
work=$(mktemp -d)
configs=(none masquerade curfew masq+curfew masq+curfew+prefixes masq+flowcache)
ns() { # ns ROLE CONFIG: a namespace's name
	local n=${2//+/_}
	n=${n//@*/_base}
	echo "fwdb-$1-$n"
}
tables=()
cleanup() {
	kill "${tables[@]}" 2>/dev/null || true
	wait "${tables[@]}" 2>/dev/null || true
	pkill -9 -f "trafgen --dev fcl --conf $work" 2>/dev/null || true
	for c in "${configs[@]}"; do for r in c g s; do ip netns del "$(ns $r "$c")" 2>/dev/null || true; done; done
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/fwdtable" ./bench/cmd/fwdtable
if [[ -n ${COMPARE:-} ]]; then
	mkdir "$work/base"
	git archive "$COMPARE" | tar -x -C "$work/base"
	# The revision's table, built by this tree's program.
	mkdir -p "$work/base/bench/cmd/fwdtable"
	cp bench/cmd/fwdtable/main.go "$work/base/bench/cmd/fwdtable/"
	(cd "$work/base" && go build -o "$work/fwdtable-base" ./bench/cmd/fwdtable)
	configs+=("masq+curfew@$COMPARE")
fi

masq='table inet fwdmasq {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "fwan" masquerade
	}
}'
sink='table inet sink {
	chain drop9 {
		type filter hook prerouting priority -300; policy accept;
		udp dport 9 drop
	}
}'
hex() { echo "0x${1//:/, 0x}"; }

build() { # build CONFIG: the namespaces, the gateway's tables, the frames
	local c=$1 cl gw sv
	cl=$(ns c "$c") gw=$(ns g "$c") sv=$(ns s "$c")
	for n in "$cl" "$gw" "$sv"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; ip -n "$n" link set lo up; done
	ip link add fcl netns "$cl" type veth peer name flan netns "$gw"
	ip link add fwan netns "$gw" type veth peer name fsrv netns "$sv"
	ip -n "$cl" addr add 10.71.1.2/24 dev fcl
	ip -n "$cl" addr add fd00:71:1::2/64 dev fcl nodad
	ip -n "$gw" addr add 10.71.1.1/24 dev flan
	ip -n "$gw" addr add fd00:71:1::1/64 dev flan nodad
	ip -n "$gw" addr add 10.71.2.1/24 dev fwan
	ip -n "$gw" addr add fd00:71:2::1/64 dev fwan nodad
	ip -n "$sv" addr add 10.71.2.2/24 dev fsrv
	ip -n "$sv" addr add fd00:71:2::2/64 dev fsrv nodad
	ip -n "$cl" link set fcl up; ip -n "$gw" link set flan up; ip -n "$gw" link set fwan up; ip -n "$sv" link set fsrv up
	ip -n "$cl" route add default via 10.71.1.1
	ip -n "$cl" -6 route add default via fd00:71:1::1
	ip -n "$sv" route add default via 10.71.2.1
	ip -n "$sv" -6 route add default via fd00:71:2::1
	ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip netns exec "$sv" nft -f - <<<"$sink"
	case $c in masq*) ip netns exec "$gw" nft -f - <<<"$masq" ;; esac
	local args=() table=$work/fwdtable
	case $c in
	*@*) args=(-devices 100000) table=$work/fwdtable-base ;;
	curfew | masq+curfew) args=(-devices 100000) ;;
	masq+curfew+prefixes) args=(-devices 100000 -prefixes 100000) ;;
	esac
	if ((${#args[@]})); then
		ip netns exec "$gw" "$table" "${args[@]}" >"$work/$c.table" 2>&1 &
		tables+=($!)
		for _ in $(seq 600); do grep -q ready "$work/$c.table" && break; sleep 0.1; done
		grep -q ready "$work/$c.table" || { echo "fwdtable did not start: $(cat "$work/$c.table")" >&2; exit 1; }
	fi
	if [[ $c == masq+flowcache ]]; then
		# curfew's own table, listed from masq+curfew, as a plain table,
		# with two rules around its forward chain.
		ip netns exec "$(ns g masq+curfew)" nft list table inet curfew |
			sed -e '/flags owner/d' -e 's/ # progname.*//' -e 's/ expires [0-9dhms]*//' |
			python3 -c '
import sys
t = sys.stdin.read()
hook = "type filter hook forward priority filter - 10; policy accept;\n"
i = t.index(hook, t.index("chain forward {")) + len(hook)
t = t[:i] + "\t\tct mark and 0x0f000000 == 0x01000000 return\n" + t[i:]
j = t.index("\t}\n", i)
t = t[:j] + "\t\tct mark set ct mark and 0xf0ffffff or 0x01000000\n" + t[j:]
# nft reads a port mapping only after a transport match: the
# notice chain is reached by TCP alone.
t = t.replace("nfproto ipv4 dnat", "nfproto ipv4 meta l4proto tcp dnat").replace("nfproto ipv6 dnat", "nfproto ipv6 meta l4proto tcp dnat")
sys.stdout.write(t)' >"$work/flowcache.nft"
		ip netns exec "$gw" nft -f "$work/flowcache.nft"
	fi
	ip netns exec "$cl" ping -c 1 -W 3 10.71.2.2 >/dev/null
	ip netns exec "$cl" ping -c 1 -W 3 fd00:71:2::2 >/dev/null
	local cmac gmac
	cmac=$(ip netns exec "$cl" cat /sys/class/net/fcl/address)
	gmac=$(ip netns exec "$gw" cat /sys/class/net/flan/address)
	cat >"$work/$c-udp4.cfg" <<-C
		{ $(hex "$gmac"), $(hex "$cmac"), c16(0x0800),
		  0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
		  10, 71, 1, 2, 10, 71, 2, 2,
		  c16(40000), c16(9), c16(26), csumudp(14, 34), fill(0x00, 18) }
	C
	cat >"$work/$c-udp6.cfg" <<-C
		{ $(hex "$gmac"), $(hex "$cmac"), c16(0x86dd),
		  0x60, 0x00, 0x00, 0x00, c16(10), 17, 64,
		  0xfd, 0x00, 0x00, 0x71, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		  0xfd, 0x00, 0x00, 0x71, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
		  c16(40000), c16(9), c16(10), csumudp6(14, 54), fill(0x00, 2) }
	C
}

start_gen() { # start_gen CONFIG FAMILY: trafgen in the background, in its own session, bounded
	setsid ip netns exec "$(ns c "$1")" timeout 10 trafgen --dev fcl --conf "$work/$1-$2.cfg" --num 20000000 \
		--cpus 1 --no-sock-mem --notouch-irq --no-cpu-stats >/dev/null 2>&1 &
	gen=$!
}
stop_gen() { kill -9 -- "-$gen" 2>/dev/null || true; wait "$gen" 2>/dev/null || true; }
rx() { ip netns exec "$(ns s "$1")" cat /sys/class/net/fsrv/statistics/rx_packets; }

sample() { # sample CONFIG FAMILY: thousands of frames a second received
	local r0 r1 t0 t1
	start_gen "$1" "$2"
	sleep 0.3
	r0=$(rx "$1") t0=$(date +%s.%N)
	sleep 1
	r1=$(rx "$1") t1=$(date +%s.%N)
	stop_gen
	python3 -c "print('%.1f' % (($r1 - $r0) / ($t1 - $t0) / 1000))"
}

echo "building ${#configs[@]} gateways (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for c in "${configs[@]}"; do build "$c"; done
conntrack_on=$(ip netns exec "$(ns g masquerade)" sh -c 'ping -c1 -W1 10.71.2.2 >/dev/null; conntrack -C 2>/dev/null || echo "?"')
echo "masquerade gateway tracks $conntrack_on flows after one ping"

: >"$work/samples"
for r in $(seq "$rounds"); do
	echo "round $r: load average $(cut -d' ' -f1-3 /proc/loadavg), steal $(awk '/^cpu /{print $9}' /proc/stat) jiffies so far"
	for c in $(printf '%s\n' "${configs[@]}" | shuf); do
		echo "$r $c $(sample "$c" udp4) $(sample "$c" udp6)" | tee -a "$work/samples"
	done
done

python3 - "$work/samples" "${configs[@]}" <<'PY'
import sys, statistics as st, collections
path, configs = sys.argv[1], sys.argv[2:]
s = collections.defaultdict(dict)
for line in open(path):
    r, c, a, b = line.split()
    s[c][int(r)] = (float(a), float(b))
def ratios(c, base, i):
    return [s[c][r][i] / s[base][r][i] for r in s[c] if r in s[base] and s[base][r][i] > 0]
print("\n| gateway | IPv4 kframes/s | IPv6 kframes/s | IPv4 / none | IPv6 / none | IPv4 / masquerade | IPv6 / masquerade |")
print("|---|---:|---:|---:|---:|---:|---:|")
for c in configs:
    v4 = st.median([x[0] for x in s[c].values()]); v6 = st.median([x[1] for x in s[c].values()])
    row = [c, "%.0f" % v4, "%.0f" % v6]
    for base in ("none", "masquerade"):
        for i in (0, 1):
            row.append("%.2f" % st.median(ratios(c, base, i)) if c != base else "1")
    print("| " + " | ".join(row) + " |")
print("\n(medians over %d rounds; a ratio is the median of the rounds' ratios)" % len(s["none"]))
PY

if command -v perf >/dev/null; then
	echo
	echo "| gateway | forward hook, % of the sending path | conntrack, % | nftables chains, % | set lookups, % | kframes/s while sampled |"
	echo "|---|---:|---:|---:|---:|---:|"
	for c in "${configs[@]}"; do
		start_gen "$c" udp4
		sleep 0.3
		r0=$(rx "$c")
		perf record -q -F 2000 -a -g -o "$work/perf.data" -- sleep 2 >/dev/null 2>&1
		r1=$(rx "$c")
		stop_gen
		perf report -i "$work/perf.data" --children --sort symbol --stdio 2>/dev/null >"$work/perf.txt"
		python3 - "$work/perf.txt" "$c" "$((r1 - r0))" <<'PY'
import re, sys
share = {}
for line in open(sys.argv[1]):
    m = re.match(r"\s+([\d.]+)%\s+[\d.]+%\s+\[k\] (\S+)", line)
    if m and m.group(2) not in share:
        share[m.group(2)] = float(m.group(1))
send = share.get("packet_sendmsg", 0) or float("nan")
pct = lambda *names: 100 * sum(share.get(n, 0) for n in names) / send
# Every inet, ip and ip6 chain (curfew's, the NAT table's, the server's
# drop rule that every configuration has), and the set
# backends' lookups, inclusive of what they call.
chains = pct("nft_do_chain_inet", "nft_do_chain_ipv4", "nft_do_chain_ipv6", "nft_nat_do_chain")
lookups = pct("nft_rhash_lookup", "nft_hash_lookup", "nft_hash_lookup_fast", "nft_rbtree_lookup", "nft_bitmap_lookup", "nft_pipapo_lookup", "nft_pipapo_avx2_lookup")
print("| %s | %.1f | %.1f | %.1f | %.1f | %.0f |" % (sys.argv[2], pct("ip_forward"), pct("nf_conntrack_in"), chains, lookups, int(sys.argv[3]) / 2000))
PY
	done
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
