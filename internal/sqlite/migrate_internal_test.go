package sqlite

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// Migration numbers may be reserved for changes still to come: a gap is
// fine, and a database lacking a version below its newest gets it.
func TestMigrationGaps(t *testing.T) {
	fsys := fstest.MapFS{
		"migration/0001_init.sql":  {Data: []byte("-- 1")},
		"migration/0004_later.sql": {Data: []byte("-- 4")},
		"migration/0002_next.sql":  {Data: []byte("-- 2")},
	}
	ms, err := loadMigrations(fsys)
	if err != nil {
		t.Fatalf("loadMigrations() = %v", err)
	}
	versions := func(ms []migration) []int {
		var vs []int
		for _, m := range ms {
			vs = append(vs, m.version)
		}
		return vs
	}
	if diff := cmp.Diff([]int{1, 2, 4}, versions(ms)); diff != "" {
		t.Errorf("loadMigrations() versions (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		have []int
		want []int
	}{
		{"new database", nil, []int{1, 2, 4}},
		{"up to date", []int{1, 2, 4}, nil},
		{"the newest only", []int{1, 2}, []int{4}},
		{"a lower version missing", []int{1, 4}, []int{2}},
	} {
		todo, err := missing(ms, tt.have)
		if err != nil {
			t.Errorf("%s: missing() = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, versions(todo)); diff != "" {
			t.Errorf("%s: missing() versions (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, err := missing(ms, []int{1, 2, 3, 4}); err == nil || !strings.Contains(err.Error(), "schema version 3 is unknown") {
		t.Errorf("missing() with a version this curfew lacks = %v, want it refused", err)
	}
}

func TestMigrationNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"duplicate", fstest.MapFS{"migration/0001_a.sql": {}, "migration/0001_b.sql": {}}, "version 1 is also 0001_a.sql"},
		{"no number", fstest.MapFS{"migration/init.sql": {}}, "want a name NNNN_description.sql"},
		{"zero", fstest.MapFS{"migration/0000_a.sql": {}}, "want a name NNNN_description.sql"},
		{"short number", fstest.MapFS{"migration/1_a.sql": {}}, "want a name NNNN_description.sql"},
	} {
		if _, err := loadMigrations(tt.fsys); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: loadMigrations() = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
