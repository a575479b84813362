package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/curfew/curfew/internal/curfew"
)

// parser reads the canonical encoding and nothing else: objects whose keys
// are known and in strictly increasing order, without white space or empty
// values; strings in printable ASCII with exactly the escapes appendString
// writes; integers without sign, leading zero or exponent. So decoding a
// line and checking that it is canonical are one pass, and what parses
// encodes back to the same bytes.
type parser struct {
	b []byte
	i int
	a *arena // nil: allocate each value on its own
}

// An arena makes the values of many lines with fewer allocations: events
// and fields come from slabs, which reset reuses, and the short strings
// that recur (kinds, actors, modes, subjects) are made once. It is not
// safe for concurrent use; each goroutine that parses has its own.
type arena struct {
	slabs  [][]Event // every slab made, for reset
	fslabs [][]Fields
	used   int // slabs[:used] are in use; the last one partly
	fused  int
	names  map[string]string
}

const (
	arenaSlab  = 256  // events or fields per slab
	arenaNames = 4096 // interned strings at most; then the table starts afresh
	nameMax    = 64   // longer strings are not interned
)

func (a *arena) event() *Event {
	if a == nil {
		return new(Event)
	}
	return next(&a.slabs, &a.used)
}

func (a *arena) field() *Fields {
	if a == nil {
		return new(Fields)
	}
	return next(&a.fslabs, &a.fused)
}

// next returns the next free element of slabs, of which the first used
// are in use, adding a slab when they are full.
func next[T any](slabs *[][]T, used *int) *T {
	if *used == 0 || len((*slabs)[*used-1]) == arenaSlab {
		if *used == len(*slabs) {
			*slabs = append(*slabs, make([]T, 0, arenaSlab))
		}
		*used++
	}
	s := &(*slabs)[*used-1]
	*s = (*s)[:len(*s)+1]
	return &(*s)[len(*s)-1]
}

// reset makes every value a made free again, zeroed, keeping the slabs and
// the strings.
func (a *arena) reset() {
	for _, s := range a.slabs[:a.used] {
		clear(s)
	}
	for i := range a.slabs {
		a.slabs[i] = a.slabs[i][:0]
	}
	for _, s := range a.fslabs[:a.fused] {
		clear(s)
	}
	for i := range a.fslabs {
		a.fslabs[i] = a.fslabs[i][:0]
	}
	a.used, a.fused = 0, 0
}

// name returns b as a string, the same one each time while it is in the
// table.
func (a *arena) name(b []byte) string {
	if a == nil || len(b) > nameMax {
		return string(b)
	}
	if s, ok := a.names[string(b)]; ok {
		return s
	}
	if a.names == nil || len(a.names) >= arenaNames {
		a.names = make(map[string]string, arenaNames)
	}
	s := string(b)
	a.names[s] = s
	return s
}

func (p *parser) fail(format string, args ...any) error {
	return fmt.Errorf("byte %d: "+format, append([]any{p.i}, args...)...)
}

func (p *parser) expect(c byte) error {
	if p.i >= len(p.b) || p.b[p.i] != c {
		if p.i >= len(p.b) {
			return p.fail("want %q, got the end", c)
		}
		return p.fail("want %q, got %q", c, p.b[p.i])
	}
	p.i++
	return nil
}

// object reads one non-empty object, calling member for each key in turn;
// member reads the value. Keys are plain ASCII without escapes, and key is
// valid only during the call.
func (p *parser) object(member func(key []byte) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	var last []byte
	for n := 0; ; n++ {
		if p.i < len(p.b) && p.b[p.i] == '}' {
			if n == 0 {
				return p.fail("empty object (an empty value is left out)")
			}
			p.i++
			return nil
		}
		if n > 0 {
			if err := p.expect(','); err != nil {
				return err
			}
		}
		at := p.i
		key, err := p.key()
		if err != nil {
			return err
		}
		if n > 0 && bytes.Compare(key, last) <= 0 {
			p.i = at
			return p.fail("key %q after %q: keys are in increasing order, each once", key, last)
		}
		last = key
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
	}
}

// key reads a key: a string of letters, digits and underscores.
func (p *parser) key() ([]byte, error) {
	if err := p.expect('"'); err != nil {
		return nil, err
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			k := p.b[start:p.i]
			p.i++
			return k, nil
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_':
			p.i++
		default:
			return nil, p.fail("byte %#x in a key", c)
		}
	}
	return nil, p.fail("unterminated key")
}

var errUnknownKey = errors.New("unknown key")

func (p *parser) unknown(key []byte) error {
	return fmt.Errorf("byte %d: %w %q", p.i, errUnknownKey, key)
}

// str reads a string.
func (p *parser) str() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.a.name(p.b[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20 || c >= 0x7f:
			return "", p.fail("byte %#x in a string: it is written as an escape", c)
		}
		p.i++
	}
	return "", p.fail("unterminated string")
}

// escaped reads the rest of a string that has an escape at p.i; start is
// where its characters began.
func (p *parser) escaped(start int) (string, error) {
	buf := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20 || c >= 0x7f:
			return "", p.fail("byte %#x in a string: it is written as an escape", c)
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", p.fail("unterminated escape")
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			switch {
			case r >= 0x20 && r < 0x7f || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
				return "", p.fail(`\u%04x: the character is written as itself or with its short escape`, r)
			case utf16.IsSurrogate(r):
				if r >= 0xdc00 || p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return "", p.fail("unpaired surrogate")
				}
				p.i += 2
				lo, err := p.hex4()
				if err != nil {
					return "", err
				}
				if lo < 0xdc00 || lo > 0xdfff {
					return "", p.fail("unpaired surrogate")
				}
				r = utf16.DecodeRune(r, lo)
			}
			buf = append(buf, string(r)...)
		default:
			return "", p.fail(`escape \%c`, e)
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.fail("short \\u escape")
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		default:
			return 0, p.fail("\\u escape: want four lower-case hex digits")
		}
	}
	p.i += 4
	return r, nil
}

// text reads a string that is not empty (an empty one is left out).
func (p *parser) text() (string, error) {
	s, err := p.str()
	if err == nil && s == "" {
		err = p.fail("empty string (an empty value is left out)")
	}
	return s, err
}

// int reads a positive integer (zero is left out).
func (p *parser) int() (int64, error) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	digits := p.b[start:p.i]
	if len(digits) == 0 || digits[0] == '0' {
		p.i = start
		return 0, p.fail("want a positive integer without leading zero")
	}
	v, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, p.fail("integer %s out of range", digits)
	}
	return v, nil
}

// true reads true (false is left out).
func (p *parser) true() error {
	if !bytes.HasPrefix(p.b[p.i:], []byte("true")) {
		return p.fail("want true (false is left out)")
	}
	p.i += 4
	return nil
}

// strings reads a non-empty array of strings.
func (p *parser) strings() ([]string, error) {
	if err := p.expect('['); err != nil {
		return nil, err
	}
	var l []string
	for {
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		l = append(l, s)
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return l, nil
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
	}
}

// time reads an instant in timeLayout.
func (p *parser) time() (time.Time, error) {
	n := len(timeLayout)
	if p.i+n+2 > len(p.b) || p.b[p.i] != '"' || p.b[p.i+n+1] != '"' {
		return time.Time{}, p.fail("want a time YYYY-MM-DDTHH:MM:SS.mmmZ")
	}
	t, ok := parseLayout(p.b[p.i+1 : p.i+n+1])
	if !ok {
		return time.Time{}, p.fail("time %q: want YYYY-MM-DDTHH:MM:SS.mmmZ", p.b[p.i+1:p.i+n+1])
	}
	p.i += n + 2
	return t, nil
}

// parseLayout parses timeLayout exactly and fast.
func parseLayout(s []byte) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range s[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	ms, ok7 := num(20, 3)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC)
	if t.Day() != day { // 30 February and the like
		return time.Time{}, false
	}
	return t, true
}

// hash reads a hash in lower-case hex.
func (p *parser) hash() (Hash, error) {
	var h Hash
	n := 2 * len(h)
	if p.i+n+2 > len(p.b) || p.b[p.i] != '"' || p.b[p.i+n+1] != '"' {
		return Hash{}, p.fail("want a hash of %d lower-case hex digits", n)
	}
	for i := range h {
		hi, ok1 := lowerHex(p.b[p.i+1+2*i])
		lo, ok2 := lowerHex(p.b[p.i+2+2*i])
		if !ok1 || !ok2 {
			return Hash{}, p.fail("want a hash of %d lower-case hex digits", n)
		}
		h[i] = hi<<4 | lo
	}
	p.i += n + 2
	return h, nil
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// end checks that nothing follows the value.
func (p *parser) end() error {
	if p.i != len(p.b) {
		return p.fail("more after the object")
	}
	return nil
}

// parseLine parses one line of a log: an event, or a checkpoint.
func parseLine(data []byte) (*Event, *Checkpoint, error) {
	return parseLineIn(data, nil)
}

// parseLineIn is parseLine with the values made in a (nil: each on its
// own).
func parseLineIn(data []byte, a *arena) (*Event, *Checkpoint, error) {
	p := &parser{b: data, a: a}
	e := a.event()
	var (
		c    Checkpoint
		kind string
		sig  string
	)
	err := p.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "seq":
			e.Seq, err = p.int()
		case "prev":
			e.Prev, err = p.hash()
		case "at":
			e.At, err = p.time()
		case "kind":
			kind, err = p.text()
		case "actor":
			e.Actor, err = p.text()
		case "subject":
			e.Subject, err = p.text()
		case "restriction":
			var id int64
			id, err = p.int()
			e.Restriction = curfew.RestrictionID(id)
		case "reason":
			e.Reason, err = p.text()
		case "before":
			e.Before, err = p.fields()
		case "after":
			e.After, err = p.fields()
		case "last_checkpoint":
			e.LastCheckpoint, err = p.int()
		case "legacy":
			e.Legacy, err = p.legacy()
		case "head":
			c.Head, err = p.hash()
		case "sig":
			sig, err = p.text()
		default:
			return p.unknown(key)
		}
		return err
	})
	if err == nil {
		err = p.end()
	}
	if err != nil {
		return nil, nil, err
	}
	if kind == kindCheckpoint {
		if e.Prev != (Hash{}) || e.Actor != "" || e.Subject != "" || e.Restriction != 0 || e.Reason != "" ||
			e.Before != nil || e.After != nil || e.LastCheckpoint != 0 || e.Legacy != nil {
			return nil, nil, errors.New("a checkpoint with an event's fields")
		}
		c.Seq, c.At = e.Seq, e.At
		if c.Seq == 0 || c.At.IsZero() || c.Head.IsZero() || sig == "" {
			return nil, nil, errors.New("a checkpoint without seq, at, head or sig")
		}
		if c.Sig, err = decodeSig(sig); err != nil {
			return nil, nil, fmt.Errorf("checkpoint of event %d: %w", c.Seq, err)
		}
		return nil, &c, nil
	}
	if !c.Head.IsZero() || sig != "" {
		return nil, nil, errors.New("an event with a checkpoint's fields")
	}
	e.Kind = Kind(kind)
	if e.Seq == 0 || e.Kind == "" || e.Actor == "" || e.At.IsZero() {
		return nil, nil, errors.New("an event without seq, at, kind or actor")
	}
	return e, nil, nil
}

func (p *parser) fields() (*Fields, error) {
	f := p.a.field()
	err := p.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "mode":
			var s string
			s, err = p.text()
			f.Mode = curfew.Mode(s)
		case "allow":
			f.Allow, err = p.strings()
		case "block":
			f.Block, err = p.strings()
		case "rate":
			var n int64
			n, err = p.int()
			f.Rate = curfew.Rate(n)
		case "reason":
			f.Reason, err = p.text()
		case "notice":
			f.Notice, err = p.text()
		case "author":
			f.Author, err = p.text()
		case "starts_at":
			f.Start, err = p.time()
		case "ends_at":
			f.End, err = p.time()
		case "created_at":
			f.Created, err = p.time()
		case "lifted_at":
			f.Lifted, err = p.time()
		case "lifted_by":
			f.LiftedBy, err = p.text()
		case "lift_reason":
			f.LiftReason, err = p.text()
		case "expired_at":
			f.Expired, err = p.time()
		case "applied_at":
			f.Applied, err = p.time()
		case "force":
			err = p.true()
			f.Force = true
		case "approval":
			var s string
			s, err = p.text()
			f.Approval = curfew.ApprovalState(s)
		case "approval_asker":
			f.Asker, err = p.text()
		case "extend_to":
			f.ExtendTo, err = p.time()
		case "decided_at":
			f.Decided, err = p.time()
		case "decided_by":
			f.DecidedBy, err = p.text()
		case "decision_reason":
			f.DecisionReason, err = p.text()
		case "one_time":
			err = p.true()
			f.OneTime = true
		case "disabled_at":
			f.Disabled, err = p.time()
		case "appeal":
			f.Appeal, err = p.int()
		case "message":
			f.Message, err = p.text()
		case "answer":
			f.Answer, err = p.text()
		case "restrictions":
			f.Restrictions, err = p.strings()
		case "source":
			f.Source, err = p.text()
		case "failures":
			f.Failures, err = p.int()
		case "refused":
			f.Refused, err = p.int()
		case "causes":
			f.Causes, err = p.strings()
		case "first_at":
			f.First, err = p.time()
		case "last_at":
			f.Last, err = p.time()
		case "member":
			f.Member, err = p.text()
		case "schedule":
			f.Schedule, err = p.int()
		case "days":
			f.Days, err = p.text()
		case "from":
			f.From, err = p.text()
		case "to":
			f.To, err = p.text()
		case "zone":
			f.Zone, err = p.text()
		case "until":
			f.Until, err = p.time()
		case "name":
			f.Name, err = p.text()
		case "owner":
			f.Owner, err = p.text()
		case "addrs":
			f.Addrs, err = p.strings()
		case "hostname":
			f.Hostname, err = p.text()
		case "random_mac":
			err = p.true()
			f.RandomMAC = true
		case "unaudited":
			f.Unaudited, err = p.int()
		case "token":
			f.Token, err = p.text()
		case "role":
			f.Role, err = p.text()
		case "objects":
			f.Objects, err = p.int()
		case "config_sha256":
			f.ConfigSHA256, err = p.text()
		case "checkpoint":
			f.Checkpoint, err = p.int()
		case "legacy_entries":
			f.LegacyEntries, err = p.int()
		case "legacy_intact":
			f.LegacyIntact, err = p.int()
		default:
			return p.unknown(key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) legacy() (*Legacy, error) {
	var l Legacy
	err := p.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "seq":
			l.Seq, err = p.int()
		case "action":
			l.Action, err = p.text()
		case "target":
			l.Target, err = p.text()
		case "detail":
			l.Detail, err = p.text()
		case "prev_hash":
			l.PrevHash, err = p.text()
		case "hash":
			l.Hash, err = p.text()
		default:
			return p.unknown(key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// decodeSig decodes a signature written in standard base64.
func decodeSig(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.SignatureSize || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("sig: want %d bytes in standard base64", ed25519.SignatureSize)
	}
	return b, nil
}
