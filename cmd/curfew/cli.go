package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/curfew/curfew/internal/api"
	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/curfew"
)

// defaultServer is the API address of a daemon with the default config.
const defaultServer = "http://127.0.0.1:8470"

// cli is one invocation of a client verb: its streams, environment and
// clock. Verbs are methods that return the exit code.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	now            func() time.Time
	// loc is the gateway's zone, for reading and printing local times;
	// nil until the verb's command asks the daemon for it (command.zone).
	loc    *time.Location
	server string       // from the global --server flag; may be empty
	hc     *http.Client // nil: api.NewClient's default
	cmd    *command     // the verb's command line, once parsing starts
}

// command is the parsed command line of one verb.
type command struct {
	c      *cli
	verb   string // such as "restrict" or "device add"
	fs     *flag.FlagSet
	server *string
	output *string // nil unless the verb takes -o

	synopsis string // follows the verb in the help text
}

// help prints the verb's usage and flags on stdout.
func (cmd *command) help() {
	fmt.Fprintf(cmd.c.stdout, "usage: curfew %s %s\n\nflags:\n", cmd.verb, cmd.synopsis)
	cmd.fs.SetOutput(cmd.c.stdout)
	cmd.fs.PrintDefaults()
	cmd.fs.SetOutput(io.Discard)
}

// newCommand starts the flags of verb. synopsis follows the verb in its
// help text.
func (c *cli) newCommand(verb, synopsis string) *command {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd := &command{c: c, verb: verb, fs: fs}
	c.cmd = cmd
	cmd.server = fs.String("server", "", "API `URL` (default $CURFEW_SERVER or "+defaultServer+")")
	cmd.synopsis = synopsis
	fs.Usage = func() {} // errors are reported on one line; -h prints help
	return cmd
}

// withOutput adds the -o flag.
func (cmd *command) withOutput() *command {
	cmd.output = cmd.fs.String("o", "text", "output `format`: text or json")
	return cmd
}

// parse parses args, in which flags and positional arguments may be mixed,
// and returns the positional ones. After "--" every argument is positional.
// On error it has already reported it and returns the exit code: 0 for -h,
// 2 otherwise.
func (cmd *command) parse(args []string) (pos []string, code int, ok bool) {
	for {
		before := args
		if err := cmd.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				cmd.help()
				return nil, 0, false
			}
			return nil, cmd.usage(err), false
		}
		consumed := len(before) - cmd.fs.NArg()
		args = cmd.fs.Args()
		if consumed > 0 && before[consumed-1] == "--" {
			pos = append(pos, args...)
			break
		}
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if cmd.output != nil && *cmd.output != "text" && *cmd.output != "json" {
		return nil, cmd.usage(fmt.Errorf("-o: %q is not text or json", *cmd.output)), false
	}
	return pos, 0, true
}

// json reports whether -o json was asked for.
func (cmd *command) json() bool { return cmd.output != nil && *cmd.output == "json" }

// usage reports a usage error and returns its exit code.
func (cmd *command) usage(err error) int { return usageError(cmd.c.stderr, cmd.verb, err) }

// fail reports err from the server and returns its exit code: 2 for what the
// server rejected as wrong (invalid, unknown, conflicting), 1 otherwise.
func (cmd *command) fail(err error) int {
	code := 1
	if errors.Is(err, curfew.ErrInvalid) || errors.Is(err, curfew.ErrNotFound) || errors.Is(err, curfew.ErrConflict) {
		code = 2
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		err = fmt.Errorf("no curfew server at %s (connection refused); is the daemon running?", cmd.serverURL())
	}
	fmt.Fprintln(cmd.c.stderr, errorLine(cmd.verb, err))
	return code
}

var errNoToken = errors.New("CURFEW_TOKEN is not set; create a token with 'curfew init' or 'curfew token create'")

func (cmd *command) serverURL() string {
	switch {
	case *cmd.server != "":
		return *cmd.server
	case cmd.c.server != "":
		return cmd.c.server
	case cmd.c.env("CURFEW_SERVER") != "":
		return cmd.c.env("CURFEW_SERVER")
	}
	return defaultServer
}

// client returns the API client for the server and token the command line
// and environment name. On error it has reported it and returns the exit
// code.
// clientNoArgs parses args for a verb that takes flags only and returns
// the API client; ok is false, with the exit code, on bad input.
func (cmd *command) clientNoArgs(args []string) (client *api.Client, code int, ok bool) {
	pos, code, ok := cmd.parse(args)
	if !ok {
		return nil, code, false
	}
	if len(pos) > 0 {
		return nil, cmd.usage(fmt.Errorf("unexpected argument %q", pos[0])), false
	}
	return cmd.client()
}

func (cmd *command) client() (*api.Client, int, bool) {
	token := cmd.c.env("CURFEW_TOKEN")
	if token == "" {
		return nil, cmd.usage(errNoToken), false
	}
	client, err := api.NewClient(cmd.serverURL(), token, cmd.c.hc)
	if err != nil {
		return nil, cmd.usage(fmt.Errorf("--server: %w", err)), false
	}
	return client, 0, true
}

// writeJSON prints v as indented JSON.
func (cmd *command) writeJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintln(cmd.c.stderr, errorLine(cmd.verb, fmt.Errorf("encoding output: %w", err)))
		return 1
	}
	cmd.c.stdout.Write(append(b, '\n'))
	return 0
}

// table returns a writer that aligns tab-separated columns; flush it.
func (c *cli) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
}

// stringList is a flag that may be repeated and takes comma-separated
// values.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// parseID parses a restriction ID argument.
// parseOneID parses args for a verb that takes one restriction ID and
// flags; ok is false, with the exit code, on bad input.
func (cmd *command) parseOneID(args []string) (id curfew.RestrictionID, code int, ok bool) {
	pos, code, ok := cmd.parse(args)
	if !ok {
		return 0, code, false
	}
	if len(pos) != 1 {
		return 0, cmd.usage(errors.New("want exactly one restriction ID")), false
	}
	id, err := parseID(pos[0])
	if err != nil {
		return 0, cmd.usage(err), false
	}
	return id, 0, true
}

func parseID(s string) (curfew.RestrictionID, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("ID: %q is not a restriction id (a positive integer)", s)
	}
	return curfew.RestrictionID(id), nil
}

var daysPrefix = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseFor parses a --for duration: a Go duration, optionally led by a
// number of days ("3d", "1d12h").
func parseFor(s string) (time.Duration, error) {
	bad := fmt.Errorf("--for: %q is not a duration (such as 90m, 2h30m or 3d)", s)
	if s == "" {
		return 0, bad
	}
	if strings.HasPrefix(s, "-") {
		if _, err := parseFor(s[1:]); err == nil {
			return 0, fmt.Errorf("--for: %q is negative", s)
		}
		return 0, bad
	}
	var d time.Duration
	rest := s
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > 100000 {
			return 0, bad
		}
		d, rest = time.Duration(days)*24*time.Hour, m[2]
	}
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || strings.HasPrefix(rest, "+") {
			return 0, bad
		}
		if r < 0 {
			return 0, fmt.Errorf("--for: %q is negative", s)
		}
		d += r
	}
	if d == 0 {
		return 0, fmt.Errorf("--for: %q is zero; a restriction must last", s)
	}
	return d, nil
}

// parseUntil parses an --until time: RFC 3339, "YYYY-MM-DD HH:MM[:SS]"
// (also with a T) in loc, or "HH:MM" meaning the next such time in loc
// after now: today's, or tomorrow's if today's is past. A local time the
// clocks show twice (autumn) is the first of the two; one they skip
// (spring) is refused. The time must be after now.
func parseUntil(s string, now time.Time, loc *time.Location) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = parseLocal(s, now, loc)
	}
	if errors.Is(err, errNoLayout) {
		return time.Time{}, fmt.Errorf(`--until: %q is not a time (want RFC 3339, "HH:MM" or "YYYY-MM-DD HH:MM")`, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("--until: %w", err)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("--until: %s is not in the future", t.In(loc).Format("2006-01-02 15:04:05 MST"))
	}
	return t, nil
}

// parseFrom parses a --from time: what parseUntil takes, or "YYYY-MM-DD",
// the start of that day in loc. The time must be after now.
func parseFrom(s string, now time.Time, loc *time.Location) (time.Time, error) {
	var t time.Time
	d, err := time.Parse("2006-01-02", s)
	switch {
	case err == nil:
		t = startOfDay(d.Year(), d.Month(), d.Day(), loc)
	default:
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			t, err = parseLocal(s, now, loc)
		}
	}
	if errors.Is(err, errNoLayout) {
		return time.Time{}, fmt.Errorf(`--from: %q is not a time (want RFC 3339, "HH:MM", "YYYY-MM-DD HH:MM" or "YYYY-MM-DD")`, s)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("--from: %w", err)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("--from: %s is not in the future (leave --from out to start now)", t.In(loc).Format("2006-01-02 15:04:05 MST"))
	}
	return t, nil
}

func parseLocal(s string, now time.Time, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return wallOf(t).at(loc)
		}
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		clock, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		// The next time the clocks show it: today (the second time, in
		// an hour they repeat, if the first is past), or else tomorrow.
		// Today's skipped by the clocks is refused rather than taken as
		// tomorrow's, a day later than meant.
		n := now.In(loc)
		w := wallClock{n.Year(), n.Month(), n.Day(), clock.Hour(), clock.Minute(), clock.Second()}
		t, err := w.atOrAfter(loc, now)
		if err == nil {
			return t, nil
		}
		if skipped := (*skippedError)(nil); errors.As(err, &skipped) && !w.before(n) {
			return time.Time{}, err
		}
		next := n.AddDate(0, 0, 1)
		w.year, w.month, w.day = next.Year(), next.Month(), next.Day()
		return w.at(loc)
	}
	return time.Time{}, errNoLayout
}

// errNoLayout is parseLocal's error for text that is no local time.
var errNoLayout = errors.New("no layout matched")

// wallOf returns the wall clock reading of t, dropping its zone.
func wallOf(t time.Time) wallClock {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return wallClock{y, mo, d, h, mi, sec}
}

// formatTime prints t for people, in the gateway's zone.
func (c *cli) formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(c.zone()).Format("2006-01-02 15:04 MST")
}

// formatTimeUTC is formatTime followed by the time in UTC when the
// gateway's zone is not UTC, for a restriction's start and end, which an
// operator may compare with logs elsewhere.
func (c *cli) formatTimeUTC(t time.Time) string {
	local := c.formatTime(t)
	if t.IsZero() {
		return local
	}
	if _, offset := t.In(c.zone()).Zone(); offset == 0 {
		return local
	}
	u, l := t.UTC(), t.In(c.zone())
	if u.YearDay() == l.YearDay() {
		return local + " (" + u.Format("15:04") + " UTC)"
	}
	return local + " (" + u.Format("2006-01-02 15:04") + " UTC)"
}

// zone returns the gateway's zone (see command.zone).
func (c *cli) zone() *time.Location {
	switch {
	case c.loc != nil:
		return c.loc
	case c.cmd != nil:
		return c.cmd.zone()
	}
	c.loc = config.LocalZone()
	return c.loc
}

// short returns the first line of s, cut to n characters.
func short(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if utf8.RuneCountInString(s) > n {
		s, cut = string([]rune(s)[:n-1]), true
	}
	if cut {
		s += "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

// waiting says who must act on what r waits for, as list and show print
// it, in c's zone; empty if r waits for nothing.
func (c *cli) waiting(r *curfew.Restriction) string {
	a := r.Approval
	if !a.Pending() {
		return ""
	}
	s := "needs approval by an operator other than " + a.Asker
	if a.Extension() {
		s = "extension to " + c.formatTime(a.ExtendTo) + " " + s
	}
	return s
}
