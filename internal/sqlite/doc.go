// Package sqlite stores curfew's state (persons, devices, restrictions, API
// tokens) and its audit log in an SQLite database, through the pure Go
// driver modernc.org/sqlite. [*DB] implements the engine's and the access
// component's Store, and passes their conformance suite (storetest).
//
// The schema is created and upgraded by the migrations embedded from
// migration/, applied in order at Open, one transaction each.
//
// Every change is written in one transaction with the audit event that
// records it (package audit). The store keeps each event's canonical
// encoding as it was given and knows nothing of hashing: the audit package
// seals events into a chain, signs checkpoints of its head and verifies
// them. The newest checkpoint is also kept in a file beside the database
// (Config.CheckpointPath), so that events dropped from the end of the
// database are detected. A database of the first release, whose log was an
// HMAC chain over prose, is upgraded by migration 2 (legacy.go).
//
// Open refuses a database it cannot trust rather than start afresh: one
// that fails SQLite's PRAGMA quick_check, or whose audit log is empty while
// the checkpoint file signs events ([ErrCorrupt]), and, when asked to
// (Config.MustExist), a missing or empty file ([ErrNoDatabase]). The files
// it creates are readable by their owner only.
//
// The curfew daemon is the single writer of a database. Other processes
// (curfew init before the daemon starts, tests) may open the same file; WAL
// mode lets readers work while the daemon writes.
package sqlite
