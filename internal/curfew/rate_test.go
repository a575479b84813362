package curfew_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want curfew.Rate
	}{
		{"512kbit", 512_000},
		{"2mbit", 2_000_000},
		{"1mbyte", 8_000_000},
		{"1gbit", 1_000_000_000},
		{"2gbyte", 16_000_000_000},
		{"8000bit", 8_000},
		{"1kbyte", 8_000},
		{"1000byte", 8_000},
		{"2MBit", 2_000_000},
		{" 10mbit ", 10_000_000},
		{"1000gbit", 1_000_000_000_000},
	} {
		got, err := curfew.ParseRate(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if back, err := curfew.ParseRate(got.String()); err != nil || back != got {
			t.Errorf("ParseRate(%q.String() = %q) = %d, %v; want %d", tt.in, got.String(), back, err, got)
		}
	}
}

func TestParseRateRejects(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "want a whole number and a unit"},
		{"0mbit", "is zero"},
		{"0", "has no unit"},
		{"2", "has no unit"},
		{"2 mbit", "unknown unit"},
		{"2mbps", "unknown unit"},
		{"2kbps", "unknown unit"},
		{"-2mbit", "want a whole number"},
		{"1.5mbit", "unknown unit"},
		{"mbit", "want a whole number"},
		{"1001gbit", "more than the maximum"},
		{"99999999999999999999bit", "more than the maximum"},
		{"9223372036854775807gbyte", "more than the maximum"},
		{"7999bit", "less than the minimum"},
		{"2mbit\n", ""}, // accepted: surrounding space is trimmed
	} {
		_, err := curfew.ParseRate(tt.in)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ParseRate(%q) = %v, want no error", tt.in, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, curfew.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRate(%q) error = %v, want one line with %q", tt.in, err, tt.want)
		}
	}
}

func TestRateString(t *testing.T) {
	for r, want := range map[curfew.Rate]string{0: "none", 2_000_000: "2mbit", 512_000: "512kbit", 8_001: "8001bit", 1_500_000: "1500kbit", 3e9: "3gbit"} {
		if got := r.String(); got != want {
			t.Errorf("Rate(%d).String() = %q, want %q", int64(r), got, want)
		}
	}
}

// FuzzParseRate: any text either fails with a one-line ErrInvalid or gives
// a rate within bounds that reads back to itself.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"512kbit", "2mbit", "1mbyte", "0", "0kbit", "-1mbit", "1e6bit", "99999999999999999999gbit", "2 mbit", "GBYTE", "8000bit"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := curfew.ParseRate(s)
		if err != nil {
			if !errors.Is(err, curfew.ErrInvalid) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseRate(%q) error = %v, want one line of ErrInvalid", s, err)
			}
			return
		}
		if r < curfew.MinRate || r > curfew.MaxRate {
			t.Fatalf("ParseRate(%q) = %d, out of bounds", s, r)
		}
		if back, err := curfew.ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %d, whose String %q reads back as %d, %v", s, r, r.String(), back, err)
		}
	})
}
