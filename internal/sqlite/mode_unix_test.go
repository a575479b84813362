//go:build unix

package sqlite_test

import (
	"os"
	"syscall"
	"testing"
)

// withUmask022 sets the usual umask for the test, so that the modes seen
// are the ones the code asks for, not a stricter umask's.
func withUmask022(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %#o, want %#o", path, got, want)
	}
}

// The database holds token hashes, reasons and the audit log: its files
// are the owner's only, the -wal and -shm that SQLite creates included.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	withUmask022(t)
	f := newFileDB(t)
	db := f.open(t)
	writeEntries(t, db, "p", 2) // the WAL and its index exist while open
	sign(t, db)
	for _, p := range []string{f.path, f.path + "-wal", f.path + "-shm", f.checkpoint} {
		wantMode(t, p, 0o600)
	}
}

func TestOpenMakesExistingFilesPrivate(t *testing.T) {
	withUmask022(t)
	f := closedDB(t, 1)
	if err := os.Chmod(f.path, 0o644); err != nil {
		t.Fatal(err)
	}
	db := f.open(t)
	wantMode(t, f.path, 0o600)
	writeEntries(t, db, "q", 1)
	for _, p := range []string{f.path + "-wal", f.path + "-shm"} {
		wantMode(t, p, 0o600)
	}
}
