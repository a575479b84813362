package sqlite

import (
	"bytes"
	"slices"
	"testing"
	"testing/fstest"
)

// A migration numbered below the newest one a database has, which the
// database lacks, is applied at the next Open; the others are not run
// again.
func TestMigrationBelowTheNewestApplied(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, ":memory:", &Config{AuditKey: bytes.Repeat([]byte{1}, MinKeySize)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := loadMigrations(fstest.MapFS{
		"migration/0001_init.sql":    {Data: []byte("CREATE TABLE persons (x)")}, // applied already: would fail
		"migration/0003_three.sql":   {Data: []byte("CREATE TABLE three (x)")},
		"migration/0005_appeals.sql": {Data: []byte("CREATE TABLE appeals (x)")}, // likewise
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.applyMigrations(ctx, ms); err != nil {
		t.Fatalf("applyMigrations() = %v", err)
	}
	have, err := db.appliedVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(have, []int{1, 3, 5}) {
		t.Errorf("applied versions = %v, want [1 3 5]", have)
	}
	if _, err := db.sql.ExecContext(ctx, "INSERT INTO three (x) VALUES (1)"); err != nil {
		t.Errorf("migration 0003 was not applied: %v", err)
	}
}

func TestLoadMigrationsRefusesBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"duplicate version": {"migration/0001_a.sql": {}, "migration/0001_b.sql": {}},
		"no first":          {"migration/0002_a.sql": {}},
		"no number":         {"migration/0001_a.sql": {}, "migration/init.sql": {}},
		"short number":      {"migration/0001_a.sql": {}, "migration/2_b.sql": {}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loadMigrations() = nil error", name)
		}
	}
}
