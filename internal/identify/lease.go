package identify

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
)

// ParseLeases reads a DHCP lease file in dnsmasq's format, one lease a
// line: "EXPIRY MAC ADDRESS HOSTNAME CLIENT-ID". It returns the address to
// MAC map of the IPv4 leases with an Ethernet MAC. DHCPv6 leases, which
// dnsmasq writes after a "duid" line and which carry no MAC, are skipped.
// A malformed line is an error naming its number.
func ParseLeases(r io.Reader) (map[netip.Addr]net.HardwareAddr, error) {
	m := map[netip.Addr]net.HardwareAddr{}
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
		if len(mac) == 6 && a.Is4() {
			m[a] = mac
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	return m, nil
}
