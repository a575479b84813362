package netfilter

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

//go:embed doh.txt
var defaultDoH string

// maxDoHLine is the longest line ParseDoH accepts.
const maxDoHLine = 4096

// ParseDoH reads a list of DNS-over-HTTPS endpoint addresses: one IPv4 or
// IPv6 address a line, "#" to the end of a line is a comment, blank lines
// are skipped. IPv4-mapped IPv6 addresses are taken as IPv4. It returns the
// addresses sorted, without duplicates, or an error naming the first bad
// line.
func ParseDoH(r io.Reader) ([]netip.Addr, error) {
	var out []netip.Addr
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxDoHLine)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, err := netip.ParseAddr(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: parsing address %q: %w", n, line, err)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("line %d: address %q has a zone", n, line)
		}
		out = append(out, a.Unmap())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading list: %w", err)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// DefaultDoH returns the shipped list of public DNS-over-HTTPS endpoint
// addresses (the embedded doh.txt), sorted.
func DefaultDoH() []netip.Addr {
	a, err := ParseDoH(strings.NewReader(defaultDoH))
	if err != nil {
		panic("netfilter: embedded doh.txt: " + err.Error()) // a test parses it
	}
	return a
}
