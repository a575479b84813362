package api

import (
	"fmt"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Schedule is the wire form of a curfew.Schedule. NextWindow is computed by
// the server (or the client that converts it) at the time of the answer.
type Schedule struct {
	ID           int64      `json:"id"`
	Subject      string     `json:"subject"`
	Days         string     `json:"days"` // daily, weekdays, weekends or days such as mon-thu,sun
	From         string     `json:"from"` // HH:MM in Zone
	To           string     `json:"to"`   // HH:MM in Zone; not after From: the next day
	Zone         string     `json:"zone"` // IANA name
	Until        time.Time  `json:"until"`
	Mode         string     `json:"mode"`
	Allow        []string   `json:"allow"`
	Block        []string   `json:"block"`
	Rate         int64      `json:"rate"` // throttle: bits per second each way; 0 for every other mode
	Reason       string     `json:"reason"`
	Notice       string     `json:"notice"`
	Author       string     `json:"author"`
	CreatedAt    time.Time  `json:"created_at"`
	RemovedAt    *time.Time `json:"removed_at"`
	RemovedBy    string     `json:"removed_by"`
	RemoveReason string     `json:"remove_reason"`
	// NextWindow is the window open now, or else the next one; null if
	// the schedule makes no more.
	NextWindow *Window `json:"next_window"`
}

// Window is one window of a schedule, in UTC and in the schedule's zone
// (RFC 3339 with its offset).
type Window struct {
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	StartsLocal string    `json:"starts_local"`
	EndsLocal   string    `json:"ends_local"`
	Open        bool      `json:"open"` // it has started
}

// ScheduleRequest is the body of POST /api/v1/schedules. Zone is an IANA
// name; empty takes the gateway's timezone. Until is RFC 3339.
type ScheduleRequest struct {
	Subject string   `json:"subject"`
	Days    string   `json:"days"`
	From    string   `json:"from"`
	To      string   `json:"to"`
	Zone    string   `json:"zone,omitempty"`
	Until   string   `json:"until"`
	Mode    string   `json:"mode,omitempty"`
	Allow   []string `json:"allow,omitempty"`
	Block   []string `json:"block,omitempty"`
	Rate    int64    `json:"rate,omitempty"` // throttle: bits per second each way
	Reason  string   `json:"reason"`
	Notice  string   `json:"notice,omitempty"`
	Force   bool     `json:"force,omitempty"`
}

// RemoveScheduleRequest is the body of POST /api/v1/schedules/{id}/remove.
type RemoveScheduleRequest struct {
	Reason string `json:"reason"`
}

// ScheduleToAPI returns the wire form of s with its next window as of now.
func ScheduleToAPI(s *curfew.Schedule, now time.Time) Schedule {
	w := Schedule{
		ID: int64(s.ID), Subject: s.Subject.String(), Days: s.Days.String(), From: s.From.String(), To: s.To.String(),
		Zone: s.Zone.String(), Until: s.Until.UTC(), Mode: string(s.Mode), Allow: nonNil(s.Allow), Block: nonNil(s.Block), Rate: int64(s.Rate),
		Reason: s.Reason, Notice: s.Notice, Author: s.Author, CreatedAt: s.Created.UTC(),
		RemovedAt: optTime(s.Removed), RemovedBy: s.RemovedBy, RemoveReason: s.RemoveReason,
	}
	if next, ok := s.Next(now); ok {
		w.NextWindow = &Window{
			StartsAt: next.Start.UTC(), EndsAt: next.End.UTC(),
			StartsLocal: next.Start.In(s.Zone).Format(time.RFC3339), EndsLocal: next.End.In(s.Zone).Format(time.RFC3339),
			Open: !next.Start.After(now),
		}
	}
	return w
}

// ScheduleFromAPI returns the domain form of w. NextWindow is dropped: the
// domain computes it.
func ScheduleFromAPI(w *Schedule) (*curfew.Schedule, error) {
	s := &curfew.Schedule{ID: curfew.ScheduleID(w.ID), Until: w.Until.UTC(), Mode: curfew.Mode(w.Mode),
		Allow: emptyToNil(w.Allow), Block: emptyToNil(w.Block), Rate: curfew.Rate(w.Rate), Reason: w.Reason, Notice: w.Notice, Author: w.Author,
		Created: w.CreatedAt.UTC(), RemovedBy: w.RemovedBy, RemoveReason: w.RemoveReason}
	var err error
	bad := func(err error) (*curfew.Schedule, error) {
		return nil, fmt.Errorf("decoding schedule %d: %w", w.ID, err)
	}
	if s.Subject, err = curfew.ParseSubject(w.Subject); err != nil {
		return bad(err)
	}
	if s.Days, err = curfew.ParseDays(w.Days); err != nil {
		return bad(err)
	}
	if s.From, err = curfew.ParseClock(w.From); err != nil {
		return bad(err)
	}
	if s.To, err = curfew.ParseClock(w.To); err != nil {
		return bad(err)
	}
	if s.Zone, err = curfew.LoadZone(w.Zone); err != nil {
		return bad(err)
	}
	if w.RemovedAt != nil {
		s.Removed = w.RemovedAt.UTC()
	}
	return s, nil
}

func scheduleRequestToAPI(req *curfew.ScheduleRequest) ScheduleRequest {
	return ScheduleRequest{Subject: req.Subject, Days: req.Days, From: req.From, To: req.To, Zone: req.Zone,
		Until: formatTime(req.Until), Mode: string(req.Mode), Allow: req.Allow, Block: req.Block, Rate: int64(req.Rate),
		Reason: req.Reason, Notice: req.Notice, Force: req.Force}
}

// fromAPI returns the domain request w asks for, with errors that name the
// offending field.
func (w *ScheduleRequest) fromAPI() (curfew.ScheduleRequest, error) {
	req := curfew.ScheduleRequest{Subject: w.Subject, Days: w.Days, From: w.From, To: w.To, Zone: w.Zone,
		Mode: curfew.Mode(w.Mode), Allow: w.Allow, Block: w.Block, Rate: curfew.Rate(w.Rate), Reason: w.Reason, Notice: w.Notice, Force: w.Force}
	var err error
	if req.Until, err = parseTime("until", w.Until); err != nil {
		return curfew.ScheduleRequest{}, err
	}
	return req, nil
}
