//go:build integration

package integration

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/lab"
)

// The bounds of the MAC flood: macFloodCount ARP requests, each from its
// own random MAC, sent from one client namespace at about macFloodRate a
// second, for at most macFloodFor.
const (
	macFloodCount = 100_000
	macFloodRate  = 20_000
	macFloodFor   = 30 * time.Second
)

// TestSeenFloodIsBounded floods the LAN with ARP requests for the gateway
// from 100,000 random MACs (and random addresses), which the gateway's
// neighbour table learns one after another. The seen-device table must
// stay within its caps (10,000 unregistered devices in the database, at
// most 101 device.seen and device.seen_summary audit events), the
// daemon's memory bounded, and a registered client must carry on while a
// restricted one stays cut off.
func TestSeenFloodIsBounded(t *testing.T) {
	g := newGateway(t)
	c1, c2, c3 := g.Clients[0], g.Clients[1], g.Clients[2]
	g.mustCurfew("device", "add", c2.MAC.String(), "--name", "registered")
	g.restrict(device(c1), "10m", "integration: seen flood")
	auditBefore := len(auditEntries(t, g))

	start := time.Now()
	var sent int
	if err := c3.Do(func() error {
		var err error
		sent, err = arpFlood("eth0", macFloodCount, macFloodRate, macFloodFor)
		return err
	}); err != nil {
		t.Fatalf("flooding: %v", err)
	}
	t.Logf("sent %d ARP requests from random MACs in %v", sent, time.Since(start).Round(time.Millisecond))
	if sent < macFloodCount/2 {
		t.Errorf("the flood sent %d frames, want at least %d for the test to mean anything", sent, macFloodCount/2)
	}

	// Give the gateway a few seconds to record what it saw, then check
	// the bounds.
	var seen []api.Device
	var prev int
	waitUntil(20*time.Second, time.Second, func() bool {
		seen = devicesSeen(t, g)
		n := len(seen)
		settled := n == prev && n > 0
		prev = n
		return settled
	})
	unregistered := 0
	for _, d := range seen {
		if !d.Registered {
			unregistered++
		}
	}
	audit := auditEntries(t, g)[auditBefore:]
	seenEntries := 0
	for _, e := range audit {
		if e.Action == "device.seen" || e.Action == "device.seen_summary" {
			seenEntries++
		}
	}
	rss := procRSS(g.DaemonPID())
	t.Logf("after the flood: %d unregistered devices recorded, %d device.seen and device.seen_summary audit events, daemon peak resident memory %d MiB",
		unregistered, seenEntries, rss>>20)
	if unregistered > 10_000 {
		t.Errorf("%d unregistered devices recorded, want at most the cap of 10,000", unregistered)
	}
	if unregistered < 1000 {
		t.Errorf("only %d unregistered devices recorded: the flood did not reach the seen-device table", unregistered)
	}
	if seenEntries > 102 {
		t.Errorf("%d device.seen and device.seen_summary audit events, want at most 102 (a burst of 100 and a summary a minute)", seenEntries)
	}
	if rss > 150<<20 {
		t.Errorf("daemon peak resident memory %d MiB, want under 150 MiB", rss>>20)
	}
	// The flood overflows the gateway's neighbour table, which the kernel
	// clears by itself; client 2 must be back within seconds, not cut off.
	took, back := waitUntil(15*time.Second, 200*time.Millisecond, func() bool {
		for _, f := range families {
			if !c2.Get(t.Context(), lab.UpstreamURL(f.upstream, lab.AltPort, "/"), probeTimeout).Reached() {
				return false
			}
		}
		return true
	})
	t.Logf("client 2 reached the upstream over IPv4 and IPv6 %v after the flood's end", took.Round(time.Millisecond))
	if !back {
		checkReach(t, true, c2)
	}
	checkReach(t, false, c1)
	if out := g.mustCurfew("audit", "verify"); !strings.Contains(out, "ok") && !strings.Contains(out, "intact") {
		t.Errorf("audit verify after the flood: %q", out)
	}
}

func devicesSeen(t *testing.T, g *gateway) []api.Device {
	t.Helper()
	var ds []api.Device
	if err := json.Unmarshal([]byte(g.mustCurfew("devices", "--seen", "-o", "json")), &ds); err != nil {
		t.Fatalf("devices --seen -o json: %v", err)
	}
	return ds
}

func auditEntries(t *testing.T, g *gateway) []api.AuditEntry {
	t.Helper()
	var es []api.AuditEntry
	if err := json.Unmarshal([]byte(g.mustCurfew("audit", "-o", "json")), &es); err != nil {
		t.Fatalf("audit -o json: %v", err)
	}
	return es
}

// arpFlood sends count broadcast ARP requests for the gateway's LAN
// address out of dev, each from a new random unicast MAC and a random
// 10/8 address, at about rate a second, for at most d. It runs inside the
// flooding client's namespace and returns how many frames went out.
func arpFlood(dev string, count, rate int, d time.Duration) (int, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(unix.ETH_P_ARP), Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	frame := make([]byte, 42)
	copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	binary.BigEndian.PutUint16(frame[12:], unix.ETH_P_ARP)
	copy(frame[14:22], []byte{0, 1, 8, 0, 6, 4, 0, 1}) // Ethernet, IPv4, request
	gw := lab.LANV4.As4()
	copy(frame[38:42], gw[:])
	deadline := time.Now().Add(d)
	start := time.Now()
	sent := 0
	for sent < count && time.Now().Before(deadline) {
		mac := rand.Uint64()
		src := []byte{byte(mac>>40)&0xfe | 0x02, byte(mac >> 32), byte(mac >> 24), byte(mac >> 16), byte(mac >> 8), byte(mac)}
		copy(frame[6:12], src)  // Ethernet source
		copy(frame[22:28], src) // sender hardware address
		binary.BigEndian.PutUint32(frame[28:32], 10<<24|rand.Uint32N(1<<24)|1)
		if err := unix.Sendto(fd, frame, 0, to); err != nil && err != unix.ENOBUFS && err != unix.EAGAIN {
			return sent, err
		}
		sent++
		if sent%1000 == 0 {
			// Pace the flood: at most rate frames a second.
			if ahead := time.Duration(sent)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	return sent, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
