package identify_test

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/identify"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// TestPolicyMatch checks which targets apply to a client, and that an
// Unknown client fails closed while some device is restricted.
func TestPolicyMatch(t *testing.T) {
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	until := now.Add(time.Hour)
	dev := mustMAC("02:00:00:00:00:01")
	snap := &curfew.Snapshot{
		At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: dev, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.9")},
				Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: until}},
			{MAC: mustMAC("02:00:00:00:00:02"),
				Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now}}, // over at now
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: until}},
			{Prefix: netip.MustParsePrefix("10.1.2.0/24"), Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: until}},
			{Prefix: netip.MustParsePrefix("::ffff:10.2.0.0/112"), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: until}},
		},
	}
	p := identify.Compile(snap, func(e *curfew.Enforcement, mac net.HardwareAddr) string {
		if mac != nil {
			return "device " + mac.String()
		}
		return "ip " + string(e.Reach)
	})
	tests := []struct {
		name     string
		client   identify.Client
		want     []string
		unplaced bool
	}{
		{"device by MAC", identify.Client{Addr: netip.MustParseAddr("10.0.0.5"), MAC: dev, Kind: identify.Known}, []string{"device 02:00:00:00:00:01"}, false},
		{"device by static address", identify.Client{Addr: netip.MustParseAddr("10.0.0.9"), Kind: identify.Routed}, []string{"device 02:00:00:00:00:01"}, false},
		{"static address of an unknown client", identify.Client{Addr: netip.MustParseAddr("10.0.0.9"), Kind: identify.Unknown}, []string{"device 02:00:00:00:00:01"}, false},
		{"device whose restriction is over", identify.Client{Addr: netip.MustParseAddr("10.0.0.6"), MAC: mustMAC("02:00:00:00:00:02"), Kind: identify.Known}, nil, false},
		{"unrestricted known device", identify.Client{Addr: netip.MustParseAddr("10.0.0.7"), MAC: mustMAC("02:00:00:00:00:07"), Kind: identify.Known}, nil, false},
		{"unknown client fails closed", identify.Client{Addr: netip.MustParseAddr("10.0.0.8"), Kind: identify.Unknown}, nil, true},
		{"routed client is placed", identify.Client{Addr: netip.MustParseAddr("10.0.0.8"), Kind: identify.Routed}, nil, false},
		{"prefixes, longest first", identify.Client{Addr: netip.MustParseAddr("10.1.2.3"), Kind: identify.Routed}, []string{"ip allowlist", "ip blocklist"}, false},
		{"mapped prefix matches IPv4", identify.Client{Addr: netip.MustParseAddr("10.2.0.1"), Kind: identify.Routed}, []string{"ip cutoff"}, false},
		{"device and prefix", identify.Client{Addr: netip.MustParseAddr("10.1.9.9"), MAC: dev, Kind: identify.Known}, []string{"device 02:00:00:00:00:01", "ip blocklist"}, false},
		{"IPv6 client", identify.Client{Addr: netip.MustParseAddr("fd00::1"), Kind: identify.Routed}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, unplaced := p.Match(tt.client, now, nil)
			if !slices.Equal(got, tt.want) || unplaced != tt.unplaced {
				t.Errorf("Match(%+v) = %q, %v; want %q, %v", tt.client, got, unplaced, tt.want, tt.unplaced)
			}
		})
	}

	// With only ip: prefixes restricted, who a client is does not
	// matter: an Unknown one is not unplaced.
	prefixesOnly := identify.Compile(&curfew.Snapshot{Prefixes: snap.Prefixes}, func(e *curfew.Enforcement, _ net.HardwareAddr) string { return string(e.Reach) })
	if got, unplaced := prefixesOnly.Match(identify.Client{Addr: netip.MustParseAddr("10.0.0.8"), Kind: identify.Unknown}, now, nil); len(got) != 0 || unplaced {
		t.Errorf("Match(unknown client, prefixes only) = %q, %v; want nothing, placed", got, unplaced)
	}
	if empty := identify.Compile(nil, func(*curfew.Enforcement, net.HardwareAddr) string { return "" }); !empty.Empty() || empty.Devices() {
		t.Errorf("Compile(nil): Empty() = %v, Devices() = %v; want true, false", empty.Empty(), empty.Devices())
	}
}

func TestFuncIdentify(t *testing.T) {
	mac := mustMAC("02:00:00:00:00:01")
	f := identify.Func(func(a netip.Addr) (net.HardwareAddr, bool) {
		return mac, a == netip.MustParseAddr("10.0.0.1")
	})
	if c := f.Identify(netip.MustParseAddr("::ffff:10.0.0.1")); c.Kind != identify.Known || c.MAC.String() != mac.String() || c.Addr.String() != "10.0.0.1" {
		t.Errorf("Identify(::ffff:10.0.0.1) = %+v, want Known %s at 10.0.0.1", c, mac)
	}
	if c := identify.Func(nil).Identify(netip.MustParseAddr("fe80::1%eth0")); c.Kind != identify.Routed || c.Addr.Zone() != "" {
		t.Errorf("Func(nil).Identify(fe80::1%%eth0) = %+v, want Routed without zone", c)
	}
	if s := identify.Unknown.String(); !strings.Contains(s, "unknown") {
		t.Errorf("Unknown.String() = %q", s)
	}
}

// TestPolicyQuarantine: with quarantine, a known device whose MAC is not
// registered gets the quarantine target (besides any restriction of its
// own), a registered one does not, and an unknown client is unplaced even
// when no device is restricted.
func TestPolicyQuarantine(t *testing.T) {
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	registered, stranger := mustMAC("02:00:00:00:00:01"), mustMAC("06:00:00:00:00:09")
	snap := &curfew.Snapshot{At: now, Quarantine: true, Registered: curfew.NewRegistry([]net.HardwareAddr{registered}),
		Devices: []*curfew.DeviceRule{{MAC: stranger, Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: now.Add(time.Hour)}}}}
	p := identify.Compile(snap, func(e *curfew.Enforcement, mac net.HardwareAddr) string {
		if e.Unregistered {
			return "unregistered " + string(e.Reach)
		}
		return "device " + mac.String()
	})
	a := netip.MustParseAddr("10.0.0.5")
	for _, tt := range []struct {
		client   identify.Client
		want     []string
		unplaced bool
	}{
		{identify.Client{Addr: a, MAC: registered, Kind: identify.Known}, nil, false},
		{identify.Client{Addr: a, MAC: stranger, Kind: identify.Known}, []string{"device 06:00:00:00:00:09", "unregistered cutoff"}, false},
		{identify.Client{Addr: a, MAC: mustMAC("06:00:00:00:00:0a"), Kind: identify.Known}, []string{"unregistered cutoff"}, false},
		{identify.Client{Addr: a, Kind: identify.Unknown}, nil, true},
		{identify.Client{Addr: a, Kind: identify.Routed}, nil, false}, // no MAC to go by
	} {
		got, unplaced := p.Match(tt.client, now.Add(1000*24*time.Hour), nil)
		if tt.client.MAC.String() == stranger.String() {
			got, unplaced = p.Match(tt.client, now, nil)
		}
		if !slices.Equal(got, tt.want) || unplaced != tt.unplaced {
			t.Errorf("Match(%v %s) = %q, %v; want %q, %v", tt.client.Kind, tt.client.MAC, got, unplaced, tt.want, tt.unplaced)
		}
	}
	if p.Empty() || !p.Devices() {
		t.Errorf("quarantine policy: Empty() = %v, Devices() = %v; want false, true", p.Empty(), p.Devices())
	}
	noQ := identify.Compile(&curfew.Snapshot{Registered: snap.Registered}, func(*curfew.Enforcement, net.HardwareAddr) string { return "x" })
	if got, _ := noQ.Match(identify.Client{Addr: a, MAC: stranger, Kind: identify.Known}, now, nil); len(got) != 0 {
		t.Errorf("without quarantine an unregistered device matched %q", got)
	}
}
