package identify

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// A Lease is one IPv4 DHCP lease: the address a MAC was given, and what the
// client said of itself.
type Lease struct {
	Addr     netip.Addr
	MAC      net.HardwareAddr
	Hostname string // empty if the client sent none
	ClientID string // the DHCP client identifier, as dnsmasq writes it; empty if none
}

// maxLeaseField bounds the hostname and client identifier kept from a
// lease; longer ones are cut.
const maxLeaseField = 64

// ParseLeases reads a DHCP lease file in dnsmasq's format, one lease a
// line: "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID". It returns the address to
// MAC map of the IPv4 leases with an Ethernet MAC. DHCPv6 leases, which
// dnsmasq writes after a "duid" line and which carry no MAC, are skipped.
// A malformed line is an error naming its number.
func ParseLeases(r io.Reader) (map[netip.Addr]net.HardwareAddr, error) {
	ls, err := ReadLeases(r)
	if err != nil {
		return nil, err
	}
	m := make(map[netip.Addr]net.HardwareAddr, len(ls))
	for _, l := range ls {
		m[l.Addr] = l.MAC
	}
	return m, nil
}

// ReadLeases is ParseLeases returning every lease with its hostname and
// client identifier ("*" in the file means none). Hostnames and
// identifiers that are not printable UTF-8 are dropped, and long ones cut
// to 64 bytes.
func ReadLeases(r io.Reader) ([]Lease, error) {
	var out []Lease
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	v6 := false
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 0:
			continue
		case f[0] == "duid":
			v6 = true // the DHCPv6 leases follow
			continue
		case v6:
			continue
		case len(f) < 3:
			return nil, fmt.Errorf("lease line %d: %q: want EXPIRY MAC ADDRESS [HOSTNAME CLIENT-ID]", n, sc.Text())
		}
		mac, err := net.ParseMAC(f[1])
		if err != nil {
			return nil, fmt.Errorf("lease line %d: MAC %q: %w", n, f[1], err)
		}
		a, err := netip.ParseAddr(f[2])
		if err != nil {
			return nil, fmt.Errorf("lease line %d: address %q: %w", n, f[2], err)
		}
		if len(mac) != 6 || !a.Is4() {
			continue
		}
		l := Lease{Addr: a, MAC: mac}
		if len(f) > 3 {
			l.Hostname = leaseField(f[3])
		}
		if len(f) > 4 {
			l.ClientID = leaseField(f[4])
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	return out, nil
}

// leaseField returns a hostname or client identifier as curfew keeps it.
func leaseField(s string) string {
	if s == "*" || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return ""
		}
	}
	if len(s) > maxLeaseField {
		s = s[:maxLeaseField]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
