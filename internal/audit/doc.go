// Package audit is the format of curfew's audit log: typed events (kind,
// actor, subject, restriction, before and after as structured fields), their
// one canonical encoding, the hash chain that links them, the checkpoints
// that sign the chain's head with the gateway's ed25519 key, and the
// verification of a log (Verifier, Verify) with nothing but the public key.
//
// It is pure: it turns values into bytes and bytes into values and
// verdicts, and never touches a file, a database or the clock. Stores keep
// the bytes it produces (an event's encoding is what is hashed, so a store
// must give back exactly what it was given) and know nothing of hashing.
//
// The encoding is JSON with sorted keys, no white space and only ASCII
// (other characters escaped as \uXXXX): exactly what Python's
// json.dumps(o, sort_keys=True, separators=(",", ":")) writes, so that an
// outside tool can check it. docs/audit.md describes the format.
package audit
