package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

var t0 = time.Date(2026, 3, 1, 21, 0, 0, 123_000_000, time.UTC)

// testKey is a fixed signing key, so that failures reproduce.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func pub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// testLog is a log as a store keeps it: events, and checkpoints by the
// sequence number of the event they sign.
type testLog struct {
	t      testing.TB
	events [][]byte
	cps    map[int64][]byte
	head   audit.Head
	latest []byte
}

func newLog(t testing.TB) *testLog { return &testLog{t: t, cps: map[int64][]byte{}} }

func (l *testLog) add(e *audit.Event) *audit.Event {
	l.t.Helper()
	if e.At.IsZero() {
		e.At = t0.Add(time.Duration(len(l.events)) * time.Second)
	}
	if e.Actor == "" {
		e.Actor = "olga"
	}
	var latest int64
	for seq := range l.cps {
		latest = max(latest, seq)
	}
	e.LastCheckpoint = latest
	data, err := e.Seal(l.head)
	if err != nil {
		l.t.Fatalf("Seal(%v) = %v", e, err)
	}
	l.events = append(l.events, data)
	l.head = audit.Head{Seq: e.Seq, Hash: audit.Sum(data)}
	return e
}

// persons adds n person.added events; the person of event SEQ is pSEQ.
func (l *testLog) persons(n int) {
	for range n {
		l.add(&audit.Event{Kind: audit.KindPersonAdded, Subject: fmt.Sprintf("person:p%d", len(l.events)+1)})
	}
}

func (l *testLog) sign() {
	l.t.Helper()
	c, err := audit.Sign(testKey, l.head, t0.Add(time.Duration(len(l.events))*time.Second))
	if err != nil {
		l.t.Fatal(err)
	}
	l.cps[c.Seq] = c.Encode()
	l.latest = c.Encode()
}

// export returns the log as `curfew audit export` writes it.
func (l *testLog) export() []byte {
	var b bytes.Buffer
	for i, e := range l.events {
		b.Write(e)
		b.WriteByte('\n')
		if c, ok := l.cps[int64(i+1)]; ok {
			b.Write(c)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// verifyStored verifies the log as the daemon does: stored checkpoints
// and the latest first, then the events.
func (l *testLog) verifyStored() *audit.Report {
	v := audit.NewVerifier(pub(), 1)
	v.Latest(l.latest)
	for _, c := range l.cps {
		v.Checkpoint(c)
	}
	for _, e := range l.events {
		v.Event(e)
	}
	return v.Report(false)
}

func problems(r *audit.Report) []string {
	var s []string
	for _, p := range r.Problems {
		s = append(s, string(p.Kind)+": "+p.String())
	}
	return s
}

func wantProblem(t *testing.T, r *audit.Report, kind audit.ProblemKind, seq int64) {
	t.Helper()
	for _, p := range r.Problems {
		if p.Kind == kind && p.Seq == seq {
			return
		}
	}
	t.Errorf("problems = %q, want a %s problem at event %d", problems(r), kind, seq)
}

func TestSealAndDecode(t *testing.T) {
	e := &audit.Event{
		At:          t0.Add(456 * time.Microsecond),
		Kind:        audit.KindRestrictionCreated,
		Actor:       "olga",
		Subject:     "device:02:00:00:00:00:01",
		Restriction: 7,
		Reason:      "exam week: \"no\" games\n",
		After: &audit.Fields{Mode: curfew.ModeAllowlist, Allow: []string{"school.example", "10.0.0.0/8"}, Notice: "back at nine ☺",
			Author: "olga", Start: t0, End: t0.Add(time.Hour), Created: t0, Force: true},
		LastCheckpoint: 3,
	}
	data, err := e.Seal(audit.Head{Seq: 41, Hash: audit.Sum([]byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"actor":"olga","after":{"allow":["school.example","10.0.0.0/8"],"author":"olga","created_at":"2026-03-01T21:00:00.123Z",` +
		`"ends_at":"2026-03-01T22:00:00.123Z","force":true,"mode":"allowlist","notice":"back at nine \u263a","starts_at":"2026-03-01T21:00:00.123Z"},` +
		`"at":"2026-03-01T21:00:00.123Z","kind":"restriction.created","last_checkpoint":3,` +
		`"prev":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881","reason":"exam week: \"no\" games\n",` +
		`"restriction":7,"seq":42,"subject":"device:02:00:00:00:00:01"}`
	if string(data) != want {
		t.Errorf("Seal() =\n%s\nwant\n%s", data, want)
	}
	got, err := audit.Decode(data)
	if err != nil {
		t.Fatalf("Decode() = %v", err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("Decode(Seal(e)) differs from e (-want +got):\n%s", diff)
	}
	if !bytes.Equal(got.Encode(), data) {
		t.Errorf("Encode(Decode(data)) = %s, want data", got.Encode())
	}
}

func TestSealRefuses(t *testing.T) {
	for _, e := range []*audit.Event{
		{At: t0, Actor: "olga"},
		{At: t0, Kind: "checkpoint", Actor: "olga"},
		{At: t0, Kind: audit.KindPersonAdded},
		{Kind: audit.KindPersonAdded, Actor: "olga"},
	} {
		if _, err := e.Seal(audit.Head{}); err == nil {
			t.Errorf("Seal(%+v) succeeded", e)
		}
	}
}

func TestCheckpointEncoding(t *testing.T) {
	c, err := audit.Sign(testKey, audit.Head{Seq: 5, Hash: audit.Sum([]byte("e"))}, t0)
	if err != nil {
		t.Fatal(err)
	}
	data := c.Encode()
	if !strings.HasPrefix(string(data), `{"at":"2026-03-01T21:00:00.123Z","head":"3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea","kind":"checkpoint","seq":5,"sig":"`) {
		t.Errorf("Encode() = %s", data)
	}
	got, err := audit.ParseCheckpoint(data)
	if err != nil {
		t.Fatalf("ParseCheckpoint() = %v", err)
	}
	if err := got.Verify(pub()); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	if err := got.Verify(other); err == nil {
		t.Error("Verify() with another key succeeded")
	}
	for _, bad := range []string{
		strings.Replace(string(data), `"seq":5`, `"seq": 5`, 1),
		strings.Replace(string(data), `"kind":"checkpoint",`, ``, 1),
		strings.Replace(string(data), `"head":"3f`, `"head":"3F`, 1),
		string(data) + " ",
	} {
		if _, err := audit.ParseCheckpoint([]byte(bad)); err == nil {
			t.Errorf("ParseCheckpoint(%s) succeeded", bad)
		}
	}
}

func TestKeys(t *testing.T) {
	key, err := audit.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := audit.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := audit.ParsePrivateKey(pemKey)
	if err != nil || !back.Equal(key) {
		t.Fatalf("ParsePrivateKey(MarshalPrivateKey(k)) = %v, %v", back, err)
	}
	if _, err := audit.ParsePrivateKey(bytes.Repeat([]byte{1}, 32)); err == nil {
		t.Error("ParsePrivateKey(raw bytes) succeeded")
	}
	s := audit.EncodePublicKey(key.Public().(ed25519.PublicKey))
	p, err := audit.ParsePublicKey(" " + s + "\n")
	if err != nil || !p.Equal(key.Public()) {
		t.Errorf("ParsePublicKey(%q) = %v, %v", s, p, err)
	}
	if _, err := audit.ParsePublicKey(s[:10]); err == nil {
		t.Error("ParsePublicKey(short) succeeded")
	}
}

func TestVerifyIntact(t *testing.T) {
	l := newLog(t)
	l.persons(3)
	l.sign()
	l.persons(2)
	r := l.verifyStored()
	if !r.OK() || r.Events != 5 || r.First != 1 || r.Last != 5 || r.Checkpoints != 1 || r.Signed.Seq != 3 || r.Unsigned() != 2 {
		t.Errorf("Report = %+v, problems %q; want 5 events, signed through 3", r, problems(r))
	}
	// An export must end signed.
	if r, _ := audit.Verify(bytes.NewReader(l.export()), pub()); r.OK() {
		t.Error("Verify(export with unsigned events) is OK")
	} else {
		wantProblem(t, r, audit.ProblemUnsigned, 4)
	}
	l.sign()
	r, err := audit.Verify(bytes.NewReader(l.export()), pub())
	if err != nil || !r.OK() || r.Events != 5 || r.Checkpoints != 2 || r.Signed.Seq != 5 {
		t.Errorf("Verify(export) = %+v, %v, problems %q", r, err, problems(r))
	}
}

// TestExportEveryByte changes each byte of a signed export in turn: every
// change must be found, with the public key alone.
func TestExportEveryByte(t *testing.T) {
	l := newLog(t)
	l.add(&audit.Event{Kind: audit.KindRestrictionCreated, Subject: "person:bob", Restriction: 1, Reason: "exam",
		After: &audit.Fields{Mode: curfew.ModeCutoff, Start: t0, End: t0.Add(time.Hour), Created: t0, Author: "olga"}})
	l.sign()
	l.add(&audit.Event{Kind: audit.KindRestrictionApplied, Actor: audit.System, Subject: "person:bob", Restriction: 1, After: &audit.Fields{Applied: t0}})
	l.add(&audit.Event{Kind: audit.KindRestrictionLifted, Subject: "person:bob", Restriction: 1, Reason: "done é",
		Before: &audit.Fields{End: t0.Add(time.Hour)}, After: &audit.Fields{Lifted: t0.Add(time.Minute), LiftedBy: "olga"}})
	l.sign()
	export := l.export()
	if r, _ := audit.Verify(bytes.NewReader(export), pub()); !r.OK() {
		t.Fatalf("Verify(export) problems %q", problems(r))
	}
	for i := range export {
		for _, delta := range []byte{1, 0x20, 0x80} {
			changed := bytes.Clone(export)
			changed[i] ^= delta
			r, err := audit.Verify(bytes.NewReader(changed), pub())
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatalf("Verify(export with byte %d %q changed to %q) is OK:\n%s", i, export[i], changed[i], changed)
			}
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(l *testLog)
		kind   audit.ProblemKind
		seq    int64
	}{
		{"edited event", func(l *testLog) {
			l.events[2] = bytes.Replace(l.events[2], []byte("person:p3"), []byte("person:px"), 1)
		}, audit.ProblemLink, 4},
		{"edited signed head", func(l *testLog) {
			l.events[5] = bytes.Replace(l.events[5], []byte("person:p6"), []byte("person:px"), 1)
		}, audit.ProblemMismatch, 6},
		{"deleted middle event", func(l *testLog) {
			l.events = append(l.events[:2], l.events[3:]...)
		}, audit.ProblemMissing, 3},
		{"deleted first event", func(l *testLog) { l.events = l.events[1:] }, audit.ProblemMissing, 1},
		{"reordered events", func(l *testLog) {
			l.events[2], l.events[3] = l.events[3], l.events[2]
		}, audit.ProblemOrder, 3},
		{"newest events dropped", func(l *testLog) { l.events = l.events[:4] }, audit.ProblemTruncated, 6},
		{"newest events and their checkpoint dropped", func(l *testLog) {
			l.events = l.events[:4]
			delete(l.cps, 6)
		}, audit.ProblemTruncated, 6},
		{"latest checkpoint deleted", func(l *testLog) { l.latest = nil }, audit.ProblemNoLatest, 6},
		{"latest checkpoint and stored ones deleted", func(l *testLog) {
			l.latest = nil
			clear(l.cps)
		}, audit.ProblemNoLatest, 6},
		{"latest checkpoint older than stored ones", func(l *testLog) { l.latest = l.cps[3] }, audit.ProblemOldLatest, 6},
		{"stored checkpoints deleted, latest older", func(l *testLog) {
			l.latest = l.cps[3]
			delete(l.cps, 6)
		}, audit.ProblemOldLatest, 6},
		{"checkpoint forged with another key", func(l *testLog) {
			other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
			c, _ := audit.Sign(other, audit.Head{Seq: 6, Hash: audit.Sum(l.events[5])}, t0)
			l.cps[6], l.latest = c.Encode(), c.Encode()
		}, audit.ProblemSignature, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLog(t)
			l.persons(3)
			l.sign()
			l.persons(3)
			l.sign()
			l.persons(2) // events 7 and 8 name checkpoint 6
			if r := l.verifyStored(); !r.OK() {
				t.Fatalf("untouched log: problems %q", problems(r))
			}
			tt.tamper(l)
			r := l.verifyStored()
			if r.OK() {
				t.Fatalf("tampered log verifies: %+v", r)
			}
			wantProblem(t, r, tt.kind, tt.seq)
		})
	}
}

// After the newest events were lost, curfew goes on from the latest
// checkpoint: the gap stays a problem, and the link after it is proven by
// the checkpoint.
func TestVerifyContinuationAfterLoss(t *testing.T) {
	l := newLog(t)
	l.persons(3)
	l.sign()
	l.persons(2)
	l.sign()
	cp := l.head
	l.events = l.events[:3]
	l.head = cp
	l.persons(2)
	r := l.verifyStored()
	wantProblem(t, r, audit.ProblemMissing, 4)
	if len(r.Problems) != 1 {
		t.Errorf("problems = %q, want only events 4 to 5 missing", problems(r))
	}

	// A continuation that does not link to the checkpoint is a break too.
	l.events[3] = bytes.Replace(l.events[3], []byte(cp.Hash.String()), []byte(audit.Sum([]byte("x")).String()), 1)
	wantProblem(t, l.verifyStored(), audit.ProblemLink, 6)
}

// A log the gateway found broken never verifies again.
func TestVerifyBrokenEvent(t *testing.T) {
	l := newLog(t)
	l.persons(2)
	l.add(&audit.Event{Kind: audit.KindAuditBroken, Actor: audit.System, Before: &audit.Fields{Checkpoint: 2}})
	l.sign()
	wantProblem(t, l.verifyStored(), audit.ProblemBroken, 3)
}

func TestVerifyMalformed(t *testing.T) {
	l := newLog(t)
	l.persons(2)
	l.sign()
	for _, bad := range []string{
		"",
		"not json",
		`{"actor":"olga","at":"2026-03-01T21:00:00.123Z","kind":"person.added","seq":3,"unknown":1}`,
		`{"actor":"olga","at":"2026-03-01T21:00:00Z","kind":"person.added","seq":3}`,
		`{"at":"2026-03-01T21:00:00.123Z","actor":"olga","kind":"person.added","seq":3}`,
		`{"actor":"olga","at":"2026-03-01T21:00:00.123Z","kind":"person.added","reason":"","seq":3}`,
	} {
		export := append(l.export(), bad+"\n"...)
		r, err := audit.Verify(bytes.NewReader(export), pub())
		if err != nil {
			t.Fatal(err)
		}
		if r.OK() {
			t.Errorf("Verify(export + %q) is OK", bad)
		}
	}
	// A missing final newline is a change too.
	export := l.export()
	if r, _ := audit.Verify(bytes.NewReader(export[:len(export)-1]), pub()); r.OK() {
		t.Error("Verify(export without its final newline) is OK")
	}
}

func mac(s string) net.HardwareAddr {
	m, err := curfew.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestStateReplayAndCompare(t *testing.T) {
	l := newLog(t)
	var events []*audit.Event
	add := func(e *audit.Event) { events = append(events, l.add(e)) }
	r1 := &curfew.Restriction{ID: 1, Subject: curfew.Subject{Kind: curfew.SubjectPerson, Name: "bob"}, Mode: curfew.ModeCutoff,
		Reason: "exam", Author: "olga", Start: t0, End: t0.Add(time.Hour), Created: t0}
	r2 := &curfew.Restriction{ID: 2, Subject: curfew.Subject{Kind: curfew.SubjectDevice, MAC: mac("02:00:00:00:00:01")}, Mode: curfew.ModeBlocklist,
		Block: []string{"games.example"}, Reason: "homework", Author: "olga", Start: t0, End: t0.Add(2 * time.Hour), Created: t0}
	d := &curfew.Device{MAC: mac("02:00:00:00:00:01"), Name: "phone", Owner: "bob", Addrs: []netip.Addr{netip.MustParseAddr("192.168.50.10")}, Created: t0}
	for _, r := range []*curfew.Restriction{r1, r2} {
		f := audit.RestrictionFields(r)
		f.Reason = ""
		add(&audit.Event{Kind: audit.KindRestrictionCreated, Subject: r.Subject.String(), Restriction: r.ID, Reason: r.Reason, After: f})
	}
	add(&audit.Event{Kind: audit.KindDeviceAdded, Subject: audit.DeviceSubject(d), After: audit.DeviceFields(d)})
	add(&audit.Event{Kind: audit.KindRestrictionApplied, Actor: audit.System, Restriction: 1, After: &audit.Fields{Applied: t0}})
	add(&audit.Event{Kind: audit.KindRestrictionExtended, Restriction: 1, Reason: "more", Before: &audit.Fields{End: r1.End}, After: &audit.Fields{End: t0.Add(3 * time.Hour)}})
	add(&audit.Event{Kind: audit.KindRestrictionLifted, Restriction: 2, Reason: "sorry", After: &audit.Fields{Lifted: t0.Add(time.Minute), LiftedBy: "olga"}})
	add(&audit.Event{Kind: audit.KindDaemonStarted, Actor: audit.System, After: &audit.Fields{ConfigSHA256: "abc"}})

	s := audit.NewState()
	for _, e := range events {
		dec, err := audit.Decode(l.events[e.Seq-1])
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(dec)
	}
	if len(s.Problems()) > 0 {
		t.Fatalf("Problems() = %v", s.Problems())
	}
	w1, w2 := *r1, *r2
	w1.End = t0.Add(3 * time.Hour)
	w2.Lifted, w2.LiftedBy, w2.LiftReason = t0.Add(time.Minute), "olga", "sorry"
	opts := cmp.Options{cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}
	if diff := cmp.Diff([]*curfew.Restriction{&w1, &w2}, s.Restrictions(), opts); diff != "" {
		t.Errorf("Restrictions() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*curfew.Device{d}, s.Devices(), opts); diff != "" {
		t.Errorf("Devices() (-want +got):\n%s", diff)
	}
	if !s.Applied(1) || s.Applied(2) || s.Config() != "abc" {
		t.Errorf("Applied(1), Applied(2), Config() = %v, %v, %q", s.Applied(1), s.Applied(2), s.Config())
	}
	if diffs := s.Compare([]*curfew.Restriction{&w1, &w2}, []*curfew.Device{d}); len(diffs) != 0 {
		t.Errorf("Compare(the replayed rows) = %+v, want none", diffs)
	}

	edited := w1
	edited.End = t0.Add(time.Minute)
	edited.Mode = curfew.ModeBlocklist
	forged := w2
	forged.ID = 3
	movedDevice := *d
	movedDevice.Owner = "carol"
	got := s.Compare([]*curfew.Restriction{&edited, &forged}, []*curfew.Device{&movedDevice})
	var desc []string
	for _, d := range got {
		desc = append(desc, d.Problem().String())
	}
	want := []string{
		"restriction 1: its row differs from the log in mode, ends_at",
		"restriction 2: the log has it, but its row was deleted",
		"restriction 3: its row was never recorded in the log",
		"device 02:00:00:00:00:01: its row differs from the log in owner",
	}
	if diff := cmp.Diff(want, desc); diff != "" {
		t.Errorf("Compare(tampered rows) (-want +got):\n%s", diff)
	}

	// An ended restriction (2, lifted) is kept packed: an edit of its row
	// is found all the same, field by field, and the log's version is
	// there to put it back.
	editedEnded := w2
	editedEnded.LiftReason, editedEnded.End = "nothing to see", w2.End.Add(time.Hour)
	got = s.Compare([]*curfew.Restriction{&w1, &editedEnded}, []*curfew.Device{d})
	if len(got) != 1 || got[0].Problem().String() != "restriction 2: its row differs from the log in ends_at, lift_reason" {
		t.Errorf("Compare(ended row edited) = %+v", got)
	} else if diff := cmp.Diff(&w2, got[0].Log, opts); diff != "" {
		t.Errorf("the log's version of the ended restriction (-want +got):\n%s", diff)
	}
	if o := s.Open(); len(o) != 1 || o[0].ID != 1 {
		t.Errorf("Open() = %v, want restriction 1 alone", o)
	}
}

func TestStateReference(t *testing.T) {
	l := newLog(t)
	e := l.add(&audit.Event{Kind: audit.KindRestrictionLifted, Restriction: 9, Reason: "x", After: &audit.Fields{Lifted: t0, LiftedBy: "olga"}})
	s := audit.NewState()
	s.Apply(e)
	if p := s.Problems(); len(p) != 1 || p[0].Kind != audit.ProblemReference {
		t.Errorf("Problems() = %v, want one reference problem", p)
	}
}

// FuzzDecode checks that Decode accepts only canonical encodings: whatever
// it decodes encodes back to the same bytes, so that a verifier that
// decodes a line has checked its form too.
func FuzzDecode(f *testing.F) {
	l := newLog(f)
	l.add(&audit.Event{Kind: audit.KindRestrictionCreated, Subject: "device:02:00:00:00:00:01", Restriction: 3, Reason: "a \"b\" é 😀",
		After: &audit.Fields{Mode: curfew.ModeBlocklist, Block: []string{"x.example", ""}, Start: t0, End: t0.Add(time.Hour), Force: true}})
	l.add(&audit.Event{Kind: audit.KindLegacy, Legacy: &audit.Legacy{Seq: 1, Action: "init", Detail: "token admin", Hash: "ab"}})
	l.add(&audit.Event{Kind: audit.KindDriftRepaired, Actor: audit.System, After: &audit.Fields{Objects: 12, ConfigSHA256: "ff"}, LastCheckpoint: 9})
	l.add(&audit.Event{Kind: audit.KindRestrictionApproved, Actor: "bob", Restriction: 3, Reason: "ok",
		Before: audit.ApprovalFields(t0, curfew.Approval{State: curfew.ApprovalPending, Asker: "olga", ExtendTo: t0.Add(time.Hour)}),
		After:  audit.ApprovalFields(t0.Add(time.Hour), curfew.Approval{State: curfew.ApprovalApproved, Asker: "olga", ExtendTo: t0.Add(time.Hour), Decided: t0, By: "bob", Reason: "ok"})})
	l.add(&audit.Event{Kind: audit.KindAppealPosted, Actor: "ip:2001:db8::5", Subject: "ip:2001:db8::5",
		After: &audit.Fields{Appeal: 4, Message: "why?\n<b>", Restrictions: []string{"3", "7"}, Addrs: []string{"2001:db8::5"}}})
	l.add(&audit.Event{Kind: audit.KindAuthFailed, Actor: audit.System,
		After: &audit.Fields{Source: "192.0.2.7", Failures: 3, Refused: 40, Causes: []string{"unknown token"}, First: t0, Last: t0.Add(time.Second)}})
	l.add(&audit.Event{Kind: audit.KindOperatorDisabled, Actor: "root", Reason: "left",
		After: &audit.Fields{Name: "ivan", Role: "operator", Disabled: t0, OneTime: true}})
	l.add(&audit.Event{Kind: audit.KindDeviceSeen, Actor: audit.System, Subject: "device:06:00:00:00:00:09",
		After: &audit.Fields{Addrs: []string{"192.168.50.9", "fd00:50::9"}, Hostname: "Zoë's-tablet", RandomMAC: true}})
	l.add(&audit.Event{Kind: audit.KindDeviceSeenSummary, Actor: audit.System, After: &audit.Fields{Unaudited: 2907}})
	l.add(&audit.Event{Kind: audit.KindScheduleAdded, Actor: "olga", Subject: "person:bob", Reason: "school nights",
		After: &audit.Fields{Schedule: 2, Days: "mon-thu,sun", From: "22:00", To: "07:00", Zone: "Europe/London", Until: t0.Add(90 * 24 * time.Hour), Mode: curfew.ModeCutoff}})
	l.add(&audit.Event{Kind: audit.KindWindowOpened, Actor: audit.System, Subject: "person:bob", Restriction: 9, Reason: "school nights",
		After: &audit.Fields{Schedule: 2, Mode: curfew.ModeCutoff, Start: t0, End: t0.Add(9 * time.Hour)}})
	l.add(&audit.Event{Kind: audit.KindWindowClosed, Actor: audit.System, Subject: "person:bob", Restriction: 9, After: &audit.Fields{Expired: t0.Add(9 * time.Hour)}})
	for _, e := range l.events {
		f.Add(e)
	}
	f.Add([]byte(`{"actor":"olga","at":"2026-03-01T21:00:00.123Z","kind":"x","seq":05}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := audit.Decode(data)
		if err != nil {
			return
		}
		if got := e.Encode(); !bytes.Equal(got, data) {
			t.Fatalf("Decode(%s) succeeded, but the event encodes as %s", data, got)
		}
	})
}

// Without the latest checkpoint to compare with, the log itself says which
// checkpoints must exist: events name the newest signed before them.
func TestVerifyLostCheckpoint(t *testing.T) {
	l := newLog(t)
	l.persons(3)
	l.sign()
	l.persons(3)
	l.sign()
	l.persons(1) // names checkpoint 6
	delete(l.cps, 6)
	v := audit.NewVerifier(pub(), 1)
	for _, c := range l.cps {
		v.Checkpoint(c)
	}
	for _, e := range l.events {
		v.Event(e)
	}
	wantProblem(t, v.Report(false), audit.ProblemLost, 6)
}

// The actions a keyed request records are the kinds of the events of
// those changes: a retry is told from another request by them.
func TestActionsAreKinds(t *testing.T) {
	for action, kind := range map[curfew.Action]audit.Kind{
		curfew.ActionRestrict: audit.KindRestrictionCreated, curfew.ActionLift: audit.KindRestrictionLifted,
		curfew.ActionExtend: audit.KindRestrictionExtended, curfew.ActionApprove: audit.KindRestrictionApproved,
		curfew.ActionReject: audit.KindRestrictionRejected, curfew.ActionDevice: audit.KindDeviceAdded,
		curfew.ActionPerson: audit.KindPersonAdded, curfew.ActionRemoveDevice: audit.KindDeviceRemoved,
		curfew.ActionApproveDevice: audit.KindDeviceApproved,
		curfew.ActionRemovePerson:  audit.KindPersonRemoved, curfew.ActionGroup: audit.KindGroupAdded,
		curfew.ActionGroupMember: audit.KindGroupMemberAdded, curfew.ActionGroupLeave: audit.KindGroupMemberRemoved,
		curfew.ActionToken: audit.KindTokenCreated, curfew.ActionAnswer: audit.KindAppealAnswered,
		curfew.ActionAppeal: audit.KindAppealPosted, curfew.ActionOperator: audit.KindOperatorAdded,
		curfew.ActionDisableOperator: audit.KindOperatorDisabled, curfew.ActionPassword: audit.KindPasswordChanged,
		curfew.ActionRevokeToken: audit.KindTokenRevoked,
	} {
		if string(action) != string(kind) {
			t.Errorf("action %q is not the kind of its event, %q", action, kind)
		}
	}
}

// TestThrottleRate checks that the log records a throttle's rate, in the
// event that creates it and in the one that says it is applied, that a
// replay of the log gives it back, and that a row whose rate was edited
// differs from the log there, whether the restriction is open or ended
// (then packed).
func TestThrottleRate(t *testing.T) {
	r := &curfew.Restriction{ID: 1, Subject: curfew.Subject{Kind: curfew.SubjectGroup, Name: "teens"}, Mode: curfew.ModeThrottle, Rate: 2_000_000,
		Reason: "school night", Author: "olga", Start: t0, End: t0.Add(8 * time.Hour), Created: t0}
	ended := *r
	ended.ID, ended.Lifted, ended.LiftedBy = 2, t0.Add(time.Hour), "olga"
	l := newLog(t)
	var events []*audit.Event
	for _, r := range []*curfew.Restriction{r, &ended} {
		f := audit.RestrictionFields(r)
		f.Reason = ""
		events = append(events, l.add(&audit.Event{Kind: audit.KindRestrictionCreated, Subject: r.Subject.String(), Restriction: r.ID, Reason: r.Reason, After: f}))
	}
	events = append(events,
		l.add(&audit.Event{Kind: audit.KindRestrictionApplied, Actor: audit.System, Restriction: 1, After: &audit.Fields{Applied: t0, Mode: r.Mode, Rate: r.Rate}}),
		l.add(&audit.Event{Kind: audit.KindRestrictionLifted, Restriction: 2, After: &audit.Fields{Lifted: ended.Lifted, LiftedBy: "olga"}}))
	for _, i := range []int{0, 2} {
		if raw := string(l.events[events[i].Seq-1]); !strings.Contains(raw, `"mode":"throttle"`) || !strings.Contains(raw, `"rate":2000000`) {
			t.Errorf("event %d = %s, want its mode and rate", i, raw)
		}
	}
	s := audit.NewState()
	for _, e := range events {
		dec, err := audit.Decode(l.events[e.Seq-1])
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(dec)
	}
	if o := s.Open(); len(o) != 1 || o[0].Rate != 2_000_000 {
		t.Fatalf("Open() = %v, want restriction 1 with its rate", o)
	}
	slower, slowerEnded := *r, ended
	slower.Rate, slowerEnded.Rate = 1_000_000, 1_000_000
	var desc []string
	for _, d := range s.Compare([]*curfew.Restriction{&slower, &slowerEnded}, nil) {
		desc = append(desc, d.Problem().String())
	}
	want := []string{"restriction 1: its row differs from the log in rate", "restriction 2: its row differs from the log in rate"}
	if diff := cmp.Diff(want, desc); diff != "" {
		t.Errorf("Compare(rows with another rate) (-want +got):\n%s", diff)
	}
}
