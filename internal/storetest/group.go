package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func testGroups(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("groups read back sorted by name with their members sorted", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		for _, name := range []string{"staff", "guests"} {
			if err := s.CreateGroup(t.Context(), &curfew.Group{Name: name, Created: t0}, entry("alice", curfew.ActionGroup, "group:"+name)); err != nil {
				t.Fatalf("CreateGroup(%s) = %v", name, err)
			}
		}
		for _, m := range []string{"person:resident", "device:02:00:00:00:00:0b", "device:02:00:00:00:00:0a"} {
			if err := s.AddGroupMember(t.Context(), "staff", mustSubject(m), t0, entry("alice", curfew.ActionGroupMember, "group:staff")); err != nil {
				t.Fatalf("AddGroupMember(staff, %s) = %v", m, err)
			}
		}
		want := []*curfew.Group{
			{Name: "guests", Created: t0},
			{Name: "staff", Created: t0, Members: []curfew.Subject{mustSubject("device:02:00:00:00:00:0a"), mustSubject("device:02:00:00:00:00:0b"), mustSubject("person:resident")}},
		}
		got, err := s.Groups(t.Context())
		if err != nil {
			t.Fatalf("Groups() = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Groups() (-want +got):\n%s", diff)
		}
		one, err := s.Group(t.Context(), "staff")
		if err != nil {
			t.Fatalf("Group(staff) = %v", err)
		}
		if diff := cmp.Diff(want[1], one, cmpOpts); diff != "" {
			t.Errorf("Group(staff) (-want +got):\n%s", diff)
		}
		if err := s.RemoveGroupMember(t.Context(), "staff", mustSubject("device:02:00:00:00:00:0b"), entry("alice", curfew.ActionGroupLeave, "group:staff")); err != nil {
			t.Fatalf("RemoveGroupMember(staff) = %v", err)
		}
		if g, err := s.Group(t.Context(), "staff"); err != nil || len(g.Members) != 2 {
			t.Errorf("Group(staff) after a removal = %+v, %v; want 2 members", g, err)
		}
	})

	t.Run("missing and duplicate groups and members write nothing", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateGroup(t.Context(), &curfew.Group{Name: "staff", Created: t0}, entry("alice", curfew.ActionGroup, "group:staff")); err != nil {
			t.Fatal(err)
		}
		dev := mustSubject("device:02:00:00:00:00:01")
		if err := s.AddGroupMember(t.Context(), "staff", dev, t0, entry("alice", curfew.ActionGroupMember, "group:staff")); err != nil {
			t.Fatal(err)
		}
		n := auditLen(t, s)
		tests := []struct {
			name string
			do   func() error
			want error
		}{
			{"a duplicate group", func() error {
				return s.CreateGroup(t.Context(), &curfew.Group{Name: "staff", Created: t0}, entry("alice", curfew.ActionGroup, "group:staff"))
			}, curfew.ErrConflict},
			{"a member twice", func() error {
				return s.AddGroupMember(t.Context(), "staff", dev, t0, entry("alice", curfew.ActionGroupMember, "group:staff"))
			}, curfew.ErrConflict},
			{"a member of an unknown group", func() error {
				return s.AddGroupMember(t.Context(), "ghosts", dev, t0, entry("alice", curfew.ActionGroupMember, "group:ghosts"))
			}, curfew.ErrNotFound},
			{"an unknown person as member", func() error {
				return s.AddGroupMember(t.Context(), "staff", mustSubject("person:ghost"), t0, entry("alice", curfew.ActionGroupMember, "group:staff"))
			}, curfew.ErrNotFound},
			{"removing a member it lacks", func() error {
				return s.RemoveGroupMember(t.Context(), "staff", mustSubject("device:02:00:00:00:00:02"), entry("alice", curfew.ActionGroupLeave, "group:staff"))
			}, curfew.ErrNotFound},
			{"removing an unknown device", func() error {
				return s.DeleteDevice(t.Context(), mustMAC("02:00:00:00:00:09"), entry("alice", curfew.ActionRemoveDevice, "02:00:00:00:00:09"))
			}, curfew.ErrNotFound},
			{"removing an unknown person", func() error {
				return s.DeletePerson(t.Context(), "ghost", entry("alice", curfew.ActionRemovePerson, "ghost"))
			}, curfew.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.do(); !errors.Is(err, tt.want) {
					t.Errorf("got %v, want %v", err, tt.want)
				}
			})
		}
		wantUnchangedAudit(t, s, n, "refused group changes")
		if _, err := s.Group(t.Context(), "ghosts"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Group(ghosts) = %v, want ErrNotFound", err)
		}
	})

	t.Run("removing a person leaves its devices without owner", func(t *testing.T) {
		s := newStore(t)
		addPerson(t, s, "resident")
		mac := mustMAC("02:00:00:00:00:01")
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Owner: "resident", Created: t0}, entry("alice", curfew.ActionDevice, mac.String())); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePerson(t.Context(), "resident", entry("alice", curfew.ActionRemovePerson, "resident")); err != nil {
			t.Fatalf("DeletePerson(resident) = %v", err)
		}
		if _, err := s.Person(t.Context(), "resident"); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Person(resident) after DeletePerson = %v, want ErrNotFound", err)
		}
		d, err := s.Device(t.Context(), mac)
		if err != nil || d.Owner != "" {
			t.Errorf("Device(%s) after its owner left = %+v, %v; want it kept, without owner", mac, d, err)
		}
		if err := s.DeleteDevice(t.Context(), mac, entry("alice", curfew.ActionRemoveDevice, mac.String())); err != nil {
			t.Fatalf("DeleteDevice(%s) = %v", mac, err)
		}
		if _, err := s.Device(t.Context(), mac); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Device(%s) after DeleteDevice = %v, want ErrNotFound", mac, err)
		}
		// A removed name or MAC may be registered again.
		addPerson(t, s, "resident")
		if err := s.CreateDevice(t.Context(), &curfew.Device{MAC: mac, Created: t0.Add(time.Hour)}, entry("alice", curfew.ActionDevice, mac.String())); err != nil {
			t.Errorf("CreateDevice(%s) after its removal = %v", mac, err)
		}
	})
}
