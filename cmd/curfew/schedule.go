package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/curfew"
)

const scheduleUsage = `usage: curfew schedule add SUBJECT --days DAYS --from HH:MM --to HH:MM --until DATE --reason TEXT
                           [--tz ZONE] [--mode M] [--allow D,..] [--block D,..] [--rate R] [--notice TEXT]
       curfew schedule remove ID --reason TEXT`

var errScheduleSubcommand = errors.New("want a subcommand: schedule add SUBJECT ... or schedule remove ID --reason TEXT")

// schedule runs `curfew schedule add|remove`.
func (c *cli) schedule(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return c.scheduleAdd(args[1:])
		case "remove":
			return c.scheduleRemove(args[1:])
		case "-h", "--help", "help":
			fmt.Fprintln(c.stdout, scheduleUsage)
			return 0
		}
	}
	return usageError(c.stderr, "schedule", errScheduleSubcommand)
}

// scheduleAdd runs `curfew schedule add SUBJECT --days DAYS --from HH:MM
// --to HH:MM --until DATE --reason TEXT [--tz ZONE] [--mode M] [--allow
// D,..] [--block D,..] [--rate R] [--notice TEXT]` and prints the new schedule's id
// alone.
func (c *cli) scheduleAdd(args []string) int {
	cmd := c.newCommand("schedule add", "SUBJECT --days DAYS --from HH:MM --to HH:MM --until DATE --reason TEXT [flags]")
	days := cmd.fs.String("days", "", "daily, weekdays, weekends, or days and ranges such as mon-thu,sun (required)")
	from := cmd.fs.String("from", "", "local time each window starts, HH:MM (required)")
	to := cmd.fs.String("to", "", "local time each window ends, HH:MM; before --from: the next day (required)")
	untilS := cmd.fs.String("until", "", `when the schedule ends: "YYYY-MM-DD" (the end of that day in --tz) or as for restrict (required)`)
	tz := cmd.fs.String("tz", "", "IANA time zone of --from and --to, such as Europe/London (default: the gateway's timezone)")
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	pf := addPolicyFlags(cmd.fs, "text shown to the restricted person during a window")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}

	// Check everything here, so that a mistake sends nothing.
	switch {
	case len(pos) == 0:
		return cmd.usage(errors.New("missing SUBJECT, such as person:NAME, device:02:00:00:00:00:01 or group:NAME"))
	case len(pos) > 1:
		return cmd.usage(fmt.Errorf("unexpected argument %q after the subject", pos[1]))
	case *days == "":
		return cmd.usage(errors.New("missing --days DAYS, such as daily, weekdays or mon-thu,sun"))
	case *from == "" || *to == "":
		return cmd.usage(errors.New("missing --from HH:MM or --to HH:MM: a window needs both"))
	case *untilS == "":
		return cmd.usage(errors.New("missing --until DATE: every schedule must end"))
	case strings.TrimSpace(*reason) == "":
		return cmd.usage(errors.New("missing --reason TEXT: every schedule needs one"))
	}
	m, rate, err := pf.parse()
	if err != nil {
		return cmd.usage(err)
	}
	loc := cmd.zone() // the gateway's, which --until DATE and the default --tz mean
	if *tz != "" {
		if loc, err = curfew.LoadZone(*tz); err != nil {
			return cmd.usage(fmt.Errorf("--tz: %w", err))
		}
	}
	now := c.now()
	until, err := parseScheduleUntil(*untilS, now, loc)
	if err != nil {
		return cmd.usage(err)
	}
	req := curfew.ScheduleRequest{Subject: pos[0], Days: *days, From: *from, To: *to, Zone: *tz, Until: until,
		Mode: m, Allow: pf.allow, Block: pf.block, Rate: rate, Reason: *reason, Notice: *pf.notice, Force: *pf.force}
	// Without --tz the gateway's zone applies, which the server knows:
	// the check here needs only a zone with a name.
	check := loc
	if check.String() == "Local" {
		check = time.UTC
	}
	if _, err := req.Schedule(now, "cli", check); err != nil {
		return cmd.usage(err)
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	s, err := client.AddSchedule(context.Background(), req)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintln(c.stdout, strconv.FormatInt(int64(s.ID), 10))
	return 0
}

// parseScheduleUntil parses a schedule's --until: "YYYY-MM-DD", the end of
// that day (the midnight after it) in loc, or what parseUntil takes.
func parseScheduleUntil(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		t := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
		if !t.After(now) {
			return time.Time{}, fmt.Errorf("--until: %s is in the past", s)
		}
		return t, nil
	}
	t, err := parseUntil(s, now, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf(`%w (or "YYYY-MM-DD", the end of that day)`, err)
	}
	return t, nil
}

// scheduleRemove runs `curfew schedule remove ID --reason TEXT`.
func (c *cli) scheduleRemove(args []string) int {
	cmd := c.newCommand("schedule remove", "ID --reason TEXT")
	reason := cmd.fs.String("reason", "", "why, for the audit log (required)")
	pos, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return cmd.usage(errors.New("want one schedule ID (see curfew schedules)"))
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return cmd.usage(fmt.Errorf("schedule id %q is not a positive integer", pos[0]))
	}
	if strings.TrimSpace(*reason) == "" {
		return cmd.usage(errors.New("missing --reason TEXT: removing a schedule needs one"))
	}
	client, code, ok := cmd.client()
	if !ok {
		return code
	}
	s, err := client.RemoveSchedule(context.Background(), curfew.ScheduleID(id), *reason)
	if err != nil {
		return cmd.fail(err)
	}
	fmt.Fprintf(c.stdout, "schedule %d removed\n", s.ID)
	return 0
}

// schedules runs `curfew schedules [--all] [-o json]`: each schedule with
// its next window (or the one open now) in the schedule's local time and
// in UTC.
func (c *cli) schedules(args []string) int {
	cmd := c.newCommand("schedules", "[--all] [-o json]").withOutput()
	all := cmd.fs.Bool("all", false, "include removed and ended schedules")
	client, code, ok := cmd.clientNoArgs(args)
	if !ok {
		return code
	}
	ss, err := client.Schedules(context.Background(), curfew.ScheduleFilter{All: *all})
	if err != nil {
		return cmd.fail(err)
	}
	now := c.now()
	if cmd.json() {
		out := make([]api.Schedule, 0, len(ss))
		for _, s := range ss {
			out = append(out, api.ScheduleToAPI(s, now))
		}
		return cmd.writeJSON(out)
	}
	tw := c.table()
	fmt.Fprintln(tw, "ID\tSUBJECT\tDAYS\tWINDOW\tMODE\tNEXT (LOCAL)\tNEXT (UTC)\tUNTIL\tREASON")
	for _, s := range ss {
		next := "-\t-"
		if w, ok := s.Next(now); ok {
			open := ""
			if !w.Start.After(now) {
				open = "open, "
			}
			next = fmt.Sprintf("%s%s – %s\t%s – %s", open,
				w.Start.In(s.Zone).Format("Mon 2006-01-02 15:04 MST"), w.End.In(s.Zone).Format("15:04 MST"),
				w.Start.UTC().Format("2006-01-02 15:04Z"), w.End.UTC().Format("15:04Z"))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s–%s %s\t%s\t%s\t%s\t%s\n", s.ID, s.Subject, s.Days, s.From, s.To, s.Zone,
			s.Mode, next, c.formatTime(s.Until), short(s.Reason, 40))
	}
	tw.Flush()
	return 0
}
