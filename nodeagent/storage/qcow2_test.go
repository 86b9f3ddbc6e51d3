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
		if n, err := qcow2MaxBytes(h, int64(len(h))); err == nil && (n < int64(len(h)) || n < int64(binary.BigEndian.Uint64(h[24:]))) {
			t.Fatalf("bound %d below the file (%d) or its virtual size: %x", n, len(h), h)
		}
	})
}

// A qcow2 disk counts what it may grow to: its file, its virtual size
// and the tables for it; a header QEMU would not open is refused.
func TestQcow2MaxBytes(t *testing.T) {
	with := func(bits uint32, virtual uint64) []byte {
		h := qcow2Header(3, 0, 0)
		binary.BigEndian.PutUint32(h[20:], bits)
		binary.BigEndian.PutUint64(h[24:], virtual)
		return h
	}
	for _, c := range []struct {
		name          string
		h             []byte
		file          int64
		atLeast, most int64
		refused       bool
	}{
		{name: "5 GiB virtual, 64 KiB clusters", h: with(16, 5<<30), file: 300 << 20, atLeast: 300<<20 + 5<<30, most: 300<<20 + 5<<30 + 8<<20},
		{name: "512-byte clusters: larger tables", h: with(9, 1<<30), file: 1 << 20, atLeast: 1<<20 + 1<<30 + 32<<20, most: 1<<20 + 1<<30 + 128<<20},
		{name: "2 MiB clusters", h: with(21, 1<<30), file: 1 << 20, atLeast: 1<<20 + 1<<30, most: 1<<20 + 1<<30 + 72<<20},
		{name: "empty", h: with(16, 0), file: 196608, atLeast: 196608, most: 196608 + 4<<20},
		{name: "cluster bits below QEMU's", h: with(8, 1<<30), refused: true},
		{name: "cluster bits above QEMU's", h: with(22, 1<<30), refused: true},
		{name: "virtual size beyond any disk", h: with(16, 1<<63), refused: true},
		{name: "backing file", h: qcow2Header(3, 0x1000, 0), refused: true},
	} {
		n, err := qcow2MaxBytes(c.h, c.file)
		if c.refused {
			if !errors.Is(err, failure.ErrRefused) {
				t.Errorf("%s: %d, %v; want failure.ErrRefused", c.name, n, err)
			}
			continue
		}
		if err != nil || n < c.atLeast || n > c.most {
			t.Errorf("%s: %d, %v; want %d..%d", c.name, n, err, c.atLeast, c.most)
		}
	}
}
