package identify

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Lease is one address a DHCP server has leased to a device.
type Lease struct {
	MAC      net.HardwareAddr // Ethernet, 6 bytes
	Addr     netip.Addr       // IPv4, or IPv6 where the server records the client's MAC
	Hostname string           // the name the client gave; may be empty
	Expires  time.Time        // zero if the file does not say, or never
}

// maxLeaseBytes bounds a lease file.
const maxLeaseBytes = 64 << 20

// ReadLeases reads a DHCP server's lease file, in the format of dnsmasq
// (dnsmasq.leases), of ISC dhcpd (dhcpd.leases) or of Kea's memfile
// (kea-leases4.csv, kea-leases6.csv), told apart by their content. It
// returns the current lease of each address that is bound to an Ethernet
// MAC, in the order of the file: ISC and Kea append a new record for each
// change, and the last one holds. Leases without a MAC (most DHCPv6 ones)
// are skipped. A malformed record is an error naming its line.
func ReadLeases(r io.Reader) ([]Lease, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxLeaseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	if len(b) > maxLeaseBytes {
		return nil, fmt.Errorf("reading leases: larger than %d MiB", maxLeaseBytes>>20)
	}
	first, _, _ := bytes.Cut(bytes.TrimLeft(b, " \t\r\n"), []byte("\n"))
	switch {
	case bytes.HasPrefix(first, []byte("address,")):
		return readKea(b)
	case isISC(b):
		return readISC(b)
	}
	return readDnsmasq(b)
}

// ParseLeases reads a lease file as ReadLeases does and returns the map of
// its IPv4 addresses to MACs.
func ParseLeases(r io.Reader) (map[netip.Addr]net.HardwareAddr, error) {
	ls, err := ReadLeases(r)
	if err != nil {
		return nil, err
	}
	m := map[netip.Addr]net.HardwareAddr{}
	for _, l := range ls {
		if l.Addr.Is4() {
			m[l.Addr] = l.MAC
		}
	}
	return m, nil
}

// isISC reports whether b looks like an ISC dhcpd lease file: a line that
// opens a "lease ADDR {" block before any other record.
func isISC(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch f[0] {
		case "lease", "authoring-byte-order", "server-duid", "failover", "ia-na", "ia-ta", "ia-pd":
			return true
		}
		return false
	}
	return false
}

// leaseSet keeps the last lease of each address, in the order addresses
// first appeared.
type leaseSet struct {
	order []netip.Addr
	by    map[netip.Addr]Lease
}

func (s *leaseSet) put(l Lease) {
	if s.by == nil {
		s.by = map[netip.Addr]Lease{}
	}
	if _, ok := s.by[l.Addr]; !ok {
		s.order = append(s.order, l.Addr)
	}
	s.by[l.Addr] = l
}

func (s *leaseSet) drop(a netip.Addr) {
	if _, ok := s.by[a]; ok {
		delete(s.by, a)
		s.order = slices.DeleteFunc(s.order, func(b netip.Addr) bool { return a == b })
	}
}

func (s *leaseSet) list() []Lease {
	out := make([]Lease, 0, len(s.order))
	for _, a := range s.order {
		out = append(out, s.by[a])
	}
	return out
}

// parseEthernet parses a MAC and reports whether it is a 6-byte one.
func parseEthernet(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil {
		return nil, err
	}
	if len(mac) != 6 {
		return nil, errors.New("not an Ethernet MAC")
	}
	return mac, nil
}

// hostname cleans a client-given name: nothing but printable ASCII kept,
// at most 63 bytes; "*" (dnsmasq's none) is empty.
func hostname(s string) string {
	if s == "*" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// readDnsmasq reads dnsmasq's format, one lease a line: "EXPIRY MAC
// ADDRESS HOSTNAME CLIENT-ID". The DHCPv6 leases, which follow a "duid"
// line and carry an IAID where the MAC goes, are skipped.
func readDnsmasq(b []byte) ([]Lease, error) {
	var s leaseSet
	sc := bufio.NewScanner(bytes.NewReader(b))
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
		l := Lease{MAC: mac, Addr: a}
		if exp, err := strconv.ParseInt(f[0], 10, 64); err == nil && exp > 0 {
			l.Expires = time.Unix(exp, 0).UTC()
		}
		if len(f) > 3 {
			l.Hostname = hostname(f[3])
		}
		s.put(l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	return s.list(), nil
}

// readISC reads ISC dhcpd's format: blocks such as
//
//	lease 192.168.1.10 {
//	  ends 4 2026/12/03 10:00:00;
//	  binding state active;
//	  hardware ethernet 02:00:00:00:00:01;
//	  client-hostname "alice-laptop";
//	}
//
// The last block of an address holds; one whose binding state is not
// active (free, expired, released, abandoned, backup) removes its lease.
// Blocks of other kinds (ia-na and the like, DHCPv6 without a MAC) are
// skipped.
func readISC(b []byte) ([]Lease, error) {
	var s leaseSet
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	var (
		in, skip bool // inside a lease block; inside a block to skip
		depth    int  // braces open inside a skipped block
		cur      Lease
		active   bool
		start    int
	)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch {
		case skip:
			depth += strings.Count(line, "{") - strings.Count(line, "}")
			if depth <= 0 {
				skip = false
			}
			continue
		case !in:
			f := strings.Fields(line)
			if f[0] != "lease" {
				if strings.HasSuffix(line, "{") {
					skip, depth = true, 1
				}
				continue // authoring-byte-order, server-duid ...
			}
			if len(f) != 3 || f[2] != "{" {
				return nil, fmt.Errorf("lease line %d: %q: want \"lease ADDRESS {\"", n, line)
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("lease line %d: address %q is not an IPv4 address", n, f[1])
			}
			in, cur, active, start = true, Lease{Addr: a}, true, n
			continue
		case line == "}":
			in = false
			switch {
			case !active:
				s.drop(cur.Addr)
			case cur.MAC != nil:
				s.put(cur)
			}
			continue
		}
		stmt, ok := strings.CutSuffix(line, ";")
		if !ok {
			return nil, fmt.Errorf("lease line %d: %q: want a statement ending in ';'", n, line)
		}
		f := strings.Fields(stmt)
		switch {
		case len(f) == 3 && f[0] == "hardware" && f[1] == "ethernet":
			mac, err := parseEthernet(f[2])
			if err != nil {
				return nil, fmt.Errorf("lease line %d: MAC %q: %w", n, f[2], err)
			}
			cur.MAC = mac
		case len(f) == 3 && f[0] == "binding" && f[1] == "state":
			active = f[2] == "active"
		case len(f) >= 2 && f[0] == "client-hostname":
			q := strings.TrimSpace(strings.TrimPrefix(stmt, "client-hostname"))
			if h, err := strconv.Unquote(q); err == nil {
				cur.Hostname = hostname(h)
			} else {
				cur.Hostname = hostname(strings.Trim(q, `"`))
			}
		case len(f) == 4 && f[0] == "ends":
			if t, err := time.Parse("2006/01/02 15:04:05", f[2]+" "+f[3]); err == nil {
				cur.Expires = t.UTC()
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading leases: %w", err)
	}
	if in {
		return nil, fmt.Errorf("lease line %d: the lease block is not closed", start)
	}
	return s.list(), nil
}

// readKea reads Kea's memfile CSV, whose header names the columns: for
// DHCPv4 "address,hwaddr,client_id,valid_lifetime,expire,...,hostname,
// state,...", for DHCPv6 the same names in another order. A record with
// state other than 0 (declined, expired-reclaimed) or lifetime 0 (a
// deletion) removes the address's lease. Commas in hostnames are written
// "&#x2c".
func readKea(b []byte) ([]Lease, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("lease line 1: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"address", "hwaddr"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("lease line 1: the header has no %q column", need)
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var s leaseSet
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
			return nil, fmt.Errorf("lease line %d: %v", pe.StartLine, pe.Err)
		} else if err != nil {
			return nil, fmt.Errorf("reading leases: %w", err)
		}
		line, _ := r.FieldPos(0)
		a, err := netip.ParseAddr(get(rec, "address"))
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("lease line %d: address %q is not an IP address", line, get(rec, "address"))
		}
		a = a.Unmap()
		if st := get(rec, "state"); (st != "" && st != "0") || get(rec, "valid_lifetime") == "0" {
			s.drop(a)
			continue
		}
		hw := get(rec, "hwaddr")
		if hw == "" {
			continue // DHCPv6 without the client's MAC
		}
		mac, err := parseEthernet(hw)
		if err != nil {
			return nil, fmt.Errorf("lease line %d: MAC %q: %w", line, hw, err)
		}
		l := Lease{MAC: mac, Addr: a, Hostname: hostname(strings.ReplaceAll(get(rec, "hostname"), "&#x2c", ","))}
		if exp, err := strconv.ParseInt(get(rec, "expire"), 10, 64); err == nil && exp > 0 {
			l.Expires = time.Unix(exp, 0).UTC()
		}
		s.put(l)
	}
	return s.list(), nil
}
