package storage

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// qcow2Header builds a qcow2 header of the given version, with 64 KiB
// clusters and a virtual size of 1 MiB.
func qcow2Header(version uint32, backingOffset uint64, incompatible uint64) []byte {
	h := make([]byte, 104)
	copy(h, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:], version)
	binary.BigEndian.PutUint32(h[20:], 16)
	binary.BigEndian.PutUint64(h[24:], 1<<20)
	binary.BigEndian.PutUint64(h[8:], backingOffset)
	if backingOffset != 0 {
		binary.BigEndian.PutUint32(h[16:], 10)
	}
	binary.BigEndian.PutUint64(h[72:], incompatible)
	if version == 2 {
		return h[:72]
	}
	return h
}

func TestCheckQcow2Header(t *testing.T) {
	for _, c := range []struct {
		name string
		h    []byte
		ok   bool
	}{
		{"v3", qcow2Header(3, 0, 0), true},
		{"v2", qcow2Header(2, 0, 0), true},
		{"v3 dirty, compression type, extended L2", qcow2Header(3, 0, 1|1<<3|1<<4), true},
		{"backing file", qcow2Header(3, 0x1000, 0), false},
		{"backing file v2", qcow2Header(2, 0x1000, 0), false},
		{"external data file", qcow2Header(3, 0, 1<<2), false},
		{"unknown incompatible feature", qcow2Header(3, 0, 1<<9), false},
		{"version 4", qcow2Header(4, 0, 0), false},
		{"truncated", qcow2Header(3, 0, 0)[:40], false},
		{"not qcow2", []byte("not a qcow2 header, but long enough to be one if it were one......"), false},
	} {
		err := checkQcow2Header(c.h)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, failure.ErrRefused)) {
			t.Errorf("%s: %v, want ok=%v (or failure.ErrRefused)", c.name, err, c.ok)
		}
	}
}

// FuzzQcow2Header: never panics, and accepts only headers that name no
// other file.
func FuzzQcow2Header(f *testing.F) {
	f.Add(qcow2Header(3, 0, 0))
	f.Add(qcow2Header(2, 0, 0))
	f.Add(qcow2Header(3, 0x1000, 1<<2))
	f.Fuzz(func(t *testing.T, h []byte) {
		if checkQcow2Header(h) != nil {
			return
		}
		if binary.BigEndian.Uint64(h[8:]) != 0 || binary.BigEndian.Uint32(h[16:]) != 0 {
			t.Fatalf("accepted a header naming a backing file: %x", h)
		}
		if binary.BigEndian.Uint32(h[4:]) == 3 && binary.BigEndian.Uint64(h[72:])&(1<<2) != 0 {
			t.Fatalf("accepted an external data file: %x", h)
		}
	})
}
