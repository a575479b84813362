package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// Appeal records a restricted person's question from the notice page and
// returns it. It is not part of curfew.Service and takes no operator: the
// daemon gives it to the notice server, which has placed the client and
// found what restricts it. Of the request's restrictions it keeps those
// still in force; with none left it refuses the appeal with
// curfew.ErrForbidden. The curfew.AppealLimit+1st appeal of one client
// within curfew.AppealWindow is refused with curfew.ErrRateLimited. A refused
// appeal leaves no trace.
func (e *Engine) Appeal(ctx context.Context, req curfew.AppealRequest) (*curfew.Appeal, error) {
	e.amu.Lock()
	defer e.amu.Unlock()
	now := e.now().UTC()
	a, err := req.Appeal(now)
	if err != nil {
		return nil, err
	}
	active := a.Restrictions[:0]
	for _, id := range a.Restrictions {
		r, err := e.store.Restriction(ctx, id)
		if errors.Is(err, curfew.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking up restriction %d: %w", id, err)
		}
		if r.ActiveAt(now) {
			active = append(active, id)
		}
	}
	if len(active) == 0 {
		return nil, fmt.Errorf("%w: %s is no longer restricted, so it cannot appeal", curfew.ErrForbidden, a.From)
	}
	a.Restrictions = active

	recent, err := e.store.Appeals(ctx, curfew.AppealFilter{From: a.From, Since: now.Add(-curfew.AppealWindow)})
	if err != nil {
		return nil, fmt.Errorf("counting recent appeals: %w", err)
	}
	if len(recent) >= curfew.AppealLimit {
		return nil, fmt.Errorf("%w: %s sent %d appeals in the last %s; the limit is %d",
			curfew.ErrRateLimited, a.From, len(recent), curfew.AppealWindow, curfew.AppealLimit)
	}
	if err := e.store.CreateAppeal(ctx, a, appealEntry(a)); err != nil {
		return nil, fmt.Errorf("storing appeal: %w", err)
	}
	e.logger.InfoContext(ctx, "appeal received", "appeal_id", a.ID, "from", a.From.String(),
		"addr", a.Addr, "restriction_ids", a.Restrictions)
	return a, nil
}

// ClientAppeals returns the appeals of one client that f selects, oldest
// first. Like Appeal it takes no operator: the daemon gives it to the
// notice server, which shows a client its own appeals and their answers.
// A filter without From is refused, so that no client is shown another's.
func (e *Engine) ClientAppeals(ctx context.Context, f curfew.AppealFilter) ([]*curfew.Appeal, error) {
	if f.From.IsZero() {
		return nil, fmt.Errorf("%w: listing a client's appeals needs the client", curfew.ErrInvalid)
	}
	return e.store.Appeals(ctx, f)
}

// Appeals implements [curfew.Service].
func (e *Engine) Appeals(ctx context.Context) ([]*curfew.Appeal, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.Appeals(ctx, curfew.AppealFilter{})
}

// AnswerAppeal implements [curfew.Service]. The answer, cleaned by
// curfew.CleanAppealText, replaces any earlier one; each is audited.
func (e *Engine) AnswerAppeal(ctx context.Context, id curfew.AppealID, text string) (*curfew.Appeal, error) {
	actor, err := curfew.Permit(ctx, curfew.OpAnswer)
	if err != nil {
		return nil, err
	}
	text, err = curfew.CleanAppealText("answer", text)
	if err != nil {
		return nil, err
	}
	e.amu.Lock()
	defer e.amu.Unlock()
	switch prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionAnswer); {
	case err != nil:
		return nil, err
	case prev != nil:
		prevID, err := strconv.ParseInt(prev.Target, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("repeating %s with key %q: its target %q is not an appeal", prev.Action, prev.Key, prev.Target)
		}
		return e.store.Appeal(ctx, curfew.AppealID(prevID))
	}
	a, err := e.store.Appeal(ctx, id)
	if err != nil {
		return nil, err
	}
	a.Answer, a.Answered, a.AnsweredBy = text, e.now().UTC(), actor.Name
	if err := e.store.AnswerAppeal(ctx, a, answerEntry(a)); err != nil {
		return nil, fmt.Errorf("storing answer: %w", err)
	}
	e.logger.InfoContext(ctx, "appeal answered", "appeal_id", a.ID, "from", a.From.String(), "actor", actor.Name)
	return a, nil
}

// appealEntry is the audit event of the new appeal a: its sender is the
// actor and the subject. The store sets After.Appeal.
func appealEntry(a *curfew.Appeal) *audit.Event {
	ev := &audit.Event{At: a.Created, Actor: a.From.String(), Kind: audit.KindAppealPosted, Subject: a.From.String(),
		After: &audit.Fields{Message: a.Message, Addrs: []string{a.Addr.String()}}}
	for _, id := range a.Restrictions {
		ev.After.Restrictions = append(ev.After.Restrictions, strconv.FormatInt(int64(id), 10))
	}
	if len(a.Restrictions) > 0 {
		ev.Restriction = a.Restrictions[0]
	}
	return ev
}

// answerEntry is the audit event of the answer a now carries: the
// operator who answered is the actor.
func answerEntry(a *curfew.Appeal) *audit.Event {
	return &audit.Event{At: a.Answered, Actor: a.AnsweredBy, Kind: audit.KindAppealAnswered, Subject: a.From.String(),
		After: &audit.Fields{Appeal: int64(a.ID), Answer: a.Answer}}
}
