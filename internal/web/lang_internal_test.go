package web

import (
	"io/fs"
	"regexp"
	"testing"
)

var templateText = regexp.MustCompile(`\.T "((?:[^"\\]|\\.)*)"`)

// TestTranslations checks that every text the templates translate has a
// translation in every language besides English.
func TestTranslations(t *testing.T) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(templateFS, f)
		for _, m := range templateText.FindAllStringSubmatch(string(b), -1) {
			for _, c := range languages[1:] {
				if c.text[m[1]] == "" {
					t.Errorf("%s: %q has no %s translation in lang/%s.json", f, m[1], c.Name, c.Tag)
				}
			}
		}
	}
}
