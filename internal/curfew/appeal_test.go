package curfew_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func TestCleanAppealText(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"plain", "Why am I cut off?", "Why am I cut off?", false},
		{"trimmed", "  \n hello \t\n", "hello", false},
		{"browser line ends", "line one\r\nline two\rline three", "line one\nline two\nline three", false},
		{"tab kept", "a\tb", "a\tb", false},
		{"markup is text", "<script>alert(1)</script>", "<script>alert(1)</script>", false},
		{"longest", strings.Repeat("é", curfew.MaxAppealLen), strings.Repeat("é", curfew.MaxAppealLen), false},
		{"too long", strings.Repeat("a", curfew.MaxAppealLen+1), "", true},
		{"too long after crlf", strings.Repeat("a\r\n", 1000) + "a", strings.Repeat("a\n", 1000) + "a", true},
		{"empty", "", "", true},
		{"blank", " \r\n\t ", "", true},
		{"nul", "a\x00b", "", true},
		{"escape", "a\x1b[2Jb", "", true},
		{"c1 control", "a\u009bb", "", true},
		{"delete", "a\x7fb", "", true},
		{"invalid utf-8", "a\xffb", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := curfew.CleanAppealText("message", tt.in)
			if tt.err {
				if !errors.Is(err, curfew.ErrInvalid) {
					t.Errorf("CleanAppealText(%.40q) = %.40q…, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CleanAppealText(%.40q) = %.40q, %v; want %.40q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestAppealRequest(t *testing.T) {
	now := time.Date(2026, 3, 2, 18, 0, 0, 0, time.FixedZone("x", 3600))
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	addr := netip.MustParseAddr("::ffff:192.168.50.10")

	req := curfew.AppealRequest{MAC: mac, Addr: addr, Restrictions: []curfew.RestrictionID{3, 1, 3}, Message: " Why?\r\n"}
	got, err := req.Appeal(now)
	if err != nil {
		t.Fatal(err)
	}
	want := &curfew.Appeal{
		From:         curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac},
		Addr:         netip.MustParseAddr("192.168.50.10"),
		Restrictions: []curfew.RestrictionID{1, 3},
		Message:      "Why?",
		Created:      now.UTC(),
	}
	opts := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	if diff := cmp.Diff(want, got, opts, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("Appeal() (-want +got):\n%s", diff)
	}
	if got.From.String() != "device:02:00:00:00:00:01" {
		t.Errorf("From = %s, want device:02:00:00:00:00:01", got.From)
	}

	// A client known only by its address appeals as that address.
	req.MAC = nil
	if got, err := req.Appeal(now); err != nil || got.From.String() != "ip:192.168.50.10" {
		t.Errorf("Appeal() without a MAC: From = %v, %v; want ip:192.168.50.10", got, err)
	}
	if s, err := curfew.ParseSubject(curfew.AppealFrom(nil, netip.MustParseAddr("2001:db8::1%eth0")).String()); err != nil || s.String() != "ip:2001:db8::1" {
		t.Errorf("AppealFrom(nil, 2001:db8::1%%eth0) = %v, %v; want ip:2001:db8::1", s, err)
	}

	req.Restrictions = nil
	if _, err := req.Appeal(now); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("Appeal() without restrictions = %v, want ErrForbidden", err)
	}
	req.Restrictions = []curfew.RestrictionID{1}
	req.Message = "\x00"
	if _, err := req.Appeal(now); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("Appeal() with a NUL = %v, want ErrInvalid", err)
	}
	req.Message, req.Addr = "hello", netip.Addr{}
	if _, err := req.Appeal(now); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("Appeal() without an address = %v, want ErrInvalid", err)
	}
}
