package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

// testPages holds FindDevices and FindPersons to what the console's
// paged, searched lists rely on: the page asked for, in the lists' order,
// the total of every match, and a search that finds any device by part of
// its MAC, name, owner or address, whatever its case.
func testPages(t *testing.T, newStore func(t *testing.T) Store) {
	s := newStore(t)
	for _, name := range []string{"alice", "bob", "carol_1", "Dave"} {
		addPerson(t, s, name)
	}
	devs := []*curfew.Device{
		{MAC: mustMAC("02:00:00:00:00:01"), Name: "Alice phone", Owner: "alice", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.21")}},
		{MAC: mustMAC("02:00:00:00:00:02"), Name: "alice laptop", Owner: "alice", Addrs: []netip.Addr{netip.MustParseAddr("fd00:50::22")}},
		{MAC: mustMAC("02:00:00:00:00:03"), Name: "printer 100%", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.9"), netip.MustParseAddr("2001:db8::9")}},
		{MAC: mustMAC("aa:bb:cc:00:00:04"), Name: "tv", Owner: "bob"},
		{MAC: mustMAC("aa:bb:cc:00:00:05"), Owner: "carol_1"},
	}
	for _, d := range devs {
		d.Created = t0
		stored := *d
		if err := s.CreateDevice(t.Context(), &stored, entry("alice", curfew.ActionDevice, d.MAC.String())); err != nil {
			t.Fatalf("CreateDevice(%s) = %v", d.MAC, err)
		}
	}
	macs := func(ds []*curfew.Device) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.MAC.String())
		}
		return out
	}

	t.Run("devices: search, owner, offset and limit", func(t *testing.T) {
		tests := []struct {
			name  string
			q     curfew.DeviceQuery
			want  []string
			total int
		}{
			{"all", curfew.DeviceQuery{Limit: 10}, macs(devs), 5},
			{"first page", curfew.DeviceQuery{Limit: 2}, macs(devs[:2]), 5},
			{"second page", curfew.DeviceQuery{Offset: 2, Limit: 2}, macs(devs[2:4]), 5},
			{"last page", curfew.DeviceQuery{Offset: 4, Limit: 2}, macs(devs[4:]), 5},
			{"past the end", curfew.DeviceQuery{Offset: 9, Limit: 2}, nil, 5},
			{"MAC in upper case", curfew.DeviceQuery{Search: "AA:BB", Limit: 10}, macs(devs[3:]), 2},
			{"name in another case", curfew.DeviceQuery{Search: "ALICE", Limit: 10}, macs(devs[:2]), 2},
			{"owner", curfew.DeviceQuery{Search: "bob", Limit: 10}, macs(devs[3:4]), 1},
			{"IPv4 address", curfew.DeviceQuery{Search: "50.9", Limit: 10}, macs(devs[2:3]), 1},
			{"IPv6 address", curfew.DeviceQuery{Search: "fd00:50::22", Limit: 10}, macs(devs[1:2]), 1},
			{"% is a character", curfew.DeviceQuery{Search: "%", Limit: 10}, macs(devs[2:3]), 1},
			{"_ is a character", curfew.DeviceQuery{Search: "_", Limit: 10}, macs(devs[4:5]), 1},
			{"nothing matches", curfew.DeviceQuery{Search: "zz", Limit: 10}, nil, 0},
			{"owned by", curfew.DeviceQuery{Owner: "alice", Limit: 10}, macs(devs[:2]), 2},
			{"owned by, paged", curfew.DeviceQuery{Owner: "alice", Offset: 1, Limit: 10}, macs(devs[1:2]), 2},
			{"owned by and searched", curfew.DeviceQuery{Owner: "alice", Search: "phone", Limit: 10}, macs(devs[:1]), 1},
			{"owner is exact", curfew.DeviceQuery{Owner: "Alice", Limit: 10}, nil, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := s.FindDevices(t.Context(), tt.q)
				if err != nil {
					t.Fatalf("FindDevices(%+v) = %v", tt.q, err)
				}
				if diff := cmp.Diff(tt.want, macs(page.Devices)); diff != "" || page.Total != tt.total {
					t.Errorf("FindDevices(%+v): total %d, want %d; MACs (-want +got):\n%s", tt.q, page.Total, tt.total, diff)
				}
			})
		}
	})

	t.Run("devices of a page read back whole", func(t *testing.T) {
		page, err := s.FindDevices(t.Context(), curfew.DeviceQuery{Search: "printer", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(devs[2:3], page.Devices, cmpOpts); diff != "" {
			t.Errorf("FindDevices(printer) (-want +got):\n%s", diff)
		}
	})

	t.Run("persons: search, offset and limit", func(t *testing.T) {
		tests := []struct {
			q     curfew.PersonQuery
			want  []string
			total int
		}{
			{curfew.PersonQuery{Limit: 10}, []string{"Dave", "alice", "bob", "carol_1"}, 4},
			{curfew.PersonQuery{Offset: 1, Limit: 2}, []string{"alice", "bob"}, 4},
			{curfew.PersonQuery{Offset: 4, Limit: 2}, nil, 4},
			{curfew.PersonQuery{Search: "A", Limit: 10}, []string{"Dave", "alice", "carol_1"}, 3},
			{curfew.PersonQuery{Search: "_", Limit: 10}, []string{"carol_1"}, 1},
			{curfew.PersonQuery{Search: "%", Limit: 10}, nil, 0},
		}
		for _, tt := range tests {
			page, err := s.FindPersons(t.Context(), tt.q)
			if err != nil {
				t.Fatalf("FindPersons(%+v) = %v", tt.q, err)
			}
			var got []string
			for _, p := range page.Persons {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || page.Total != tt.total {
				t.Errorf("FindPersons(%+v): total %d, want %d; names (-want +got):\n%s", tt.q, page.Total, tt.total, diff)
			}
		}
	})

	t.Run("a search follows the devices as they change", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "erin")
		mac := mustMAC("02:00:00:00:00:0e")
		dev := &curfew.Device{MAC: mac, Name: "kitchen tablet", Owner: "erin", Created: t0, Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.77")}}
		if err := s.CreateDevice(t.Context(), dev, entry("alice", curfew.ActionDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		found := func(search string) int {
			t.Helper()
			page, err := s.FindDevices(t.Context(), curfew.DeviceQuery{Search: search, Limit: 10})
			if err != nil {
				t.Fatalf("FindDevices(%q) = %v", search, err)
			}
			return page.Total
		}
		for _, search := range []string{"kitchen", "erin", "50.77", "00:0E"} {
			if n := found(search); n != 1 {
				t.Errorf("FindDevices(%q) after CreateDevice finds %d, want 1", search, n)
			}
		}
		// Across fields is not a match: "tablet erin" is in no field.
		if n := found("tablet" + "erin"); n != 0 {
			t.Errorf("a search across the name and the owner finds %d, want 0", n)
		}
		repaired := &curfew.Device{MAC: mac, Name: "hall tv", Created: t0, Addrs: []netip.Addr{netip.MustParseAddr("fd00:50::88")}}
		if err := s.RepairDevice(t.Context(), mac, repaired, entry("curfew", curfew.ActionDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		for search, want := range map[string]int{"kitchen": 0, "50.77": 0, "hall tv": 1, "fd00:50::88": 1} {
			if n := found(search); n != want {
				t.Errorf("FindDevices(%q) after RepairDevice finds %d, want %d", search, n, want)
			}
		}
		other := mustMAC("02:00:00:00:00:0f")
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: other, Owner: "erin", Created: t0}, entry("alice", curfew.ActionDevice, other.String())); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePerson(t.Context(), "erin", entry("alice", curfew.ActionRemovePerson, "erin")); err != nil {
			t.Fatal(err)
		}
		if n := found("erin"); n != 0 {
			t.Errorf("FindDevices(erin) after erin is removed finds %d, want 0: her devices have no owner now", n)
		}
		if err := s.DeleteDevice(t.Context(), mac, entry("alice", curfew.ActionRemoveDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		if n, m := found("hall tv"), found("00:0f"); n != 0 || m != 1 {
			t.Errorf("after DeleteDevice the removed device is found %d times and the other %d, want 0 and 1", n, m)
		}
		// Registered again under another name, it is found by that one only.
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Name: "garage", Created: t0}, entry("alice", curfew.ActionDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		if n, m := found("hall tv"), found("garage"); n != 0 || m != 1 {
			t.Errorf("a device registered again is found by its old name %d times and by its new one %d, want 0 and 1", n, m)
		}
	})

	t.Run("a malformed query is invalid", func(t *testing.T) {
		for _, q := range []curfew.DeviceQuery{{}, {Limit: curfew.MaxPageSize + 1}, {Offset: -1, Limit: 1}, {Owner: "no spaces allowed", Limit: 1}, {Search: "\x00", Limit: 1}} {
			if _, err := s.FindDevices(t.Context(), q); !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("FindDevices(%+v) = %v, want ErrInvalid", q, err)
			}
		}
		for _, q := range []curfew.PersonQuery{{}, {Offset: -1, Limit: 1}, {Search: fmt.Sprintf("%0201d", 0), Limit: 1}} {
			if _, err := s.FindPersons(t.Context(), q); !errors.Is(err, curfew.ErrInvalid) {
				t.Errorf("FindPersons(%+v) = %v, want ErrInvalid", q, err)
			}
		}
	})
}
