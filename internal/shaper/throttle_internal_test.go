package shaper

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBurst(t *testing.T) {
	tests := []struct {
		rate uint64
		want uint32
	}{
		{64_000, 2 * 1514},            // 400 bytes in 50 ms: two frames at least
		{2_000_000, 12_500},           // 50 ms
		{1_000_000_000, 6_250_000},    // 50 ms
		{1 << 40, 1 << 30},            // bounded
		{8 * 20 * 2 * 1514, 2 * 1514}, // exactly the floor
	}
	for _, tt := range tests {
		if got := Burst(tt.rate); got != tt.want {
			t.Errorf("Burst(%d) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

func TestSpans(t *testing.T) {
	until := time.Date(2026, 12, 2, 22, 0, 0, 0, time.UTC)
	th := func(p string, rate uint64) Throttle {
		return Throttle{Prefix: netip.MustParsePrefix(p), Rate: rate, Until: until}
	}
	tests := []struct {
		name string
		in   []Throttle
		want string
	}{
		{"one", []Throttle{th("10.0.0.0/24", 1)}, "10.0.0.0-10.0.1.0:10.0.0.0/24"},
		{"disjoint, both families", []Throttle{th("10.0.0.0/24", 1), th("fd00::/64", 1)},
			"10.0.0.0-10.0.1.0:10.0.0.0/24 fd00::-fd00:0:0:1:::fd00::/64"},
		{"adjacent stay apart", []Throttle{th("10.0.0.0/25", 1), th("10.0.0.128/25", 1)},
			"10.0.0.0-10.0.0.128:10.0.0.0/25 10.0.0.128-10.0.1.0:10.0.0.128/25"},
		{"slower inner splits outer", []Throttle{th("10.0.0.0/16", 2), th("10.0.1.0/24", 1)},
			"10.0.0.0-10.0.1.0:10.0.0.0/16 10.0.1.0-10.0.2.0:10.0.1.0/24 10.0.2.0-10.1.0.0:10.0.0.0/16"},
		{"faster inner is hidden", []Throttle{th("10.0.0.0/16", 1), th("10.0.1.0/24", 2)},
			"10.0.0.0-10.1.0.0:10.0.0.0/16"},
		{"equal rates: the longer prefix", []Throttle{th("10.0.0.0/16", 1), th("10.0.1.0/24", 1)},
			"10.0.0.0-10.0.1.0:10.0.0.0/16 10.0.1.0-10.0.2.0:10.0.1.0/24 10.0.2.0-10.1.0.0:10.0.0.0/16"},
		{"to the end of the family", []Throttle{th("255.255.255.0/24", 1), th("::/0", 1)},
			"255.255.255.0-end:255.255.255.0/24 ::-end:::/0"},
		{"host", []Throttle{th("10.0.0.7/32", 1)}, "10.0.0.7-10.0.0.8:10.0.0.7/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []string
			for _, s := range spans(tt.in) {
				end := "end"
				if s.end.IsValid() {
					end = s.end.String()
				}
				parts = append(parts, fmt.Sprintf("%s-%s:%s", s.start, end, s.key))
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("spans(%v) =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
		})
	}
}
