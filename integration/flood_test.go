//go:build integration

package integration

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/lab"
)

// The bounds of the spoofed flood: from one namespace, to curfew's own
// addresses, for at most floodFor and floodMax packets.
const (
	floodFor = 5 * time.Second
	floodMax = 50_000
)

// TestSpoofedFloodKeepsDNS checks that one hostile LAN client cannot take
// DNS down for the others. While a device is restricted (so the resolver
// must place every client), client 3 floods the resolver with UDP queries
// from made-up source addresses on the LAN's subnets, IPv4 and IPv6, which
// the gateway cannot place. Meanwhile client 2 sends 1,000 queries at
// 200 a second over each of IPv4 and IPv6; at least 99% of each must be
// answered, and answered correctly. The restricted client 1 must still get
// the restricted answer, and the daemon's memory must stay bounded.
func TestSpoofedFloodKeepsDNS(t *testing.T) {
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	r1 := g.restrictWith(device(c1), "--notice", "integration: flood")

	// Warm up: the names client 2 asks for are in the cache, as a LAN's
	// popular names are.
	names := []string{lab.NewsName, lab.OtherName}
	for _, name := range names {
		for _, q := range qtypes {
			query(t, c2, "udp", q.notice, name, q.qtype)
		}
	}
	cpu0, _ := procCPU(g.DaemonPID())

	ctx, cancel := context.WithTimeout(t.Context(), floodFor)
	defer cancel()
	var sent atomic.Int64
	floodDone := make(chan error, 1)
	go func() { floodDone <- c3.Do(func() error { return flood(ctx, &sent) }) }()

	type tally struct{ answered, wrong, failed atomic.Int64 }
	var tallies [2]tally
	var wg sync.WaitGroup
	tick := time.NewTicker(5 * time.Millisecond) // 200 a second
	for i := 0; i < 1000; i++ {
		<-tick.C
		for f, q := range qtypes {
			wg.Go(func() {
				name := names[i%len(names)]
				a, err := c2.Query(t.Context(), "udp", netip.AddrPortFrom(q.notice, 53), name, q.qtype, 2*time.Second)
				switch {
				case err != nil:
					tallies[f].failed.Add(1)
				case a.Rcode != "NOERROR" || len(a.Addrs) != 1 || a.Addrs[0] == q.notice || len(a.EDE) != 0:
					tallies[f].wrong.Add(1)
					if tallies[f].wrong.Load() == 1 {
						t.Errorf("client 2 during the flood: %s %s = %s, want the upstream's answer", name, q.qtype, a)
					}
				default:
					tallies[f].answered.Add(1)
				}
			})
		}
	}
	tick.Stop()
	wg.Wait()
	if err := <-floodDone; err != nil {
		t.Fatalf("flooding: %v", err)
	}
	cpu1, _ := procCPU(g.DaemonPID())
	if os.Getenv("FLOODDEBUG") != "" {
		for _, c := range [][]string{{"nstat", "-az"}, {"conntrack", "-S"}, {"conntrack", "-C"}, {"ip", "-s", "neigh", "show", "dev", "br-lan"}} {
			out, _ := g.Gateway.Run(t.Context(), c[0], c[1:]...)
			if len(out) > 3000 {
				out = out[:3000]
			}
			t.Logf("%v:\n%s", c, out)
		}
	}
	rss := procRSS(g.DaemonPID())
	if n := sent.Load(); n < 5000 {
		t.Errorf("the flood sent %d packets, want at least 5,000 for the test to mean anything", n)
	}
	for f, q := range qtypes {
		ok := tallies[f].answered.Load()
		t.Logf("%s over IPv%d: %d of 1000 answered during a flood of %d spoofed packets (%d wrong, %d unanswered)",
			q.qtype, 4+2*f, ok, sent.Load(), tallies[f].wrong.Load(), tallies[f].failed.Load())
		if ok < 990 {
			t.Errorf("client 2: %d of 1000 %s queries answered correctly during the flood, want at least 990", ok, q.qtype)
		}
	}
	t.Logf("daemon: %.2f s of CPU during the flood and client 2's queries, peak resident memory %d MiB", (cpu1 - cpu0).Seconds(), rss>>20)
	if rss > 150<<20 {
		t.Errorf("daemon peak resident memory %d MiB after the flood, want under 150 MiB", rss>>20)
	}

	// The restricted client is still answered as restricted, and the
	// others as before.
	for _, q := range qtypes {
		if a, ok := query(t, c1, "udp", q.notice, probeName("flood", lab.NewsName), q.qtype); ok {
			checkNotice(t, "client 1 (cut off) after the flood", a, q.notice, r1.EndsAt, edeProhibited)
		}
	}
}

// flood sends DNS queries to the gateway's resolver from random source
// addresses on the LAN's subnets, until ctx is done or floodMax have gone.
// It runs inside the flooding client's namespace; IP_TRANSPARENT lets it
// send from addresses it does not have.
func flood(ctx context.Context, sent *atomic.Int64) error {
	v4, v6 := lab.LANV4.As4(), lab.LANV6.As16()
	q := dnsQuery("flood." + lab.NewsName)
	for i := 0; i < floodMax && ctx.Err() == nil; i++ {
		var err error
		if i%2 == 0 {
			src := v4
			src[3] = byte(100 + rand.IntN(150)) // the lab's clients are .11 to .13
			err = sendFrom(unix.AF_INET, &unix.SockaddrInet4{Addr: src}, &unix.SockaddrInet4{Port: 53, Addr: lab.LANV4.As4()}, q)
		} else {
			src := v6
			binary.BigEndian.PutUint64(src[8:], rand.Uint64()|1<<62)
			err = sendFrom(unix.AF_INET6, &unix.SockaddrInet6{Addr: src}, &unix.SockaddrInet6{Port: 53, Addr: lab.LANV6.As16()}, q)
		}
		if err != nil {
			return err
		}
		sent.Add(1)
	}
	return nil
}

// sendFrom sends one datagram from src to dst on a new socket.
func sendFrom(family int, src, dst unix.Sockaddr, pkt []byte) error {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if family == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT, 1)
	}
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, src); err != nil {
		return err
	}
	err = unix.Sendto(fd, pkt, unix.MSG_DONTWAIT, dst)
	if err == unix.EAGAIN || err == unix.ENOBUFS {
		return nil // dropped, as a flood's packets are
	}
	return err
}

// dnsQuery returns a query for the A records of name, id random.
func dnsQuery(name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(rand.Uint32()))
	b = append(b, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0, 0, 1, 0, 1)
}

// procCPU returns the CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ
}

// procRSS returns the peak resident memory of process pid in bytes.
func procRSS(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
