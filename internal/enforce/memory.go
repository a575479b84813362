package enforce

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Memory is a Backend that keeps the last applied Snapshot in memory and
// renders it as text. It is the fake every engine test uses.
type Memory struct {
	mu      sync.Mutex // guards the fields below
	last    *curfew.Snapshot
	applies int
	err     error
}

var _ Backend = (*Memory)(nil)

// Apply implements [Backend].
func (m *Memory) Apply(ctx context.Context, s *curfew.Snapshot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.last = s
	m.applies++
	return nil
}

// FailWith makes every later Apply return err (nil to stop failing).
func (m *Memory) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Close implements [Backend]. It forgets the applied state.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = nil
	return nil
}

// Applies returns how many times Apply succeeded.
func (m *Memory) Applies() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applies
}

// Last returns the last applied Snapshot, or nil.
func (m *Memory) Last() *curfew.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// String renders what is enforced, as Snapshot.String does, without the
// next-change line, which is not enforcement.
func (m *Memory) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		return ""
	}
	s := *m.last
	s.NextChange = time.Time{}
	return s.String()
}

// LookupMAC reports whether mac is cut off and until when.
func (m *Memory) LookupMAC(mac net.HardwareAddr) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		return time.Time{}, false
	}
	for _, d := range m.last.Devices {
		if d.MAC.String() == mac.String() && d.Reach == curfew.ReachCutoff {
			return d.Until, true
		}
	}
	return time.Time{}, false
}

// LookupAddr reports whether traffic from addr is cut off by an ip: rule and
// until when (the latest of the prefixes covering it).
func (m *Memory) LookupAddr(a netip.Addr) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var until time.Time
	var ok bool
	if m.last == nil {
		return until, false
	}
	for _, p := range m.last.Prefixes {
		if p.Prefix.Contains(a) && p.Reach == curfew.ReachCutoff {
			ok = true
			if p.Until.After(until) {
				until = p.Until
			}
		}
	}
	return until, ok
}

// device returns the rule of mac in the last snapshot, or nil.
func (m *Memory) device(mac net.HardwareAddr) *curfew.DeviceRule {
	if m.last == nil {
		return nil
	}
	for _, d := range m.last.Devices {
		if d.MAC.String() == mac.String() {
			return d
		}
	}
	return nil
}

// LookupReach reports what mac can reach and until when: ReachOpen, with
// no end, if nothing holds its reach.
func (m *Memory) LookupReach(mac net.HardwareAddr) (curfew.Reach, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.device(mac); d != nil && d.Reach.Restricted() {
		return d.Reach, d.Until
	}
	return curfew.ReachOpen, time.Time{}
}

// LookupAllowed reports whether the allowlist of mac names a prefix that
// holds a.
func (m *Memory) LookupAllowed(mac net.HardwareAddr, a netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.device(mac)
	if d == nil || d.Reach != curfew.ReachAllowlist {
		return false
	}
	for _, p := range d.AllowPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// LookupRate reports the rate mac is held to; zero if none.
func (m *Memory) LookupRate(mac net.HardwareAddr) curfew.Rate {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.device(mac); d != nil {
		return d.Rate
	}
	return 0
}
