package identify

import (
	"context"
	"net"
	"net/netip"
)

// A Kind says what the gateway knows of a client address.
type Kind uint8

const (
	// Foreign addresses are neither on a LAN link, nor in a routed prefix
	// served as the LAN, nor the gateway's own: the resolver does not
	// serve them.
	Foreign Kind = iota
	// Local addresses are the gateway's own, loopback included.
	Local
	// Routed addresses are in a prefix routed behind the LAN: served,
	// but no MAC can be learned for them, so only ip: restrictions apply.
	Routed
	// Known addresses are on a LAN link and their MAC is known.
	Known
	// Unknown addresses are on a LAN link but their MAC is not known yet.
	Unknown
)

var kindNames = [...]string{Foreign: "foreign", Local: "local", Routed: "routed", Known: "known", Unknown: "unknown"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(?)"
}

// A Client is what Identify found for one address.
type Client struct {
	Addr netip.Addr       // unmapped, without zone
	MAC  net.HardwareAddr // set when Kind is Known
	Kind Kind
}

// Served reports whether the resolver answers c: every kind but Foreign.
func (c Client) Served() bool { return c.Kind != Foreign }

// An Identifier places client addresses. *Table implements it; so does
// Func, for tests and for gateways that see no layer 2.
type Identifier interface {
	// Identify answers from memory and never blocks. It is safe for
	// concurrent use.
	Identify(a netip.Addr) Client
	// Wait is Identify for callers off the packet path: for an Unknown
	// address it gives the kernel a short, bounded time to resolve it
	// first. It returns at once for any other kind, when ctx is done,
	// and when too many waits are already in progress.
	Wait(ctx context.Context, a netip.Addr) Client
}

// Func is an Identifier from a function that maps addresses to MACs:
// every address it maps is Known, every other one Routed. It never waits.
// A nil Func places every address as Routed, which leaves only the
// Snapshot's statically known device addresses and ip: prefixes to match;
// it suits tests and gateways that see no layer 2.
type Func func(netip.Addr) (net.HardwareAddr, bool)

var _ Identifier = Func(nil)

// Identify implements [Identifier].
func (f Func) Identify(a netip.Addr) Client {
	a = a.Unmap().WithZone("")
	if f != nil {
		if mac, ok := f(a); ok {
			return Client{Addr: a, MAC: mac, Kind: Known}
		}
	}
	return Client{Addr: a, Kind: Routed}
}

// Wait implements [Identifier].
func (f Func) Wait(_ context.Context, a netip.Addr) Client { return f.Identify(a) }
