package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// The budget of audit entries for MACs seen for the first time: a burst of
// seenAuditBurst, then one every seenAuditEvery. Beyond it, new MACs are
// still recorded as seen but counted, not audited one by one, and the
// count is audited at most once every seenAuditEvery, so a flood of
// made-up MACs cannot grow the append-only log by more than two entries a
// minute.
const (
	seenAuditBurst = 100
	seenAuditEvery = time.Minute
)

// seenBudget is the state of the audit budget for new MACs.
type seenBudget struct {
	tokens     float64
	at         time.Time // when tokens was last brought up to date
	suppressed int       // new MACs not audited one by one since the last summary
	summary    time.Time // when the last summary was audited
}

// take brings b up to date at now and takes one token if there is one.
func (b *seenBudget) take(now time.Time) bool {
	if b.at.IsZero() {
		b.tokens = seenAuditBurst
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(seenAuditBurst, b.tokens+float64(d)/float64(seenAuditEvery))
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// RecordSeen records what the gateway observed of the devices on its LAN
// (identify.Table.Sightings), and audits each MAC seen for the first time
// (device.seen, by the system), within a budget: past a burst of 100, one a
// minute, the others counted into one device.seen_summary at most every minute. It
// is not part of curfew.Service: the daemon calls it, about every second.
// dropped is how many sightings the caller could not keep.
func (e *Engine) RecordSeen(ctx context.Context, sightings []curfew.Sighting, dropped int) error {
	if len(sightings) == 0 && dropped == 0 {
		return nil
	}
	now := e.now().UTC()
	fresh, err := e.store.RecordSeen(ctx, sightings, e.seenLimits, now)
	if err != nil {
		return fmt.Errorf("recording seen devices: %w", err)
	}
	e.smu.Lock()
	defer e.smu.Unlock()
	e.seenBudget.suppressed += dropped
	for _, mac := range fresh {
		if !e.seenBudget.take(now) {
			e.seenBudget.suppressed++
			continue
		}
		ev := &audit.Event{At: now, Kind: audit.KindDeviceSeen, Actor: audit.System,
			Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac}.String(),
			After:   &audit.Fields{RandomMAC: curfew.RandomMAC(mac)}}
		if s := sightingOf(sightings, mac); s != nil {
			for _, a := range s.Addrs {
				ev.After.Addrs = append(ev.After.Addrs, a.String())
			}
			ev.After.Hostname = s.Hostname
		}
		if err := e.store.AppendEvents(ctx, ev); err != nil {
			return fmt.Errorf("auditing a new device: %w", err)
		}
	}
	if b := &e.seenBudget; b.suppressed > 0 && (b.summary.IsZero() || now.Sub(b.summary) >= seenAuditEvery) {
		b.summary = now
		ev := &audit.Event{At: now, Kind: audit.KindDeviceSeenSummary, Actor: audit.System,
			After: &audit.Fields{Unaudited: int64(b.suppressed)}}
		if err := e.store.AppendEvents(ctx, ev); err != nil {
			return fmt.Errorf("auditing new devices: %w", err)
		}
		e.logger.WarnContext(ctx, "many new MACs on the LAN", "count", e.seenBudget.suppressed)
		e.seenBudget.suppressed = 0
	}
	return nil
}

func sightingOf(ss []curfew.Sighting, mac net.HardwareAddr) *curfew.Sighting {
	for i := range ss {
		if string(ss[i].MAC) == string(mac) {
			return &ss[i]
		}
	}
	return nil
}

// SeenDevices implements [curfew.Service]. An unregistered device that
// shares a DHCP hostname or client identifier with a registered one, or
// whose hostname spells a registered device's name, is said to resemble
// it.
func (e *Engine) SeenDevices(ctx context.Context) ([]*curfew.SeenDevice, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	seen, err := e.store.SeenDevices(ctx)
	if err != nil {
		return nil, err
	}
	names, err := e.deviceNames(ctx)
	if err != nil {
		return nil, err
	}
	hints(seen, names)
	for _, s := range seen {
		s.Quarantined = e.quarantine && !s.Registered
	}
	return seen, nil
}

// deviceNames returns the registered MACs by the key (hostKey) of their
// name, which it reads from the store only after a device was added,
// removed or repaired: a page of devices seen costs what the seen devices
// do, not what the registered ones do. The map must not be modified.
func (e *Engine) deviceNames(ctx context.Context) (map[string][]net.HardwareAddr, error) {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	if e.names != nil {
		return e.names, nil
	}
	devices, err := e.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string][]net.HardwareAddr{}
	for _, d := range devices {
		if k := hostKey(d.Name); k != "" {
			names[k] = append(names[k], d.MAC)
		}
	}
	e.names = names
	return names, nil
}

// forgetNames drops what deviceNames read, after a change of the
// registered devices.
func (e *Engine) forgetNames() {
	e.nmu.Lock()
	defer e.nmu.Unlock()
	e.names = nil
}

// hints fills in Resembles for the unregistered devices in seen; names
// holds the registered devices by the key of their name.
func hints(seen []*curfew.SeenDevice, names map[string][]net.HardwareAddr) {
	byKey := map[string][]net.HardwareAddr{}
	add := func(k string, mac net.HardwareAddr) {
		if k != "" && !slices.ContainsFunc(byKey[k], func(m net.HardwareAddr) bool { return string(m) == string(mac) }) {
			byKey[k] = append(byKey[k], mac)
		}
	}
	for _, s := range seen {
		if s.Registered {
			add("host "+hostKey(s.Hostname), s.MAC)
			if s.ClientID != "" {
				add("id "+s.ClientID, s.MAC)
			}
		}
	}
	for _, s := range seen {
		if s.Registered {
			continue
		}
		var like []net.HardwareAddr
		keep := func(ms []net.HardwareAddr) {
			for _, m := range ms {
				if !slices.ContainsFunc(like, func(o net.HardwareAddr) bool { return string(o) == string(m) }) {
					like = append(like, m)
				}
			}
		}
		if k := hostKey(s.Hostname); k != "" {
			keep(names[k])
			keep(byKey["host "+k])
		}
		if s.ClientID != "" {
			keep(byKey["id "+s.ClientID])
		}
		slices.SortFunc(like, func(a, b net.HardwareAddr) int { return slices.Compare(a, b) })
		s.Resembles = like
	}
}

// hostKey is how a hostname or a device name is compared: case and the
// separators phones put in names ("Alice's iPhone" is sent as
// "Alices-iPhone") do not matter.
func hostKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
