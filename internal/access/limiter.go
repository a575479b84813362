package access

import (
	"container/list"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// Limit bounds failed attempts to authenticate, per source: an IPv4
// address, or the /64 of an IPv6 address (a host picks addresses in its
// /64 at will).
type Limit struct {
	// Failures is how many failures a source may make in a row; after
	// that it may make one more every Every. The defaults, 10 and 6s,
	// allow ten failures a minute.
	Failures int
	Every    time.Duration
	// Sources bounds the sources tracked at once, and so the memory the
	// limit takes whoever floods it; the default is 1024. Sources beyond
	// it, while it is full, share one allowance.
	Sources int
}

// DefaultLimit returns the limit the daemon uses.
func DefaultLimit() Limit { return Limit{Failures: 10, Every: 6 * time.Second, Sources: 1024} }

// maxReasons bounds the distinct reasons counted per source between two
// audit entries; further ones are counted as "other".
const maxReasons = 8

// otherSources names the shared allowance of the sources that found the
// table full.
const otherSources = "other sources"

// guard applies a Limit and counts the failures it sees for the audit
// log. It is a token bucket per source, kept as the instant at which the
// bucket is full again, so that an idle source costs nothing to keep and
// is dropped once its bucket is full.
//
// Failures are audited in aggregate: the first of a source is reported at
// once, later ones are counted and reported together when a window
// (Failures × Every) has passed since the source's last report, by the
// next event of that source or by due. So a source costs the audit log at
// most about one entry per window however fast it tries.
type guard struct {
	limit  Limit
	window time.Duration // Failures × Every

	mu       sync.Mutex
	sources  map[string]*list.Element // key → element of order holding a *source
	order    list.List                // the tracked sources, least recently failed first
	overflow source                   // the allowance shared by sources beyond limit.Sources
}

// source is the state of one source.
type source struct {
	key     string
	full    time.Time // when its bucket is full again; each failure moves it Every later
	last    time.Time // its last failure
	audited time.Time // when its failures were last reported; zero: never
	pending tally     // failures and refusals not reported yet
}

// tally counts a source's events between two reports.
type tally struct {
	first, last time.Time
	reasons     map[string]int // why attempts failed
	refused     int            // attempts refused while the source was limited
}

func (t *tally) empty() bool { return len(t.reasons) == 0 && t.refused == 0 }

// report is what an audit entry of failures says.
type report struct {
	source string
	tally
}

func newGuard(l Limit) *guard {
	def := DefaultLimit()
	if l.Failures <= 0 {
		l.Failures = def.Failures
	}
	if l.Every <= 0 {
		l.Every = def.Every
	}
	if l.Sources <= 0 {
		l.Sources = def.Sources
	}
	return &guard{
		limit:    l,
		window:   time.Duration(l.Failures) * l.Every,
		sources:  map[string]*list.Element{},
		overflow: source{key: otherSources},
	}
}

// sourceKey returns the key src is limited by.
func sourceKey(src netip.Addr) string {
	src = src.Unmap()
	switch {
	case !src.IsValid():
		return "unknown address"
	case src.Is6():
		return netip.PrefixFrom(src.WithZone(""), 64).Masked().String()
	}
	return src.String()
}

// admit returns a *curfew.LimitError if src may not try now, and counts
// the refusal. It also returns the reports due for the audit log.
func (g *guard) admit(src netip.Addr, now time.Time) ([]*report, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	due := g.prune(now)
	s := g.lookup(sourceKey(src), false)
	if s == nil {
		return due, nil
	}
	// A bucket holds Failures tokens; one more failure is allowed while at
	// least one is left, that is while full is at most window-Every ahead.
	wait := s.full.Sub(now) - (g.window - g.limit.Every)
	if wait <= 0 {
		return due, nil
	}
	if r := g.note(s, now, ""); r != nil {
		due = append(due, r)
	}
	return due, &curfew.LimitError{Source: s.key, Wait: wait}
}

// fail counts a failed attempt from src for reason and returns the
// reports due for the audit log.
func (g *guard) fail(src netip.Addr, now time.Time, reason string) []*report {
	g.mu.Lock()
	defer g.mu.Unlock()
	due := g.prune(now)
	s := g.lookup(sourceKey(src), true)
	s.full = later(s.full, now).Add(g.limit.Every)
	s.last = now
	if e, ok := g.sources[s.key]; ok {
		g.order.MoveToBack(e)
	}
	if r := g.note(s, now, reason); r != nil {
		due = append(due, r)
	}
	return due
}

// lookup returns the state of key: its own if tracked; a new one if
// create is set and there is room; otherwise the shared one if the table
// is full, or nil (an untracked source has its whole allowance).
func (g *guard) lookup(key string, create bool) *source {
	if e, ok := g.sources[key]; ok {
		return e.Value.(*source)
	}
	if len(g.sources) >= g.limit.Sources {
		return &g.overflow
	}
	if !create {
		return nil
	}
	s := &source{key: key}
	g.sources[key] = g.order.PushBack(s)
	return s
}

// prune drops the sources whose last failure is a window old, so their
// bucket is full again, and returns the reports of those that had events
// not reported yet. g.mu must be held.
func (g *guard) prune(now time.Time) []*report {
	var due []*report
	for e := g.order.Front(); e != nil; e = g.order.Front() {
		s := e.Value.(*source)
		if now.Sub(s.last) < g.window {
			break
		}
		if !s.pending.empty() {
			due = append(due, g.take(s, now))
		}
		g.order.Remove(e)
		delete(g.sources, s.key)
	}
	return due
}

// note counts an event of s (a failure for reason, or a refusal if
// reason is empty) and returns a report if one is due: if s was never
// reported, or last reported a window ago. g.mu must be held.
func (g *guard) note(s *source, now time.Time, reason string) *report {
	t := &s.pending
	if t.empty() {
		t.first = now
	}
	t.last = now
	if reason == "" {
		t.refused++
	} else {
		if t.reasons == nil {
			t.reasons = map[string]int{}
		}
		if _, ok := t.reasons[reason]; !ok && len(t.reasons) >= maxReasons {
			reason = "other"
		}
		t.reasons[reason]++
	}
	if s.audited.IsZero() || now.Sub(s.audited) >= g.window {
		return g.take(s, now)
	}
	return nil
}

// take returns the report of s's pending events and starts a new tally.
// g.mu must be held.
func (g *guard) take(s *source, now time.Time) *report {
	r := &report{source: s.key, tally: s.pending}
	s.pending = tally{}
	s.audited = now
	return r
}

// due returns the reports of sources whose pending events have waited a
// window since their last report, or of every source with pending events
// if all is set.
func (g *guard) due(now time.Time, all bool) []*report {
	g.mu.Lock()
	defer g.mu.Unlock()
	due := g.prune(now)
	for _, s := range append(g.tracked(), &g.overflow) {
		if !s.pending.empty() && (all || now.Sub(s.audited) >= g.window) {
			due = append(due, g.take(s, now))
		}
	}
	return due
}

// tracked returns the tracked sources. g.mu must be held.
func (g *guard) tracked() []*source {
	ss := make([]*source, 0, len(g.sources))
	for e := g.order.Front(); e != nil; e = e.Next() {
		ss = append(ss, e.Value.(*source))
	}
	return ss
}

// size returns how many sources are tracked.
func (g *guard) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sources)
}

// String describes r for the audit log, such as "3 failed attempts to
// authenticate from 21:00:01 to 21:00:09 UTC (2 unknown token, 1 wrong
// password for alice); 40 refused while rate-limited".
func (r *report) String() string {
	var b strings.Builder
	failed := 0
	for _, n := range r.reasons {
		failed += n
	}
	span := r.first.UTC().Format(time.RFC3339)
	if !r.last.Equal(r.first) {
		span = "from " + span + " to " + r.last.UTC().Format(time.RFC3339)
	} else {
		span = "at " + span
	}
	plural := "s"
	if failed == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "%d failed attempt%s to authenticate %s", failed, plural, span)
	if failed > 0 {
		parts := make([]string, 0, len(r.reasons))
		for _, reason := range slices.Sorted(maps.Keys(r.reasons)) {
			parts = append(parts, fmt.Sprintf("%d %s", r.reasons[reason], reason))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	if r.refused > 0 {
		fmt.Fprintf(&b, "; %d refused while rate-limited", r.refused)
	}
	return b.String()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
