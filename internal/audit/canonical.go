package audit

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeLayout is how instants are written: UTC, always with milliseconds,
// which is the precision the log keeps.
const timeLayout = "2006-01-02T15:04:05.000Z"

// formatTime writes t in timeLayout.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// truncate drops what the log does not keep of t: the monotonic reading,
// the zone and anything below a millisecond.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a canonical JSON string: the characters Python's
// json.dumps escapes with a short form (\" \\ \b \f \n \r \t) get it, every
// other character outside printable ASCII is \uXXXX in lower-case hex (a
// surrogate pair above U+FFFF), and the rest is itself. Invalid UTF-8 is
// written as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
			i++
			continue
		case '\b':
			b = append(b, '\\', 'b')
			i++
			continue
		case '\f':
			b = append(b, '\\', 'f')
			i++
			continue
		case '\n':
			b = append(b, '\\', 'n')
			i++
			continue
		case '\r':
			b = append(b, '\\', 'r')
			i++
			continue
		case '\t':
			b = append(b, '\\', 't')
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r > 0xffff {
			r -= 0x10000
			b = appendU(b, 0xd800|(r>>10)&0x3ff)
			b = appendU(b, 0xdc00|r&0x3ff)
			continue
		}
		b = appendU(b, r)
	}
	return append(b, '"')
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// object builds one canonical JSON object: members are written in the
// order of their keys, whatever the order they were added in, and empty
// values are left out, so that there is one encoding of each value.
type object struct {
	members []member
}

type member struct {
	key string
	val []byte // encoded
}

func (o *object) raw(key string, val []byte) {
	o.members = append(o.members, member{key, val})
}

func (o *object) str(key, v string) {
	if v != "" {
		o.raw(key, appendString(nil, v))
	}
}

func (o *object) int(key string, v int64) {
	if v != 0 {
		o.raw(key, strconv.AppendInt(nil, v, 10))
	}
}

func (o *object) bool(key string, v bool) {
	if v {
		o.raw(key, []byte("true"))
	}
}

func (o *object) time(key string, t time.Time) {
	if !t.IsZero() {
		o.str(key, formatTime(t))
	}
}

func (o *object) strings(key string, l []string) {
	if len(l) == 0 {
		return
	}
	b := []byte{'['}
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	o.raw(key, append(b, ']'))
}

func (o *object) object(key string, sub *object) {
	if sub != nil && len(sub.members) > 0 {
		o.raw(key, sub.appendTo(nil))
	}
}

// appendTo appends the object, members sorted by key.
func (o *object) appendTo(b []byte) []byte {
	slices.SortFunc(o.members, func(x, y member) int { return strings.Compare(x.key, y.key) })
	b = append(b, '{')
	for i, m := range o.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		b = append(b, m.val...)
	}
	return append(b, '}')
}
