//go:build integration

package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
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

	// Client 2 asks over one socket per family, as a stub resolver
	// does, and matches answers by id.
	var results [2]probeResult
	var wg sync.WaitGroup
	for f, q := range qtypes {
		wg.Go(func() {
			results[f] = probeDNS(t, c2, netip.AddrPortFrom(q.notice, 53), names, q.qtype, q.notice)
		})
	}
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
		r := results[f]
		t.Logf("%s over IPv%d: %d of %d answered correctly during a flood of %d spoofed packets (%d wrong, %d unanswered; slowest %s)",
			q.qtype, 4+2*f, r.answered, probeCount, sent.Load(), r.wrong, probeCount-r.answered-r.wrong, r.slowest.Round(time.Millisecond))
		if r.firstWrong != "" {
			t.Errorf("client 2 during the flood: %s", r.firstWrong)
		}
		if r.answered < probeCount*99/100 {
			t.Errorf("client 2: %d of %d %s queries answered correctly during the flood, want at least %d", r.answered, probeCount, q.qtype, probeCount*99/100)
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

// probeCount queries are sent each way, at probeRate a second.
const (
	probeCount = 1000
	probeRate  = 200
)

type probeResult struct {
	answered, wrong int
	slowest         time.Duration
	firstWrong      string
}

// probeDNS sends probeCount queries of type qtype for names to server from
// one UDP socket inside c, at probeRate a second, and counts the answers
// that arrive within 2 s holding one address other than notice and no
// Extended DNS Error.
func probeDNS(t *testing.T, c *lab.Client, server netip.AddrPort, names []string, qtype string, notice netip.Addr) probeResult {
	var conn *net.UDPConn
	if err := c.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	qt := dns.StringToType[qtype]
	sentAt := make([]time.Time, probeCount)
	var mu sync.Mutex
	var res probeResult
	seen := make([]bool, probeCount)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil || int(m.Id) >= probeCount {
				continue
			}
			mu.Lock()
			i := int(m.Id)
			if !seen[i] {
				seen[i] = true
				took := time.Since(sentAt[i])
				var addr netip.Addr
				if len(m.Answer) == 1 {
					switch rr := m.Answer[0].(type) {
					case *dns.A:
						addr, _ = netip.AddrFromSlice(rr.A.To4())
					case *dns.AAAA:
						addr, _ = netip.AddrFromSlice(rr.AAAA)
					}
				}
				ede := false
				if o := m.IsEdns0(); o != nil {
					for _, opt := range o.Option {
						_, ede = opt.(*dns.EDNS0_EDE)
					}
				}
				switch {
				case took > 2*time.Second:
				case m.Rcode != dns.RcodeSuccess || !addr.IsValid() || addr == notice || ede:
					res.wrong++
					if res.firstWrong == "" {
						res.firstWrong = fmt.Sprintf("%s %s = %s, want the upstream's answer", m.Question[0].Name, qtype, m)
					}
				default:
					res.answered++
					res.slowest = max(res.slowest, took)
				}
			}
			mu.Unlock()
		}
	}()
	tick := time.NewTicker(time.Second / probeRate)
	for i := range probeCount {
		<-tick.C
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(names[i%len(names)]), qt)
		m.Id = uint16(i)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		sentAt[i] = time.Now()
		mu.Unlock()
		if _, err := conn.Write(b); err != nil {
			t.Errorf("client 2: sending query %d: %v", i, err)
		}
	}
	tick.Stop()
	// The last answers may take up to the 2 s allowed.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	<-done
	mu.Lock()
	defer mu.Unlock()
	return res
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
