//go:build linux

package netnstest_test

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/netnstest"
)

func TestVethConnects(t *testing.T) {
	a := netnstest.New(t)
	_, b := netnstest.Named(t)
	netnstest.Veth(t, a, "va", b, "vb")
	netnstest.Addr(t, a, "va", netip.MustParsePrefix("fd00:1::1/64"))
	netnstest.Addr(t, b, "vb", netip.MustParsePrefix("fd00:1::2/64"))
	netnstest.Addr(t, a, "va", netip.MustParsePrefix("10.1.0.1/24"))
	netnstest.Addr(t, b, "vb", netip.MustParsePrefix("10.1.0.2/24"))

	for _, addr := range []string{"[fd00:1::2]:7", "10.1.0.2:7"} {
		var ln net.Listener
		if err := netnstest.Do(b, func() (err error) {
			ln, err = net.Listen("tcp", addr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.WriteString(c, "hello")
				c.Close()
			}
		}()
		var c net.Conn
		if err := netnstest.Do(a, func() (err error) {
			c, err = net.Dial("tcp", addr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello" {
			t.Errorf("read from %s = %q, %v; want hello", addr, got, err)
		}
		c.Close()
		ln.Close()
	}
	// The test's own namespace is untouched: it has no va.
	if _, err := net.InterfaceByName("va"); err == nil {
		t.Error("interface va appeared in the test's own namespace")
	}
	if rs := netnstest.Ruleset(t, a); strings.TrimSpace(rs) != "" {
		t.Errorf("Ruleset of a fresh namespace = %q, want empty", rs)
	}
}
