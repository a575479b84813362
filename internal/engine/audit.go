package engine

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/curfew/curfew/internal/audit"
	"github.com/curfew/curfew/internal/curfew"
)

// defaultCheckpointInterval is how often the head of the log is signed
// while there are new events.
const defaultCheckpointInterval = time.Minute

// auditState is the outcome of reading the whole log: the verdict on it,
// the state it describes, and the stored rows that differ from that.
type auditState struct {
	report *audit.Report
	state  *audit.State
	diffs  []audit.Difference
}

// readAudit reads the whole log and the stored state from one view of the
// store and holds the one to the other. It verifies while it reads: one
// goroutine reads the store, another decodes and checks what it read, in
// batches, on all the cores (audit.Verifier.Batch).
func (e *Engine) readAudit(ctx context.Context) (*auditState, error) {
	latest, err := e.store.CheckpointFile()
	if err != nil {
		return nil, err
	}
	v := audit.NewVerifier(e.pub, 1)
	v.Latest(latest)
	st := &auditState{state: audit.NewState()}

	// A batch is lines and the buffer their bytes are copied into; once
	// checked, it goes back to the reader to be filled again.
	type batch struct {
		lines []audit.Line
		buf   []byte
	}
	batches := make(chan *batch, 2)
	free := make(chan *batch, 4)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for b := range batches {
			for _, ev := range v.Batch(b.lines) {
				if ev != nil {
					st.state.Apply(ev)
				}
			}
			b.lines, b.buf = b.lines[:0], b.buf[:0]
			select {
			case free <- b:
			default:
			}
		}
	}()
	newBatch := func() *batch {
		select {
		case b := <-free:
			return b
		default:
			return &batch{lines: make([]audit.Line, 0, verifyBatch), buf: make([]byte, 0, verifyArena)}
		}
	}
	cur := newBatch()
	sent := false // batches is closed
	var cmp *audit.Comparer
	finish := func() {
		if !sent {
			sent = true
			if len(cur.lines) > 0 {
				batches <- cur
			}
			close(batches)
			<-checked
		}
	}
	defer finish()
	err = e.store.ReadAudit(ctx, 1, func(_ int64, data []byte, checkpoint bool) error {
		if len(cur.buf)+len(data) > cap(cur.buf) || len(cur.lines) == verifyBatch {
			batches <- cur
			cur = newBatch()
			if len(data) > cap(cur.buf) {
				cur.buf = make([]byte, 0, len(data))
			}
		}
		cur.buf = append(cur.buf, data...)
		cur.lines = append(cur.lines, audit.Line{Data: cur.buf[len(cur.buf)-len(data) : len(cur.buf) : len(cur.buf)], Checkpoint: checkpoint})
		return nil
	}, func(r *curfew.Restriction, d *curfew.Device) error {
		if cmp == nil {
			finish() // the log is all read: the state is whole
			cmp = st.state.Comparer()
		}
		if r != nil {
			cmp.Restriction(r)
		} else {
			cmp.Device(d)
		}
		return nil
	})
	finish()
	if err == nil {
		if cmp == nil { // no row at all
			cmp = st.state.Comparer()
		}
		st.diffs = cmp.Done()
	}
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	// What is wrong with the log first, then with the rows.
	st.report = v.Report(false)
	for _, p := range st.state.Problems() {
		st.report.Add(p)
	}
	for i := range st.diffs {
		st.report.Add(st.diffs[i].Problem())
	}
	return st, nil
}

// verifyBatch is how many lines of the log readAudit checks at once, at
// most, and verifyArena the size of the buffer it copies them into.
const (
	verifyBatch = 4096
	verifyArena = 2 << 20
)

// VerifyAudit implements [curfew.Service]. It verifies the whole log (the
// chain, the signature of every checkpoint, the latest checkpoint kept
// apart from the database) and holds every stored restriction and device
// to what the log says of it. It does not hold up commands.
func (e *Engine) VerifyAudit(ctx context.Context) (*curfew.AuditReport, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	if e.pub == nil {
		return nil, errors.New("verifying the audit log: the engine has no audit key")
	}
	st, err := e.readAudit(ctx)
	if err != nil {
		return nil, err
	}
	return reportToDomain(st.report), nil
}

func reportToDomain(r *audit.Report) *curfew.AuditReport {
	rep := &curfew.AuditReport{Entries: r.Events, Checkpoints: int64(r.Checkpoints), Unsigned: r.Unsigned(), OK: r.OK()}
	if r.Signed != nil {
		rep.SignedSeq, rep.SignedAt = r.Signed.Seq, r.Signed.At
	}
	rep.Problems = r.Messages()
	if len(rep.Problems) > 0 {
		rep.Problem = rep.Problems[0]
	}
	return rep
}

// AuditKey implements [curfew.Service].
func (e *Engine) AuditKey(ctx context.Context) (ed25519.PublicKey, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return nil, err
	}
	if e.pub == nil {
		return nil, fmt.Errorf("%w: the engine has no audit key", curfew.ErrNotFound)
	}
	return e.pub, nil
}

// AuditCheckpoint implements [curfew.Service]. It signs the head of the
// log if no checkpoint covers it yet (as Checkpoint does) and returns the
// checkpoint of the head, reading only the newest event and checkpoints;
// a head it cannot sign (the engine has no key) comes back unsigned.
func (e *Engine) AuditCheckpoint(ctx context.Context) (curfew.Checkpoint, error) {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return curfew.Checkpoint{}, err
	}
	e.signMu.Lock()
	defer e.signMu.Unlock()
	signed, err := e.checkpointLocked(ctx)
	if err != nil {
		return curfew.Checkpoint{}, err
	}
	head, err := e.store.AuditHead(ctx)
	if err != nil || head.Seq == 0 {
		return curfew.Checkpoint{}, err
	}
	if signed == nil {
		if signed, err = e.store.NewestCheckpoint(ctx); err != nil {
			return curfew.Checkpoint{}, err
		}
	}
	if signed != nil && signed.Seq == head.Seq && signed.Head == head.Hash {
		return checkpointToDomain(signed), nil
	}
	data, err := e.store.AuditEvent(ctx, head.Seq)
	if err != nil {
		return curfew.Checkpoint{}, err
	}
	ev, err := audit.Decode(data)
	if err != nil {
		return curfew.Checkpoint{}, fmt.Errorf("reading the head of the audit log: %w", err)
	}
	return curfew.Checkpoint{Seq: head.Seq, Hash: head.Hash.String(), At: ev.At}, nil
}

func checkpointToDomain(c *audit.Checkpoint) curfew.Checkpoint {
	return curfew.Checkpoint{Seq: c.Seq, Hash: c.Head.String(), At: c.At, Signature: base64.StdEncoding.EncodeToString(c.Sig)}
}

// ExportAudit implements [curfew.Service]. It first signs the head if
// events are not covered yet, and again at the end if events came
// meanwhile, so that the export ends with a checkpoint of its last event.
func (e *Engine) ExportAudit(ctx context.Context, from int64, w io.Writer) error {
	if _, err := curfew.Permit(ctx, curfew.OpRead); err != nil {
		return err
	}
	from = max(from, 1)
	e.signMu.Lock()
	defer e.signMu.Unlock()
	if _, err := e.checkpointLocked(ctx); err != nil {
		return err
	}
	// The latest checkpoint may be in the file only (a crash between the
	// two writes of SaveCheckpoint): it goes after the event it signs.
	var file *audit.Checkpoint
	if data, err := e.store.CheckpointFile(); err != nil {
		return err
	} else if data != nil {
		if c, err := audit.ParseCheckpoint(data); err == nil {
			file = c
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		last     audit.Head
		signed   int64 // the newest checkpoint written
		fileDue  bool  // file signs the last event written and is not written yet
		writeErr error
	)
	put := func(data []byte) error {
		bw.Write(data)
		_, err := bw.Write([]byte{'\n'})
		return err
	}
	flushFile := func() error {
		if fileDue {
			fileDue = false
			signed = max(signed, file.Seq)
			return put(file.Encode())
		}
		return nil
	}
	err := e.store.ReadAudit(ctx, from, func(seq int64, data []byte, checkpoint bool) error {
		if checkpoint {
			if fileDue && seq == file.Seq {
				fileDue = false // the database has it too
			}
			signed = max(signed, seq)
			return put(data)
		}
		if err := flushFile(); err != nil {
			return err
		}
		last = audit.Head{Seq: seq, Hash: audit.Sum(data)}
		fileDue = file != nil && file.Seq == seq
		return put(data)
	}, nil)
	if err == nil {
		err = flushFile()
	}
	if err != nil {
		return fmt.Errorf("exporting the audit log: %w", err)
	}
	if last.Seq > signed && e.key != nil {
		// Events came after the checkpoint above. One newer than them
		// (events lost from the end of the database) leaves them unsigned,
		// as they are: the export does not verify, which is the truth.
		c, err := e.sign(ctx, last)
		switch {
		case errors.Is(err, curfew.ErrConflict):
		case err != nil:
			return err
		default:
			writeErr = put(c.Encode())
		}
	}
	if writeErr != nil {
		return fmt.Errorf("exporting the audit log: %w", writeErr)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("exporting the audit log: %w", err)
	}
	return nil
}

// Checkpoint signs the head of the log, stores the checkpoint (the file
// apart from the database first) and publishes it, if the log has events
// no checkpoint covers; it returns the new checkpoint, or nil if there was
// nothing to sign (or the engine has no key). Before that it checks that
// the latest checkpoint is still there and still matches the log; if not,
// it first records an audit.broken event, so that signing a new head
// never hides a deleted or rewritten checkpoint.
func (e *Engine) Checkpoint(ctx context.Context) (*audit.Checkpoint, error) {
	e.signMu.Lock()
	defer e.signMu.Unlock()
	return e.checkpointLocked(ctx)
}

// checkpointLocked is Checkpoint with e.signMu held.
func (e *Engine) checkpointLocked(ctx context.Context) (*audit.Checkpoint, error) {
	if e.key == nil {
		return nil, nil
	}
	latest, err := e.checkLatest(ctx)
	if err != nil {
		return nil, err
	}
	head, err := e.store.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if head.Seq == 0 || latest != nil && head.Seq <= latest.Seq {
		return nil, nil
	}
	return e.sign(ctx, head)
}

// sign signs head, stores and publishes the checkpoint. e.signMu must be
// held.
func (e *Engine) sign(ctx context.Context, head audit.Head) (*audit.Checkpoint, error) {
	c, err := audit.Sign(e.key, head, e.now())
	if err != nil {
		return nil, err
	}
	if err := e.store.SaveCheckpoint(ctx, c); err != nil {
		return nil, fmt.Errorf("saving the checkpoint of event %d: %w", c.Seq, err)
	}
	e.logger.DebugContext(ctx, "signed the audit log", "seq", c.Seq)
	if e.publish != nil {
		if err := e.publish(ctx, c.Encode()); err != nil {
			e.logger.WarnContext(ctx, "publishing an audit checkpoint", "seq", c.Seq, "err", err)
		}
	}
	return c, nil
}

// checkLatest returns the latest checkpoint, after checking it against
// the log: the one kept apart from the database must be there if the log
// holds or names checkpoints, be at least as new as those, verify with the
// key, and match the event it signs if the log has that event. If it does
// not, checkLatest records an audit.broken event saying what it expected
// and found, and returns the newest stored checkpoint instead. e.signMu
// must be held.
func (e *Engine) checkLatest(ctx context.Context) (*audit.Checkpoint, error) {
	data, err := e.store.CheckpointFile()
	if err != nil {
		return nil, err
	}
	var file *audit.Checkpoint
	if data != nil {
		if c, err := audit.ParseCheckpoint(data); err == nil && c.Verify(e.pub) == nil {
			file = c
		}
	}
	stored, err := e.store.NewestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	expected := int64(0)
	if stored != nil {
		expected = stored.Seq
	}
	head, err := e.store.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	if head.Seq > 0 {
		data, err := e.store.AuditEvent(ctx, head.Seq)
		if err != nil {
			return nil, err
		}
		if ev, err := audit.Decode(data); err == nil {
			expected = max(expected, ev.LastCheckpoint)
		}
	}
	found := int64(0)
	matches := true
	if file != nil {
		found = file.Seq
		if file.Seq <= head.Seq {
			data, err := e.store.AuditEvent(ctx, file.Seq)
			switch {
			case errors.Is(err, curfew.ErrNotFound):
				// Lost with others before it: the gap in the log says so.
			case err != nil:
				return nil, err
			default:
				matches = audit.Sum(data) == file.Head
			}
		}
	}
	switch {
	case file == nil && data == nil && expected == 0 && stored == nil:
		return nil, nil // nothing signed yet
	case file != nil && file.Seq >= expected && matches:
		return file, nil
	}
	e.logger.ErrorContext(ctx, "the latest audit checkpoint is missing, older than the log says or does not match it; recording the break",
		"checkpoint_seq", expected, "found_seq", found, "matches", matches)
	ev := &audit.Event{At: e.now(), Kind: audit.KindAuditBroken, Actor: audit.System,
		Before: &audit.Fields{Checkpoint: max(expected, found)}, After: &audit.Fields{Checkpoint: found}}
	e.mu.Lock()
	err = e.store.AppendEvents(ctx, ev)
	e.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("recording a broken audit log: %w", err)
	}
	if stored != nil && (file == nil || stored.Seq > file.Seq) {
		return stored, nil
	}
	return file, nil
}

// runCheckpoints signs the head of the log every e.cpInterval while there
// are new events (Checkpoint does nothing otherwise). It returns when ctx
// is done.
func (e *Engine) runCheckpoints(ctx context.Context) {
	t := time.NewTicker(e.cpInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				e.logger.ErrorContext(ctx, "signing the audit log", "err", err)
			}
		}
	}
}

// startAudit runs before the first reconcile of Run. It reads the whole
// log and holds the stored state to it: a restriction or device row that
// differs from what the log says (edited, deleted or added behind curfew's
// back) is put back as the log has it, with a restriction.repaired or
// device.repaired event, so that no unaudited change is enforced. It
// reports what else is wrong with the log, and records config.changed if
// the configuration changed since the last start, and daemon.started (Run
// then signs the head).
//
// It holds e.mu throughout, so that no command changes a row between the
// reading and the repair: commands that come meanwhile wait (the kernel
// goes on enforcing).
func (e *Engine) startAudit(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.readAudit(ctx)
	if err != nil {
		return err
	}
	for _, p := range st.report.Problems {
		if p.Kind != audit.ProblemState {
			e.logger.ErrorContext(ctx, "the audit log does not verify", "problem", p.String())
		}
	}
	for i := range st.diffs {
		d := &st.diffs[i]
		e.logger.ErrorContext(ctx, "a stored row differs from the audit log; putting it back as the log has it", "problem", d.Problem().String())
		if err := e.repairLocked(ctx, d); err != nil {
			return fmt.Errorf("repairing state from the audit log: %w", err)
		}
	}
	e.unapplied = map[curfew.RestrictionID]*curfew.Restriction{}
	now := e.now()
	for _, r := range st.state.Open() {
		if !r.Over(now) && !st.state.Applied(r.ID) {
			e.unapplied[r.ID] = r
		}
	}
	var evs []*audit.Event
	if old := st.state.Config(); old != "" && e.configDigest != "" && old != e.configDigest {
		evs = append(evs, &audit.Event{At: now, Kind: audit.KindConfigChanged, Actor: audit.System,
			Before: &audit.Fields{ConfigSHA256: old}, After: &audit.Fields{ConfigSHA256: e.configDigest}})
	}
	evs = append(evs, &audit.Event{At: now, Kind: audit.KindDaemonStarted, Actor: audit.System,
		After: &audit.Fields{ConfigSHA256: e.configDigest}})
	if err := e.store.AppendEvents(ctx, evs...); err != nil {
		return fmt.Errorf("recording the start: %w", err)
	}
	return nil
}

// repairLocked puts one stored row back as the log has it, recording the
// repair. e.mu must be held.
func (e *Engine) repairLocked(ctx context.Context, d *audit.Difference) error {
	ev := &audit.Event{At: e.now(), Actor: audit.System}
	if d.MAC == "" {
		ev.Kind, ev.Restriction = audit.KindRestrictionRepaired, d.Restriction
		var subject curfew.Subject
		if d.Row != nil {
			ev.Before, subject = audit.RestrictionFields(d.Row), d.Row.Subject
		}
		if d.Log != nil {
			ev.After, subject = audit.RestrictionFields(d.Log), d.Log.Subject
		}
		ev.Subject = subject.String()
		return e.store.RepairRestriction(ctx, d.Restriction, d.Log, ev)
	}
	ev.Kind = audit.KindDeviceRepaired
	dev := d.LogDevice
	if d.RowDevice != nil {
		ev.Before, ev.Subject = audit.DeviceFields(d.RowDevice), audit.DeviceSubject(d.RowDevice)
	}
	if dev != nil {
		ev.After, ev.Subject = audit.DeviceFields(dev), audit.DeviceSubject(dev)
	}
	mac, err := curfew.ParseMAC(d.MAC)
	if err != nil {
		return err
	}
	defer e.forgetNames()
	return e.store.RepairDevice(ctx, mac, dev, ev)
}

// stopAudit records that the daemon stops and signs the head. ctx may be
// done already: the records are written regardless, within a few seconds.
func (e *Engine) stopAudit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e.mu.Lock()
	err := e.store.AppendEvents(ctx, &audit.Event{At: e.now(), Kind: audit.KindDaemonStopped, Actor: audit.System})
	e.mu.Unlock()
	if err != nil {
		e.logger.ErrorContext(ctx, "recording the stop", "err", err)
	}
	if _, err := e.Checkpoint(ctx); err != nil {
		e.logger.ErrorContext(ctx, "signing the audit log at stop", "err", err)
	}
}

// recordAppliedLocked records restriction.applied for every restriction
// in force whose enforcement the log does not record yet, after an apply
// that succeeded. One that fails to be recorded is tried again after the
// next apply. e.mu must be held.
func (e *Engine) recordAppliedLocked(ctx context.Context, now time.Time) {
	var evs []*audit.Event
	for id, r := range e.unapplied {
		switch {
		case r.Over(now):
			delete(e.unapplied, id)
		case r.ActiveAt(now):
			evs = append(evs, &audit.Event{At: now, Kind: audit.KindRestrictionApplied, Actor: audit.System,
				Subject: r.Subject.String(), Restriction: id, After: &audit.Fields{Applied: now, Mode: r.Mode, Rate: r.Rate}})
		}
	}
	if len(evs) == 0 {
		return
	}
	if err := e.store.AppendEvents(ctx, evs...); err != nil {
		e.logger.ErrorContext(ctx, "recording applied restrictions", "err", err)
		return
	}
	for _, ev := range evs {
		delete(e.unapplied, ev.Restriction)
	}
}

// updateRestriction stores r, changed from prev (the restriction as the
// log has it), with ev. If the row is gone (deleted behind curfew's back),
// it is first put back as prev, with a restriction.repaired event, so that
// the change is recorded rather than retried for ever. e.mu must be held.
func (e *Engine) updateRestriction(ctx context.Context, prev, r *curfew.Restriction, ev *audit.Event) error {
	err := e.store.UpdateRestriction(ctx, r, ev)
	if !errors.Is(err, curfew.ErrNotFound) || prev == nil {
		return err
	}
	e.logger.ErrorContext(ctx, "the row of a restriction in force was deleted; putting it back as the audit log has it", "restriction_id", r.ID)
	if err := e.repairLocked(ctx, &audit.Difference{Restriction: prev.ID, Log: prev}); err != nil {
		return err
	}
	return e.store.UpdateRestriction(ctx, r, ev)
}

// openRestrictionLocked returns a copy of restriction id as the engine
// enforces it (the log's version: a row edited behind curfew's back is not
// taken), or, if it is not open, as the store has it. e.mu must be held.
func (e *Engine) openRestrictionLocked(ctx context.Context, id curfew.RestrictionID) (r, prev *curfew.Restriction, err error) {
	if e.idx != nil {
		if open := e.idx.Restriction(id); open != nil {
			c, p := *open, *open
			return &c, &p, nil
		}
	}
	r, err = e.store.Restriction(ctx, id)
	return r, nil, err
}
