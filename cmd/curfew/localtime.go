package main

import (
	"context"
	"fmt"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/config"
)

// wallClock is a reading of a clock on the wall: a local date and time
// without a zone.
type wallClock struct {
	year           int
	month          time.Month
	day            int
	hour, min, sec int
}

func (w wallClock) String() string {
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d", w.year, w.month, w.day, w.hour, w.min)
}

// shows reports whether the clock in t's zone reads w at t.
func (w wallClock) shows(t time.Time) bool {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return y == w.year && mo == w.month && d == w.day && h == w.hour && mi == w.min && s == w.sec
}

// at returns the instant at which the clocks of loc read w. When they read
// it twice (the hour repeated as they go back in autumn) it is the first;
// when never (the hour skipped as they go forward in spring) at reports
// an error, so that a restriction never ends an hour off from what the
// operator wrote. time.Date leaves both cases to chance.
func (w wallClock) at(loc *time.Location) (time.Time, error) {
	return w.atOrAfter(loc, time.Time{})
}

// atOrAfter is at, but of the instants at which the clocks read w it
// returns the first after after.
func (w wallClock) atOrAfter(loc *time.Location, after time.Time) (time.Time, error) {
	asUTC := time.Date(w.year, w.month, w.day, w.hour, w.min, w.sec, 0, time.UTC)
	// A zone changes its offset at most once a day: the offsets in force a
	// day either side are every offset the wall time can have.
	var first time.Time
	shown := false
	for _, probe := range []time.Time{asUTC.Add(-24 * time.Hour), asUTC, asUTC.Add(24 * time.Hour)} {
		_, offset := probe.In(loc).Zone()
		t := asUTC.Add(-time.Duration(offset) * time.Second).In(loc)
		if !w.shows(t) {
			continue
		}
		shown = true
		if t.After(after) && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	switch {
	case !shown:
		return time.Time{}, &skippedError{w, loc}
	case first.IsZero():
		return time.Time{}, fmt.Errorf("%s in %s is past", w, zoneName(loc))
	}
	return first, nil
}

// skippedError reports a wall-clock time that a zone skips.
type skippedError struct {
	w   wallClock
	loc *time.Location
}

func (e *skippedError) Error() string {
	return fmt.Sprintf("%s does not exist in %s: the clocks skip it when they go forward", e.w, zoneName(e.loc))
}

// before reports whether the clock reading w comes before the time of
// day of t, on any day.
func (w wallClock) before(t time.Time) bool {
	h, m, s := t.Clock()
	return w.hour*3600+w.min*60+w.sec < h*3600+m*60+s
}

// startOfDay returns the first instant of the local day y-mo-d in loc:
// its midnight, or, where the clocks skip midnight, the moment they do.
func startOfDay(year int, month time.Month, day int, loc *time.Location) time.Time {
	for m := 0; m < 24*60; m++ {
		if t, err := (wallClock{year, month, day, m / 60, m % 60, 0}).at(loc); err == nil {
			return t
		}
	}
	return time.Date(year, month, day, 0, 0, 0, 0, loc) // unreachable: no zone skips a whole day's minutes
}

// zoneName names loc for people: its IANA name, or "local time" for a
// zone without one.
func zoneName(loc *time.Location) string {
	if loc == time.Local {
		return "local time"
	}
	return loc.String()
}

// zone returns the gateway's time zone, in which the CLI reads a DATE or a
// clock time and prints times: the one the daemon reports (its config's
// timezone), else this machine's own, as when the daemon is too old to
// say or cannot be reached (then the verb itself reports that).
func (cmd *command) zone() *time.Location {
	c := cmd.c
	if c.loc != nil {
		return c.loc
	}
	c.loc = config.LocalZone()
	client, err := api.NewClient(cmd.serverURL(), c.env("CURFEW_TOKEN"), c.hc)
	if err != nil {
		return c.loc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if name, err := client.TimeZone(ctx); err == nil && name != "" {
		if loc, err := config.LoadZone(name); err == nil {
			c.loc = loc
		}
	}
	return c.loc
}
