package config_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/golden"
)

// TestConfigurationDoc checks that docs/configuration.md is what the
// reference configuration says, rendered: every key in the order of the
// file, with its comment and its example value. After changing the
// reference, run `go test ./internal/config -update` and review the diff.
func TestConfigurationDoc(t *testing.T) {
	b, err := os.ReadFile("testdata/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "../../docs/configuration.md", renderReference(t, b))
}

// renderReference renders the reference configuration b as Markdown.
func renderReference(t *testing.T, b []byte) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	var w strings.Builder
	w.WriteString("<!-- Generated from internal/config/testdata/reference.yaml by `go test ./internal/config -update`; edit that file, not this one. -->\n\n")
	w.WriteString("# Configuration reference\n\n")
	w.WriteString(paragraphs(strings.TrimSpace(doc.HeadComment + "\n\n" + root.HeadComment)))
	w.WriteString("\n\nThe daemon reads one YAML file, `curfew daemon --config FILE` (the package's is `/etc/curfew/curfew.yaml`). ")
	w.WriteString("Each key below is shown with the example value of the reference configuration, which is installed as `/usr/share/doc/curfew/reference.yaml`.\n")
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			fmt.Fprintf(&w, "\n%s `%s`\n\n", strings.Repeat("#", depth+2), p)
			if c := paragraphs(k.HeadComment); c != "" {
				w.WriteString(c + "\n")
			}
			if v.Kind == yaml.MappingNode {
				walk(v, p, depth+1)
				continue
			}
			out, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: k.Value}, plain(v)}})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&w, "\n```yaml\n%s```\n", out)
		}
	}
	walk(root, "", 0)
	return w.String()
}

// plain returns a copy of n without comments, in flow style.
func plain(n *yaml.Node) *yaml.Node {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	if c.Kind == yaml.SequenceNode {
		c.Style = yaml.FlowStyle
	}
	return &c
}

// paragraphs turns a YAML comment block into Markdown paragraphs.
func paragraphs(comment string) string {
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(comment, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if line == "" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return strings.Join(out, "\n\n")
}

// TestShippedConfig checks the configuration the package installs as
// /etc/curfew/curfew.yaml: it parses, every key it sets, and every key it
// shows commented out, is one the reference documents.
func TestShippedConfig(t *testing.T) {
	const path = "../../deploy/curfew.yaml"
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("the shipped configuration is refused: %v", err)
	}
	if c.LAN.Address.IsValid() || len(c.DNS.Upstreams) != 0 {
		t.Errorf("the shipped configuration fixes lan.address %v or dns.upstreams %v; both must come from the machine", c.LAN.Address, c.DNS.Upstreams)
	}
	ref, err := os.ReadFile("testdata/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, k := range keys(t, ref) {
		documented[k] = true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment the examples ("  #address: …") to check their keys too.
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if trimmed := strings.TrimLeft(line, " "); strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "# ") && strings.Contains(trimmed, ": ") && trimmed != "#" {
			line = line[:len(line)-len(trimmed)] + trimmed[1:]
		}
		lines = append(lines, line)
	}
	// The commented examples may repeat a key: keep the first of each.
	var kept []string
	seen := map[string]bool{}
	for _, line := range lines {
		if k, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.HasPrefix(line, "  ") && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		kept = append(kept, line)
	}
	for _, k := range keys(t, []byte(strings.Join(kept, "\n"))) {
		if !documented[k] {
			t.Errorf("the shipped configuration names %s, which the reference does not document", k)
		}
	}
}

// keys returns the dotted path of every key in the YAML document b.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parsing: %v", err)
	}
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			out = append(out, p)
			if n.Content[i+1].Kind == yaml.MappingNode {
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(doc.Content[0], "")
	return out
}
