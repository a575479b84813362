package curfew_test

import (
	"errors"
	"testing"

	"github.com/curfew/curfew/internal/curfew"
)

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; empty means an error
	}{
		{"device:02:00:00:00:00:01", "device:02:00:00:00:00:01"},
		{"device:02-AB-00-00-00-01", "device:02:ab:00:00:00:01"},
		{"device:0200.0000.0001", "device:02:00:00:00:00:01"},
		{"device:ff:ff:ff:ff:ff:ff", ""},       // broadcast
		{"device:01:00:5e:00:00:01", ""},       // multicast
		{"device:00:00:00:00:00:00", ""},       // zero
		{"device:02:00:00:00:00", ""},          // short
		{"device:02:00:00:00:00:00:00:01", ""}, // EUI-64
		{"device:zz:00:00:00:00:01", ""},       // not hex
		{"person:alice", "person:alice"},
		{"person:Ana-María", ""}, // non-ASCII
		{"person:-alice", ""},    // leading dash
		{"person:", ""},
		{"group:ops", "group:ops"},
		{"ip:10.0.0.5", "ip:10.0.0.5"},
		{"ip:10.0.0.5/32", "ip:10.0.0.5"},
		{"ip:10.0.0.5/24", "ip:10.0.0.0/24"},
		{"ip:::ffff:10.0.0.5", "ip:10.0.0.5"},
		{"ip:2001:DB8::1", "ip:2001:db8::1"},
		{"ip:2001:db8::1/64", "ip:2001:db8::/64"},
		{"ip:0.0.0.0/0", ""},
		{"ip:::/0", ""},
		{"ip:fe80::1%eth0", ""},
		{"ip:10.0.0.256", ""},
		{"ip:10.0.0.0/33", ""},
		{"host:x", ""},
		{"alice", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := curfew.ParseSubject(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseSubject(%q) = %v, want error", tt.in, s)
				}
				if !errors.Is(err, curfew.ErrInvalid) {
					t.Errorf("ParseSubject(%q) error %v does not wrap ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubject(%q): %v", tt.in, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("ParseSubject(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			again, err := curfew.ParseSubject(s.String())
			if err != nil || again.String() != s.String() {
				t.Errorf("canonical form %q does not round-trip: %v, %v", s, again, err)
			}
		})
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"device:02:00:00:00:00:01", "person:alice", "ip:10.0.0.0/8", "ip:2001:db8::/48", "group:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := curfew.ParseSubject(in)
		if err != nil {
			return
		}
		again, err := curfew.ParseSubject(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("ParseSubject(%q) = %q, which parses as %q, %v", in, s, again, err)
		}
	})
}
