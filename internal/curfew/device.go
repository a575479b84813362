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
