package audit_test

import (
	"testing"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// benchEvents returns n sealed events shaped like a busy gateway's log:
// restrictions created, applied and lifted, each with a reason.
func benchEvents(b *testing.B, n int) [][]byte {
	b.Helper()
	events := make([][]byte, 0, n)
	head := audit.Head{}
	for i := range n {
		id := curfew.RestrictionID(i/3 + 1)
		var e *audit.Event
		switch i % 3 {
		case 0:
			e = &audit.Event{Kind: audit.KindRestrictionCreated, Actor: "olga", Subject: "device:02:be:00:01:02:03", Restriction: id,
				Reason: "homework first, as agreed at the family meeting",
				After:  &audit.Fields{Mode: curfew.ModeCutoff, Author: "olga", Start: t0, End: t0.Add(time.Hour), Created: t0}}
		case 1:
			e = &audit.Event{Kind: audit.KindRestrictionApplied, Actor: audit.System, Subject: "device:02:be:00:01:02:03", Restriction: id,
				After: &audit.Fields{Applied: t0}}
		case 2:
			e = &audit.Event{Kind: audit.KindRestrictionLifted, Actor: "olga", Subject: "device:02:be:00:01:02:03", Restriction: id,
				Reason: "done", Before: &audit.Fields{End: t0.Add(time.Hour)}, After: &audit.Fields{Lifted: t0, LiftedBy: "olga"}}
		}
		e.At = t0.Add(time.Duration(i) * time.Millisecond)
		data, err := e.Seal(head)
		if err != nil {
			b.Fatal(err)
		}
		head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
		events = append(events, data)
	}
	return events
}

// BenchmarkVerifier measures verifying and replaying one event, the cost
// that `curfew audit verify` pays per event of the log, one at a time and
// in batches (as the daemon does).
func BenchmarkVerifier(b *testing.B) {
	events := benchEvents(b, 30000)
	lines := make([]audit.Line, len(events))
	for i, e := range events {
		lines[i] = audit.Line{Data: e}
	}
	b.Run("event", func(b *testing.B) {
		for b.Loop() {
			v := audit.NewVerifier(pub(), 1)
			s := audit.NewState()
			for _, e := range events {
				if ev := v.Event(e); ev != nil {
					s.Apply(ev)
				}
			}
			if r := v.Report(false); !r.OK() {
				b.Fatal(problems(r))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
	})
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			v := audit.NewVerifier(pub(), 1)
			s := audit.NewState()
			for i := 0; i < len(lines); i += 4096 {
				for _, ev := range v.Batch(lines[i:min(i+4096, len(lines))]) {
					if ev != nil {
						s.Apply(ev)
					}
				}
			}
			if r := v.Report(false); !r.OK() {
				b.Fatal(problems(r))
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
	})
}

// BenchmarkDecode measures decoding one event (which checks its form).
func BenchmarkDecode(b *testing.B) {
	events := benchEvents(b, 3)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := audit.Decode(events[i%3]); err != nil {
			b.Fatal(err)
		}
	}
}
