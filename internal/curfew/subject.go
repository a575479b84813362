package curfew

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// A SubjectKind says what a restriction targets.
type SubjectKind string

// The subject kinds.
const (
	SubjectDevice SubjectKind = "device"
	SubjectPerson SubjectKind = "person"
	SubjectIP     SubjectKind = "ip"
	SubjectGroup  SubjectKind = "group"
)

// Subject is what a restriction targets: one device by MAC, every device of
// one person, or a routed address or prefix. Exactly one of MAC, Name and
// Prefix is set, according to Kind.
type Subject struct {
	Kind   SubjectKind
	MAC    net.HardwareAddr // SubjectDevice
	Name   string           // SubjectPerson, SubjectGroup
	Prefix netip.Prefix     // SubjectIP; masked, IPv4 unmapped
}

// ParseSubject parses the written form of a subject:
// "device:aa:bb:cc:dd:ee:ff", "person:NAME", "group:NAME" or
// "ip:ADDR[/PREFIX]". A bare address is a single-host prefix.
func ParseSubject(s string) (Subject, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return Subject{}, fmt.Errorf("%w: subject %q: want device:MAC, person:NAME, group:NAME or ip:ADDR[/PREFIX]", ErrInvalid, s)
	}
	switch SubjectKind(kind) {
	case SubjectDevice:
		mac, err := ParseMAC(rest)
		if err != nil {
			return Subject{}, fmt.Errorf("subject %q: %w", s, err)
		}
		return Subject{Kind: SubjectDevice, MAC: mac}, nil
	case SubjectPerson, SubjectGroup:
		if err := ValidateName(rest); err != nil {
			return Subject{}, fmt.Errorf("subject %q: %w", s, err)
		}
		return Subject{Kind: SubjectKind(kind), Name: rest}, nil
	case SubjectIP:
		p, err := ParsePrefix(rest)
		if err != nil {
			return Subject{}, fmt.Errorf("subject %q: %w", s, err)
		}
		return Subject{Kind: SubjectIP, Prefix: p}, nil
	}
	return Subject{}, fmt.Errorf("%w: subject %q: unknown kind %q (want device, person, group or ip)", ErrInvalid, s, kind)
}

// String returns the canonical written form, which ParseSubject accepts.
func (s Subject) String() string {
	switch s.Kind {
	case SubjectDevice:
		return "device:" + s.MAC.String()
	case SubjectPerson, SubjectGroup:
		return string(s.Kind) + ":" + s.Name
	case SubjectIP:
		if s.Prefix.IsSingleIP() {
			return "ip:" + s.Prefix.Addr().String()
		}
		return "ip:" + s.Prefix.String()
	}
	return ""
}

// IsZero reports whether s is the zero Subject.
func (s Subject) IsZero() bool { return s.Kind == "" }

// ParseMAC parses a unicast EUI-48 address in any form net.ParseMAC accepts
// (colons, hyphens, dots).
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%w: MAC address %q: want six hex octets such as 02:00:00:00:00:01", ErrInvalid, s)
	}
	if mac[0]&1 == 1 {
		return nil, fmt.Errorf("%w: MAC address %q is a multicast or broadcast address, not a device", ErrInvalid, s)
	}
	if string(mac) == string(make([]byte, 6)) {
		return nil, fmt.Errorf("%w: MAC address %q is all zeros, not a device", ErrInvalid, s)
	}
	return mac, nil
}

// ParsePrefix parses "ADDR" or "ADDR/BITS" into a masked prefix. IPv4-mapped
// IPv6 addresses are unmapped, so one host has one spelling. Zones and the
// unspecified prefix (which would cut off every client) are rejected.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: address %q: want ADDR or ADDR/BITS", ErrInvalid, s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%w: address %q: want ADDR or ADDR/BITS", ErrInvalid, s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%w: address %q: zones are not allowed", ErrInvalid, s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%w: address %q: mapped prefix shorter than /96", ErrInvalid, s)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%w: prefix %q covers every address; restrict persons or devices instead", ErrInvalid, s)
	}
	return p.Masked(), nil
}

// WidestIPv4 and WidestIPv6 are the widest prefixes, in bits, an ip:
// subject may have unless its restriction is forced
// (RestrictRequest.Force): a wider one is more often a slip than a routed
// client network.
const (
	WidestIPv4 = 16
	WidestIPv6 = 48
)

// reserved are the addresses an ip: subject may not hold: they are never
// a client's, and restricting them would cut the gateway off from itself
// or from its link.
var reserved = []struct {
	p    netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/32"), "the unspecified address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback addresses"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local addresses"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast addresses"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "the loopback address"},
	{netip.MustParsePrefix("fe80::/10"), "link-local addresses"},
	{netip.MustParsePrefix("ff00::/8"), "multicast addresses"},
}

// CheckNew reports whether s may be the subject of a new restriction, as
// far as the subject alone tells: an ip: subject must hold no unspecified,
// loopback, link-local or multicast address, and one wider than
// WidestIPv4 or WidestIPv6 needs force. Other kinds of subject pass.
// Restrictions already stored are not held to it.
func (s Subject) CheckNew(force bool) error {
	if s.Kind != SubjectIP {
		return nil
	}
	p := s.Prefix
	for _, r := range reserved {
		if p.Overlaps(r.p) {
			return fmt.Errorf("%w: subject %s holds %s (%s), which no client uses", ErrInvalid, s, r.what, r.p)
		}
	}
	if s.Wide() && !force {
		return fmt.Errorf("%w: subject %s is wider than /%d: restricting so many addresses needs --force", ErrInvalid, s, widest(p))
	}
	return nil
}

// Wide reports whether s is an ip: subject wider than WidestIPv4 or
// WidestIPv6, which only a forced restriction may have.
func (s Subject) Wide() bool {
	return s.Kind == SubjectIP && s.Prefix.Bits() < widest(s.Prefix)
}

func widest(p netip.Prefix) int {
	if p.Addr().Is6() {
		return WidestIPv6
	}
	return WidestIPv4
}

// CheckGateway reports whether an ip: subject s holds one of the gateway's
// own addresses: restricting it would cut the gateway off, and with a LAN
// prefix every client. Other kinds of subject pass.
func (s Subject) CheckGateway(gateway []netip.Addr) error {
	if s.Kind != SubjectIP {
		return nil
	}
	for _, a := range gateway {
		if s.Prefix.Contains(a.Unmap().WithZone("")) {
			return fmt.Errorf("%w: subject %s holds the gateway's own address %s", ErrInvalid, s, a.WithZone(""))
		}
	}
	return nil
}

// ValidateName checks a person, group or operator name: 1 to 64 characters
// from letters, digits, '.', '_' and '-', starting with a letter or digit.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalid)
	}
	if len(name) > 64 {
		return fmt.Errorf("%w: name %q is longer than 64 characters", ErrInvalid, name)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return fmt.Errorf("%w: name %q: only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}
