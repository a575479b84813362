package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"

	"golang.org/x/text/language"
)

// langFS holds one file per language besides English, named by its BCP 47
// tag (es.json): an object from each English text of the templates to its
// translation. A text a file lacks shows in English.
//
//go:embed lang/*.json
var langFS embed.FS

// catalog is one language's texts.
type catalog struct {
	Tag  string
	Name string            // the language's name for itself
	text map[string]string // English text → translation; nil for English
}

// T returns the translation of the English text s.
func (c *catalog) T(s string) string {
	if t, ok := c.text[s]; ok && t != "" {
		return t
	}
	return s
}

// langCookie remembers the language an operator picked.
const langCookie = "curfew_lang"

// languages lists the console's languages, English first; matcher picks
// among them (RFC 4647 lookup, as x/text/language does it).
var (
	languages = mustLoadCatalogs()
	matcher   = language.NewMatcher(tagsOf(languages))
)

func mustLoadCatalogs() []*catalog {
	cs := []*catalog{{Tag: "en", Name: "English"}}
	files, err := langFS.ReadDir("lang")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		b, err := langFS.ReadFile(path.Join("lang", f.Name()))
		if err != nil {
			panic(err)
		}
		var raw struct {
			Name string            `json:"name"`
			Text map[string]string `json:"text"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			panic(fmt.Sprintf("web: parsing lang/%s: %v", f.Name(), err))
		}
		cs = append(cs, &catalog{Tag: strings.TrimSuffix(f.Name(), ".json"), Name: raw.Name, text: raw.Text})
	}
	return cs
}

func tagsOf(cs []*catalog) []language.Tag {
	var ts []language.Tag
	for _, c := range cs {
		ts = append(ts, language.MustParse(c.Tag))
	}
	return ts
}

// pickLang returns the language of r: the one its operator picked, else
// the best match of the browser's Accept-Language, else English.
func pickLang(r *http.Request) *catalog {
	var picked string
	if c, err := r.Cookie(langCookie); err == nil {
		picked = c.Value
	}
	_, i := language.MatchStrings(matcher, picked, r.Header.Get("Accept-Language"))
	return languages[i]
}

// langByTag returns the catalog of tag, or nil.
func langByTag(tag string) *catalog {
	for _, c := range languages {
		if c.Tag == tag {
			return c
		}
	}
	return nil
}
