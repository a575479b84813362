package curfew_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func subj(s string) curfew.Subject {
	x, err := curfew.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return x
}

// rs builds a cutoff restriction from minutes relative to t0.
func rs(id int64, subject string, startMin, endMin int) *curfew.Restriction {
	return &curfew.Restriction{
		ID: curfew.RestrictionID(id), Subject: subj(subject), Mode: curfew.ModeCutoff, Reason: "r",
		Start: t0.Add(time.Duration(startMin) * time.Minute), End: t0.Add(time.Duration(endMin) * time.Minute),
	}
}

func TestCompute(t *testing.T) {
	devices := []*curfew.Device{
		{MAC: mac("02:00:00:00:00:01"), Owner: "alice", Addrs: []netip.Addr{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.1")}},
		{MAC: mac("02:00:00:00:00:02"), Owner: "alice"},
		{MAC: mac("02:00:00:00:00:03"), Owner: "bob"},
	}
	lifted := rs(9, "device:02:00:00:00:00:03", 0, 60)
	lifted.Lifted = t0.Add(5 * time.Minute)
	allow := rs(10, "device:02:00:00:00:00:04", 0, 60)
	allow.Mode, allow.Allow = curfew.ModeAllowlist, []string{"a.example", "b.example"}
	allow2 := rs(11, "device:02:00:00:00:00:04", 0, 30)
	allow2.Mode, allow2.Allow = curfew.ModeAllowlist, []string{"b.example", "c.example"}

	tests := []struct {
		name string
		at   int // minutes after t0
		rs   []*curfew.Restriction
		want string
	}{
		{"nothing", 0, nil, ""},
		{
			"a person covers all their devices, others untouched", 10,
			[]*curfew.Restriction{rs(1, "person:alice", 0, 60)},
			"device 02:00:00:00:00:01 cutoff until=2026-03-01T22:00:00Z ids=[1] addrs=[10.0.0.1 fd00::1]\n" +
				"device 02:00:00:00:00:02 cutoff until=2026-03-01T22:00:00Z ids=[1]\n" +
				"next 2026-03-01T22:00:00Z\n",
		},
		{
			"scheduled restriction only sets next change", 0,
			[]*curfew.Restriction{rs(1, "device:02:00:00:00:00:05", 30, 60)},
			"next 2026-03-01T21:30:00Z\n",
		},
		{
			"chained restrictions run to the last end", 10,
			[]*curfew.Restriction{rs(1, "device:02:00:00:00:00:05", 0, 30), rs(2, "device:02:00:00:00:00:05", 30, 90), rs(3, "device:02:00:00:00:00:05", 100, 120)},
			"device 02:00:00:00:00:05 cutoff until=2026-03-01T22:30:00Z ids=[1]\nnext 2026-03-01T21:30:00Z\n",
		},
		{
			"overlap of device and person", 10,
			[]*curfew.Restriction{rs(2, "device:02:00:00:00:00:02", 0, 120), rs(1, "person:alice", 0, 60)},
			"device 02:00:00:00:00:01 cutoff until=2026-03-01T22:00:00Z ids=[1] addrs=[10.0.0.1 fd00::1]\n" +
				"device 02:00:00:00:00:02 cutoff until=2026-03-01T23:00:00Z ids=[1 2]\n" +
				"next 2026-03-01T22:00:00Z\n",
		},
		{
			"lifted no longer applies", 10,
			[]*curfew.Restriction{lifted},
			"",
		},
		{
			"expired no longer applies", 60,
			[]*curfew.Restriction{rs(1, "device:02:00:00:00:00:05", 0, 60)},
			"",
		},
		{
			"cutoff is stricter than allowlist", 10,
			[]*curfew.Restriction{allow, rs(12, "device:02:00:00:00:00:04", 0, 20)},
			"device 02:00:00:00:00:04 cutoff until=2026-03-01T21:20:00Z ids=[10 12]\nnext 2026-03-01T21:20:00Z\n",
		},
		{
			"allowlists intersect", 10,
			[]*curfew.Restriction{allow, allow2},
			"device 02:00:00:00:00:04 allowlist until=2026-03-01T22:00:00Z ids=[10 11] allow=[b.example]\nnext 2026-03-01T21:30:00Z\n",
		},
		{
			"ip subjects, v4 and v6", 10,
			[]*curfew.Restriction{rs(1, "ip:2001:db8::/64", 0, 60), rs(2, "ip:10.1.0.0/16", 0, 30)},
			"ip 10.1.0.0/16 cutoff until=2026-03-01T21:30:00Z ids=[2]\nip 2001:db8::/64 cutoff until=2026-03-01T22:00:00Z ids=[1]\nnext 2026-03-01T21:30:00Z\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := curfew.Compute(t0.Add(time.Duration(tt.at)*time.Minute), tt.rs, devices)
			if diff := cmp.Diff(tt.want, s.String()); diff != "" {
				t.Errorf("Compute().String() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeSinceAndRestrictedUntil(t *testing.T) {
	allow := rs(2, "device:02:00:00:00:00:05", 0, 120)
	allow.Mode, allow.Allow = curfew.ModeAllowlist, []string{"news.example"}
	s := curfew.Compute(t0.Add(20*time.Minute), []*curfew.Restriction{rs(1, "device:02:00:00:00:00:05", 10, 60), allow}, nil)
	if len(s.Devices) != 1 {
		t.Fatalf("Compute() = %v, want one device", s)
	}
	e := s.Devices[0].Enforcement
	if !e.Until.Equal(t0.Add(60*time.Minute)) || !e.RestrictedUntil.Equal(t0.Add(120*time.Minute)) || !e.Since.Equal(t0) {
		t.Errorf("Until, RestrictedUntil, Since = %v, %v, %v; want +60m, +120m, +0m", e.Until, e.RestrictedUntil, e.Since)
	}
}

// TestComputeGroup: a group restriction covers the devices the group holds
// by MAC and every device of its persons, each once, and nothing else.
func TestComputeGroup(t *testing.T) {
	mac := func(i byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, i} }
	devices := []*curfew.Device{
		{MAC: mac(1), Owner: "bob"},
		{MAC: mac(2), Owner: "bob"}, // also in the group by MAC
		{MAC: mac(3), Owner: "carol"},
	}
	g := &curfew.Group{Name: "residents", Members: []curfew.Subject{
		{Kind: curfew.SubjectDevice, MAC: mac(2)},
		{Kind: curfew.SubjectDevice, MAC: mac(9)}, // not registered
		{Kind: curfew.SubjectPerson, Name: "bob"},
	}}
	rs := []*curfew.Restriction{
		{ID: 1, Subject: curfew.Subject{Kind: curfew.SubjectGroup, Name: "residents"}, Mode: curfew.ModeCutoff, Start: t0, End: t0.Add(time.Hour)},
		{ID: 2, Subject: curfew.Subject{Kind: curfew.SubjectGroup, Name: "staff"}, Mode: curfew.ModeCutoff, Start: t0, End: t0.Add(time.Hour)},
	}
	got := curfew.Compute(t0, rs, devices, g).String()
	want := `device 02:00:00:00:00:01 cutoff until=2026-03-01T22:00:00Z ids=[1]
device 02:00:00:00:00:02 cutoff until=2026-03-01T22:00:00Z ids=[1]
device 02:00:00:00:00:09 cutoff until=2026-03-01T22:00:00Z ids=[1]
next 2026-03-01T22:00:00Z
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compute with a group (-want +got):\n%s", diff)
	}
}
