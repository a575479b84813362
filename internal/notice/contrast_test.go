package notice_test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestContrast checks that every pair of text and background colours the
// page uses, in its light and dark schemes, has a WCAG contrast ratio of at
// least 4.5:1.
func TestContrast(t *testing.T) {
	b, err := os.ReadFile("templates/page.html")
	if err != nil {
		t.Fatal(err)
	}
	roots := regexp.MustCompile(`:root\{([^}]*)\}`).FindAllStringSubmatch(string(b), -1)
	if len(roots) != 2 {
		t.Fatalf("found %d :root blocks, want 2 (light and dark)", len(roots))
	}
	pairs := [][2]string{ // text, background
		{"fg", "bg"}, {"fg", "card"}, {"fg", "band"}, {"fg", "ok"},
		{"muted", "bg"}, {"muted", "card"}, {"muted", "band"}, {"muted", "ok"},
		{"link", "bg"}, {"link", "card"},
		{"card", "fg"}, // the button
	}
	for i, scheme := range []string{"light", "dark"} {
		vars := map[string]string{}
		for _, m := range regexp.MustCompile(`--(\w+):(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(roots[i][1], -1) {
			vars[m[1]] = m[2]
		}
		for _, p := range pairs {
			fg, bg := vars[p[0]], vars[p[1]]
			if fg == "" || bg == "" {
				t.Errorf("%s: --%s or --%s missing", scheme, p[0], p[1])
				continue
			}
			if r := contrast(fg, bg); r < 4.5 {
				t.Errorf("%s: --%s %s on --%s %s has contrast %.2f, want at least 4.5", scheme, p[0], fg, p[1], bg, r)
			}
		}
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	var c [3]float64
	for i := range c {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}
