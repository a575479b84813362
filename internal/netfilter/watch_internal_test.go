//go:build linux

package netfilter

import (
	"log/slog"
	"testing"
	"time"

	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/curfew/curfew/internal/curfew"
	"github.com/curfew/curfew/internal/netnstest"
)

// TestWatchTellsBatchesApart feeds batchWatch the kernel's own events of
// curfew's batches and of `nft` commands: only a batch someone else sent
// that touched curfew's table is reported, once.
func TestWatchTellsBatchesApart(t *testing.T) {
	ns := netnstest.New(t)
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler), NetNS: ns, Unowned: true}) // nft changes the table too
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	conn, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, &mdnetlink.Config{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		t.Fatal(err)
	}
	w := batchWatch{b: b}
	// next reads the events of one batch and returns how many reports
	// they gave.
	next := func(what string) int {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		reports := 0
		for {
			msgs, err := conn.Receive()
			if err != nil {
				t.Fatalf("%s: reading events: %v", what, err)
			}
			for _, m := range msgs {
				if w.event(m) {
					reports++
				}
				if uint16(m.Header.Type) == unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN {
					return reports
				}
			}
		}
	}
	now := time.Now()
	mac := []byte{2, 0, 0, 0, 1, 1}
	snap := func(d time.Duration) *curfew.Snapshot {
		return &curfew.Snapshot{At: now, Devices: []*curfew.DeviceRule{
			{MAC: mac, Enforcement: curfew.Enforcement{Reach: curfew.ReachCutoff, Until: now.Add(d)}}}}
	}
	steps := []struct {
		what string
		do   func() error
		want int
	}{
		{"curfew builds its table", func() error { return b.Apply(t.Context(), snap(time.Hour)) }, 0},
		{"curfew changes an element", func() error { return b.Apply(t.Context(), snap(2*time.Hour)) }, 0},
		{"nft adds another table", nft(ns, "add table inet other"), 0},
		{"nft adds a chain to the other table", nft(ns, "add chain inet other c"), 0},
		{"nft adds a table of curfew's name in another family", nft(ns, "add table ip curfew"), 0},
		{"nft adds an element to curfew's set", nft(ns, "add element inet curfew reach_mac { 02:00:00:00:01:02 timeout 1h : jump refuse }"), 1},
		{"nft flushes curfew's table", nft(ns, "flush table inet curfew"), 1},
		{"nft flushes the ruleset", nft(ns, "flush ruleset"), 1},
		{"nft adds the other table again", nft(ns, "add table inet other"), 0},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		if got := next(st.what); got != st.want {
			t.Errorf("%s: %d reports, want %d", st.what, got, st.want)
		}
	}
}

func nft(ns int, cmd string) func() error {
	return func() error {
		_, err := netnstest.Output(ns, "nft", cmd)
		return err
	}
}

// FuzzWatchEvent feeds batchWatch arbitrary events: whatever the kernel
// (or a bug) sends, it must not panic, and a batch is reported only at its
// NEWGEN.
func FuzzWatchEvent(f *testing.F) {
	b, err := New(&Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	ae := mdnetlink.NewAttributeEncoder()
	ae.String(unix.NFTA_TABLE_NAME, "curfew")
	attrs, _ := ae.Encode()
	f.Add(uint16(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_DELTABLE), append([]byte{unix.NFPROTO_INET, 0, 0, 0}, attrs...), uint32(7))
	f.Add(uint16(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN), []byte{0, 0, 0, 0}, uint32(7))
	f.Add(uint16(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE), []byte{unix.NFPROTO_INET}, uint32(0))
	f.Add(uint16(0), []byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, typ uint16, data []byte, pid uint32) {
		w := batchWatch{b: b}
		m := mdnetlink.Message{Header: mdnetlink.Header{Type: mdnetlink.HeaderType(typ), PID: pid}, Data: data}
		report := w.event(m)
		if report && typ != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWGEN {
			t.Errorf("reported at an event of type %#x, not at NEWGEN", typ)
		}
		w.touched = true
		gen := mdnetlink.Message{Header: mdnetlink.Header{Type: unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN, PID: pid}, Data: data}
		if !w.event(gen) {
			t.Errorf("a touching batch ended by port %d was not reported", pid)
		}
	})
}
