package curfew

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxListEntries bounds a restriction's allow or block list.
const MaxListEntries = 1000

// NormalizeDomain returns the canonical form of a domain name given in an
// allow or block list (lower case, no trailing dot), or an error saying
// what is wrong with it. A name covers its subdomains.
func NormalizeDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("%w: domain %q: want a name such as news.example.org", ErrInvalid, s)
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%w: domain %q: want a name with at least two labels, such as example.org", ErrInvalid, s)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%w: domain %q: label %q is empty, longer than 63 or starts or ends with '-'", ErrInvalid, s, l)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", fmt.Errorf("%w: domain %q: %q is not allowed in a name (use the punycode form of international names)", ErrInvalid, s, r)
			}
		}
	}
	return d, nil
}

// normalizeList checks and canonicalises an allow (prefixes too) or block
// list, dropping duplicates.
func normalizeList(field string, in []string, prefixes bool) ([]string, error) {
	if len(in) > MaxListEntries {
		return nil, fmt.Errorf("%w: %s has %d entries, more than %d", ErrInvalid, field, len(in), MaxListEntries)
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		var v string
		if _, err := netip.ParseAddr(strings.Split(s, "/")[0]); err == nil {
			if !prefixes {
				return nil, fmt.Errorf("%w: %s: %q is an address; a block list takes domain names", ErrInvalid, field, s)
			}
			p, err := ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			v = p.String()
		} else {
			d, err := NormalizeDomain(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			v = d
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}
