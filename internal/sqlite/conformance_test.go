package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/curfew/curfew/internal/sqlite"
	"github.com/curfew/curfew/internal/storetest"
)

// conformant is a database in a file of its own, as the daemon keeps it,
// that can be closed and opened again.
type conformant struct {
	*sqlite.DB
	path, head string // the database and its checkpoint file
}

func openConformant(t *testing.T, path, head string) *conformant {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path, &sqlite.Config{CheckpointPath: head})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return &conformant{DB: db, path: path, head: head}
}

// Reopen implements [storetest.Reopener].
func (c *conformant) Reopen(t *testing.T) storetest.Store {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return openConformant(t, c.path, c.head)
}

// TestStoreConformance holds the SQLite store to the store contract, with
// a real database file.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		dir := t.TempDir()
		return openConformant(t, filepath.Join(dir, "curfew.db"), filepath.Join(dir, "audit.checkpoint"))
	})
}
