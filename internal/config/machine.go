package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// Resolver configuration files of the system, read when dns.upstreams is
// empty.
const (
	ResolvConf = "/etc/resolv.conf"
	// ResolvedConf lists the resolvers systemd-resolved itself uses. It is
	// read instead of ResolvConf when that names only resolved's stub
	// listener, so that curfew keeps working if the stub is turned off to
	// free port 53.
	ResolvedConf = "/run/systemd/resolve/resolv.conf"
)

// resolvedStub is the address of systemd-resolved's stub listener.
var resolvedStub = netip.MustParseAddr("127.0.0.53")

// A Machine is what Settle reads of the machine the daemon runs on.
// SystemMachine returns this machine's; tests give their own.
type Machine struct {
	// InterfaceAddrs returns the addresses of the named interface, or an
	// error if it does not exist.
	InterfaceAddrs func(name string) ([]netip.Addr, error)
	// ReadFile reads a whole file, as os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// SystemMachine returns the Machine of the running process: its network
// namespace's interfaces and its file system.
func SystemMachine() Machine {
	return Machine{
		InterfaceAddrs: func(name string) ([]netip.Addr, error) {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return nil, err
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return nil, err
			}
			var out []netip.Addr
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						out = append(out, ip.Unmap())
					}
				}
			}
			return out, nil
		},
		ReadFile: os.ReadFile,
	}
}

// Settle completes c with what the file leaves to the machine and checks
// what the file names against it, before the daemon touches anything:
//
//   - lan.address, if not set, is the first IPv4 address of the first LAN
//     interface that has one; lan.address6, if not set, the first global
//     IPv6 address (not link-local) of one. A set address must be on a LAN
//     interface. dns.listen and notice.listen default to lan.address.
//   - dns.upstreams, if empty, are the nameservers of /etc/resolv.conf
//     (or of systemd-resolved's own list, when resolv.conf names only its
//     stub listener), without curfew's own addresses.
//   - dns.doh_list must be a readable file.
//
// Its error names each key, its value and what to do, on one line.
// Settle changes c only if it succeeds.
func (c *Config) Settle(m Machine) error {
	var errs fieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	s := *c
	s.LAN.Interfaces = slices.Clone(c.LAN.Interfaces)

	// The LAN interfaces' addresses, in order.
	var ifAddrs []netip.Addr
	for _, name := range c.LAN.Interfaces {
		addrs, err := m.InterfaceAddrs(name)
		if err != nil {
			bad("lan.interfaces", "%q does not exist on this machine; create it or list the interface the clients are behind (see `ip link`)", name)
			continue
		}
		ifAddrs = append(ifAddrs, addrs...)
	}
	if len(errs) > 0 {
		return errs
	}
	list := strings.Join(c.LAN.Interfaces, ", ")
	switch {
	case !s.LAN.Address.IsValid():
		for _, a := range ifAddrs {
			if a.Is4() {
				s.LAN.Address = a
				break
			}
		}
		if !s.LAN.Address.IsValid() {
			bad("lan.address", "not set, and %s has no IPv4 address; give it one (ip addr add 192.168.50.1/24 dev %s) or set lan.address", list, c.LAN.Interfaces[0])
		}
	case !slices.Contains(ifAddrs, s.LAN.Address):
		bad("lan.address", "%s is not an address of %s%s; set lan.address to one of them, or leave it out to use the first", s.LAN.Address, list, have(ifAddrs, netip.Addr.Is4))
	}
	global6 := func(a netip.Addr) bool { return a.Is6() && !a.IsLinkLocalUnicast() }
	switch {
	case !s.LAN.Address6.IsValid():
		for _, a := range ifAddrs {
			if global6(a) {
				s.LAN.Address6 = a
				break
			}
		}
	case !slices.Contains(ifAddrs, s.LAN.Address6):
		bad("lan.address6", "%s is not an address of %s%s; set lan.address6 to one of them, or leave it out to use the first", s.LAN.Address6, list, have(ifAddrs, global6))
	}
	if len(errs) > 0 {
		return errs
	}
	if !s.DNS.Listen.IsValid() {
		s.DNS.Listen = netip.AddrPortFrom(s.LAN.Address, DefaultDNSPort)
	}
	if !s.Notice.Listen.IsValid() {
		s.Notice.Listen = netip.AddrPortFrom(s.LAN.Address, DefaultNoticePort)
	}
	if a := s.API.Listen.Addr(); !s.API.AllowLAN && (a == s.LAN.Address || s.LAN.Address6.IsValid() && a == s.LAN.Address6) {
		bad("api.listen", "%s is on the LAN address, so controlled clients could reach the admin API; use a management address such as %s, or set api.allow_lan: true", s.API.Listen, DefaultAPIListen)
	}

	if len(s.DNS.Upstreams) == 0 {
		own := []netip.Addr{s.LAN.Address, s.DNS.Listen.Addr()}
		if s.LAN.Address6.IsValid() {
			own = append(own, s.LAN.Address6)
		}
		ups, err := systemResolvers(m, own)
		if err != nil {
			bad("dns.upstreams", "%v", err)
		} else {
			s.DNS.Upstreams, s.DNS.SystemResolvers = ups, true
		}
	}

	if f := s.DNS.DoHList; f != "" {
		if _, err := m.ReadFile(f); errors.Is(err, fs.ErrNotExist) {
			bad("dns.doh_list", "%s does not exist; create it (one address per line, # comments) or remove the key to use the list curfew carries", f)
		} else if err != nil {
			bad("dns.doh_list", "%s cannot be read: %v", f, unwrapPath(err))
		}
	}

	if len(errs) > 0 {
		return errs
	}
	*c = s
	return nil
}

// have returns " (it has A, B)", the addresses in addrs for which keep
// returns true, or ", which has none" if there is none.
func have(addrs []netip.Addr, keep func(netip.Addr) bool) string {
	var s []string
	for _, a := range addrs {
		if keep(a) {
			s = append(s, a.String())
		}
	}
	if len(s) == 0 {
		return ", which has none"
	}
	return " (it has " + strings.Join(s, ", ") + ")"
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// systemResolvers returns the nameservers of resolv.conf on port 53,
// without those in own. If resolv.conf names only systemd-resolved's stub
// listener, resolved's own list is used where it exists.
func systemResolvers(m Machine, own []netip.Addr) ([]netip.AddrPort, error) {
	b, err := m.ReadFile(ResolvConf)
	if err != nil {
		return nil, fmt.Errorf("empty, so curfew forwards to the system's resolvers, but %s cannot be read (%v); list the resolvers to forward to, such as [\"192.0.2.53\"]", ResolvConf, unwrapPath(err))
	}
	servers := ParseResolvConf(b)
	from := ResolvConf
	if len(servers) == 1 && servers[0] == resolvedStub {
		if rb, err := m.ReadFile(ResolvedConf); err == nil {
			if rs := ParseResolvConf(rb); len(rs) > 0 {
				servers, from = rs, ResolvedConf
			}
		}
	}
	var out []netip.AddrPort
	for _, a := range servers {
		if a.IsUnspecified() || slices.Contains(own, a.WithZone("")) {
			continue // curfew itself: forwarding there would loop
		}
		out = append(out, netip.AddrPortFrom(a, DefaultDNSPort))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty, so curfew forwards to the system's resolvers, but %s names none besides curfew itself; list the resolvers to forward to, such as [\"192.0.2.53\"]", from)
	}
	return out, nil
}

// ParseResolvConf returns the addresses of the nameserver lines of a
// resolv.conf, in order, each once. Lines it does not understand are
// skipped, as the C library skips them.
func ParseResolvConf(b []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
