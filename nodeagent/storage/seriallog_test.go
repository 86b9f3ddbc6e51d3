package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvirt/podvirt/domainspec"
)

func TestRotateSerialLog(t *testing.T) {
	const max = 100
	for _, c := range []struct {
		name string
		// log and old are serial.log and serial.log.1 before ("" absent).
		log, old string
		rotated  bool
		// wantLog and wantOld are after.
		wantLog, wantOld string
	}{
		{name: "no log"},
		{name: "under the bound", log: strings.Repeat("a", max), wantLog: strings.Repeat("a", max)},
		{name: "over: its tail goes aside, it is emptied", log: strings.Repeat("a", 50) + strings.Repeat("b", max), rotated: true, wantOld: strings.Repeat("b", max)},
		{name: "the previous rotation is replaced", log: strings.Repeat("c", max+1), old: "old", rotated: true, wantOld: strings.Repeat("c", max)},
		{name: "far over (a fast guest): still the bound", log: strings.Repeat("d", 10*max), rotated: true, wantOld: strings.Repeat("d", max)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, domainspec.SerialLogFile)
			if c.log != "" {
				if err := os.WriteFile(path, []byte(c.log), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c.old != "" {
				if err := os.WriteFile(path+".1", []byte(c.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rotated, err := RotateSerialLog(dir, max)
			if err != nil || rotated != c.rotated {
				t.Fatalf("rotated %v, %v; want %v", rotated, err, c.rotated)
			}
			if got, _ := os.ReadFile(path); string(got) != c.wantLog {
				t.Errorf("serial.log %q, want %q", got, c.wantLog)
			}
			if got, _ := os.ReadFile(path + ".1"); string(got) != c.wantOld {
				t.Errorf("serial.log.1 %q, want %q", got, c.wantOld)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
				t.Errorf("left %v", left)
			}
		})
	}
}

// A writer that appends, as QEMU does with append='on', goes on at the
// new end after a rotation, and the two files stay within twice the bound
// (plus what is written between two checks).
func TestRotatedLogIsAppendedFromItsNewEnd(t *testing.T) {
	const max = 64
	dir := t.TempDir()
	path := filepath.Join(dir, domainspec.SerialLogFile)
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 50 {
		if _, err := w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 10)); err != nil {
			t.Fatal(err)
		}
		if _, err := RotateSerialLog(dir, max); err != nil {
			t.Fatal(err)
		}
		live, _ := os.Stat(path)
		old, _ := os.Stat(path + ".1")
		var oldSize int64
		if old != nil {
			oldSize = old.Size()
		}
		if live.Size() > max || oldSize > max {
			t.Fatalf("after write %d: serial.log %d bytes, serial.log.1 %d, bound %d each", i, live.Size(), oldSize, max)
		}
	}
	live, _ := os.ReadFile(path)
	if len(live) == 0 || bytes.Contains(live, []byte{0}) {
		t.Errorf("the live log %q: want the latest writes, no hole", live)
	}
}

// The agent never truncates a file a link in the log's place points at.
func TestRotateSerialLogRefusesALink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, bytes.Repeat([]byte("v"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, domainspec.SerialLogFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := RotateSerialLog(dir, 10); err == nil {
		t.Error("rotated through a symlink")
	}
	if fi, _ := os.Stat(victim); fi.Size() != 1000 {
		t.Errorf("the link's target was truncated to %d bytes", fi.Size())
	}
}
