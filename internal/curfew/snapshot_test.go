package curfew_test

import (
	"net"
	"net/netip"
	"slices"
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

// TestCombineAxes checks that each axis of a device's restrictions is
// combined to its strictest, and ends on its own.
func TestCombineAxes(t *testing.T) {
	const dev = "device:02:00:00:00:00:07"
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	with := func(r *curfew.Restriction, mode curfew.Mode, edit func(*curfew.Restriction)) *curfew.Restriction {
		r.Mode = mode
		if edit != nil {
			edit(r)
		}
		return r
	}
	throttle := func(id int64, start, end int, rate curfew.Rate) *curfew.Restriction {
		return with(rs(id, dev, start, end), curfew.ModeThrottle, func(r *curfew.Restriction) { r.Rate = rate })
	}
	block := func(id int64, start, end int, names ...string) *curfew.Restriction {
		return with(rs(id, dev, start, end), curfew.ModeBlocklist, func(r *curfew.Restriction) { r.Block = names })
	}
	allow := func(id int64, start, end int, entries ...string) *curfew.Restriction {
		return with(rs(id, dev, start, end), curfew.ModeAllowlist, func(r *curfew.Restriction) { r.Allow = entries })
	}
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	tests := []struct {
		name string
		rs   []*curfew.Restriction
		want curfew.Enforcement
	}{
		{
			"a throttle alone leaves reach open",
			[]*curfew.Restriction{throttle(1, 0, 60, 2_000_000)},
			curfew.Enforcement{Reach: curfew.ReachOpen, Rate: 2_000_000, RateUntil: at(60)},
		},
		{
			"blocklist and throttle both apply, each to its own end",
			[]*curfew.Restriction{block(1, 0, 30, "games.example"), throttle(2, 0, 90, 1_000_000)},
			curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: at(30), ReachUntil: at(30), BlockNames: []string{"games.example"}, Rate: 1_000_000, RateUntil: at(90)},
		},
		{
			"cutoff and throttle: cutoff's reach, the rate kept but moot",
			[]*curfew.Restriction{rs(1, dev, 0, 30), throttle(2, 0, 90, 1_000_000)},
			curfew.Enforcement{Reach: curfew.ReachCutoff, Until: at(30), ReachUntil: at(30), Rate: 1_000_000, RateUntil: at(90)},
		},
		{
			"the lowest rate wins, until the run of throttles at it or lower ends",
			[]*curfew.Restriction{throttle(1, 0, 60, 4_000_000), throttle(2, 0, 20, 1_000_000), throttle(3, 20, 40, 512_000)},
			curfew.Enforcement{Reach: curfew.ReachOpen, Rate: 1_000_000, RateUntil: at(40)},
		},
		{
			"blocklists combine to the union",
			[]*curfew.Restriction{block(1, 0, 60, "b.example", "a.example"), block(2, 0, 30, "c.example", "a.example")},
			curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: at(60), ReachUntil: at(60), BlockNames: []string{"a.example", "b.example", "c.example"}},
		},
		{
			"allowlists combine to the intersection, names and prefixes apart, v4 and v6",
			[]*curfew.Restriction{
				allow(1, 0, 60, "news.example", "198.51.100.0/24", "2001:db8::/32", "mail.example"),
				allow(2, 0, 30, "2001:db8::/32", "news.example", "198.51.100.0/24", "192.0.2.1/32"),
			},
			curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: at(60), ReachUntil: at(60), AllowNames: []string{"news.example"}, AllowPrefixes: pfx("198.51.100.0/24", "2001:db8::/32")},
		},
		{
			"an allowlist is stricter than a blocklist, whose names are dropped",
			[]*curfew.Restriction{block(1, 0, 90, "games.example"), allow(2, 0, 30, "news.example")},
			curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: at(30), ReachUntil: at(90), AllowNames: []string{"news.example"}},
		},
		{
			"reach ends when the run of restrictions at least as strict ends; a throttle does not extend it",
			[]*curfew.Restriction{block(1, 0, 30, "games.example"), throttle(2, 0, 90, 1_000_000), rs(3, dev, 0, 20)},
			curfew.Enforcement{Reach: curfew.ReachCutoff, Until: at(20), ReachUntil: at(30), Rate: 1_000_000, RateUntil: at(90)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := curfew.Compute(at(10), tt.rs, nil)
			if len(s.Devices) != 1 {
				t.Fatalf("Compute() = %v, want one device", s)
			}
			got := s.Devices[0].Enforcement
			want := tt.want
			want.Since = t0
			want.Restrictions = got.Restrictions
			want.RestrictedUntil = got.RestrictedUntil
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("Enforcement (-want +got):\n%s", diff)
			}
			end := t0
			for _, r := range tt.rs {
				if r.End.After(end) {
					end = r.End
				}
			}
			if !got.RestrictedUntil.Equal(end) {
				t.Errorf("RestrictedUntil = %s, want the last end %s", got.RestrictedUntil, end)
			}
			var active []curfew.RestrictionID
			for _, r := range tt.rs {
				if r.ActiveAt(at(10)) {
					active = append(active, r.ID)
				}
			}
			if !slices.Equal(got.Restrictions, active) {
				t.Errorf("Restrictions = %v, want the active %v", got.Restrictions, active)
			}
		})
	}
}
