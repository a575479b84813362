package curfew

import (
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Device is a client on the LAN, identified by its MAC address.
type Device struct {
	MAC     net.HardwareAddr
	Name    string       // optional label
	Owner   string       // person name; empty if unowned
	Addrs   []netip.Addr // statically known addresses; others are learned by the gateway
	Created time.Time

	// Learned is what the gateway has learned of the device by itself when
	// it was listed; it is not stored.
	Learned Learned
}

// Learned is what the gateway has learned of a device on its LAN without
// being told.
type Learned struct {
	Addrs    []netip.Addr // from its neighbour table and the DHCP leases, sorted
	Hostname string       // the name the device's DHCP lease gives; may be empty
}

// Validate checks d.
func (d *Device) Validate() error {
	if _, err := ParseMAC(d.MAC.String()); err != nil {
		return err
	}
	if d.Name != "" {
		if err := checkText("device name", d.Name, 64, false); err != nil {
			return err
		}
	}
	if d.Owner != "" {
		if err := ValidateName(d.Owner); err != nil {
			return fmt.Errorf("owner: %w", err)
		}
	}
	seen := map[netip.Addr]bool{}
	for _, a := range d.Addrs {
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("%w: device address %q is not a unicast address", ErrInvalid, a)
		}
		if seen[a] {
			return fmt.Errorf("%w: device address %s given twice", ErrInvalid, a)
		}
		seen[a] = true
	}
	return nil
}

// Person owns devices. A restriction on a person covers every device they
// own, including ones registered later.
type Person struct {
	Name    string
	Created time.Time
}

// Group is a named set of persons and devices. A restriction on a group
// covers every device of its members: the devices it holds by MAC and
// every device its persons own, including ones added later.
type Group struct {
	Name    string
	Members []Subject // person: and device: subjects, sorted by their written form
	Created time.Time
}

// CheckMember reports whether s may be a member of a group: a person or a
// device.
func CheckMember(s Subject) error {
	if s.Kind != SubjectPerson && s.Kind != SubjectDevice {
		return fmt.Errorf("%w: member %s: a group holds person:NAME and device:MAC members only", ErrInvalid, s)
	}
	return nil
}

// Has reports whether g holds member s.
func (g *Group) Has(s Subject) bool {
	k := s.String()
	for _, m := range g.Members {
		if m.String() == k {
			return true
		}
	}
	return false
}

// RandomMAC reports whether mac is locally administered, as the randomised
// ("private") addresses of phones and laptops are: such a device can come
// back with another MAC at any time.
func RandomMAC(mac net.HardwareAddr) bool {
	return len(mac) == 6 && mac[0]&2 != 0
}

// A Sighting is what the gateway observed of one MAC on the LAN since it
// last reported: when, at which addresses, and what its DHCP lease said.
type Sighting struct {
	MAC      net.HardwareAddr
	At       time.Time    // the latest observation
	Addrs    []netip.Addr // addresses it used; at most MaxSeenAddrs
	Hostname string       // DHCP hostname; empty if none
	ClientID string       // DHCP client identifier; empty if none
}

// MaxSeenAddrs bounds the addresses kept for one seen device: the most
// recent ones (IPv6 privacy addresses rotate).
const MaxSeenAddrs = 8

// SeenDevice is a MAC the gateway has seen on the LAN, registered or not.
type SeenDevice struct {
	MAC       net.HardwareAddr
	FirstSeen time.Time
	LastSeen  time.Time
	Addrs     []netip.Addr // the most recent, at most MaxSeenAddrs
	Hostname  string
	ClientID  string
	// Registered is true if a Device with this MAC is registered.
	Registered bool
	// Quarantined is true if the LAN quarantines unknown devices and
	// this one is not registered: it reaches only curfew's DNS and notice
	// page until an operator approves it.
	Quarantined bool
	// Resembles holds the registered devices whose DHCP hostname or
	// client identifier this unregistered one shares, or whose name its
	// hostname spells: likely the same hardware with a new, randomised
	// MAC. Empty for a registered device.
	Resembles []net.HardwareAddr
}

// RandomMAC reports whether d's MAC is locally administered (randomised).
func (d *SeenDevice) RandomMAC() bool { return RandomMAC(d.MAC) }

// SeenLimits bound what the gateway keeps of the devices it sees.
// Registered devices are kept; an unregistered one not seen for MaxAge is
// forgotten, and beyond MaxUnregistered the least recently seen are.
type SeenLimits struct {
	MaxUnregistered int
	MaxAge          time.Duration
}

// The default SeenLimits.
const (
	DefaultMaxUnregistered = 10000
	DefaultSeenMaxAge      = 30 * 24 * time.Hour
)

// Registry is the set of registered MACs, which a LAN that quarantines
// unknown devices admits. It is immutable, so snapshots share it while no
// device is registered or removed; the nil Registry is empty.
type Registry struct {
	macs map[string]struct{} // by string(MAC)
}

// NewRegistry returns the Registry of macs.
func NewRegistry(macs []net.HardwareAddr) *Registry {
	r := &Registry{macs: make(map[string]struct{}, len(macs))}
	for _, m := range macs {
		r.macs[string(m)] = struct{}{}
	}
	return r
}

// Has reports whether mac is registered.
func (r *Registry) Has(mac net.HardwareAddr) bool {
	if r == nil {
		return false
	}
	_, ok := r.macs[string(mac)]
	return ok
}

// Len returns the number of registered MACs.
func (r *Registry) Len() int {
	if r == nil {
		return 0
	}
	return len(r.macs)
}

// All calls yield for each registered MAC, in no order, until it returns
// false. The MAC must not be modified.
func (r *Registry) All(yield func(mac net.HardwareAddr) bool) {
	if r == nil {
		return
	}
	for m := range r.macs {
		if !yield(net.HardwareAddr(m)) {
			return
		}
	}
}
