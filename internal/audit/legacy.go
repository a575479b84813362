package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// LegacyEntry is an entry of the first release's audit log: an
// HMAC-SHA256 chain, keyed with a secret, over prose fields.
type LegacyEntry struct {
	Seq      int64
	At       time.Time // milliseconds
	Actor    string
	Action   string
	Target   string
	Reason   string
	Detail   string
	PrevHash string // hex
	Hash     string // hex
}

// LegacyHead is what the first release's head file recorded: the newest
// entry. The zero LegacyHead records none.
type LegacyHead struct {
	Seq  int64
	Hash string
}

// legacyHash is the first release's entry hash: the hex HMAC-SHA256 under
// key of the entry's fields, each length-prefixed, and the previous hash.
func legacyHash(key []byte, e *LegacyEntry) string {
	m := hmac.New(sha256.New, key)
	putString(m, "curfew audit v1")
	putInt(m, e.Seq)
	putInt(m, e.At.UnixMilli())
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Reason, e.Detail, e.PrevHash} {
		putString(m, s)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func putInt(h hash.Hash, v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	h.Write(b[:])
}

func putString(h hash.Hash, s string) {
	putInt(h, int64(len(s)))
	h.Write([]byte(s))
}

// VerifyLegacy checks a first-release log, es by ascending Seq, with its
// key and head, as that release's verifier did. It returns how many
// entries the log should hold (its newest sequence number, or the head's if
// that is newer) and how many of them verified before the first break; the
// log is intact if the two are equal. A break is an entry whose hash does
// not match its fields, a broken link or a gap, or, against the head,
// entries missing from the end or a different newest entry.
func VerifyLegacy(key []byte, es []LegacyEntry, head LegacyHead) (total, intact int64) {
	total = head.Seq
	if n := len(es); n > 0 {
		total = max(total, es[n-1].Seq)
	}
	var (
		prev   LegacyHead
		atHead string
	)
	for i := range es {
		e := &es[i]
		if e.Seq != prev.Seq+1 || !hmac.Equal([]byte(legacyHash(key, e)), []byte(e.Hash)) || e.PrevHash != prev.Hash {
			return total, prev.Seq
		}
		prev = LegacyHead{Seq: e.Seq, Hash: e.Hash}
		if e.Seq == head.Seq {
			atHead = e.Hash
		}
	}
	if head.Seq > 0 && head.Seq <= prev.Seq && atHead != head.Hash {
		return total, head.Seq - 1
	}
	return total, prev.Seq
}

// LegacyEvent returns e carried into the log as an event of kind legacy.
func LegacyEvent(e *LegacyEntry) *Event {
	return &Event{
		At:     e.At,
		Kind:   KindLegacy,
		Actor:  e.Actor,
		Reason: e.Reason,
		Legacy: &Legacy{Seq: e.Seq, Action: e.Action, Target: e.Target, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash},
	}
}
