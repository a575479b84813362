package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

var clientAddr = netip.MustParseAddr("192.168.50.10")

func (f *fixture) appeal(mac string, ids []curfew.RestrictionID, msg string) (*curfew.Appeal, error) {
	return f.eng.Appeal(context.Background(), curfew.AppealRequest{
		MAC: macOrNil(mac), Addr: clientAddr, Restrictions: ids, Message: msg,
	})
}

func macOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return mac(s)
}

// A restricted client's appeal is stored and audited with the device as
// its actor; an operator's answer is stored and audited too; both are in
// the chain that verifies, and the client sees its own appeal only.
func TestAppealAndAnswer(t *testing.T) {
	f := newFixture(t)
	r := f.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	other := f.restrict(t, "device:02:00:00:00:00:02", time.Hour)

	a, err := f.appeal("02:00:00:00:00:01", []curfew.RestrictionID{r.ID}, "  Why am I cut off? <script>alert(1)</script>\r\n")
	if err != nil {
		t.Fatalf("Appeal() = %v", err)
	}
	if a.ID != 1 || a.Message != "Why am I cut off? <script>alert(1)</script>" || a.From.String() != "device:02:00:00:00:00:01" ||
		!slices.Equal(a.Restrictions, []curfew.RestrictionID{r.ID}) {
		t.Errorf("Appeal() = %+v", a)
	}
	if _, err := f.appeal("02:00:00:00:00:02", []curfew.RestrictionID{other.ID}, "me too"); err != nil {
		t.Fatal(err)
	}

	if _, err := f.eng.AnswerAppeal(curfew.WithActor(context.Background(), viewer), a.ID, "no"); !errors.Is(err, curfew.ErrForbidden) {
		t.Errorf("AnswerAppeal() by a viewer = %v, want ErrForbidden", err)
	}
	if _, err := f.eng.AnswerAppeal(f.ctx, a.ID, " \n "); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("AnswerAppeal() with a blank answer = %v, want ErrInvalid", err)
	}
	if _, err := f.eng.AnswerAppeal(f.ctx, 99, "hello"); !errors.Is(err, curfew.ErrNotFound) {
		t.Errorf("AnswerAppeal() of appeal 99 = %v, want ErrNotFound", err)
	}
	ans, err := f.eng.AnswerAppeal(f.ctx, a.ID, "Until the review on Friday.")
	if err != nil {
		t.Fatalf("AnswerAppeal() = %v", err)
	}
	if ans.Answer != "Until the review on Friday." || ans.AnsweredBy != operator.Name || ans.Answered.IsZero() {
		t.Errorf("AnswerAppeal() = %+v", ans)
	}

	if _, err := f.eng.Appeals(context.Background()); !errors.Is(err, curfew.ErrUnauthenticated) {
		t.Errorf("Appeals() without an operator = %v, want ErrUnauthenticated", err)
	}
	all, err := f.eng.Appeals(curfew.WithActor(context.Background(), viewer))
	if err != nil || len(all) != 2 || all[0].Answer != ans.Answer || all[1].Answer != "" {
		t.Errorf("Appeals() = %v, %v; want both, the first answered", all, err)
	}
	own, err := f.eng.ClientAppeals(context.Background(), curfew.AppealFilter{From: a.From})
	if err != nil || len(own) != 1 || own[0].ID != a.ID || own[0].Answer != ans.Answer {
		t.Errorf("ClientAppeals(%s) = %v, %v; want its answered appeal alone", a.From, own, err)
	}
	if _, err := f.eng.ClientAppeals(context.Background(), curfew.AppealFilter{}); !errors.Is(err, curfew.ErrInvalid) {
		t.Errorf("ClientAppeals() without a client = %v, want ErrInvalid", err)
	}

	want := []string{
		"olga restriction.created 1",
		"curfew restriction.applied 1",
		"olga restriction.created 2",
		"curfew restriction.applied 2",
		"device:02:00:00:00:00:01 appeal.posted 1",
		"device:02:00:00:00:00:02 appeal.posted 2",
		"olga appeal.answered device:02:00:00:00:00:01",
	}
	if got := f.actions(t); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
	entries := events(t, f.db)
	if e := entries[4]; e.After.Message != a.Message || e.After.Appeal != int64(a.ID) {
		t.Errorf("appeal audit event %s, want the message and the appeal's number", e.Encode())
	}
	if e := entries[6]; e.After.Answer != ans.Answer || e.After.Appeal != int64(a.ID) {
		t.Errorf("answer audit event %s, want the answer and the appeal's number", e.Encode())
	}
	if rep, err := f.eng.VerifyAudit(f.ctx); err != nil || !rep.OK {
		t.Errorf("VerifyAudit() = %+v, %v", rep, err)
	}
}

// Only a client under a restriction in force may appeal, and a refused
// appeal leaves no trace.
func TestAppealRefusedWithoutRestriction(t *testing.T) {
	f := newFixture(t)
	r := f.restrict(t, "device:02:00:00:00:00:01", time.Hour)
	if _, err := f.eng.Lift(f.ctx, r.ID, "done"); err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]curfew.RestrictionID{nil, {r.ID}, {42}} {
		if a, err := f.appeal("02:00:00:00:00:01", ids, "hello"); !errors.Is(err, curfew.ErrForbidden) {
			t.Errorf("Appeal() under restrictions %v = %v, %v; want ErrForbidden", ids, a, err)
		}
	}
	if _, err := f.appeal("02:00:00:00:00:01", []curfew.RestrictionID{r.ID}, ""); err == nil {
		t.Error("Appeal() with an empty message succeeded")
	}
	all, err := f.eng.Appeals(f.ctx)
	if err != nil || len(all) != 0 {
		t.Errorf("Appeals() = %v, %v; want none", all, err)
	}
	if got := f.actions(t); len(got) != 3 {
		t.Errorf("audit = %q, want only the restriction, its application and its lift", got)
	}
}

// One client may send curfew.AppealLimit appeals in an hour; the next is
// refused until the first is an hour old. Another client is not affected,
// and neither is a client known only by its address.
func TestAppealRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		r := f.restrict(t, "device:02:00:00:00:00:01", 3*time.Hour)
		r2 := f.restrict(t, "device:02:00:00:00:00:02", 3*time.Hour)
		ids := []curfew.RestrictionID{r.ID}
		for i := range curfew.AppealLimit {
			if _, err := f.appeal("02:00:00:00:00:01", ids, fmt.Sprint("message ", i)); err != nil {
				t.Fatalf("appeal %d: %v", i+1, err)
			}
			time.Sleep(time.Minute)
		}
		if _, err := f.appeal("02:00:00:00:00:01", ids, "one too many"); !errors.Is(err, curfew.ErrRateLimited) {
			t.Errorf("appeal %d within the hour = %v, want ErrRateLimited", curfew.AppealLimit+1, err)
		}
		if _, err := f.appeal("02:00:00:00:00:02", []curfew.RestrictionID{r2.ID}, "another device"); err != nil {
			t.Errorf("another device's appeal = %v", err)
		}
		if _, err := f.appeal("", ids, "by address"); err != nil {
			t.Errorf("an appeal by address only = %v", err)
		}
		time.Sleep(time.Hour - curfew.AppealLimit*time.Minute + time.Minute) // the first is now over an hour old
		if _, err := f.appeal("02:00:00:00:00:01", ids, "later"); err != nil {
			t.Errorf("appeal after the hour = %v", err)
		}
		if _, err := f.appeal("02:00:00:00:00:01", ids, "and again"); !errors.Is(err, curfew.ErrRateLimited) {
			t.Errorf("the next appeal = %v, want ErrRateLimited", err)
		}
	})
}
