package storetest

import (
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/curfew"
)

func appeal(from string, addr string, at time.Time, ids ...curfew.RestrictionID) *curfew.Appeal {
	return &curfew.Appeal{
		From:         mustSubject(from),
		Addr:         netip.MustParseAddr(addr),
		Restrictions: ids,
		Message:      "Why am I cut off? <b>not markup</b>\nPlease answer.",
		Created:      at,
	}
}

func addAppeal(t *testing.T, s Store, a *curfew.Appeal) *curfew.Appeal {
	t.Helper()
	e := entry(a.From.String(), curfew.ActionAppeal, "")
	if err := s.CreateAppeal(t.Context(), a, e); err != nil {
		t.Fatalf("CreateAppeal(%s) = %v", a.From, err)
	}
	if e.After == nil || e.After.Appeal != int64(a.ID) {
		t.Errorf("audit event %s, want the new ID %d as its appeal", e.Encode(), a.ID)
	}
	return a
}

func testAppeals(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("appeals read back by ascending id, IPv4 and IPv6 senders alike", func(t *testing.T) {
		s := newStore(t)
		want := []*curfew.Appeal{
			appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, 1, 3),
			appeal("ip:2001:db8:7::9/128", "2001:db8:7::9", t0.Add(time.Minute), 2),
			appeal("device:02:00:00:00:00:01", "fd00:50::10", t0.Add(2*time.Minute)),
		}
		var last curfew.AppealID
		for _, a := range want {
			stored := *a
			addAppeal(t, s, &stored)
			if stored.ID <= last {
				t.Errorf("appeal got ID %d, want one above %d", stored.ID, last)
			}
			a.ID, last = stored.ID, stored.ID
		}
		got, err := s.Appeals(t.Context(), curfew.AppealFilter{})
		if err != nil {
			t.Fatalf("Appeals() = %v", err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Appeals() (-want +got):\n%s", diff)
		}
		for _, w := range want {
			one, err := s.Appeal(t.Context(), w.ID)
			if err != nil {
				t.Fatalf("Appeal(%d) = %v", w.ID, err)
			}
			if diff := cmp.Diff(w, one, cmpOpts); diff != "" {
				t.Errorf("Appeal(%d) (-want +got):\n%s", w.ID, diff)
			}
		}
	})

	t.Run("filters by sender and time combine", func(t *testing.T) {
		s := newStore(t)
		a1 := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, 1))
		b := addAppeal(t, s, appeal("device:02:00:00:00:00:02", "192.168.50.11", t0.Add(time.Minute), 1))
		a2 := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0.Add(2*time.Minute), 1))
		list := func(f curfew.AppealFilter) []curfew.AppealID {
			t.Helper()
			as, err := s.Appeals(t.Context(), f)
			if err != nil {
				t.Fatalf("Appeals(%+v) = %v", f, err)
			}
			out := []curfew.AppealID{}
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		tests := []struct {
			name string
			f    curfew.AppealFilter
			want []curfew.AppealID
		}{
			{"everyone's", curfew.AppealFilter{}, []curfew.AppealID{a1.ID, b.ID, a2.ID}},
			{"one sender", curfew.AppealFilter{From: a1.From}, []curfew.AppealID{a1.ID, a2.ID}},
			{"since, inclusive", curfew.AppealFilter{Since: t0.Add(time.Minute)}, []curfew.AppealID{b.ID, a2.ID}},
			{"one sender since", curfew.AppealFilter{From: a1.From, Since: t0.Add(time.Second)}, []curfew.AppealID{a2.ID}},
			{"a sender without appeals", curfew.AppealFilter{From: mustSubject("device:02:00:00:00:00:77")}, []curfew.AppealID{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want, list(tt.f)); diff != "" {
					t.Errorf("Appeals(%+v) (-want +got):\n%s", tt.f, diff)
				}
			})
		}
	})

	t.Run("an answer is stored and read back", func(t *testing.T) {
		s := newStore(t)
		a := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, 1))
		a.Answer, a.Answered, a.AnsweredBy = "Until Friday's review.", t0.Add(time.Hour), "olga"
		a.Message = "rewritten" // not the answer's to change
		if err := s.AnswerAppeal(t.Context(), a, entry("olga", curfew.ActionAnswer, strconv.FormatInt(int64(a.ID), 10))); err != nil {
			t.Fatalf("AnswerAppeal(%d) = %v", a.ID, err)
		}
		got, err := s.Appeal(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := *a
		want.Message = appeal("device:02:00:00:00:00:01", "192.168.50.10", t0).Message
		if diff := cmp.Diff(&want, got, cmpOpts); diff != "" {
			t.Errorf("Appeal(%d) after AnswerAppeal (-want +got):\n%s", a.ID, diff)
		}
	})

	t.Run("an unknown appeal is not found and changes nothing", func(t *testing.T) {
		s := newStore(t)
		a := addAppeal(t, s, appeal("device:02:00:00:00:00:01", "192.168.50.10", t0, 1))
		n := auditLen(t, s)
		missing := a.ID + 1000
		if _, err := s.Appeal(t.Context(), missing); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("Appeal(%d) = %v, want ErrNotFound", missing, err)
		}
		ghost := &curfew.Appeal{ID: missing, Answer: "x", Answered: t0, AnsweredBy: "olga"}
		if err := s.AnswerAppeal(t.Context(), ghost, entry("olga", curfew.ActionAnswer, "")); !errors.Is(err, curfew.ErrNotFound) {
			t.Errorf("AnswerAppeal(%d) = %v, want ErrNotFound", missing, err)
		}
		wantUnchangedAudit(t, s, n, "answering an unknown appeal")
	})

	t.Run("an appeal without a sender is invalid", func(t *testing.T) {
		s := newStore(t)
		a := &curfew.Appeal{Message: "hello", Created: t0}
		if err := s.CreateAppeal(t.Context(), a, entry("x", curfew.ActionAppeal, "")); !errors.Is(err, curfew.ErrInvalid) {
			t.Errorf("CreateAppeal(no sender) = %v, want ErrInvalid", err)
		}
		wantUnchangedAudit(t, s, 0, "an appeal without a sender")
	})
}
