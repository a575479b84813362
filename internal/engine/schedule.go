package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// AddSchedule implements [curfew.Service]. The schedule's subject is
// checked as a restriction's is (Restrict). When approvals are
// configured, a schedule whose windows would each need a second operator,
// as a restriction of the same mode and length would, is refused
// (curfew.ErrForbidden): schedules do not wait for approval, and are not
// let past it either.
func (e *Engine) AddSchedule(ctx context.Context, req curfew.ScheduleRequest) (*curfew.Schedule, error) {
	actor, err := curfew.Permit(ctx, curfew.OpAddSchedule)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionSchedule); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		id, err := strconv.ParseInt(prev.Target, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("repeating %s with key %q: its target %q is not a schedule", prev.Action, prev.Key, prev.Target)
		}
		return e.store.Schedule(ctx, curfew.ScheduleID(id))
	}
	now := e.now().UTC()
	s, err := req.Schedule(now, actor.Name, e.zone)
	if err != nil {
		return nil, err
	}
	if err := e.checkSubjectLocked(ctx, s.Subject); err != nil {
		return nil, err
	}
	if long := s.LongestWindow(); e.approval.Requires(s.Mode, now, now.Add(long)) {
		return nil, fmt.Errorf("%w: approvals are configured and a %s window of %s needs a second operator; schedules cannot wait for one: restrict each window instead, or make the window shorter than %s",
			curfew.ErrForbidden, s.Mode, long, e.approval.RequiredOver)
	}
	after := audit.ScheduleFields(s)
	ev := &audit.Event{At: now, Kind: audit.KindScheduleAdded, Actor: actor.Name, Subject: s.Subject.String(), Reason: s.Reason, After: after}
	if err := e.store.CreateSchedule(ctx, s, ev); err != nil {
		return nil, fmt.Errorf("storing schedule: %w", err)
	}
	e.logger.InfoContext(ctx, "schedule added", "schedule_id", s.ID, "subject", s.Subject.String(),
		"days", s.Days.String(), "from", s.From.String(), "to", s.To.String(), "zone", s.Zone.String(), "until", s.Until, "actor", actor.Name)
	if e.idx != nil {
		e.idx.PutSchedule(s, s.Created)
	}
	e.windowsStale = true // the kernel's windows, for while the daemon is down
	if err := e.reconcileLocked(curfew.Targets{}); err != nil {
		return s, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return s, nil
}

// checkSubjectLocked checks what Restrict checks of a new subject beyond
// its form: an ip: prefix holds none of the gateway's addresses, a group
// or person exists. e.mu must be held.
func (e *Engine) checkSubjectLocked(ctx context.Context, subj curfew.Subject) error {
	switch subj.Kind {
	case curfew.SubjectIP:
		if e.gateway == nil {
			return nil
		}
		addrs, err := e.gateway()
		if err != nil {
			return fmt.Errorf("reading the gateway's addresses: %w", err)
		}
		return subj.CheckGateway(addrs)
	case curfew.SubjectGroup:
		if _, err := e.store.Group(ctx, subj.Name); err != nil {
			if errors.Is(err, curfew.ErrNotFound) {
				return fmt.Errorf("%w: subject %s: no such group (add it with `curfew group add %s`)", curfew.ErrInvalid, subj, subj.Name)
			}
			return fmt.Errorf("looking up group: %w", err)
		}
	case curfew.SubjectPerson:
		if _, err := e.store.Person(ctx, subj.Name); err != nil {
			if errors.Is(err, curfew.ErrNotFound) {
				return fmt.Errorf("%w: subject %s: no such person (add it with `curfew person add %s`)", curfew.ErrInvalid, subj, subj.Name)
			}
			return fmt.Errorf("looking up person: %w", err)
		}
	}
	return nil
}

// RemoveSchedule implements [curfew.Service]. The window open now, if
// any, is lifted in the same transaction.
func (e *Engine) RemoveSchedule(ctx context.Context, id curfew.ScheduleID, reason string) (*curfew.Schedule, error) {
	actor, err := curfew.Permit(ctx, curfew.OpRemoveSchedule)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if err := (&curfew.Restriction{Reason: reason}).ValidateReason(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, err := curfew.Repeated(ctx, e.store.Request, actor.Name, curfew.ActionUnschedule); err != nil || prev != nil {
		if err != nil {
			return nil, err
		}
		return e.store.Schedule(ctx, id)
	}
	s, err := e.store.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	now := e.now().UTC()
	if !s.Removed.IsZero() {
		return nil, fmt.Errorf("%w: schedule %d was removed at %s", curfew.ErrConflict, id, s.Removed.Format(time.RFC3339))
	}
	if s.Over(now) {
		return nil, fmt.Errorf("%w: schedule %d ended at %s", curfew.ErrConflict, id, s.Until.Format(time.RFC3339))
	}
	s.Removed, s.RemovedBy, s.RemoveReason = now, actor.Name, reason
	ev := &audit.Event{At: now, Kind: audit.KindScheduleRemoved, Actor: actor.Name, Subject: s.Subject.String(), Reason: reason,
		Before: &audit.Fields{Schedule: int64(id)}}
	var window *curfew.Restriction
	var liftEv *audit.Event
	if e.idx != nil {
		if w := e.idx.Window(id); w != nil && !w.Over(now) {
			c := *w
			c.Lifted, c.LiftedBy, c.LiftReason = now, actor.Name, reason
			window = &c
			liftEv = &audit.Event{At: now, Kind: audit.KindRestrictionLifted, Actor: actor.Name, Subject: c.Subject.String(),
				Restriction: c.ID, Reason: reason, Before: &audit.Fields{End: c.End}, After: &audit.Fields{Lifted: now, LiftedBy: actor.Name}}
		}
	}
	if err := e.store.RemoveSchedule(ctx, s, ev, window, liftEv); err != nil {
		return nil, fmt.Errorf("removing schedule: %w", err)
	}
	e.logger.InfoContext(ctx, "schedule removed", "schedule_id", id, "actor", actor.Name, "lifted_window", window != nil)
	var touched curfew.Targets
	if e.idx != nil {
		e.idx.DeleteSchedule(id)
		if window != nil {
			e.idx.Put(window)
			e.idx.Add(&touched, window)
		}
	}
	e.windowsStale = true
	if err := e.reconcileLocked(touched); err != nil {
		return s, fmt.Errorf("stored, but enforcing: %w", err)
	}
	return s, nil
}

// Schedules implements [curfew.Service].
func (e *Engine) Schedules(ctx context.Context, f curfew.ScheduleFilter) ([]*curfew.Schedule, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	return e.store.Schedules(ctx, f, e.now())
}

// loadSchedulesLocked puts into the index every schedule not over, each
// expanded from the end of its last stored window, so that a window that
// opened while the daemon was down is Due at once, and the windows before
// it cost nothing. e.mu must be held.
func (e *Engine) loadSchedulesLocked(ctx context.Context, now time.Time) error {
	ss, err := e.store.Schedules(ctx, curfew.ScheduleFilter{}, now)
	if err != nil {
		return err
	}
	if len(ss) == 0 {
		return nil
	}
	last, err := e.store.LastWindows(ctx)
	if err != nil {
		return err
	}
	for _, s := range ss {
		after := s.Created
		if end, ok := last[s.ID]; ok && end.After(after) {
			after = end
		}
		e.idx.PutSchedule(s, after)
	}
	return nil
}

// openWindowsLocked stores, as restrictions, the windows of schedules
// that started by now, each with schedule.window_opened, and puts them in
// the index, adding their targets to touched. A window already stored
// (the same schedule and start) is taken as it is stored. One that fails
// to be stored is tried again at the next reconcile. e.mu must be held.
func (e *Engine) openWindowsLocked(ctx context.Context, now time.Time, touched *curfew.Targets) {
	due := append(e.undue, e.idx.Due(now)...)
	e.undue = nil
	for _, d := range due {
		r := d.Schedule.Window(d.Window)
		after := audit.RestrictionFields(r)
		after.Reason = ""
		ev := &audit.Event{At: now, Kind: audit.KindWindowOpened, Actor: audit.System, Subject: r.Subject.String(), Reason: r.Reason, After: after}
		err := e.store.CreateRestriction(ctx, r, ev)
		switch {
		case errors.Is(err, curfew.ErrConflict):
			continue // stored before a restart: the index loaded it
		case err != nil:
			e.logger.ErrorContext(ctx, "storing a schedule's window", "schedule_id", d.Schedule.ID, "starts_at", d.Window.Start, "err", err)
			e.undue = append(e.undue, d)
			continue
		}
		e.logger.InfoContext(ctx, "schedule window opened", "schedule_id", d.Schedule.ID, "restriction_id", r.ID,
			"subject", r.Subject.String(), "starts_at", r.Start, "ends_at", r.End)
		e.unapplied[r.ID] = r
		e.idx.Put(r)
		e.idx.Add(touched, r)
		// The restrictions' table holds the window from now on; the
		// kernel's windows hand it over (the restrictions' table is
		// applied first, so no moment is left unenforced).
		e.windowsStale = true
	}
}
