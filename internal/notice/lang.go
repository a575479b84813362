package notice

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// langFS holds one file per language, named by its BCP 47 tag in lower
// case (es.json, pt-br.json). Adding a language is adding a file: every key
// of en.json should be translated; a missing one falls back to English.
//
//go:embed lang/*.json
var langFS embed.FS

// defaultLang is the language of clients that accept none we have, and the
// fallback for a string a translation lacks.
const defaultLang = "en"

// A catalog is one language's strings.
type catalog struct {
	Tag     string            `json:"-"`       // from the file name
	Name    string            `json:"name"`    // the language's own name for itself
	Dir     string            `json:"dir"`     // "ltr" (default) or "rtl"
	Strings map[string]string `json:"strings"` // by key; see en.json
}

// catalogs holds every embedded language by tag; tags lists them sorted.
var (
	catalogs = mustLoadCatalogs()
	tags     = sortedTags(catalogs)
)

func mustLoadCatalogs() map[string]*catalog {
	cs, err := loadCatalogs(langFS)
	if err != nil {
		panic(err)
	}
	return cs
}

func loadCatalogs(fsys fs.FS) (map[string]*catalog, error) {
	files, err := fs.Glob(fsys, "lang/*.json")
	if err != nil {
		return nil, fmt.Errorf("listing languages: %w", err)
	}
	cs := map[string]*catalog{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		c := &catalog{}
		if err := json.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
		c.Tag = strings.TrimSuffix(path.Base(f), ".json")
		if c.Dir == "" {
			c.Dir = "ltr"
		}
		cs[c.Tag] = c
	}
	if cs[defaultLang] == nil {
		return nil, fmt.Errorf("loading languages: no %s.json", defaultLang)
	}
	return cs, nil
}

func sortedTags(cs map[string]*catalog) []string {
	var ts []string
	for t := range cs {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// text returns the string for key in c, falling back to English and then
// to the key itself, so a missing translation shows rather than breaks.
func (c *catalog) text(key string) string {
	if s, ok := c.Strings[key]; ok {
		return s
	}
	if s, ok := catalogs[defaultLang].Strings[key]; ok {
		return s
	}
	return key
}

// A langPref is one entry of an Accept-Language header.
type langPref struct {
	Tag string  // lower case; "*" for any
	Q   float64 // 0 to 1; 0 means "not acceptable"
}

// maxLangPrefs bounds the work one header can cause.
const maxLangPrefs = 32

// parseAcceptLanguage parses an Accept-Language header (RFC 9110 section
// 12.5.4) into its entries, highest quality first and in header order among
// equals. Malformed entries are skipped, not fatal: a browser's odd header
// must not cost the person the page.
func parseAcceptLanguage(h string) []langPref {
	var prefs []langPref
	for entry := range strings.SplitSeq(h, ",") {
		if len(prefs) == maxLangPrefs {
			break
		}
		tag, params, _ := strings.Cut(entry, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if !validLangRange(tag) {
			continue
		}
		q, ok := 1.0, true
		for p := range strings.SplitSeq(params, ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			name, value, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(name), "q") {
				q, ok = parseQuality(strings.TrimSpace(value))
			}
		}
		if ok {
			prefs = append(prefs, langPref{Tag: tag, Q: q})
		}
	}
	slices.SortStableFunc(prefs, func(a, b langPref) int {
		switch {
		case a.Q > b.Q:
			return -1
		case a.Q < b.Q:
			return 1
		}
		return 0
	})
	return prefs
}

// validLangRange reports whether s is "*" or a language range:
// 1*8ALPHA *("-" 1*8alphanum), already in lower case.
func validLangRange(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" {
		return false
	}
	for i, sub := range strings.Split(s, "-") {
		if len(sub) < 1 || len(sub) > 8 {
			return false
		}
		for _, r := range sub {
			alpha := r >= 'a' && r <= 'z'
			digit := r >= '0' && r <= '9'
			if !alpha && !(digit && i > 0) {
				return false
			}
		}
	}
	return true
}

// parseQuality parses a qvalue: "0" to "1" with at most three decimals.
func parseQuality(s string) (float64, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	if len(s) > 1 {
		if s[1] != '.' {
			return 0, false
		}
		for _, r := range s[2:] {
			if r < '0' || r > '9' || (s[0] == '1' && r != '0') {
				return 0, false
			}
		}
	}
	q, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return q, true
}

// negotiate returns the best of the available tags for the header h, by
// RFC 4647 lookup: each range, best first, is tried whole and then with
// its last subtag cut off ("es-419" → "es"). A range with q=0 rules its
// language out, also for "*". With no match it returns defaultLang.
func negotiate(h string, available []string) string {
	prefs := parseAcceptLanguage(h)
	excluded := map[string]bool{}
	for _, p := range prefs {
		if p.Q == 0 {
			excluded[p.Tag] = true
		}
	}
	for _, p := range prefs {
		if p.Q == 0 {
			continue
		}
		if p.Tag == "*" {
			if !excluded[defaultLang] && slices.Contains(available, defaultLang) {
				return defaultLang
			}
			for _, t := range available {
				if !excluded[t] {
					return t
				}
			}
			continue
		}
		for r := p.Tag; r != ""; r = truncate(r) {
			if slices.Contains(available, r) && !excluded[r] {
				return r
			}
		}
	}
	return defaultLang
}

// truncate cuts the last subtag off a language range, and a single-letter
// subtag left before it ("zh-hant-x-a" → "zh-hant").
func truncate(r string) string {
	i := strings.LastIndexByte(r, '-')
	if i < 0 {
		return ""
	}
	r = r[:i]
	if j := strings.LastIndexByte(r, '-'); j >= 0 && len(r)-j == 2 {
		r = r[:j]
	}
	return r
}
