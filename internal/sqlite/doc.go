// Package sqlite stores curfew's state (persons, devices, restrictions, API
// tokens) and its audit log in an SQLite database, through the pure Go
// driver modernc.org/sqlite. [*DB] implements the engine's and the access
// component's Store, and passes their conformance suite (storetest).
//
// The schema is created and upgraded by the migrations embedded from
// migration/, applied in order at Open, one transaction each.
//
// Every change is written in one transaction with the audit entry that
// records it. The audit log is a hash chain keyed with a secret the database
// does not hold, and its head is also kept in a file beside the key, so that
// editing, deleting or truncating entries in the database is detected by
// [DB.VerifyAudit].
//
// Open refuses a database it cannot trust rather than start afresh: one
// that fails SQLite's PRAGMA quick_check, or whose audit log is empty while
// the head file records entries ([ErrCorrupt]), and, when asked to
// (Config.MustExist), a missing or empty file ([ErrNoDatabase]). The files
// it creates are readable by their owner only.
//
// The curfew daemon is the single writer of a database. Other processes
// (curfew init before the daemon starts, tests) may open the same file; WAL
// mode lets readers work while the daemon writes.
package sqlite
