// Package curfew is the domain of curfew: subjects, devices, persons,
// restrictions, the audit log and the pure computation of what must be
// enforced at a given instant (Compute → Snapshot).
//
// It performs no I/O and never reads the clock: every function that depends
// on time takes now as an argument. Other packages convert these types to
// their wire or row forms; the domain types carry no tags.
package curfew
