package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/curfew/curfew/internal/curfew"
)

// A ProblemKind says what is wrong with a log.
type ProblemKind string

// The problems a verification finds.
const (
	ProblemMalformed  ProblemKind = "malformed"  // a line that is not an event or checkpoint in canonical form
	ProblemMissing    ProblemKind = "missing"    // events Seq to To are not in the log
	ProblemOrder      ProblemKind = "order"      // event Seq comes after a later one, or twice
	ProblemLink       ProblemKind = "link"       // event Seq does not link to the event before it
	ProblemSignature  ProblemKind = "signature"  // the checkpoint of event Seq does not verify with the key
	ProblemMismatch   ProblemKind = "mismatch"   // event Seq is not the event its checkpoint signed: it was edited
	ProblemTruncated  ProblemKind = "truncated"  // the log ends at event To, but a checkpoint signed event Seq
	ProblemUnsigned   ProblemKind = "unsigned"   // events Seq to To are covered by no checkpoint
	ProblemNoLatest   ProblemKind = "no-latest"  // the latest checkpoint, kept apart from the log, is missing, though the log has checkpoints
	ProblemOldLatest  ProblemKind = "old-latest" // the latest checkpoint is older than checkpoint Seq, which the log holds or names
	ProblemLost       ProblemKind = "lost"       // checkpoint Seq, which event To names, is not in the log
	ProblemBroken     ProblemKind = "broken"     // event Seq records that the gateway found its log broken
	ProblemLegacy     ProblemKind = "legacy"     // the first release's log was broken when it was carried over at event Seq
	ProblemState      ProblemKind = "state"      // a stored row differs from what the log says
	ProblemReference  ProblemKind = "reference"  // event Seq changes a restriction no event created
	ProblemCheckpoint ProblemKind = "checkpoint" // a checkpoint comes after events past the one it signs
	ProblemEmpty      ProblemKind = "empty"      // an export holds no event
)

// Problem is one thing wrong with a log, as structured values; String
// renders it.
type Problem struct {
	Kind ProblemKind
	Seq  int64     // the event concerned, or the first of a range
	To   int64     // the last of a range, or a second event
	At   time.Time // when the checkpoint concerned was signed
	Line int64     // the line of an export, for a malformed one
	Err  string    // why a line is malformed

	Restriction curfew.RestrictionID // ProblemState, ProblemReference
	Device      string               // ProblemState: a device's MAC
	Fields      []string             // ProblemState: the fields that differ; empty if a row or a record is missing
	NoRow       bool                 // ProblemState: the log has it but the store has no row
	NoRecord    bool                 // ProblemState: the store has a row the log never recorded
}

// String describes p for an operator.
func (p Problem) String() string {
	rng := func(from, to int64) string {
		if from == to {
			return fmt.Sprintf("event %d", from)
		}
		return fmt.Sprintf("events %d to %d", from, to)
	}
	switch p.Kind {
	case ProblemMalformed:
		if p.Line > 0 {
			return fmt.Sprintf("line %d: not an event or a checkpoint in canonical form: %s", p.Line, p.Err)
		}
		return fmt.Sprintf("event %d: not in canonical form: %s", p.Seq, p.Err)
	case ProblemMissing:
		return fmt.Sprintf("%s: missing (deleted from the log)", rng(p.Seq, p.To))
	case ProblemOrder:
		return fmt.Sprintf("event %d: out of order (it follows event %d)", p.Seq, p.To)
	case ProblemLink:
		return fmt.Sprintf("event %d: broken link: it does not follow from event %d (an event was edited, inserted or reordered)", p.Seq, p.Seq-1)
	case ProblemSignature:
		return fmt.Sprintf("checkpoint of event %d signed at %s: the signature does not verify with the key", p.Seq, formatTime(p.At))
	case ProblemMismatch:
		return fmt.Sprintf("event %d: differs from the event the checkpoint signed at %s covers (it was edited or replaced)", p.Seq, formatTime(p.At))
	case ProblemTruncated:
		return fmt.Sprintf("truncated: the log ends at event %d, but the checkpoint signed at %s covers event %d", p.To, formatTime(p.At), p.Seq)
	case ProblemUnsigned:
		return fmt.Sprintf("%s: not covered by any checkpoint", rng(p.Seq, p.To))
	case ProblemNoLatest:
		return fmt.Sprintf("the latest checkpoint is missing, but the log holds or names checkpoints up to event %d", p.Seq)
	case ProblemOldLatest:
		return fmt.Sprintf("the latest checkpoint (of event %d) is older than the checkpoint of event %d that the log holds or names", p.To, p.Seq)
	case ProblemLost:
		return fmt.Sprintf("the checkpoint of event %d, which event %d says was signed, is missing", p.Seq, p.To)
	case ProblemBroken:
		return fmt.Sprintf("event %d: the gateway found its log broken here (a checkpoint was missing, older than the log says, or no longer matched it)", p.Seq)
	case ProblemLegacy:
		return fmt.Sprintf("event %d: the first release's log was already broken when it was carried over: only %d of its entries verified", p.Seq, p.To)
	case ProblemReference:
		return fmt.Sprintf("event %d: changes restriction %d, which no event created", p.Seq, p.Restriction)
	case ProblemEmpty:
		return "the export holds no event"
	case ProblemCheckpoint:
		return fmt.Sprintf("checkpoint of event %d: comes after event %d; a checkpoint follows the event it signs", p.Seq, p.To)
	case ProblemState:
		what := fmt.Sprintf("restriction %d", p.Restriction)
		if p.Device != "" {
			what = "device " + p.Device
		}
		switch {
		case p.NoRow:
			return what + ": the log has it, but its row was deleted"
		case p.NoRecord:
			return what + ": its row was never recorded in the log"
		}
		return fmt.Sprintf("%s: its row differs from the log in %s", what, strings.Join(p.Fields, ", "))
	}
	return string(p.Kind)
}

// Report is the outcome of a verification.
type Report struct {
	Events      int64 // events read
	First, Last int64 // sequence numbers of the first and last event read
	Checkpoints int   // checkpoints read whose signature verifies
	// Signed is the newest checkpoint that verifies and signs an event
	// read; nil if none.
	Signed *Checkpoint
	// Problems holds what is wrong, in the order found, at most
	// maxProblems; Omitted counts the rest.
	Problems []Problem
	Omitted  int
}

// Messages returns the problems rendered for an operator, in order, and a
// last line counting those left out, if any.
func (r *Report) Messages() []string {
	var m []string
	for _, p := range r.Problems {
		m = append(m, p.String())
	}
	if r.Omitted > 0 {
		m = append(m, fmt.Sprintf("and %d more problems", r.Omitted))
	}
	return m
}

// OK reports whether the log verified without a problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// Unsigned returns how many of the events read come after the newest
// checkpoint: the ones a signature does not cover yet.
func (r *Report) Unsigned() int64 {
	if r.Signed == nil {
		return r.Events
	}
	return max(0, r.Last-r.Signed.Seq)
}

// maxProblems bounds Report.Problems.
const maxProblems = 100

// A Verifier checks a log as it is read: the stored checkpoints and the
// latest one first, then the events in order (or, as in an export, each
// checkpoint right after the event it signs). It keeps a constant amount
// of memory whatever the length of the log, besides the checkpoints of
// events not read yet.
type Verifier struct {
	pub  ed25519.PublicKey
	from int64

	events      int64
	first       int64
	last        Head
	signed      *Checkpoint
	checkpoints int
	ahead       map[int64]*Checkpoint // verified checkpoints of events not read yet
	newest      int64                 // the newest verified checkpoint read
	latest      *Checkpoint           // the one kept apart; nil if missing
	haveLatest  bool                  // Latest was called
	claim       int64                 // the newest checkpoint an event names
	claimedBy   int64                 // that event

	problems []Problem
	omitted  int

	arenas []*arena // one per goroutine of Batch, reused by each call
}

// NewVerifier returns a Verifier of a log signed with pub. from is the
// sequence number the log must start at: 1 for a whole log; 0 accepts a
// log that starts anywhere (an export from a given event), whose first
// event's link is then taken as given.
func NewVerifier(pub ed25519.PublicKey, from int64) *Verifier {
	return &Verifier{pub: pub, from: from, ahead: map[int64]*Checkpoint{}}
}

func (v *Verifier) problem(p Problem) {
	if len(v.problems) >= maxProblems {
		v.omitted++
		return
	}
	v.problems = append(v.problems, p)
}

// Latest gives v the latest checkpoint as it is kept apart from the log
// (nil if there is none), which must be at least as new as every
// checkpoint the log holds or names. Call it before the events.
func (v *Verifier) Latest(data []byte) {
	v.haveLatest = true
	if data == nil {
		return
	}
	v.latest = v.checkpoint(data, 0)
	if v.latest != nil {
		v.checkpoints-- // counted where the log holds it
	}
}

// Checkpoint gives v one stored checkpoint.
func (v *Verifier) Checkpoint(data []byte) { v.checkpoint(data, 0) }

func (v *Verifier) checkpoint(data []byte, line int64) *Checkpoint {
	c, err := ParseCheckpoint(data)
	if err != nil {
		v.problem(Problem{Kind: ProblemMalformed, Line: line, Seq: v.last.Seq, Err: err.Error()})
		return nil
	}
	return v.addCheckpoint(c)
}

func (v *Verifier) addCheckpoint(c *Checkpoint) *Checkpoint {
	if err := c.Verify(v.pub); err != nil {
		v.problem(Problem{Kind: ProblemSignature, Seq: c.Seq, At: c.At})
		return nil
	}
	v.checkpoints++
	v.newest = max(v.newest, c.Seq)
	switch {
	case c.Seq == v.last.Seq:
		v.match(c, v.last.Hash)
	case c.Seq > v.last.Seq:
		if o := v.ahead[c.Seq]; o == nil || o.At.Before(c.At) {
			if o != nil && o.Head != c.Head {
				v.problem(Problem{Kind: ProblemMismatch, Seq: c.Seq, At: c.At})
			}
			v.ahead[c.Seq] = c
		}
	default:
		v.problem(Problem{Kind: ProblemCheckpoint, Seq: c.Seq, To: v.last.Seq})
	}
	return c
}

// match checks c against the hash of the event it signs.
func (v *Verifier) match(c *Checkpoint, h Hash) {
	if c.Head != h {
		v.problem(Problem{Kind: ProblemMismatch, Seq: c.Seq, At: c.At})
		return
	}
	if v.signed == nil || v.signed.Seq < c.Seq || v.signed.Seq == c.Seq && v.signed.At.Before(c.At) {
		v.signed = c
	}
}

// Event gives v the next event of the log and returns it decoded, or nil
// if it is not an event in canonical form (a problem v records).
func (v *Verifier) Event(data []byte) *Event {
	e, err := Decode(data)
	if err != nil {
		v.problem(Problem{Kind: ProblemMalformed, Seq: v.last.Seq + 1, Err: err.Error()})
		return nil
	}
	return v.event(data, e, Sum(data))
}

// A Line is one line of a log as a store or an export gives it: an
// event's encoding, or a checkpoint's.
type Line struct {
	Data       []byte
	Checkpoint bool  // Data is a checkpoint
	Number     int64 // its line number in an export, for the report; 0 if none
}

// Batch gives v the next lines of the log, in order, as Event and
// Checkpoint do one at a time, and returns the events decoded (nil where a
// line is not one). It decodes and hashes them on all the cores, then
// checks them in order: a long log verifies several times faster this way.
// The events it returns are valid until the next call to Batch, which
// reuses their memory: a caller keeps what it needs of them (State.Apply
// keeps nothing of an event).
func (v *Verifier) Batch(lines []Line) []*Event {
	type parsed struct {
		e    *Event
		c    *Checkpoint
		err  error
		hash Hash
	}
	out := make([]parsed, len(lines))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(lines)/256))
	for len(v.arenas) < workers {
		v.arenas = append(v.arenas, &arena{})
	}
	parse := func(a *arena, from, to int) {
		a.reset()
		for i := from; i < to; i++ {
			p := &out[i]
			p.e, p.c, p.err = parseLineIn(lines[i].Data, a)
			switch {
			case p.err != nil:
			case lines[i].Checkpoint != (p.c != nil):
				p.err = errors.New("an event where a checkpoint was expected, or a checkpoint where an event was")
			case p.e != nil:
				p.hash = Sum(lines[i].Data)
			}
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		from, to := w*len(lines)/workers, (w+1)*len(lines)/workers
		a := v.arenas[w]
		wg.Go(func() { parse(a, from, to) })
	}
	wg.Wait()
	evs := make([]*Event, len(lines))
	for i, p := range out {
		switch {
		case p.err != nil:
			v.problem(Problem{Kind: ProblemMalformed, Line: lines[i].Number, Seq: v.last.Seq + 1, Err: p.err.Error()})
		case p.c != nil:
			v.addCheckpoint(p.c)
		default:
			evs[i] = v.event(lines[i].Data, p.e, p.hash)
		}
	}
	return evs
}

// event checks e, whose encoding data hashes to h.
func (v *Verifier) event(data []byte, e *Event, h Hash) *Event {
	switch {
	case v.events == 0:
		v.first = e.Seq
		switch {
		case v.from > 0 && e.Seq > v.from:
			v.problem(Problem{Kind: ProblemMissing, Seq: v.from, To: e.Seq - 1})
		case v.from > 0 && e.Seq < v.from:
			v.problem(Problem{Kind: ProblemOrder, Seq: e.Seq, To: v.from - 1})
		case e.Seq == 1 && !e.Prev.IsZero():
			v.problem(Problem{Kind: ProblemLink, Seq: 1})
		}
	case e.Seq <= v.last.Seq:
		v.problem(Problem{Kind: ProblemOrder, Seq: e.Seq, To: v.last.Seq})
	case e.Seq > v.last.Seq+1:
		v.problem(Problem{Kind: ProblemMissing, Seq: v.last.Seq + 1, To: e.Seq - 1})
		// After events lost from the end of a log, curfew goes on from the
		// latest checkpoint, which then proves this link.
		if c := v.ahead[e.Seq-1]; c != nil && c.Head != e.Prev {
			v.problem(Problem{Kind: ProblemLink, Seq: e.Seq})
		}
		for seq := range v.ahead {
			if seq < e.Seq {
				delete(v.ahead, seq) // of missing events: reported above
			}
		}
	case e.Prev != v.last.Hash:
		v.problem(Problem{Kind: ProblemLink, Seq: e.Seq})
	}
	v.events++
	v.last = Head{Seq: e.Seq, Hash: h}
	if c := v.ahead[e.Seq]; c != nil {
		v.match(c, h)
		delete(v.ahead, e.Seq)
	}
	if e.LastCheckpoint > v.claim {
		v.claim, v.claimedBy = e.LastCheckpoint, e.Seq
	}
	switch {
	case e.Kind == KindAuditBroken:
		v.problem(Problem{Kind: ProblemBroken, Seq: e.Seq})
	case e.Kind == KindAuditUpgraded && e.After != nil && e.After.LegacyIntact < e.After.LegacyEntries:
		v.problem(Problem{Kind: ProblemLegacy, Seq: e.Seq, To: e.After.LegacyIntact})
	}
	return e
}

// Report returns the verdict on what v was given. requireSigned makes
// events after the newest checkpoint a problem: an export must end with
// one, while a live log has up to a minute of events not signed yet.
func (v *Verifier) Report(requireSigned bool) *Report {
	r := &Report{Events: v.events, First: v.first, Last: v.last.Seq, Checkpoints: v.checkpoints, Signed: v.signed}
	var truncated []*Checkpoint
	for _, c := range v.ahead {
		truncated = append(truncated, c)
	}
	if len(truncated) > 0 {
		newest := truncated[0]
		for _, c := range truncated {
			if c.Seq > newest.Seq {
				newest = c
			}
		}
		v.problem(Problem{Kind: ProblemTruncated, Seq: newest.Seq, To: v.last.Seq, At: newest.At})
	}
	if v.haveLatest {
		switch {
		case v.latest == nil && max(v.newest, v.claim) > 0:
			v.problem(Problem{Kind: ProblemNoLatest, Seq: max(v.newest, v.claim)})
		case v.latest != nil && v.latest.Seq < max(v.newest, v.claim):
			v.problem(Problem{Kind: ProblemOldLatest, Seq: max(v.newest, v.claim), To: v.latest.Seq})
		}
	}
	if v.claim > v.newest {
		v.problem(Problem{Kind: ProblemLost, Seq: v.claim, To: v.claimedBy})
	}
	if requireSigned && v.events > 0 && (v.signed == nil || v.signed.Seq < v.last.Seq) {
		from := v.first
		if v.signed != nil {
			from = v.signed.Seq + 1
		}
		v.problem(Problem{Kind: ProblemUnsigned, Seq: from, To: v.last.Seq})
	}
	r.Problems, r.Omitted = v.problems, v.omitted
	return r
}

// Add records in r a problem found outside the log itself, such as a
// stored row that differs from it, after those of the log.
func (r *Report) Add(p Problem) {
	if len(r.Problems) >= maxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, p)
}

// maxLine bounds one line of an export.
const maxLine = 1 << 20

// batchSize is how many lines Verify checks at once.
const batchSize = 4096

// Verify checks an export (curfew audit export: one event or checkpoint
// per line, each checkpoint right after the event it signs) against pub,
// the gateway's public key. It needs nothing else. The export may start at
// any event, but must end with a checkpoint of its last event, so that
// every byte of it is covered by a signature. The error is for failures to
// read; what is wrong with the log is in the report.
func Verify(export io.Reader, pub ed25519.PublicKey) (*Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("verifying: invalid ed25519 public key")
	}
	v := NewVerifier(pub, 0)
	br := bufio.NewReaderSize(export, 64<<10)
	// Lines are checked in batches (Batch), each ending at a line that
	// cannot be parsed: its line number goes into the report.
	var batch []Line
	flush := func() {
		v.Batch(batch)
		batch = batch[:0]
	}
	for n := int64(1); ; n++ {
		data, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), data...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine {
				data, err = br.ReadSlice('\n')
				long = append(long, data...)
			}
			data = long
		}
		if errors.Is(err, io.EOF) && len(data) == 0 {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("reading the export: %w", err)
		}
		if len(data) > maxLine || err != nil {
			flush()
			v.problem(Problem{Kind: ProblemMalformed, Line: n, Err: "line too long or not ended by a newline"})
			if err != nil {
				break
			}
			continue
		}
		data = bytes.Clone(data[:len(data)-1])
		// A line's kind is known from its first key: a checkpoint's is
		// "at", an event's "actor" (every event has one, and it sorts
		// first). Anything else is parsed on its own, for the report.
		switch {
		case bytes.HasPrefix(data, []byte(`{"at":`)):
			batch = append(batch, Line{Data: data, Checkpoint: true, Number: n})
		case bytes.HasPrefix(data, []byte(`{"actor":`)):
			batch = append(batch, Line{Data: data, Number: n})
		default:
			flush()
			if _, _, err := parseLine(data); err != nil {
				v.problem(Problem{Kind: ProblemMalformed, Line: n, Err: err.Error()})
			} else {
				v.problem(Problem{Kind: ProblemMalformed, Line: n, Err: "not in canonical form"})
			}
			continue
		}
		if len(batch) == batchSize {
			flush()
		}
	}
	flush()
	if v.events == 0 {
		v.problem(Problem{Kind: ProblemEmpty})
	}
	return v.Report(true), nil
}
