//go:build linux

package netfilter

import (
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

// BenchmarkVerify measures Verify with n devices in the sets: the
// structural check every call makes, the full element comparison every
// tenth call makes, and Verify itself, amortised.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		ns := netnstest.New(b)
		be, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns})
		if err != nil {
			b.Fatal(err)
		}
		s := &curfew.Snapshot{Devices: make([]*curfew.DeviceRule, n)}
		for i := range n {
			s.Devices[i] = &curfew.DeviceRule{MAC: net.HardwareAddr{2, 0xbe, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}}
			s.Devices[i].Reach = curfew.ReachCutoff
		}
		s.At = time.Now() // timeouts count from here: set it just before Apply
		for i := range s.Devices {
			s.Devices[i].Until = s.At.Add(time.Hour)
		}
		if err := be.Apply(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("structure/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if r, err := be.checkStructure(); err != nil || r != 0 {
					b.Fatalf("checkStructure = %d, %v", r, err)
				}
			}
		})
		b.Run(fmt.Sprintf("elements/n=%d", n), func(b *testing.B) {
			be.vmu.Lock()
			defer be.vmu.Unlock()
			c := &check{macs: be.macs, ranges: be.ranges}
			for b.Loop() {
				if d, err := be.compare(c); err != nil || !d.empty() {
					b.Fatalf("compare = %+v, %v", d, err)
				}
			}
		})
		b.Run(fmt.Sprintf("Verify/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				if r, err := be.Verify(b.Context()); err != nil || r != 0 {
					b.Fatalf("Verify = %d, %v", r, err)
				}
			}
		})
		be.Close()
	}
}
