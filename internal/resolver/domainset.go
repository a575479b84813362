package resolver

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
)

// A domainSet is an immutable set of domain names that matches a name when
// the name itself or one of its parent domains is in the set.
//
// It keeps only a 64-bit hash of each name, in an open-addressing table at
// most half full, so 1,000,000 names take 16 MiB and a lookup costs one hash
// and usually one cache miss per label of the queried name. Two different
// names share a hash with probability 2⁻⁶⁴ per pair; with a million names a
// query is wrongly matched about once in 10¹³ lookups, which is accepted.
// The names themselves are not kept.
type domainSet struct {
	seed  maphash.Seed
	slots []uint64 // hash of a name, or 0 for an empty slot
	n     int      // names in the set
}

// A domainSetBuilder collects names for a domainSet.
type domainSetBuilder struct {
	seed   maphash.Seed
	hashes []uint64
}

func newDomainSetBuilder() *domainSetBuilder {
	return &domainSetBuilder{seed: maphash.MakeSeed()}
}

// add adds a name that must already be normalized (see normalizeDomain).
func (b *domainSetBuilder) add(name string) {
	b.hashes = append(b.hashes, hashName(b.seed, name))
}

// build returns the set of every name added. The builder must not be used
// afterwards.
func (b *domainSetBuilder) build() *domainSet {
	slices.Sort(b.hashes)
	hashes := slices.Compact(b.hashes)
	b.hashes = nil
	size := 8
	for size < 2*len(hashes) {
		size *= 2
	}
	s := &domainSet{seed: b.seed, slots: make([]uint64, size), n: len(hashes)}
	mask := uint64(size - 1)
	for _, h := range hashes {
		i := h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
	}
	return s
}

// newDomainSet returns the set of names, normalizing each and skipping
// those that are not domain names.
func newDomainSet(names []string) *domainSet {
	b := newDomainSetBuilder()
	for _, n := range names {
		if d, ok := normalizeDomain(n); ok {
			b.add(d)
		}
	}
	return b.build()
}

func hashName(seed maphash.Seed, name string) uint64 {
	return fixHash(maphash.String(seed, name))
}

func fixHash(h uint64) uint64 {
	if h == 0 {
		return 1 // 0 marks an empty slot
	}
	return h
}

// Len returns how many distinct names the set holds.
func (s *domainSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// match reports whether name (lower case, with or without the trailing dot)
// or one of its parent domains is in the set, and returns the one that is.
// A nil set matches nothing.
func (s *domainSet) match(name string) (string, bool) {
	if s == nil || s.n == 0 {
		return "", false
	}
	name = strings.TrimSuffix(name, ".")
	for name != "" {
		if s.has(name) {
			return name, true
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return "", false
}

// matchBytes is match for a name in a byte slice; the domain it returns
// is a part of name.
func (s *domainSet) matchBytes(name []byte) ([]byte, bool) {
	if s == nil || s.n == 0 {
		return nil, false
	}
	name = bytes.TrimSuffix(name, []byte("."))
	for len(name) > 0 {
		if s.hasHash(fixHash(maphash.Bytes(s.seed, name))) {
			return name, true
		}
		i := bytes.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return nil, false
}

func (s *domainSet) has(name string) bool { return s.hasHash(hashName(s.seed, name)) }

func (s *domainSet) hasHash(h uint64) bool {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// Bytes returns the memory the set's table takes.
func (s *domainSet) Bytes() int {
	if s == nil {
		return 0
	}
	return 8 * len(s.slots)
}

// normalizeDomain returns s as a lower-case domain name without the
// trailing dot, or false if s is not a name the resolver can match: empty,
// longer than 253 characters, with an empty or over-long label, or with
// characters outside letters, digits, '-' and '_' (internationalized names
// must be given in their ASCII "xn--" form). A leading "*." is dropped:
// every name in a set also matches its subdomains.
func normalizeDomain(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return "", false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
		default:
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return strings.ToLower(s), true
}
