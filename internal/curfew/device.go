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
