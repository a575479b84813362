package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/api/apitest"
	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
	"github.com/google/go-cmp/cmp"
)

var (
	now    = time.Date(2026, 3, 1, 21, 0, 0, 0, time.UTC)
	tokens = apitest.Tokens{
		"op-secret":    {Name: "alice", Role: curfew.RoleOperator},
		"admin-secret": {Name: "root", Role: curfew.RoleAdmin},
	}
	mac1 = net.HardwareAddr{2, 0, 0, 0, 0, 1}
)

// harness is a curfew API over a fake service and fake accounts, and the
// CLI pointed at it.
type harness struct {
	t   *testing.T
	svc *apitest.FakeService
	acc *apitest.FakeAccounts
	url string
	env map[string]string
}

func newHarness(t *testing.T, svc *apitest.FakeService) *harness {
	t.Helper()
	return newHarnessWith(t, svc, &apitest.FakeAccounts{})
}

func newHarnessWith(t *testing.T, svc *apitest.FakeService, acc *apitest.FakeAccounts) *harness {
	t.Helper()
	h, err := api.NewHandler(&api.HandlerConfig{
		Service:  svc,
		Auth:     tokens,
		Accounts: acc,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &harness{t: t, svc: svc, acc: acc, url: srv.URL, env: map[string]string{
		"CURFEW_SERVER": srv.URL,
		"CURFEW_TOKEN":  "op-secret",
	}}
}

// run runs the CLI with args at now, in UTC, and returns its exit code and
// output.
func (h *harness) run(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	var out, errb bytes.Buffer
	c := &cli{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errb,
		env:    func(k string) string { return h.env[k] },
		now:    func() time.Time { return now },
		loc:    time.UTC,
	}
	code = c.main(args)
	return code, out.String(), errb.String()
}

// checkOneLine fails unless stderr is exactly one line starting with prefix.
func checkOneLine(t *testing.T, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want exactly one line", stderr)
	}
	if got := strings.TrimSuffix(stderr, "\n"); got != want {
		t.Errorf("stderr = %q\n                want %q", got, want)
	}
}

func sampleRestriction() *curfew.Restriction {
	return &curfew.Restriction{
		ID:      12,
		Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac1},
		Mode:    curfew.ModeCutoff,
		Reason:  "exam week",
		Author:  "alice",
		Start:   now.Add(-time.Hour),
		End:     now.Add(90 * time.Minute),
		Created: now.Add(-time.Hour),
	}
}

// TestUsageErrorsSendNothing checks that bad command lines exit 2 with one
// line saying what is wrong, without a single request reaching the service.
func TestUsageErrorsSendNothing(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, ""},
		{[]string{"frobnicate"}, `curfew: unknown command "frobnicate"; run 'curfew help'`},
		{[]string{"--colour", "list"}, `curfew: unknown flag --colour before the command; run 'curfew help'`},
		{[]string{"restrict"}, "curfew: restrict: missing SUBJECT, such as device:02:00:00:00:00:01, person:NAME or ip:192.0.2.7"},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "-5m", "--reason", "x"}, `curfew: restrict: --for: "-5m" is negative`},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "0s", "--reason", "x"}, `curfew: restrict: --for: "0s" is zero; a restriction must last`},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "soon", "--reason", "x"}, `curfew: restrict: --for: "soon" is not a duration (such as 90m, 2h30m or 3d)`},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--reason", "x"}, "curfew: restrict: missing --for DURATION or --until TIME: every restriction must end"},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "1h", "--until", "23:00", "--reason", "x"}, "curfew: restrict: give --for or --until, not both"},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "1h"}, "curfew: restrict: missing --reason TEXT: every restriction needs one"},
		{[]string{"restrict", "device:02:00:00:00:00:01", "--for", "1h", "--reason", "  "}, "curfew: restrict: missing --reason TEXT: every restriction needs one"},
		{[]string{"restrict", "device:zz", "--for", "1h", "--reason", "x"}, `curfew: restrict: subject "device:zz": MAC address "zz": want six hex octets such as 02:00:00:00:00:01`},
		{[]string{"restrict", "bob", "--for", "1h", "--reason", "x"}, `curfew: restrict: subject "bob": want device:MAC, person:NAME, group:NAME or ip:ADDR[/PREFIX]`},
		{[]string{"restrict", "person:bob", "extra", "--for", "1h", "--reason", "x"}, `curfew: restrict: unexpected argument "extra" after the subject`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "nope"}, `curfew: restrict: --mode: "nope" is not cutoff, allowlist, blocklist or throttle`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle"}, "curfew: restrict: --mode throttle needs --rate R, such as 2mbit"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "0mbit"}, `curfew: restrict: --rate: rate "0mbit" is zero: a throttle needs a rate (to cut access, use mode cutoff)`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "2"}, `curfew: restrict: --rate: rate "2" has no unit: add bit, kbit, mbit, gbit, byte, kbyte, mbyte or gbyte`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "-2mbit"}, `curfew: restrict: --rate: rate "-2mbit": want a whole number and a unit, such as 512kbit, 2mbit or 1mbyte`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "2mbps"}, `curfew: restrict: --rate: rate "2mbps": unknown unit "mbps": want bit, kbit, mbit, gbit, byte, kbyte, mbyte or gbyte`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "99999999999gbit"}, `curfew: restrict: --rate: rate "99999999999gbit" is more than the maximum of 1000gbit`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "2mbit", "--allow", "a.org"}, "curfew: restrict: --mode throttle takes no --allow or --block: restrict again with --mode allowlist or blocklist for those; both apply"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "throttle", "--rate", "2mbit", "--block", "a.org"}, "curfew: restrict: --mode throttle takes no --allow or --block: restrict again with --mode allowlist or blocklist for those; both apply"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--rate", "2mbit"}, "curfew: restrict: --rate applies to --mode throttle only, not cutoff"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "blocklist", "--block", "a.org", "--rate", "2mbit"}, "curfew: restrict: --rate applies to --mode throttle only, not blocklist"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--mode", "allowlist"}, "curfew: restrict: mode allowlist needs at least one allowed domain or prefix"},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--allow", "a.org"}, "curfew: restrict: mode cutoff takes no allow or block list"},
		{[]string{"restrict", "person:bob", "--for", "400d", "--reason", "x"}, "curfew: restrict: restriction lasts 9600h0m0s, longer than the maximum of 8784h0m0s"},
		{[]string{"restrict", "person:bob", "--until", "2026-03-01T20:00:00Z", "--reason", "x"}, "curfew: restrict: --until: 2026-03-01 20:00:00 UTC is not in the future"},
		{[]string{"restrict", "person:bob", "--until", "tomorrow", "--reason", "x"}, `curfew: restrict: --until: "tomorrow" is not a time (want RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM")`},
		{[]string{"restrict", "person:bob", "--for", "1h", "--reason", "x", "--colour", "red"}, "curfew: restrict: flag provided but not defined: -colour"},
		{[]string{"restrict", "person:bob", "--reason", "x", "--for"}, "curfew: restrict: flag needs an argument: -for"},
		{[]string{"restrict", "ip:10.0.0.0/8", "--for", "1h", "--reason", "x"}, "curfew: restrict: subject ip:10.0.0.0/8 is wider than /16: restricting so many addresses needs --force"},
		{[]string{"restrict", "ip:2001:db8::/32", "--for", "1h", "--reason", "x"}, "curfew: restrict: subject ip:2001:db8::/32 is wider than /48: restricting so many addresses needs --force"},
		{[]string{"restrict", "ip:127.0.0.1", "--for", "1h", "--reason", "x", "--force"}, "curfew: restrict: subject ip:127.0.0.1 holds loopback addresses (127.0.0.0/8), which no client uses"},
		{[]string{"restrict", "ip:128.0.0.0/1", "--for", "1h", "--reason", "x", "--force"}, "curfew: restrict: subject ip:128.0.0.0/1 holds link-local addresses (169.254.0.0/16), which no client uses"},
		{[]string{"restrict", "ip:fe80::/64", "--for", "1h", "--reason", "x"}, "curfew: restrict: subject ip:fe80::/64 holds link-local addresses (fe80::/10), which no client uses"},
		{[]string{"restrict", "ip:ff02::1", "--for", "1h", "--reason", "x"}, "curfew: restrict: subject ip:ff02::1 holds multicast addresses (ff00::/8), which no client uses"},
		{[]string{"restrict", "ip:0.0.0.0", "--for", "1h", "--reason", "x"}, "curfew: restrict: subject ip:0.0.0.0 holds the unspecified address (0.0.0.0/32), which no client uses"},
		{[]string{"lift"}, "curfew: lift: want exactly one restriction ID"},
		{[]string{"lift", "x12", "--reason", "r"}, `curfew: lift: ID: "x12" is not a restriction id (a positive integer)`},
		{[]string{"lift", "12"}, "curfew: lift: missing --reason TEXT: lifting a restriction needs one"},
		{[]string{"extend", "12", "--reason", "r"}, "curfew: extend: missing --for DURATION or --until TIME: every restriction must end"},
		{[]string{"extend", "12", "--for", "-1h", "--reason", "r"}, `curfew: extend: --for: "-1h" is negative`},
		{[]string{"extend", "12", "--for", "1h"}, "curfew: extend: missing --reason TEXT: extending a restriction needs one"},
		{[]string{"list", "-o", "yaml"}, `curfew: list: -o: "yaml" is not text or json`},
		{[]string{"list", "active"}, `curfew: list: unexpected argument "active"`},
		{[]string{"show"}, "curfew: show: want exactly one restriction ID"},
		{[]string{"show", "0"}, `curfew: show: ID: "0" is not a restriction id (a positive integer)`},
		{[]string{"device"}, "curfew: device: want a subcommand: device add MAC [--name N] [--owner PERSON] [--ip ADDR] (--ip repeatable), device approve MAC --owner PERSON [--name N], or device remove MAC --reason TEXT"},
		{[]string{"device", "approve", "06:00:00:00:00:09"}, "curfew: device approve: missing --owner PERSON: an approved device belongs to someone"},
		{[]string{"device", "approve", "ff:ff:ff:ff:ff:ff", "--owner", "bob"}, `curfew: device approve: MAC address "ff:ff:ff:ff:ff:ff" is a multicast or broadcast address, not a device`},
		{[]string{"device", "approve", "06:00:00:00:00:09", "--owner", "bob smith"}, `curfew: device approve: owner: name "bob smith": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"device", "remove", "02:00:00:00:00:01"}, "curfew: device remove: missing --reason TEXT: removing a device needs one"},
		{[]string{"device", "remove", "--reason", "gone"}, "curfew: device remove: missing MAC, such as 02:00:00:00:00:01"},
		{[]string{"device", "remove", "00:00:00:00:00:00", "--reason", "gone"}, `curfew: device remove: MAC address "00:00:00:00:00:00" is all zeros, not a device`},
		{[]string{"device", "remove", "01:00:5e:00:00:01", "--reason", "gone"}, `curfew: device remove: MAC address "01:00:5e:00:00:01" is a multicast or broadcast address, not a device`},
		{[]string{"device", "add"}, "curfew: device add: missing MAC, such as 02:00:00:00:00:01"},
		{[]string{"device", "add", "02:00:00:00:00"}, `curfew: device add: MAC address "02:00:00:00:00": want six hex octets such as 02:00:00:00:00:01`},
		{[]string{"device", "add", "ff:ff:ff:ff:ff:ff"}, `curfew: device add: MAC address "ff:ff:ff:ff:ff:ff" is a multicast or broadcast address, not a device`},
		{[]string{"device", "add", "02:00:00:00:00:01", "--ip", "10.0.0.300"}, `curfew: device add: --ip: "10.0.0.300" is not an IP address`},
		{[]string{"device", "add", "02:00:00:00:00:01", "--ip", "10.0.0.1", "--ip", "10.0.0.1"}, "curfew: device add: device address 10.0.0.1 given twice"},
		{[]string{"device", "add", "02:00:00:00:00:01", "--owner", "bob smith"}, `curfew: device add: owner: name "bob smith": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"person", "add"}, "curfew: person add: missing NAME"},
		{[]string{"person", "add", "-bob"}, "curfew: person add: flag provided but not defined: -bob"},
		{[]string{"person", "add", "--", "-bob"}, `curfew: person add: name "-bob": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"person", "delete", "bob"}, "curfew: person: want a subcommand: person add NAME, or person remove NAME --reason TEXT"},
		{[]string{"person", "remove", "bob"}, "curfew: person remove: missing --reason TEXT: removing a person needs one"},
		{[]string{"person", "remove", "bob", "--reason", "\x01"}, "curfew: person remove: --reason: reason contains a control character"},
		{[]string{"person", "remove", "--reason", "left"}, "curfew: person remove: missing NAME"},
		{[]string{"group"}, "curfew: group: want a subcommand: group add NAME, group member add NAME MEMBER or group member remove NAME MEMBER (MEMBER is person:P or device:MAC)"},
		{[]string{"group", "add"}, "curfew: group add: missing NAME"},
		{[]string{"group", "add", "class 4B"}, `curfew: group add: name "class 4B": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"group", "member", "add", "residents"}, "curfew: group member add: want NAME and MEMBER (person:P or device:MAC)"},
		{[]string{"group", "member", "add", "residents", "ip:10.0.0.1"}, "curfew: group member add: member ip:10.0.0.1: a group holds person:NAME and device:MAC members only"},
		{[]string{"group", "member", "add", "residents", "device:ff:ff:ff:ff:ff:ff"}, `curfew: group member add: subject "device:ff:ff:ff:ff:ff:ff": MAC address "ff:ff:ff:ff:ff:ff" is a multicast or broadcast address, not a device`},
		{[]string{"group", "member", "remove", "residents", "device:00:00:00:00:00:00"}, `curfew: group member remove: subject "device:00:00:00:00:00:00": MAC address "00:00:00:00:00:00" is all zeros, not a device`},
		{[]string{"group", "member", "remove", "residents", "person:bob", "x"}, `curfew: group member remove: unexpected argument "x" after the member`},
		{[]string{"groups", "all"}, `curfew: groups: unexpected argument "all"`},
		{[]string{"audit", "check"}, `curfew: audit: unexpected argument "check" (the subcommands are export, key and verify)`},
		{[]string{"token", "create", "--role", "viewer"}, "curfew: token create: missing --name N"},
		{[]string{"token", "create", "--name", "dave"}, "curfew: token create: missing --role viewer|operator|admin"},
		{[]string{"token", "create", "--name", "dave", "--role", "king"}, `curfew: token create: --role: "king" is not viewer, operator or admin`},
		{[]string{"appeals", "open"}, `curfew: appeals: unexpected argument "open"`},
		{[]string{"appeal"}, "curfew: appeal: want a subcommand: appeal answer ID --text TEXT"},
		{[]string{"appeal", "close", "3"}, "curfew: appeal: want a subcommand: appeal answer ID --text TEXT"},
		{[]string{"appeal", "answer", "--text", "soon"}, "curfew: appeal answer: want exactly one appeal ID"},
		{[]string{"appeal", "answer", "three", "--text", "soon"}, `curfew: appeal answer: ID: "three" is not an appeal id (a positive integer)`},
		{[]string{"appeal", "answer", "3"}, "curfew: appeal answer: missing --text TEXT: the answer to show"},
		{[]string{"appeal", "answer", "3", "--text", " \n "}, "curfew: appeal answer: missing --text TEXT: the answer to show"},
		{[]string{"appeal", "answer", "3", "--text", strings.Repeat("a", 2001)}, "curfew: appeal answer: --text is 2001 characters, more than 2000"},
		{[]string{"appeal", "answer", "3", "--text", "a\x1b[2J"}, "curfew: appeal answer: --text contains a control character"},
		{[]string{"token"}, "curfew: token: want a subcommand: token create --name N --role ROLE, token list or token revoke NAME"},
		{[]string{"token", "delete", "dave"}, "curfew: token: want a subcommand: token create --name N --role ROLE, token list or token revoke NAME"},
		{[]string{"token", "list", "dave"}, `curfew: token list: unexpected argument "dave"`},
		{[]string{"token", "list", "-o", "yaml"}, `curfew: token list: -o: "yaml" is not text or json`},
		{[]string{"token", "revoke"}, "curfew: token revoke: missing NAME"},
		{[]string{"token", "revoke", "dave", "olga"}, `curfew: token revoke: unexpected argument "olga" after the name`},
		{[]string{"token", "revoke", "da ve"}, `curfew: token revoke: name "da ve": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"operator"}, "curfew: operator: want a subcommand: operator add|list|disable|password"},
		{[]string{"operator", "remove", "olga"}, "curfew: operator: want a subcommand: operator add|list|disable|password"},
		{[]string{"operator", "add", "--role", "viewer"}, "curfew: operator add: missing NAME"},
		{[]string{"operator", "add", "olga"}, "curfew: operator add: missing --role viewer|operator|admin"},
		{[]string{"operator", "add", "olga", "--role", "root"}, `curfew: operator add: --role: "root" is not viewer, operator or admin`},
		{[]string{"operator", "add", "olga", "ivan", "--role", "viewer"}, `curfew: operator add: unexpected argument "ivan" after the name`},
		{[]string{"operator", "add", "--role", "viewer", "--", "-olga"}, `curfew: operator add: name "-olga": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit`},
		{[]string{"operator", "list", "all"}, `curfew: operator list: unexpected argument "all"`},
		{[]string{"operator", "disable", "olga"}, "curfew: operator disable: missing --reason TEXT: disabling an operator needs one"},
		{[]string{"operator", "disable", "olga", "--reason", " "}, "curfew: operator disable: missing --reason TEXT: disabling an operator needs one"},
		{[]string{"operator", "disable", "--reason", "left"}, "curfew: operator disable: missing NAME"},
		{[]string{"operator", "password"}, "curfew: operator password: missing NAME"},
		{[]string{"--server", "127.0.0.1:8470", "list"}, `curfew: list: --server: server URL "127.0.0.1:8470": want http://HOST:PORT or https://HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			svc := &apitest.FakeService{} // every method panics: nothing may be called
			h := newHarness(t, svc)
			code, stdout, stderr := h.run(tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if tt.want != "" {
				checkOneLine(t, stderr, tt.want)
			}
			if calls := append(svc.Calls(), h.acc.Calls()...); len(calls) > 0 {
				t.Errorf("service calls = %v, want none", calls)
			}
		})
	}
}

func TestMissingTokenSendsNothing(t *testing.T) {
	svc := &apitest.FakeService{}
	h := newHarness(t, svc)
	delete(h.env, "CURFEW_TOKEN")
	code, _, stderr := h.run("list")
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	checkOneLine(t, stderr, "curfew: list: CURFEW_TOKEN is not set; create a token with 'curfew init' or 'curfew token create'")
	if calls := svc.Calls(); len(calls) > 0 {
		t.Errorf("service calls = %v, want none", calls)
	}
}

func TestRestrict(t *testing.T) {
	var got []curfew.RestrictRequest
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			if k, _ := curfew.RequestKeyFrom(ctx); len(k.Key) < 20 {
				t.Errorf("restrict sent idempotency key %q, want a random one", k.Key)
			}
			got = append(got, req)
			return sampleRestriction(), nil
		},
	}
	h := newHarness(t, svc)
	tests := []struct {
		name string
		args []string
		want curfew.RestrictRequest
	}{
		{
			"flags after the subject",
			[]string{"restrict", "device:00:00:5e:00:53:01", "--for", "1h", "--reason", "exam week"},
			curfew.RestrictRequest{Subject: "device:00:00:5e:00:53:01", Mode: curfew.ModeCutoff, Reason: "exam week", For: time.Hour},
		},
		{
			"flags before and after, = form, days",
			[]string{"restrict", "--reason=noise", "person:bob", "--for=1d12h", "--notice", "back tomorrow"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeCutoff, Reason: "noise", Notice: "back tomorrow", For: 36 * time.Hour},
		},
		{
			"allowlist with repeated and comma-separated domains",
			[]string{"restrict", "ip:192.0.2.7", "--mode", "allowlist", "--allow", "wikipedia.org,khanacademy.org", "--allow", "192.0.2.0/24", "--until", "23:30", "--reason", "homework"},
			curfew.RestrictRequest{Subject: "ip:192.0.2.7", Mode: curfew.ModeAllowlist, Allow: []string{"wikipedia.org", "khanacademy.org", "192.0.2.0/24"}, Reason: "homework", End: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)},
		},
		{
			"a throttle",
			[]string{"restrict", "person:bob", "--mode", "throttle", "--rate", "2mbit", "--for", "2h", "--reason", "school night"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeThrottle, Rate: 2_000_000, Reason: "school night", For: 2 * time.Hour},
		},
		{
			"a wide prefix, forced",
			[]string{"restrict", "ip:10.0.0.0/8", "--force", "--for", "1h", "--reason", "routed lab"},
			curfew.RestrictRequest{Subject: "ip:10.0.0.0/8", Mode: curfew.ModeCutoff, Reason: "routed lab", For: time.Hour, Force: true},
		},
		{
			"HH:MM already past today is tomorrow",
			[]string{"restrict", "person:bob", "--mode", "blocklist", "--block", "games.example", "--until", "07:00", "--reason", "r"},
			curfew.RestrictRequest{Subject: "person:bob", Mode: curfew.ModeBlocklist, Block: []string{"games.example"}, Reason: "r", End: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			code, stdout, stderr := h.run(tt.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit code %d, stderr %q", code, stderr)
			}
			if stdout != "12\n" {
				t.Errorf("stdout = %q, want the id alone", stdout)
			}
			if len(got) != 1 {
				t.Fatalf("Restrict called %d times, want once", len(got))
			}
			if diff := cmp.Diff(tt.want, got[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServerErrors checks the exit code and message of each kind of answer
// the server can refuse with.
func TestServerErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantMsg  string
	}{
		{"invalid", fmt.Errorf("%w: subject person:zed: no such person", curfew.ErrInvalid), 2, "curfew: restrict: subject person:zed: no such person"},
		{"not found", fmt.Errorf("%w: person %q", curfew.ErrNotFound, "zed"), 2, `curfew: restrict: not found: person "zed"`},
		{"conflict", fmt.Errorf("%w: already restricted", curfew.ErrConflict), 2, "curfew: restrict: conflict: already restricted"},
		{"forbidden", fmt.Errorf("%w: operator \"alice\" has role viewer; this needs operator", curfew.ErrForbidden), 1, `curfew: restrict: forbidden: operator "alice" has role viewer; this needs operator`},
		{"internal", errors.New("disk full\nreally"), 1, "curfew: restrict: internal error; see the curfew daemon's log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &apitest.FakeService{
				RestrictFunc: func(context.Context, curfew.RestrictRequest) (*curfew.Restriction, error) { return nil, tt.err },
			}
			code, stdout, stderr := newHarness(t, svc).run("restrict", "person:zed", "--for", "1h", "--reason", "r")
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			checkOneLine(t, stderr, tt.wantMsg)
		})
	}

	t.Run("bad token", func(t *testing.T) {
		h := newHarness(t, &apitest.FakeService{})
		h.env["CURFEW_TOKEN"] = "wrong"
		code, _, stderr := h.run("list")
		if code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
		checkOneLine(t, stderr, "curfew: list: unauthenticated: invalid token")
	})

	t.Run("connection refused", func(t *testing.T) {
		h := newHarness(t, &apitest.FakeService{})
		srv := httptest.NewServer(nil)
		url := srv.URL
		srv.Close()
		code, _, stderr := h.run("--server", url, "list")
		if code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
		checkOneLine(t, stderr, "curfew: list: no curfew server at "+url+" (connection refused); is the daemon running?")
	})
}

func TestServerSelection(t *testing.T) {
	svc := &apitest.FakeService{
		RestrictionsFunc: func(context.Context, curfew.RestrictionFilter) ([]*curfew.Restriction, error) { return nil, nil },
	}
	h := newHarness(t, svc)
	good := h.url
	dead := "http://127.0.0.1:1"
	tests := []struct {
		name string
		env  string
		args []string
	}{
		{"environment", good, []string{"list"}},
		{"global flag beats environment", dead, []string{"--server", good, "list"}},
		{"global flag with =", dead, []string{"--server=" + good, "list"}},
		{"verb flag beats environment", dead, []string{"list", "--server", good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.env["CURFEW_SERVER"] = tt.env
			if code, _, stderr := h.run(tt.args...); code != 0 {
				t.Errorf("exit code = %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestList(t *testing.T) {
	lifted := sampleRestriction()
	lifted.ID, lifted.Subject = 13, curfew.Subject{Kind: curfew.SubjectPerson, Name: "bob"}
	lifted.Mode, lifted.Allow = curfew.ModeAllowlist, []string{"wikipedia.org"}
	lifted.Reason = "a long reason that goes on and on and on, far past the width of any table column\nand a second line"
	lifted.Lifted, lifted.LiftedBy, lifted.LiftReason = now.Add(-time.Minute), "alice", "done"
	throttled := sampleRestriction()
	throttled.ID, throttled.Subject = 14, curfew.Subject{Kind: curfew.SubjectGroup, Name: "teens"}
	throttled.Mode, throttled.Rate = curfew.ModeThrottle, 512_000
	var gotFilter curfew.RestrictionFilter
	svc := &apitest.FakeService{
		RestrictionsFunc: func(ctx context.Context, f curfew.RestrictionFilter) ([]*curfew.Restriction, error) {
			gotFilter = f
			return []*curfew.Restriction{sampleRestriction(), lifted, throttled}, nil
		},
	}
	h := newHarness(t, svc)

	code, stdout, stderr := h.run("list", "--all")
	if code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	if !gotFilter.All {
		t.Errorf("--all did not reach the service: filter %+v", gotFilter)
	}
	want := `ID  SUBJECT                   MODE              STATUS  ENDS                  REASON
12  device:02:00:00:00:00:01  cutoff            active  2026-03-01 22:30 UTC  exam week
13  person:bob                allowlist         lifted  2026-03-01 20:59 UTC  a long reason that goes on and on and on, far pas…
14  group:teens               throttle 512kbit  active  2026-03-01 22:30 UTC  exam week
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	code, stdout, _ = h.run("list", "-o", "json")
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if gotFilter.All {
		t.Errorf("list without --all asked for all")
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("-o json output %q is not a JSON array: %v", stdout, err)
	}
	wantKeys := []string{"allow", "approval", "author", "block", "created_at", "ends_at", "expired_at", "id", "lift_reason", "lifted_at", "lifted_by", "mode", "notice", "rate", "reason", "schedule_id", "starts_at", "status", "subject"}
	for i, row := range rows {
		var keys []string
		for k := range row {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if diff := cmp.Diff(wantKeys, keys); diff != "" {
			t.Errorf("row %d keys (-want +got):\n%s", i, diff)
		}
	}
	if len(rows) != 3 || rows[0]["status"] != "active" || rows[1]["status"] != "lifted" || rows[1]["lifted_at"] != "2026-03-01T20:59:00Z" ||
		rows[0]["rate"] != 0.0 || rows[2]["mode"] != "throttle" || rows[2]["rate"] != 512000.0 {
		t.Errorf("rows = %v", rows)
	}

	svc.RestrictionsFunc = func(context.Context, curfew.RestrictionFilter) ([]*curfew.Restriction, error) { return nil, nil }
	if _, stdout, _ := h.run("list", "-o", "json"); stdout != "[]\n" {
		t.Errorf("empty list in JSON = %q, want []", stdout)
	}
}

func TestShow(t *testing.T) {
	svc := &apitest.FakeService{
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			if id != 12 {
				return nil, fmt.Errorf("%w: restriction %d", curfew.ErrNotFound, id)
			}
			r := sampleRestriction()
			r.Notice = "Your access is paused\nuntil 22:30."
			return r, nil
		},
	}
	h := newHarness(t, svc)
	svcThrottled := &apitest.FakeService{
		RestrictionFunc: func(ctx context.Context, id curfew.RestrictionID) (*curfew.Restriction, error) {
			r := sampleRestriction()
			r.Mode, r.Rate = curfew.ModeThrottle, 2_000_000
			return r, nil
		},
	}
	code, stdout, _ := newHarness(t, svcThrottled).run("show", "12")
	if code != 0 || !strings.Contains(stdout, "mode:     throttle\nrate:     2mbit (2000000 bit/s each way)\n") {
		t.Errorf("show of a throttle = %d\n%s\nwant its mode and rate", code, stdout)
	}
	code, stdout, _ = newHarness(t, svcThrottled).run("show", "-o", "json", "12")
	if code != 0 || !strings.Contains(stdout, `"rate": 2000000`) {
		t.Errorf("show -o json of a throttle = %d\n%s\nwant \"rate\": 2000000", code, stdout)
	}

	code, stdout, _ = h.run("show", "12")
	want := `id:       12
subject:  device:02:00:00:00:00:01
mode:     cutoff
status:   active
starts:   2026-03-01 20:00 UTC
ends:     2026-03-01 22:30 UTC
reason:   exam week
notice:   Your access is paused
          until 22:30.
created:  2026-03-01 20:00 UTC by alice
`
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("show (-want +got):\n%s", diff)
	}

	code, stdout, _ = h.run("show", "-o", "json", "12")
	var r api.Restriction
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 || r.ID != 12 || r.Status != "active" {
		t.Errorf("show -o json = %d %q (%v)", code, stdout, err)
	}

	code, _, stderr := h.run("show", "13")
	if code != 2 {
		t.Errorf("show of an unknown id: exit code %d, want 2", code)
	}
	checkOneLine(t, stderr, "curfew: show: not found: restriction 13")
}

func TestLiftAndExtend(t *testing.T) {
	type call struct {
		Method string
		ID     curfew.RestrictionID
		End    time.Time
		D      time.Duration
		Reason string
	}
	var got []call
	svc := &apitest.FakeService{
		LiftFunc: func(ctx context.Context, id curfew.RestrictionID, reason string) (*curfew.Restriction, error) {
			got = append(got, call{"lift", id, time.Time{}, 0, reason})
			r := sampleRestriction()
			r.Lifted = now
			return r, nil
		},
		ExtendFunc: func(ctx context.Context, id curfew.RestrictionID, end time.Time, d time.Duration, reason string) (*curfew.Restriction, error) {
			got = append(got, call{"extend", id, end, d, reason})
			r := sampleRestriction()
			r.End = r.End.Add(d)
			if !end.IsZero() {
				r.End = end
			}
			return r, nil
		},
	}
	h := newHarness(t, svc)
	runs := []struct {
		args   []string
		stdout string
	}{
		{[]string{"lift", "12", "--reason", "apologised"}, "restriction 12 lifted\n"},
		{[]string{"extend", "--for", "30m", "12", "--reason", "more"}, "restriction 12 now ends 2026-03-01 23:00 UTC\n"},
		{[]string{"extend", "12", "--until", "2026-03-02 08:00", "--reason", "overnight"}, "restriction 12 now ends 2026-03-02 08:00 UTC\n"},
	}
	for _, r := range runs {
		code, stdout, stderr := h.run(r.args...)
		if code != 0 || stdout != r.stdout {
			t.Errorf("curfew %s = %d %q %q, want 0 %q", strings.Join(r.args, " "), code, stdout, stderr, r.stdout)
		}
	}
	want := []call{
		{"lift", 12, time.Time{}, 0, "apologised"},
		{"extend", 12, time.Time{}, 30 * time.Minute, "more"},
		{"extend", 12, time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), 0, "overnight"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestDeviceAndPerson(t *testing.T) {
	var gotDevice *curfew.Device
	svc := &apitest.FakeService{
		AddDeviceFunc: func(ctx context.Context, d *curfew.Device) (*curfew.Device, error) {
			if d.Owner == "zed" {
				return nil, fmt.Errorf("%w: person %q", curfew.ErrNotFound, d.Owner)
			}
			gotDevice = d
			return d, nil
		},
		AddPersonFunc: func(ctx context.Context, name string) (*curfew.Person, error) {
			if name == "bob" {
				return nil, fmt.Errorf("%w: person %q already exists", curfew.ErrConflict, name)
			}
			return &curfew.Person{Name: name, Created: now}, nil
		},
		DevicesFunc: func(ctx context.Context) ([]*curfew.Device, error) {
			return []*curfew.Device{{MAC: mac1, Name: "phone", Owner: "bob", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10"), netip.MustParseAddr("fd00:50::10")}, Created: now}}, nil
		},
		PersonsFunc: func(ctx context.Context) ([]*curfew.Person, error) {
			return []*curfew.Person{{Name: "bob", Created: now}}, nil
		},
		SeenDevicesFunc: func(ctx context.Context) ([]*curfew.SeenDevice, error) {
			return []*curfew.SeenDevice{
				{MAC: mac1, Registered: true, FirstSeen: now, LastSeen: now.Add(time.Hour), Hostname: "bobs-phone", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10")}},
				{MAC: net.HardwareAddr{0x06, 0, 0, 0, 0, 9}, FirstSeen: now, LastSeen: now, Hostname: "Bobs-Phone", Resembles: []net.HardwareAddr{mac1}},
			}, nil
		},
	}
	h := newHarness(t, svc)

	code, stdout, stderr := h.run("device", "add", "02-00-00-00-00-01", "--name", "phone", "--ip", "192.168.50.10", "--owner", "bob", "--ip", "fd00:50::10")
	if code != 0 || stdout != "02:00:00:00:00:01\n" {
		t.Errorf("device add = %d %q %q", code, stdout, stderr)
	}
	want := &curfew.Device{MAC: mac1, Name: "phone", Owner: "bob", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10"), netip.MustParseAddr("fd00:50::10")}}
	if diff := cmp.Diff(want, gotDevice, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}

	code, _, stderr = h.run("device", "add", "02:00:00:00:00:02", "--owner", "zed")
	if code != 2 {
		t.Errorf("device add with an unknown owner: exit code %d, want 2", code)
	}
	checkOneLine(t, stderr, `curfew: device add: not found: person "zed"`)

	code, stdout, _ = h.run("devices")
	wantTable := "MAC                NAME   OWNER  HOSTNAME  ADDRESSES\n02:00:00:00:00:01  phone  bob    -         192.168.50.10,fd00:50::10\n"
	if code != 0 || stdout != wantTable {
		t.Errorf("devices = %d\n%s\nwant\n%s", code, stdout, wantTable)
	}
	code, stdout, _ = h.run("devices", "-o", "json")
	var ds []api.Device
	if err := json.Unmarshal([]byte(stdout), &ds); err != nil || code != 0 || len(ds) != 1 || ds[0].MAC != "02:00:00:00:00:01" || len(ds[0].Addrs) != 2 {
		t.Errorf("devices -o json = %d %q", code, stdout)
	}
	if want := `[{"mac":"02:00:00:00:00:01","name":"phone","owner":"bob","addrs":["192.168.50.10","fd00:50::10"],"created_at":"2026-03-01T21:00:00Z","learned":[],"hostname":"bobs-phone","random_mac":true,"registered":true,` +
		`"first_seen_at":"2026-03-01T21:00:00Z","last_seen_at":"2026-03-01T22:00:00Z","seen_addrs":["192.168.50.10"],"client_id":"","resembles":[]}]`; compactJSON(t, stdout) != want {
		t.Errorf("devices -o json =\n%s\nwant\n%s", compactJSON(t, stdout), want)
	}
	code, stdout, _ = h.run("devices", "--seen", "-o", "json")
	if want := `{"mac":"06:00:00:00:00:09","name":"","owner":"","addrs":[],"learned":[],"hostname":"Bobs-Phone","random_mac":true,"registered":false,` +
		`"first_seen_at":"2026-03-01T21:00:00Z","last_seen_at":"2026-03-01T21:00:00Z","seen_addrs":[],"client_id":"","resembles":["02:00:00:00:00:01"]}]`; code != 0 || !strings.HasSuffix(compactJSON(t, stdout), want) {
		t.Errorf("devices --seen -o json =\n%s\nwant it to end with\n%s", compactJSON(t, stdout), want)
	}
	code, stdout, _ = h.run("devices", "--seen")
	if code != 0 || !strings.Contains(stdout, "06:00:00:00:00:09  no ") || !strings.Contains(stdout, "random MAC; resembles 02:00:00:00:00:01") {
		t.Errorf("devices --seen =\n%s", stdout)
	}

	if code, stdout, _ := h.run("person", "add", "carol"); code != 0 || stdout != "carol\n" {
		t.Errorf("person add carol = %d %q", code, stdout)
	}
	code, _, stderr = h.run("person", "add", "bob")
	if code != 2 {
		t.Errorf("person add of an existing person: exit code %d, want 2", code)
	}
	checkOneLine(t, stderr, `curfew: person add: conflict: person "bob" already exists`)
	if code, stdout, _ := h.run("persons", "-o", "json"); code != 0 || compactJSON(t, stdout) != `[{"name":"bob","created_at":"2026-03-01T21:00:00Z"}]` {
		t.Errorf("persons -o json = %d %q", code, stdout)
	}
}

// testExport returns a signed export of two events and the key that
// verifies it.
func testExport(t *testing.T) (export []byte, pub ed25519.PublicKey) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	var (
		head audit.Head
		b    bytes.Buffer
	)
	for _, e := range []*audit.Event{
		{At: now, Kind: audit.KindTokenCreated, Actor: "curfew", After: &audit.Fields{Token: "admin", Role: "admin"}},
		{At: now.Add(time.Minute), Kind: audit.KindRestrictionCreated, Actor: "alice", Subject: "person:bob", Restriction: 12, Reason: "exam week",
			After: &audit.Fields{Mode: curfew.ModeCutoff, Author: "alice", Start: now, End: now.Add(time.Hour), Created: now}},
	} {
		data, err := e.Seal(head)
		if err != nil {
			t.Fatal(err)
		}
		head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
		b.Write(data)
		b.WriteByte('\n')
	}
	c, err := audit.Sign(key, head, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b.Write(c.Encode())
	b.WriteByte('\n')
	return b.Bytes(), key.Public().(ed25519.PublicKey)
}

func TestAudit(t *testing.T) {
	export, pub := testExport(t)
	report := &curfew.AuditReport{Entries: 4, SignedSeq: 3, SignedAt: now, Unsigned: 1, OK: true}
	var from int64
	svc := &apitest.FakeService{
		ExportAuditFunc: func(ctx context.Context, f int64, w io.Writer) error {
			from = f
			_, err := w.Write(export)
			return err
		},
		AuditKeyFunc:    func(ctx context.Context) (ed25519.PublicKey, error) { return pub, nil },
		VerifyAuditFunc: func(ctx context.Context) (*curfew.AuditReport, error) { return report, nil },
	}
	h := newHarness(t, svc)

	code, stdout, _ := h.run("audit")
	want := `SEQ  AT                    ACTOR   ACTION               TARGET  REASON     DETAIL
1    2026-03-01 21:00 UTC  curfew  token.created        admin   -          token admin with role admin
2    2026-03-01 21:01 UTC  alice   restriction.created  12      exam week  cutoff on person:bob from 2026-03-01T21:00:00Z until 2026-03-01T22:00:00Z
`
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	code, stdout, _ = h.run("audit", "-o", "json")
	var es []api.AuditEntry
	line := bytes.SplitN(export, []byte("\n"), 3)[1]
	var event bytes.Buffer
	if err := json.Unmarshal([]byte(stdout), &es); err != nil || code != 0 || len(es) != 2 || es[1].Action != "restriction.created" ||
		es[1].Hash != audit.Sum(line).String() || json.Compact(&event, es[1].Event) != nil || event.String() != string(line) {
		t.Errorf("audit -o json = %d %q", code, stdout)
	}

	if code, stdout, stderr := h.run("audit", "export", "--from", "2"); code != 0 || stdout != string(export) || from != 2 || stderr != "" {
		t.Errorf("audit export --from 2 = %d %q %q (from %d), want the export", code, stdout, stderr, from)
	}
	code, _, stderr := h.run("audit", "export", "--from", "0")
	if code != 2 {
		t.Errorf("audit export --from 0 = %d, want 2", code)
	}
	checkOneLine(t, stderr, `curfew: audit export: --from: "0" is not an event's sequence number (1 or more)`)
	if code, stdout, _ := h.run("audit", "key"); code != 0 || stdout != audit.EncodePublicKey(pub)+"\n" {
		t.Errorf("audit key = %d %q", code, stdout)
	}

	code, stdout, stderr = h.run("audit", "verify")
	if want := "audit log intact: 4 events verified, signed through event 3 at 2026-03-01 21:00:00 UTC (1 newer, signed within a minute)\n"; code != 0 || stdout != want || stderr != "" {
		t.Errorf("audit verify of an intact log = %d %q %q, want %q", code, stdout, stderr, want)
	}
	*report = curfew.AuditReport{Entries: 4, OK: false, Problem: "event 3: broken link", Problems: []string{"event 3: broken link", "event 4: missing"}}
	code, stdout, stderr = h.run("audit", "verify")
	if code != 1 || stdout != "" {
		t.Errorf("audit verify of a broken log = %d %q, want 1 and nothing on stdout", code, stdout)
	}
	checkOneLine(t, stderr, "curfew: audit verify: audit log broken: event 3: broken link (and 1 more problems)")
}

// The offline verifier needs the export and the key, and nothing else: no
// server, no token.
func TestAuditVerifyOffline(t *testing.T) {
	export, pub := testExport(t)
	dir := t.TempDir()
	file, keyFile := filepath.Join(dir, "export.jsonl"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(audit.EncodePublicKey(pub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, &apitest.FakeService{})
	h.env = map[string]string{"CURFEW_SERVER": "http://127.0.0.1:1"} // nothing there

	for _, key := range []string{keyFile, audit.EncodePublicKey(pub)} {
		code, stdout, stderr := h.run("audit", "verify", "--file", file, "--key", key)
		if want := "audit log intact: 2 events verified, signed through event 2 at 2026-03-01 21:01:00 UTC\n"; code != 0 || stdout != want || stderr != "" {
			t.Errorf("audit verify --file --key %s = %d %q %q, want %q", key, code, stdout, stderr, want)
		}
	}
	code, stdout, _ := h.run("audit", "verify", "--file", file, "--key", keyFile, "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"ok": true`) || !strings.Contains(stdout, `"signed_seq": 2`) {
		t.Errorf("audit verify --file --key -o json = %d %q", code, stdout)
	}

	changed := bytes.Replace(export, []byte("exam week"), []byte("exam weak"), 1)
	if err := os.WriteFile(file, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := h.run("audit", "verify", "--file", file, "--key", keyFile)
	if code != 1 || stdout != "" {
		t.Errorf("audit verify of a changed export = %d %q, want 1", code, stdout)
	}
	checkOneLine(t, stderr, "curfew: audit verify: audit log broken: event 2: differs from the event the checkpoint signed at 2026-03-01T21:01:00.000Z covers (it was edited or replaced) (and 1 more problems)")

	other := audit.EncodePublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	if err := os.WriteFile(file, export, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := h.run("audit", "verify", "--file", file, "--key", other); code != 1 || !strings.Contains(stderr, "does not verify with the key") {
		t.Errorf("audit verify with another key = %d %q, want 1", code, stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--file", file}, "curfew: audit verify: --file and --key go together: an export is verified with the gateway's public key"},
		{[]string{"--key", keyFile}, "curfew: audit verify: --file and --key go together: an export is verified with the gateway's public key"},
		{[]string{"--file", file, "--key", "nonsense"}, `curfew: audit verify: --key: "nonsense" is neither an ed25519 public key in base64 nor a file holding one`},
		{[]string{"--file", filepath.Join(dir, "missing"), "--key", keyFile}, "curfew: audit verify: --file: open " + filepath.Join(dir, "missing") + ": no such file or directory"},
	} {
		code, _, stderr := h.run(append([]string{"audit", "verify"}, tt.args...)...)
		if code != 2 {
			t.Errorf("audit verify %q = %d, want 2", tt.args, code)
		}
		checkOneLine(t, stderr, tt.want)
	}
}

func TestAppeals(t *testing.T) {
	appeals := []*curfew.Appeal{
		{
			ID: 1, From: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac1}, Addr: netip.MustParseAddr("192.168.50.10"),
			Restrictions: []curfew.RestrictionID{12, 14}, Message: "Why?\n<script>alert(1)</script>", Created: now,
			Answer: "Until Friday.", Answered: now.Add(time.Hour), AnsweredBy: "alice",
		},
		{
			ID: 2, From: curfew.Subject{Kind: curfew.SubjectIP, Prefix: netip.MustParsePrefix("2001:db8:7::5/128")}, Addr: netip.MustParseAddr("2001:db8:7::5"),
			Restrictions: []curfew.RestrictionID{15}, Message: "evil\x1b]0;owned\x07", Created: now.Add(time.Minute),
		},
	}
	var answered []string
	svc := &apitest.FakeService{
		AppealsFunc: func(ctx context.Context) ([]*curfew.Appeal, error) { return appeals, nil },
		AnswerAppealFunc: func(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
			if id != 1 {
				return nil, fmt.Errorf("%w: appeal %d", curfew.ErrNotFound, id)
			}
			answered = append(answered, text)
			return appeals[0], nil
		},
	}
	h := newHarness(t, svc)

	code, stdout, stderr := h.run("appeals")
	want := `appeal:        1
sent:          2026-03-01 21:00 UTC
device:        device:02:00:00:00:00:01 (from 192.168.50.10)
restrictions:  12, 14
message:       Why?
               <script>alert(1)</script>
answer:        Until Friday.
answered:      2026-03-01 22:00 UTC by alice

appeal:        2
sent:          2026-03-01 21:01 UTC
device:        ip:2001:db8:7::5 (from 2001:db8:7::5)
restrictions:  15
message:       evil�]0;owned�
answer:        -
`
	if code != 0 || stderr != "" {
		t.Fatalf("appeals = %d %q", code, stderr)
	}
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("appeals (-want +got):\n%s", diff)
	}

	code, stdout, _ = h.run("appeals", "-o", "json")
	var out []api.Appeal
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 || len(out) != 2 {
		t.Fatalf("appeals -o json = %d %q", code, stdout)
	}
	if out[0].Message != appeals[0].Message || out[0].Device != "device:02:00:00:00:00:01" || out[0].Answer != "Until Friday." ||
		out[1].AnsweredAt != nil || len(out[1].RestrictionIDs) != 1 {
		t.Errorf("appeals -o json decodes to %+v", out)
	}
	if strings.Contains(stdout, "<script>") {
		t.Errorf("appeals -o json has markup unescaped: %s", stdout)
	}

	code, stdout, stderr = h.run("appeal", "answer", "1", "--text", "Until Friday.")
	if code != 0 || stdout != "appeal 1 answered; device:02:00:00:00:00:01 sees the answer on its notice page\n" || stderr != "" {
		t.Errorf("appeal answer = %d %q %q", code, stdout, stderr)
	}
	if code, stdout, _ = h.run("appeal", "answer", "1", "--text", "again", "-o", "json"); code != 0 || !strings.Contains(stdout, `"answered_by": "alice"`) {
		t.Errorf("appeal answer -o json = %d %q", code, stdout)
	}
	if !slices.Equal(answered, []string{"Until Friday.", "again"}) {
		t.Errorf("answers seen by the service = %q", answered)
	}
	code, stdout, stderr = h.run("appeal", "answer", "9", "--text", "x")
	if code != 2 || stdout != "" {
		t.Errorf("answering appeal 9 = %d %q, want 2", code, stdout)
	}
	checkOneLine(t, stderr, "curfew: appeal answer: not found: appeal 9")

	h.env["CURFEW_TOKEN"] = ""
	if code, _, _ := h.run("appeals"); code != 2 {
		t.Errorf("appeals without a token = %d, want 2", code)
	}
}

func TestTokenCreate(t *testing.T) {
	var gotName string
	var gotRole curfew.Role
	acc := &apitest.FakeAccounts{
		CreateTokenFunc: func(ctx context.Context, name string, role curfew.Role) (string, error) {
			gotName, gotRole = name, role
			return "cft_s3cret", nil
		},
	}
	h := newHarnessWith(t, &apitest.FakeService{}, acc)
	h.env["CURFEW_TOKEN"] = "admin-secret"
	code, stdout, stderr := h.run("token", "create", "--name", "dave", "--role", "viewer")
	if code != 0 || stdout != "cft_s3cret\n" || stderr != "" {
		t.Errorf("token create = %d %q %q, want the secret alone", code, stdout, stderr)
	}
	if gotName != "dave" || gotRole != curfew.RoleViewer {
		t.Errorf("CreateToken(%q, %q), want (dave, viewer)", gotName, gotRole)
	}
}

func TestHelp(t *testing.T) {
	h := newHarness(t, &apitest.FakeService{})
	for _, args := range [][]string{{"help"}, {"--help"}, {"restrict", "-h"}, {"list", "--help"}, {"device", "help"}, {"token", "-h"}, {"appeals", "-h"}, {"appeal", "help"}, {"appeal", "answer", "-h"},
		{"operator", "help"}, {"operator", "add", "-h"}, {"operator", "disable", "--help"}, {"token", "revoke", "-h"}, {"token", "list", "-h"}} {
		code, stdout, stderr := h.run(args...)
		if code != 0 || !strings.HasPrefix(stdout, "usage: curfew") || stderr != "" {
			t.Errorf("curfew %s = %d %q %q, want usage on stdout", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	code, _, stderr := h.run()
	if code != 2 || !strings.HasPrefix(stderr, "usage: curfew") {
		t.Errorf("curfew without a command = %d %q, want 2 and usage on stderr", code, stderr)
	}
}

// TestRun checks the process entry point end to end.
func TestRun(t *testing.T) {
	svc := &apitest.FakeService{
		RestrictFunc: func(ctx context.Context, req curfew.RestrictRequest) (*curfew.Restriction, error) {
			return sampleRestriction(), nil
		},
	}
	h := newHarness(t, svc)
	var stdout, stderr bytes.Buffer
	code := run([]string{"restrict", "device:02:00:00:00:00:01", "--for", "1h", "--reason", "x"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return h.env[k] })
	if code != 0 || stdout.String() != "12\n" {
		t.Errorf("run = %d %q %q", code, stdout.String(), stderr.String())
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compacting %q: %v", s, err)
	}
	return b.String()
}
