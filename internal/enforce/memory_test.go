package enforce_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

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
		}
	})
}
