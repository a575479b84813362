//go:build linux

package netfilter

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

func TestSpans(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	tests := []struct {
		name string
		in   []prefixUntil
		want string
	}{
		{"none", nil, ""},
		{"one", []prefixUntil{{netip.MustParsePrefix("10.0.0.0/24"), h(1)}}, "10.0.0.0-10.0.1.0@1"},
		{"narrow inside wide, longer",
			[]prefixUntil{{netip.MustParsePrefix("10.50.0.0/16"), h(1)}, {netip.MustParsePrefix("10.50.3.4/32"), h(2)}},
			"10.50.0.0-10.50.3.4@1 10.50.3.4-10.50.3.5@2 10.50.3.5-10.51.0.0@1"},
		{"narrow inside wide, shorter",
			[]prefixUntil{{netip.MustParsePrefix("10.50.3.4/32"), h(1)}, {netip.MustParsePrefix("10.50.0.0/16"), h(2)}},
			"10.50.0.0-10.51.0.0@2"},
		{"adjacent, same end, merged",
			[]prefixUntil{{netip.MustParsePrefix("10.0.0.128/25"), h(1)}, {netip.MustParsePrefix("10.0.0.0/25"), h(1)}},
			"10.0.0.0-10.0.1.0@1"},
		{"adjacent, different ends",
			[]prefixUntil{{netip.MustParsePrefix("10.0.0.0/25"), h(1)}, {netip.MustParsePrefix("10.0.0.128/25"), h(2)}},
			"10.0.0.0-10.0.0.128@1 10.0.0.128-10.0.1.0@2"},
		{"disjoint", []prefixUntil{{netip.MustParsePrefix("10.2.0.0/16"), h(1)}, {netip.MustParsePrefix("10.0.0.0/16"), h(1)}},
			"10.0.0.0-10.1.0.0@1 10.2.0.0-10.3.0.0@1"},
		{"nested three deep",
			[]prefixUntil{{netip.MustParsePrefix("10.0.0.0/8"), h(1)}, {netip.MustParsePrefix("10.1.0.0/16"), h(3)}, {netip.MustParsePrefix("10.1.2.0/24"), h(2)}},
			"10.0.0.0-10.1.0.0@1 10.1.0.0-10.2.0.0@3 10.2.0.0-11.0.0.0@1"},
		{"duplicate", []prefixUntil{{netip.MustParsePrefix("10.0.0.0/24"), h(1)}, {netip.MustParsePrefix("10.0.0.0/24"), h(2)}}, "10.0.0.0-10.0.1.0@2"},
		{"top of v4", []prefixUntil{{netip.MustParsePrefix("255.255.255.0/24"), h(1)}}, "255.255.255.0-top@1"},
		{"top of v6 inside", []prefixUntil{{netip.MustParsePrefix("8000::/1"), h(1)}, {netip.MustParsePrefix("ffff::/16"), h(2)}}, "8000::-ffff::@1 ffff::-top@2"},
		{"v6 host", []prefixUntil{{netip.MustParsePrefix("2001:db8::7/128"), h(1)}}, "2001:db8::7-2001:db8::8@1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range spans(tt.in) {
				end := "top"
				if s.end.IsValid() {
					end = s.end.String()
				}
				got = append(got, fmt.Sprintf("%s-%s@%d", s.start, end, int(s.until.Sub(t0)/time.Hour)))
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("spans(%v) = %s, want %s", tt.in, g, tt.want)
			}
		})
	}
}

// TestPrefixFamilies checks that a family is in prefix_families, jumping
// to its own prefix chain, exactly while it has ip: subjects, until the
// last of them ends: packets of a family not in it skip the prefix rules.
func TestPrefixFamilies(t *testing.T) {
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	rule := func(p string, reach curfew.Reach, until time.Duration) curfew.PrefixRule {
		return curfew.PrefixRule{Prefix: netip.MustParsePrefix(p), Enforcement: curfew.Enforcement{Reach: reach, Until: now.Add(until)}}
	}
	fams := func(ps ...curfew.PrefixRule) string {
		ranges := elements{}
		prefixRanges(ranges, &curfew.Snapshot{At: now, Prefixes: ps})
		var got []string
		for k, u := range ranges {
			if k.set == setPrefixFam {
				got = append(got, fmt.Sprintf("%s → %s until %s", keyString(k), k.to, u.Sub(now)))
			}
		}
		slices.Sort(got)
		return strings.Join(got, ", ")
	}
	for _, tt := range []struct {
		name string
		in   []curfew.PrefixRule
		want string
	}{
		{"none", nil, ""},
		{"v4 only, the later end", []curfew.PrefixRule{rule("10.0.0.0/8", curfew.ReachCutoff, time.Hour), rule("192.0.2.7/32", curfew.ReachBlocklist, 3*time.Hour)}, "nfproto 2 → prefixes_v4 until 3h0m0s"},
		{"v6 only", []curfew.PrefixRule{rule("2001:db8::/64", curfew.ReachAllowlist, 2*time.Hour)}, "nfproto 10 → prefixes_v6 until 2h0m0s"},
		{"both", []curfew.PrefixRule{rule("2001:db8::/64", curfew.ReachCutoff, time.Hour), rule("10.0.0.0/8", curfew.ReachCutoff, 2*time.Hour)}, "nfproto 10 → prefixes_v6 until 1h0m0s, nfproto 2 → prefixes_v4 until 2h0m0s"},
		{"ended and open ones count for nothing", []curfew.PrefixRule{rule("10.0.0.0/8", curfew.ReachCutoff, 0), rule("2001:db8::/64", curfew.ReachOpen, time.Hour)}, ""},
	} {
		if got := fams(tt.in...); got != tt.want {
			t.Errorf("%s: prefix_families = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDesiredByMode(t *testing.T) {
	now := time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	hour := now.Add(time.Hour)
	mac := func(i byte) []byte { return []byte{2, 0, 0, 0, 0, i} }
	s := &curfew.Snapshot{At: now,
		Devices: []*curfew.DeviceRule{
			{MAC: mac(1), Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: hour,
				AllowNames: []string{"news.example"}, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::ffff:192.0.2.1/128"), {}}}},
			{MAC: mac(2), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now}}, // ended
			{MAC: mac(3), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: hour}},
			{MAC: mac(4), Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: hour}},
			{MAC: mac(5), Enforcement: curfew.Enforcement{Reach: "unknown", Until: hour}},
			// A throttle alone is the shaper's: nothing of the table.
			{MAC: mac(6), Enforcement: curfew.Enforcement{Reach: curfew.ReachOpen, Rate: 2_000_000, RateUntil: hour}},
			// A throttle under a blocklist: the blocklist's set, as without it.
			{MAC: mac(7), Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: hour, Rate: 2_000_000, RateUntil: hour}},
		},
		Prefixes: []curfew.PrefixRule{
			{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Enforcement: curfew.Enforcement{Reach: curfew.ReachBlocklist, Until: hour}},
			{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Enforcement: curfew.Enforcement{Reach: curfew.ReachAllowlist, Until: hour}},
		},
	}
	macs, ranges := desired(s, []netip.Addr{netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("2620:fe::fe")})
	var got []string
	for mode, l := range macs {
		for _, m := range l {
			for _, k := range m.keys(macMode(mode), false) {
				got = append(got, fmt.Sprintf("%s %x %s", rs().sets[k.set].Name, m.mac, k.to))
			}
		}
	}
	for k, u := range ranges {
		got = append(got, fmt.Sprintf("%s %s %v", rs().sets[k.set].Name, keyString(k), u.Equal(hour)))
	}
	slices.Sort(got)
	want := []string{
		"allow_net_v4 020000000001.192.0.2.1-020000000001.192.0.2.1 true",
		"allow_net_v4 020000000001.198.51.100.0-020000000001.198.51.100.255 true",
		"allow_net_v6 020000000001.2001:db8::-020000000001.2001:db8:ffff:ffff:ffff:ffff:ffff:ffff true",
		"doh_v4 9.9.9.9 false",
		"doh_v6 2620:fe::fe false",
		"prefix_families nfproto 10 true",
		"prefix_families nfproto 2 true",
		"reach_mac 20000000001 allowlist",
		"reach_mac 20000000003 refuse",
		"reach_mac 20000000004 bypass",
		"reach_mac 20000000007 bypass",
		"restricted_v4 10.0.0.0-11.0.0.0 true",
		"restricted_v6 2001:db8:1::-2001:db8:2:: true",
	}
	if diff := strings.Join(got, "\n"); diff != strings.Join(want, "\n") {
		t.Errorf("desired =\n%s\nwant\n%s", diff, strings.Join(want, "\n"))
	}
}

func rs() *ruleset { return newRuleset("t", nil, redirects{}) }

// keyString renders k for tests.
func keyString(k elemKey) string {
	if k.set == setPrefixFam {
		return fmt.Sprintf("nfproto %d", k.start[0])
	}
	addr := func(b string) string {
		if k.set.concat() {
			a, _ := netip.AddrFromSlice([]byte(b[8:]))
			return fmt.Sprintf("%x.%s", b[:6], a)
		}
		a, _ := netip.AddrFromSlice([]byte(b))
		return a.String()
	}
	if k.end == "" {
		return addr(k.start)
	}
	return addr(k.start) + "-" + addr(k.end)
}

// TestApplySendsOnlyChanges counts the batches Apply sends.
func TestApplySendsOnlyChanges(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	mac := func(i byte) []byte { return []byte{2, 0, 0, 0, 1, i} }
	s1 := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: mac(1), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour)}},
	}}
	s2 := &curfew.Snapshot{At: now.Add(time.Second), Devices: []*curfew.DeviceRule{
		{MAC: mac(1), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour)}},
		{MAC: mac(2), Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(time.Hour)}},
	}}
	steps := []struct {
		s           *curfew.Snapshot
		wantBatches int
		wantDel     int
		wantAdd     int
	}{
		{s1, 2, 0, 0}, // the build: the claim of the owned table, then its contents
		{s1, 2, 0, 0}, // identical: nothing sent
		{s2, 3, 0, 1}, // one device added
		{s2, 3, 0, 0},
		{s1, 4, 1, 0},
	}
	for i, st := range steps {
		have := b.macs[modeCutoff]
		if err := b.Apply(t.Context(), st.s); err != nil {
			t.Fatalf("step %d: Apply: %v", i, err)
		}
		if b.batches != st.wantBatches {
			t.Errorf("step %d: batches = %d, want %d", i, b.batches, st.wantBatches)
		}
		if i > 0 {
			del, add, _ := diffMACs(modeCutoff, b.rs.notices(), have, b.macs[modeCutoff], time.Now())
			if len(del) != st.wantDel || len(add) != st.wantAdd {
				t.Errorf("step %d: diff = %d deleted, %d added; want %d, %d", i, len(del), len(add), st.wantDel, st.wantAdd)
			}
		}
	}
}

// TestGenerationIgnoresExpiry checks what makes Verify cheap: the ruleset
// generation moves with every commit, but not when the kernel expires an
// element by itself.
func TestGenerationIgnoresExpiry(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	s := &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
		{MAC: []byte{2, 0, 0, 0, 0, 1}, Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(200 * time.Millisecond)}},
	}}
	if err := b.Apply(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	before, ok := b.generation()
	if !ok || !b.genOK || before != b.gen {
		t.Fatalf("generation after Apply = %d, %v; recorded %d, %v", before, ok, b.gen, b.genOK)
	}
	time.Sleep(1500 * time.Millisecond) // past the timeout and a garbage collection
	got, _, _ := b.readElements()
	for k := range got {
		if k.set.timeout() {
			t.Fatalf("element %s still there after its timeout", keyString(k))
		}
	}
	if after, _ := b.generation(); after != before {
		t.Errorf("generation moved from %d to %d with an expiry alone", before, after)
	}
	netnstest.Run(t, ns, "nft", "add table inet other")
	if after, _ := b.generation(); after == before {
		t.Errorf("generation stayed %d after a commit", after)
	}
}

// TestApplyOverExpiredInterval checks that an interval the kernel expired
// by itself does not make a later diff fail (and fall back to a rebuild).
func TestApplyOverExpiredInterval(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // the test tampers with the table
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rule := func(p string, d time.Duration) curfew.PrefixRule {
		now := time.Now()
		return curfew.PrefixRule{Prefix: netip.MustParsePrefix(p),
			Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(d)}}
	}
	now := time.Now()
	steps := []*curfew.Snapshot{
		{At: now, Prefixes: []curfew.PrefixRule{rule("10.50.0.0/16", 300*time.Millisecond), rule("2001:db8::/64", 300*time.Millisecond)}},
		nil, // wait for the expiry
		{At: now.Add(time.Second), Prefixes: []curfew.PrefixRule{rule("10.50.3.0/24", time.Hour), rule("2001:db8::/64", time.Hour)}},
		{At: now.Add(time.Second), Prefixes: []curfew.PrefixRule{rule("10.50.0.0/16", time.Hour)}},
	}
	for i, s := range steps {
		if s == nil {
			time.Sleep(time.Second)
			continue
		}
		before := b.batches
		if err := b.Apply(t.Context(), s); err != nil {
			t.Fatalf("step %d: Apply: %v", i, err)
		}
		if got := b.batches - before; got != 1 {
			t.Errorf("step %d: sent %d batches, want 1 (no rebuild)", i, got)
		}
	}
	if n, err := b.Verify(t.Context()); err != nil || n != 0 {
		t.Errorf("Verify = %d, %v; want 0, nil", n, err)
	}
}
