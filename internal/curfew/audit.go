package curfew

import "time"

// SystemActor is the actor of events curfew records by itself, such as expiry.
const SystemActor = "curfew"

// AuditReport is the outcome of verifying the audit log: its chain, the
// signatures of its checkpoints, the latest checkpoint kept apart from the
// database, and the stored state held to what the log says.
type AuditReport struct {
	Entries     int64     // events checked
	Checkpoints int64     // checkpoints whose signature verifies
	SignedSeq   int64     // the newest event a valid checkpoint signs; 0 if none
	SignedAt    time.Time // when it was signed
	Unsigned    int64     // events after SignedSeq, not signed yet
	OK          bool      // nothing is wrong
	Problem     string    // the first thing wrong, when !OK
	Problems    []string  // everything wrong found, in order (bounded)
}
