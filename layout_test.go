// Package layout_test checks rules about the shape of the repository that
// the compiler does not: every package has one doc comment, and packages
// import only what the layout allows.
package layout_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/curfew/curfew/"

// packages walks the repository and returns its Go package directories.
func packages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dir := filepath.Dir(path)
			if len(dirs) == 0 || dirs[len(dirs)-1] != dir {
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// parseDir parses the non-test Go files of dir, whatever their build tags.
func parseDir(t *testing.T, dir string, mode parser.Mode) map[string]*ast.File {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = f
	}
	return files
}

// TestPackageDocs checks that every package has exactly one package doc
// comment.
func TestPackageDocs(t *testing.T) {
	for _, dir := range packages(t) {
		var docs []string
		for file, f := range parseDir(t, dir, parser.ParseComments|parser.PackageClauseOnly) {
			if f.Doc != nil {
				docs = append(docs, filepath.Base(file))
			}
		}
		if len(docs) != 1 {
			t.Errorf("package in %s has %d doc comments (%v), want exactly 1", dir, len(docs), docs)
		}
	}
}

// allowed lists, per package directory, the module-internal packages and
// third-party module prefixes its non-test files may import. The standard
// library is always allowed except where forbidden lists it.
var allowed = map[string][]string{
	"internal/curfew":              {},
	"internal/audit":               {"internal/curfew"},
	"internal/enforce":             {"internal/curfew"},
	"internal/enforce/enforcetest": {"internal/curfew", "internal/enforce"},
	"internal/engine":              {"internal/curfew", "internal/enforce", "internal/audit"},
	"internal/access":              {"internal/curfew", "internal/audit", "golang.org/x/crypto/argon2"},
	"internal/nftconn":             {"github.com/google/nftables", "github.com/mdlayher/netlink"},
	"internal/netfilter":           {"internal/curfew", "internal/enforce", "internal/nftconn", "github.com/google/nftables", "github.com/vishvananda/netlink", "github.com/vishvananda/netns", "golang.org/x/sys/unix", "github.com/mdlayher/netlink"},
	"internal/shaper":              {"internal/curfew", "internal/enforce", "internal/nftconn", "github.com/google/nftables", "github.com/vishvananda/netlink", "github.com/vishvananda/netns", "golang.org/x/sys/unix", "github.com/mdlayher/netlink"},
	"internal/resolver":            {"internal/curfew", "internal/enforce", "internal/identify", "github.com/miekg/dns", "golang.org/x/sys/unix"},
	"internal/notice":              {"internal/curfew", "internal/enforce", "internal/identify", "github.com/mmcdole/gofeed"},
	"internal/sqlite":              {"internal/curfew", "internal/audit", "modernc.org/sqlite"},
	"internal/storetest":           {"internal/curfew", "internal/audit", "internal/engine", "internal/access", "github.com/google/go-cmp"},
	"internal/api":                 {"internal/curfew", "internal/audit"},
	"internal/api/apitest":         {"internal/curfew"},
	"internal/web":                 {"internal/curfew", "internal/audit", "golang.org/x/text/language"},
	"internal/config":              {"internal/curfew", "go.yaml.in/yaml/v3"},
	"internal/netnstest":           {"golang.org/x/sys/unix", "github.com/vishvananda/netns", "github.com/google/go-cmp"},
	"internal/golden":              {"github.com/google/go-cmp"},
	"internal/browsertest":         {"github.com/chromedp/chromedp"},
	"internal/identify":            {"internal/curfew", "github.com/vishvananda/netlink", "github.com/vishvananda/netns", "golang.org/x/sys/unix"},
	"internal/lab":                 {"golang.org/x/sys/unix", "github.com/vishvananda/netns", "github.com/vishvananda/netlink", "github.com/miekg/dns"},
	"integration":                  {"internal/netnstest", "internal/golden", "internal/api", "internal/curfew", "internal/audit", "internal/lab"},
	"cmd/curfew":                   {"*"},
	"bench/cmd/genlist":            {"*"},
	"bench/cmd/dnsupstream":        {"*"},
	"bench/cmd/resolverbench":      {"*"},
	"bench/cmd/waitdns":            {"*"},
	"bench/cmd/fwdtable":           {"*"},
}

// forbidden lists standard packages a directory must not import.
var forbidden = map[string][]string{
	"internal/curfew": {"database/sql", "net/http", "encoding/json", "log", "os"},
	"internal/audit":  {"database/sql", "net/http", "log", "log/slog", "os"},
}

func TestImportRules(t *testing.T) {
	for _, dir := range packages(t) {
		dir = filepath.ToSlash(dir)
		rules, ok := allowed[dir]
		if !ok {
			t.Errorf("package %s is not in the layout's import rules; add it to layout_test.go", dir)
			continue
		}
		for file, f := range parseDir(t, dir, parser.ImportsOnly) {
			for _, imp := range f.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if !importAllowed(dir, path, rules) {
					t.Errorf("%s imports %q, which the layout forbids for %s", file, path, dir)
				}
			}
		}
	}
}

func importAllowed(dir, path string, rules []string) bool {
	for _, f := range forbidden[dir] {
		if path == f {
			return false
		}
	}
	if len(rules) == 1 && rules[0] == "*" {
		return true
	}
	if local, ok := strings.CutPrefix(path, module); ok {
		for _, r := range rules {
			if local == r {
				return true
			}
		}
		return false
	}
	first, _, _ := strings.Cut(path, "/")
	if !strings.Contains(first, ".") {
		return true // standard library
	}
	for _, r := range rules {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}
