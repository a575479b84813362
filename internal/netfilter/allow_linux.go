//go:build linux

package netfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/nftables"

	"github.com/curfew/curfew/internal/curfew"
)

// dynKey is one destination the resolver allowed to one device.
type dynKey struct {
	mac  uint64
	addr netip.Addr // unmapped
}

func (k dynKey) elemKey() elemKey {
	set := setDynV4
	if k.addr.Is6() {
		set = setDynV6
	}
	return elemKey{set: set, start: concatKey(k.mac, k.addr)}
}

// MaxAllowTTL bounds how long AllowDestination opens a destination for a
// device the last Apply did not put in allowlist mode (a resolver whose
// Snapshot is newer than the firewall's). For a device in allowlist mode
// the bound is its restriction's Until.
const MaxAllowTTL = 24 * time.Hour

// refreshSlack is how much longer than the element's current end a new
// end must be for AllowDestination to extend it. A resolver answering the
// same name again within a second changes nothing in the kernel.
const refreshSlack = time.Second

// AllowDestination lets the device mac reach addr for ttl, in allowlist
// mode: it adds `mac . addr` to the allow_v4 or allow_v6 set with a kernel
// timeout of ttl (at most until the device's allowlist restriction ends,
// or MaxAllowTTL). If the element is there already with a later end, it
// is left alone; otherwise its timeout is extended. It is meant for the
// resolver's OnAllowed callback and returns once the kernel has committed
// the element (a fraction of a millisecond; see docs/benchmarks.md), so
// the answer the client acts on is never ahead of the firewall.
//
// The element matters only while mac is in allowlist mode; Apply deletes
// the elements of devices that leave it. It is safe for concurrent use
// with every method, and waits only while another batch is committed. It
// fails before the first Apply, after Close, and for a MAC that is not 6
// bytes, an invalid address or a ttl that is not positive. A nil mac (the
// resolver's callback for a client restricted only as an ip: subject) does
// nothing and returns nil: the firewall walls in devices, not addresses.
func (b *Backend) AllowDestination(mac net.HardwareAddr, addr netip.Addr, ttl time.Duration) error {
	if len(mac) == 0 {
		return nil
	}
	if len(mac) != 6 {
		return fmt.Errorf("%w: netfilter: allowing destination: MAC %q is not 6 bytes", curfew.ErrInvalid, mac)
	}
	if !addr.IsValid() || addr.Zone() != "" {
		return fmt.Errorf("%w: netfilter: allowing destination: address %q", curfew.ErrInvalid, addr)
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: netfilter: allowing destination %s: ttl %s is not positive", curfew.ErrInvalid, addr, ttl)
	}
	k := dynKey{mac: macUint(mac), addr: addr.Unmap()}
	now := time.Now()

	b.fmu.Lock()
	defer b.fmu.Unlock()
	switch {
	case b.done:
		return errors.New("netfilter: allowing destination: backend is closed")
	case !b.ready:
		return errors.New("netfilter: allowing destination: the table is not built yet")
	}
	limit := now.Add(MaxAllowTTL)
	if u, ok := b.allowed[k.mac]; ok {
		limit = u
	}
	until := now.Add(ttl)
	if until.After(limit) {
		until = limit
	}
	if !until.After(now) {
		return nil // the device's restriction is over
	}
	if cur, ok := b.dyn[k]; ok && cur.After(now) && !until.After(cur.Add(refreshSlack)) {
		return nil
	}

	c, err := b.writerLocked()
	if err != nil {
		return err
	}
	ek := k.elemKey()
	el := nftables.SetElement{Key: []byte(ek.start), Timeout: max(until.Sub(now), time.Millisecond).Round(time.Millisecond)}
	if err := c.SetAddElements(b.rs.sets[ek.set], []nftables.SetElement{el}); err != nil {
		return fmt.Errorf("netfilter: allowing destination %s: encoding element: %w", addr, err)
	}
	if err := b.flush(c, false); err != nil {
		b.dropWriter()
		return fmt.Errorf("netfilter: allowing destination %s: %w", addr, err)
	}
	b.dyn[k] = until
	if len(b.dyn) >= 2*max(b.pruned, 512) {
		b.pruneDyn(now)
	}
	return nil
}

// pruneDyn forgets destinations whose end has passed (the kernel expired
// them). b.fmu must be held.
func (b *Backend) pruneDyn(now time.Time) {
	for k, u := range b.dyn {
		if !u.After(now) {
			delete(b.dyn, k)
		}
	}
	b.pruned = len(b.dyn)
}

// setAllowlist records the devices now in allowlist mode, and forgets the
// destinations allowed to other devices and those that ended. It returns
// the keys of the forgotten elements still in the kernel, for Apply to
// delete; those about to expire are left to the kernel, since deleting an
// element that expired in the meantime would fail the whole batch.
func (b *Backend) setAllowlist(devices []macElem, now time.Time) []elemKey {
	allowed := make(map[uint64]time.Time, len(devices))
	for _, d := range devices {
		allowed[d.mac] = d.until
	}
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.allowed = allowed
	var del []elemKey
	for k, u := range b.dyn {
		if _, ok := allowed[k.mac]; ok && u.After(now) {
			continue
		}
		if u.After(now.Add(verifySlack)) {
			del = append(del, k.elemKey())
		}
		delete(b.dyn, k)
	}
	b.pruned = len(b.dyn)
	return del
}
