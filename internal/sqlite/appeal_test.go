package sqlite_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

func TestAppealRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	a := &curfew.Appeal{
		From:         mustSubject(t, "device:02:00:00:00:00:01"),
		Addr:         netip.MustParseAddr("fd00:50::10"),
		Restrictions: []curfew.RestrictionID{1, 4},
		Message:      "Why?\n<script>alert(1)</script> & ü",
		Created:      t0,
	}
	e := entry(audit.KindAppealPosted, "")
	if err := db.CreateAppeal(ctx, a, e); err != nil {
		t.Fatal(err)
	}
	if a.ID != 1 || e.After == nil || e.After.Appeal != 1 || e.Seq != 1 {
		t.Errorf("after CreateAppeal: ID %d, audit event %s; want appeal 1 in event 1", a.ID, e.Encode())
	}
	got, err := db.Appeal(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmpOpts); diff != "" {
		t.Errorf("Appeal() (-want +got):\n%s", diff)
	}

	a.Answer, a.Answered, a.AnsweredBy = "Until Friday.", t0.Add(time.Hour), "olga"
	if err := db.AnswerAppeal(ctx, a, entry(audit.KindAppealAnswered, "1")); err != nil {
		t.Fatal(err)
	}
	got, err = db.Appeal(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got, cmpOpts); diff != "" {
		t.Errorf("Appeal() after the answer (-want +got):\n%s", diff)
	}

	missing := &curfew.Appeal{ID: 9, Answer: "x"}
	if err := db.AnswerAppeal(ctx, missing, entry(audit.KindAppealAnswered, "9")); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("AnswerAppeal(9) = %v, want ErrNotFound", err)
	}
	if _, err := db.Appeal(ctx, 9); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("Appeal(9) = %v, want ErrNotFound", err)
	}
	if n := auditLen(t, db); n != 2 {
		t.Errorf("audit has %d entries, want 2 (the failed answer records none)", n)
	}
	if rep := verify(t, db); !rep.OK() {
		t.Errorf("VerifyAudit() = %+v", rep)
	}
}

func TestAppealFilter(t *testing.T) {
	ctx := t.Context()
	db := openMemory(t)
	dev := mustSubject(t, "device:02:00:00:00:00:01")
	ip := mustSubject(t, "ip:2001:db8:7::5")
	for i, from := range []curfew.Subject{dev, ip, dev, dev} {
		a := &curfew.Appeal{From: from, Addr: netip.MustParseAddr("2001:db8:7::5"), Message: "m",
			Restrictions: []curfew.RestrictionID{1}, Created: t0.Add(time.Duration(i) * time.Minute)}
		if err := db.CreateAppeal(ctx, a, entry(audit.KindAppealPosted, "")); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(f curfew.AppealFilter) []curfew.AppealID {
		as, err := db.Appeals(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []curfew.AppealID
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    curfew.AppealFilter
		want []curfew.AppealID
	}{
		{"all", curfew.AppealFilter{}, []curfew.AppealID{1, 2, 3, 4}},
		{"device", curfew.AppealFilter{From: dev}, []curfew.AppealID{1, 3, 4}},
		{"address", curfew.AppealFilter{From: ip}, []curfew.AppealID{2}},
		{"since, inclusive", curfew.AppealFilter{From: dev, Since: t0.Add(2 * time.Minute)}, []curfew.AppealID{3, 4}},
		{"nobody", curfew.AppealFilter{From: mustSubject(t, "device:02:00:00:00:00:09")}, nil},
	} {
		if diff := cmp.Diff(tt.want, ids(tt.f)); diff != "" {
			t.Errorf("%s: Appeals() (-want +got):\n%s", tt.name, diff)
		}
	}
}
