package notice_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/curfew/curfew/internal/notice"
)

func TestNegotiate(t *testing.T) {
	available := []string{"en", "es"}
	tests := []struct {
		header string
		want   string
	}{
		{"", "en"},
		{"es", "es"},
		{"ES", "es"},
		{"es-MX", "es"},
		{"es-419,en;q=0.5", "es"},
		{"en;q=0.5, es;q=0.8", "es"},
		{"en;q=0.8, es;q=0.5", "en"},
		{"fr, es;q=0.3, en;q=0.2", "es"},
		{"fr, de", "en"},
		{"es;q=0", "en"},
		{"*", "en"},
		{"en;q=0, *", "es"},
		{"es;q=0.001", "es"},
		{"es;q=1.000", "es"},
		{"es;q=1.5, en;q=0.1", "en"},   // an invalid q drops its entry
		{"es;q=abc", "en"},             // likewise
		{"es; Q=0.9, en;q=0.2", "es"},  // the parameter name is case-insensitive
		{"  es  ;  q=0.9 , en", "en"},  // whitespace; en keeps q=1
		{"zh-Hant-TW, es;q=0.1", "es"}, // no Chinese: falls through
		{"es-x-private", "es"},
		{"1es, es;q=0.2", "es"}, // malformed range skipped
		{",,,;;;", "en"},
	}
	for _, tt := range tests {
		if got := notice.Negotiate(tt.header, available); got != tt.want {
			t.Errorf("Negotiate(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestParseAcceptLanguageOrder(t *testing.T) {
	got := notice.ParseAcceptLanguage("da, en-gb;q=0.8, en;q=0.7, fr;q=0.8")
	var tags []string
	for _, p := range got {
		tags = append(tags, p.Tag)
	}
	want := []string{"da", "en-gb", "fr", "en"}
	if !slices.Equal(tags, want) {
		t.Errorf("ParseAcceptLanguage order = %v, want %v (by quality, then header order)", tags, want)
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"", "es", "es-MX,es;q=0.9,en;q=0.8", "*;q=0", "en;q=1.000", "x;q=0.", "a-b-c-d;q=0.5;x=y", "\xff;q=1"} {
		f.Add(s)
	}
	langs := notice.Languages()
	f.Fuzz(func(t *testing.T, h string) {
		prefs := notice.ParseAcceptLanguage(h)
		for i, p := range prefs {
			if p.Q < 0 || p.Q > 1 {
				t.Errorf("entry %d of %q: q = %v, want 0..1", i, h, p.Q)
			}
			if i > 0 && prefs[i-1].Q < p.Q {
				t.Errorf("entries of %q not sorted by quality: %v", h, prefs)
			}
			if p.Tag == "" || p.Tag != strings.ToLower(p.Tag) || strings.ContainsAny(p.Tag, " \t;,=") {
				t.Errorf("entry %d of %q: bad tag %q", i, h, p.Tag)
			}
		}
		if len(prefs) > 32 {
			t.Errorf("ParseAcceptLanguage(%q) kept %d entries, want at most 32", h, len(prefs))
		}
		if got := notice.Negotiate(h, langs); !slices.Contains(langs, got) {
			t.Errorf("Negotiate(%q) = %q, not one of %v", h, got, langs)
		}
	})
}

// TestCatalogsComplete checks that every language translates every string
// of English, so a new language file cannot silently show English.
func TestCatalogsComplete(t *testing.T) {
	for _, tag := range notice.Languages() {
		missing := notice.MissingStrings(tag)
		if len(missing) > 0 {
			t.Errorf("language %s lacks %v", tag, missing)
		}
	}
}
