package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// A containerDisk is not copied: the guest writes to a qcow2 overlay in
// the VMI's directory whose backing file is the image's disk in the image
// cache, which nothing writes (QEMU opens a backing file read-only). The
// node agent writes the overlay's header itself (it execs nothing, so no
// qemu-img): a qcow2 v3 image that maps no cluster, so every read goes to
// the backing file until the guest writes it.
//
// Layout, one 64 KiB cluster each: 0 the header, its extensions (the
// backing file's format) and the backing file's name; 1 the refcount
// table; 2 its only refcount block (16-bit refcounts: clusters 0 to 3+
// count 1); 3 on, the L1 table, all zero (nothing allocated).
const (
	overlayClusterBits = 16
	overlayCluster     = 1 << overlayClusterBits
	// overlayRefcountOrder: 16-bit refcounts, as qemu-img makes them.
	overlayRefcountOrder = 4
	overlayHeaderLen     = 104
	// overlayMaxVirtual bounds the virtual size (64 TiB: an L1 table of
	// 16 clusters); a larger disk fits no Pod anyway.
	overlayMaxVirtual = 1 << 46
	// qemuMaxBackingName is the longest backing file name QEMU reads.
	qemuMaxBackingName = 1023
	// qcow2ExtBackingFormat is the header extension naming the backing
	// file's format.
	qcow2ExtBackingFormat = 0xe2792aca
)

// overlayL1Clusters is how many clusters the L1 table of an overlay of
// virtual bytes takes, and its number of entries.
func overlayL1(virtual int64) (clusters, entries int64) {
	guest := (virtual + overlayCluster - 1) / overlayCluster
	perL2 := int64(overlayCluster / 8)
	entries = (guest + perL2 - 1) / perL2
	clusters = max(1, (entries*8+overlayCluster-1)/overlayCluster)
	return clusters, entries
}

// overlayHeader is the first cluster of an overlay of virtual bytes over
// backing, a file of format backingFormat.
func overlayHeader(backing, backingFormat string, virtual int64) ([]byte, int64, error) {
	switch {
	case backingFormat != "raw" && backingFormat != "qcow2":
		return nil, 0, fmt.Errorf("backing format %q: want raw or qcow2", backingFormat)
	case !filepath.IsAbs(backing) || len(backing) > qemuMaxBackingName:
		return nil, 0, fmt.Errorf("backing file %q: want an absolute path of at most %d bytes", backing, qemuMaxBackingName)
	case virtual <= 0 || virtual > overlayMaxVirtual:
		return nil, 0, fmt.Errorf("%w: a disk of %d bytes (an overlay takes 1 byte to %d)", failure.ErrRefused, virtual, int64(overlayMaxVirtual))
	}
	// QEMU counts a disk in 512-byte sectors; what the backing file lacks
	// of the last one reads as zeros.
	virtual = (virtual + 511) &^ 511
	l1Clusters, l1Entries := overlayL1(virtual)
	h := make([]byte, overlayCluster)
	be := binary.BigEndian
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], overlayClusterBits)
	be.PutUint64(h[24:], uint64(virtual))
	// crypt_method (32) 0
	be.PutUint32(h[36:], uint32(l1Entries))
	be.PutUint64(h[40:], 3*overlayCluster) // L1 table
	be.PutUint64(h[48:], 1*overlayCluster) // refcount table
	be.PutUint32(h[56:], 1)                // refcount table clusters
	// snapshots (60, 64) none; incompatible, compatible, autoclear
	// features (72, 80, 88) none
	be.PutUint32(h[96:], overlayRefcountOrder)
	be.PutUint32(h[100:], overlayHeaderLen)
	off := overlayHeaderLen
	be.PutUint32(h[off:], qcow2ExtBackingFormat)
	be.PutUint32(h[off+4:], uint32(len(backingFormat)))
	copy(h[off+8:], backingFormat)
	off += 8 + (len(backingFormat)+7)&^7
	off += 8 // the end of the extensions: type 0, length 0
	be.PutUint64(h[qcow2OffBackingFileOffset:], uint64(off))
	be.PutUint32(h[qcow2OffBackingFileSize:], uint32(len(backing)))
	copy(h[off:], backing)
	return h, l1Clusters, nil
}

// writeOverlay makes path a qcow2 overlay of virtual bytes over backing (a
// file of format backingFormat, raw or qcow2), writing next to it and
// renaming, so path never holds half a header.
func writeOverlay(path, backing, backingFormat string, virtual int64) error {
	h, l1Clusters, err := overlayHeader(backing, backingFormat, virtual)
	if err != nil {
		return err
	}
	used := 3 + l1Clusters // header, refcount table and block, L1
	table := make([]byte, overlayCluster)
	binary.BigEndian.PutUint64(table, 2*overlayCluster)
	block := make([]byte, overlayCluster)
	for i := range used {
		binary.BigEndian.PutUint16(block[2*i:], 1)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	for _, c := range [][]byte{h, table, block} {
		if _, err := f.Write(c); err != nil {
			f.Close()
			return fmt.Errorf("writing the overlay %s: %w", path, err)
		}
	}
	// The L1 table: zeros, as a sparse tail.
	if err := f.Truncate(used * overlayCluster); err != nil {
		f.Close()
		return fmt.Errorf("writing the overlay %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// overlayMaxBytes is what an overlay of virtual bytes may grow to as the
// guest writes: every guest cluster once, the L2 tables that map them,
// the refcount blocks that count them (twice: QEMU writes a grown
// refcount structure before it frees the old one), the refcount table
// (three times, for the same reason), the overlay's own first clusters
// and 16 clusters of slack. Its parameters are the node agent's (64 KiB
// clusters, 16-bit refcounts, no extended L2 entries, no compression),
// and a guest cannot make internal snapshots, so the bound is tight: a
// 1 GiB disk may take 1 GiB and about 1.6 MiB.
func overlayMaxBytes(virtual int64) int64 {
	if virtual <= 0 || virtual > overlayMaxVirtual {
		return 1<<63 - 1
	}
	virtual = (virtual + 511) &^ 511
	guest := (virtual + overlayCluster - 1) / overlayCluster
	l2 := (guest + overlayCluster/8 - 1) / (overlayCluster / 8)
	l1, _ := overlayL1(virtual)
	clusters := guest + l2 + 3 + l1
	perBlock := int64(overlayCluster * 8 / (1 << overlayRefcountOrder))
	blocks := (clusters + perBlock - 1) / perBlock
	tables := (blocks*8 + overlayCluster - 1) / overlayCluster
	return (clusters + 2*blocks + 3*tables + 16) * overlayCluster
}

// checkOverlay refuses path unless it is a qcow2 image QEMU opens without
// an external data file and whose backing file is backing: what the
// node agent wrote, as QEMU may have kept it (it updates tables, not the
// backing file's name). libvirt gives QEMU the backing file the domain
// names anyway, never the header's.
func checkOverlay(path, backing string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := make([]byte, overlayCluster)
	n, err := io.ReadFull(f, h)
	if err != nil && n < qcow2HeaderV2Len {
		return fmt.Errorf("%w: %s: not a qcow2 overlay (%d bytes)", failure.ErrRefused, path, n)
	}
	h = h[:n]
	if err := checkQcow2Features(h); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	off := binary.BigEndian.Uint64(h[qcow2OffBackingFileOffset:])
	size := uint64(binary.BigEndian.Uint32(h[qcow2OffBackingFileSize:]))
	if off == 0 || off+size > uint64(len(h)) || string(h[off:off+size]) != backing {
		return fmt.Errorf("%w: %s is not the overlay the node agent made over %s", failure.ErrRefused, path, backing)
	}
	return nil
}
