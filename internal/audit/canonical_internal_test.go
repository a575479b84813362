package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

// The expected encodings are what Python 3's json.dumps(s) writes
// (ensure_ascii, the default).
func TestAppendString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"exam week", `"exam week"`},
		{`say "no" \ then`, `"say \"no\" \\ then"`},
		{"a/b <c> & d", `"a/b <c> & d"`},
		{"line\nbreak\ttab\rcr\bbs\fff", `"line\nbreak\ttab\rcr\bbs\fff"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f\u007f"`},
		{"café", `"caf\u00e9"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"€", `"\u20ac"`},
		{"😀", `"\ud83d\ude00"`},
		{"\xff", `"\ufffd"`},
	}
	for _, tt := range tests {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzAppendString checks that every string encodes as printable ASCII
// that JSON decodes back to the string (invalid UTF-8 as U+FFFD).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "é😀", "\xed\xa0\x80", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		for _, c := range b {
			if c < 0x20 || c >= 0x7f {
				t.Fatalf("appendString(%q) = %q holds byte %#x", s, b, c)
			}
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %q, which does not decode: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && got != validRunes(s) {
			t.Fatalf("appendString(%q) decodes to %q", s, got)
		}
	})
}

// validRunes replaces each invalid byte of s with U+FFFD, as ranging over
// a string does.
func validRunes(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}
