// Command fwdtable builds curfew's nftables table, as the daemon does, in
// the network namespace it runs in, with a number of cut-off devices and
// prefixes none of which is the benchmark's client, prints "ready" and
// keeps the table until it is stopped: the table is owned by its netlink
// socket, so the kernel deletes it when fwdtable exits. bench/forward.sh
// runs it in the gateway namespace of each curfew configuration.
//
//	ip netns exec GW fwdtable -lan flan -gw4 10.71.1.1 -gw6 fd00:71:1::1 -devices 100000 -prefixes 100000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netfilter"
)

func main() {
	lan := flag.String("lan", "flan", "LAN interface")
	gw4 := flag.String("gw4", "10.71.1.1", "the gateway's IPv4 address on the LAN (resolver and notice server)")
	gw6 := flag.String("gw6", "fd00:71:1::1", "the gateway's IPv6 address on the LAN")
	devices := flag.Int("devices", 100_000, "cut-off devices (MACs 02:be:...)")
	prefixes := flag.Int("prefixes", 0, "cut-off IPv4 addresses in 172.16.0.0/12 and as many IPv6 /64s in fd00:99::/32")
	flag.Parse()
	if *devices < 0 || *devices > 1<<24 || *prefixes < 0 || *prefixes > 1<<19 {
		log.Fatalf("fwdtable: -devices must be 0 to %d and -prefixes 0 to %d", 1<<24, 1<<19)
	}
	a4, err := netip.ParseAddr(*gw4)
	if err != nil || !a4.Is4() {
		log.Fatalf("fwdtable: -gw4 %q: not an IPv4 address", *gw4)
	}
	a6, err := netip.ParseAddr(*gw6)
	if err != nil || !a6.Is6() {
		log.Fatalf("fwdtable: -gw6 %q: not an IPv6 address", *gw6)
	}
	be, err := netfilter.New(&netfilter.Config{
		Logger:        slog.New(slog.DiscardHandler),
		LANInterfaces: []string{*lan},
		DNS4:          netip.AddrPortFrom(a4, 53),
		DNS6:          netip.AddrPortFrom(a6, 53),
		Notice4:       netip.AddrPortFrom(a4, 8480),
		Notice6:       netip.AddrPortFrom(a6, 8480),
	})
	if err != nil {
		log.Fatalf("fwdtable: %v", err)
	}
	now := time.Now()
	cut := curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(24 * time.Hour), RestrictedUntil: now.Add(24 * time.Hour), Restrictions: []curfew.RestrictionID{1}}
	s := &curfew.Snapshot{At: now}
	for i := range *devices {
		s.Devices = append(s.Devices, &curfew.DeviceRule{MAC: net.HardwareAddr{2, 0xbe, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}, Enforcement: cut})
	}
	for i := range *prefixes {
		v := 172<<24 | 16<<16 | uint32(2*i)
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: netip.PrefixFrom(a, 32), Enforcement: cut})
	}
	for i := range *prefixes {
		a := [16]byte{0xfd, 0x00, 0x00, 0x99, 0, 0, byte(2 * i >> 16), byte(2 * i >> 8), byte(2 * i)}
		s.Prefixes = append(s.Prefixes, curfew.PrefixRule{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 64), Enforcement: cut})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := be.Apply(ctx, s); err != nil {
		log.Fatalf("fwdtable: %v", err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	if err := be.Close(); err != nil {
		log.Fatalf("fwdtable: %v", err)
	}
}
