package enforce_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/enforce"
	"github.com/curfew/curfew/internal/enforce/enforcetest"
)

func TestMemoryConformance(t *testing.T) {
	enforcetest.Run(t, func(t *testing.T) *enforcetest.Harness {
		m := &enforce.Memory{}
		return &enforcetest.Harness{
			Backend: m,
			LookupMAC: func(_ context.Context, mac net.HardwareAddr) (time.Time, bool, error) {
				u, ok := m.LookupMAC(mac)
				return u, ok, nil
			},
			LookupAddr: func(_ context.Context, a netip.Addr) (time.Time, bool, error) {
				u, ok := m.LookupAddr(a)
				return u, ok, nil
			},
			LookupReach: func(_ context.Context, mac net.HardwareAddr) (curfew.Reach, time.Time, error) {
				r, u := m.LookupReach(mac)
				return r, u, nil
			},
			LookupAllowed: func(_ context.Context, mac net.HardwareAddr, a netip.Addr) (bool, error) {
				return m.LookupAllowed(mac, a), nil
			},
			LookupRate: func(_ context.Context, mac net.HardwareAddr) (curfew.Rate, error) {
				return m.LookupRate(mac), nil
			},
		}
	})
}
