package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/curfew/curfew/internal/config"
	"github.com/curfew/curfew/internal/sqlite"
)

// runBackup runs `curfew backup FILE [--config FILE]` on the gateway: it
// writes to FILE a tar archive of the state directory, with a consistent
// copy of the database taken while the daemon runs. Every other file of
// the directory (audit.ed25519, audit.checkpoint) is copied before the
// database, so that the copied checkpoint never signs an event the copied
// database lacks.
func runBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "/etc/curfew/curfew.yaml", "configuration `FILE` (for state_dir)")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return flagError(fs, stdout, stderr, "backup", "FILE [--config FILE]", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 1 {
		return usageError(stderr, "backup", errors.New("want exactly one FILE to write the backup to"))
	}
	out := pos[0]
	if _, err := os.Lstat(out); err == nil {
		return usageError(stderr, "backup", fmt.Errorf("FILE: %s already exists; name a new file", out))
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError(stderr, "backup", err)
	}
	if err := backup(context.Background(), cfg.StateDir, out); err != nil {
		fmt.Fprintln(stderr, errorLine("backup", err))
		return 1
	}
	return 0
}

// backup writes the archive of the state in dir to out, which must not
// exist; on failure it leaves no out behind.
func backup(ctx context.Context, dir, out string) error {
	if _, err := readState(dir); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), ".curfew-backup-")
	if err != nil {
		return fmt.Errorf("backing up %s: %w", dir, err)
	}
	defer os.RemoveAll(stage)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("backing up %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || name == dbFile || strings.HasPrefix(name, dbFile+"-") {
			continue
		}
		if err := copyFile(filepath.Join(dir, name), filepath.Join(stage, name)); err != nil {
			return fmt.Errorf("backing up %s: %w", dir, err)
		}
		names = append(names, name)
	}
	if !slices.Contains(names, keyFile) {
		return fmt.Errorf("backing up %s: %s is missing; a backup without it cannot be verified", dir, keyFile)
	}
	if err := sqlite.Backup(ctx, filepath.Join(dir, dbFile), filepath.Join(stage, dbFile)); err != nil {
		return err
	}
	names = append(names, dbFile)

	tmp := filepath.Join(stage, "archive.tar")
	if err := writeTar(tmp, stage, names); err != nil {
		return fmt.Errorf("backing up %s: %w", dir, err)
	}
	// A link, unlike a rename, never replaces a file that appeared meanwhile.
	if err := os.Link(tmp, out); err != nil {
		return fmt.Errorf("backing up %s: %w", dir, err)
	}
	return nil
}

// copyFile copies src to a new file dst, mode 0600, and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeTar writes the named files of dir into a new tar archive at path,
// each with mode 0600, and syncs it.
func writeTar(path, dir string, names []string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, name := range names {
		if err := addToTar(tw, filepath.Join(dir, name), name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func addToTar(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	h.Name, h.Mode, h.Uname, h.Gname = name, 0o600, "", ""
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
