package storetest

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func testPersons(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("persons read back sorted by name", func(t *testing.T) {
		s := newStore(t)
		var want []*curfew.Person
		for i, name := range []string{"zoe", "alice", "Bob", "mallory"} {
			p := &curfew.Person{Name: name, Created: t0.Add(time.Duration(i) * time.Second)}
			if err := s.CreatePerson(t.Context(), p, entry("alice", curfew.ActionPerson, name)); err != nil {
				t.Fatalf("CreatePerson(%q) = %v", name, err)
			}
			want = append(want, &curfew.Person{Name: name, Created: p.Created})
		}
		// Byte order, as Go sorts strings: upper case first.
		want = []*curfew.Person{want[2], want[1], want[3], want[0]}
		got, err := s.Persons(t.Context())
		if err != nil {
			t.Fatalf("Persons() = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Persons() (-want +got):\n%s", diff)
		}
		one, err := s.Person(t.Context(), "mallory")
		if err != nil {
			t.Fatalf("Person(mallory) = %v", err)
		}
		if diff := cmp.Diff(want[2], one, cmpOpts); diff != "" {
			t.Errorf("Person(mallory) (-want +got):\n%s", diff)
		}
	})

	t.Run("no persons is an empty list", func(t *testing.T) {
		s := newStore(t)
		if ps, err := s.Persons(t.Context()); err != nil || len(ps) != 0 {
			t.Errorf("Persons() of a new store = %v, %v; want none", ps, err)
		}
	})

	t.Run("an unknown person is not found", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		for _, name := range []string{"ghost", "Resident", ""} {
			if _, err := s.Person(t.Context(), name); !errors.Is(err, curfew.ErrNotFound) {
				t.Errorf("Person(%q) = %v, want ErrNotFound", name, err)
			}
		}
	})

	t.Run("a duplicate person is a conflict and writes nothing", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		n := auditLen(t, s)
		err := s.CreatePerson(t.Context(), &curfew.Person{Name: "resident", Created: t0.Add(time.Hour)}, entry("bob", curfew.ActionPerson, "resident"))
		if !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreatePerson(duplicate) = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "a duplicate person")
		if p, err := s.Person(t.Context(), "resident"); err != nil || !p.Created.Equal(t0) {
			t.Errorf("Person(resident) = %+v, %v; want the first one, created at %v", p, err, t0)
		}
	})

	t.Run("a person without a name is invalid", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreatePerson(t.Context(), &curfew.Person{Created: t0}, entry("alice", curfew.ActionPerson, "")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreatePerson(no name) = %v, want ErrInvalid", err)
		}
		wantUnchangedAudit(t, s, 0, "a person without a name")
	})
}

func testDevices(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("devices read back sorted by MAC with their addresses in order", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		want := []*curfew.Device{
			{MAC: mustMAC("02:00:00:00:00:0b"), Name: "laptop", Owner: "resident", Created: t0,
				Addrs: []netip.Addr{netip.MustParseAddr("2001:db8::b"), netip.MustParseAddr("192.168.50.11"), netip.MustParseAddr("fd00:50::b")}},
			{MAC: mustMAC("02:00:00:00:00:0a"), Created: t0.Add(time.Second)},
			{MAC: mustMAC("aa:bb:cc:dd:ee:ff"), Name: "printer", Created: t0.Add(2 * time.Second),
				Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.9")}},
		}
		for _, d := range want {
			stored := *d
			if err := s.CreateDevice(t.Context(), &stored, entry("alice", curfew.ActionDevice, d.MAC.String())); err != nil {
				t.Fatalf("CreateDevice(%s) = %v", d.MAC, err)
			}
		}
		want = []*curfew.Device{want[1], want[0], want[2]}
		got, err := s.Devices(t.Context())
		if err != nil {
			t.Fatalf("Devices() = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Devices() (-want +got):\n%s", diff)
		}
		for _, d := range want {
			one, err := s.Device(t.Context(), d.MAC)
			if err != nil {
				t.Fatalf("Device(%s) = %v", d.MAC, err)
			}
			if diff := cmp.Diff(d, one, cmpOpts); diff != "" {
				t.Errorf("Device(%s) (-want +got):\n%s", d.MAC, diff)
			}
		}
	})

	t.Run("a MAC is found whatever its case", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mustMAC("AA:BB:CC:00:00:01"), Created: t0}, entry("alice", curfew.ActionDevice, "aa:bb:cc:00:00:01")); err != nil {
			t.Fatal(err)
		}
		got, err := s.Device(t.Context(), net.HardwareAddr{0xaa, 0xbb, 0xcc, 0, 0, 1})
		if err != nil {
			t.Fatalf("Device(aa:bb:cc:00:00:01) = %v", err)
		}
		if got.MAC.String() != "aa:bb:cc:00:00:01" {
			t.Errorf("Device().MAC = %s", got.MAC)
		}
	})

	t.Run("an unknown device is not found", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Device(t.Context(), mustMAC("02:00:00:00:00:01")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Device(unknown) = %v, want ErrNotFound", err)
		}
		if ds, err := s.Devices(t.Context()); err != nil || len(ds) != 0 {
			t.Errorf("Devices() of a new store = %v, %v; want none", ds, err)
		}
	})

	t.Run("a duplicate MAC is a conflict and writes nothing", func(t *testing.T) {
		s := newStore(t)
		mac := mustMAC("02:00:00:00:00:01")
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Name: "first", Created: t0}, entry("alice", curfew.ActionDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Name: "second", Created: t0, Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
			entry("alice", curfew.ActionDevice, mac.String()))
		if !errors.Is(err, curfew.ErrConflict) {
			t.Errorf("CreateDevice(duplicate MAC) = %v, want ErrConflict", err)
		}
		wantUnchangedAudit(t, s, n, "a duplicate device")
		if d, err := s.Device(t.Context(), mac); err != nil || d.Name != "first" || len(d.Addrs) != 0 {
			t.Errorf("Device(%s) = %+v, %v; want the first one, unchanged", mac, d, err)
		}
	})

	t.Run("an unknown owner is not found and writes nothing", func(t *testing.T) {
		s := newStore(t)
		mac := mustMAC("02:00:00:00:00:01")
		err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Owner: "ghost", Created: t0}, entry("alice", curfew.ActionDevice, mac.String()))
		if !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("CreateDevice(owner ghost) = %v, want ErrNotFound", err)
		}
		wantUnchangedAudit(t, s, 0, "a device of an unknown owner")
		if _, err := s.Device(t.Context(), mac); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Device(%s) after a refused create = %v, want ErrNotFound", mac, err)
		}
	})

	t.Run("a MAC that is not six octets is invalid", func(t *testing.T) {
		s := newStore(t)
		long := net.HardwareAddr{2, 0, 0, 0, 0, 0, 0, 1}
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: long, Created: t0}, entry("alice", curfew.ActionDevice, long.String())); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateDevice(8-octet MAC) = %v, want ErrInvalid", err)
		}
		if _, err := s.Device(t.Context(), long); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("Device(8-octet MAC) = %v, want ErrInvalid", err)
		}
		wantUnchangedAudit(t, s, 0, "an 8-octet MAC")
	})
}
