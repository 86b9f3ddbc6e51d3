package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// qcow2 header fields (all big-endian), from QEMU's docs/interop/qcow2.txt.
const (
	qcow2HeaderV2Len          = 72
	qcow2OffBackingFileOffset = 8
	qcow2OffBackingFileSize   = 16
	qcow2OffIncompatible      = 72
	// qcow2IncompatibleKnown are the incompatible feature bits QEMU knows:
	// dirty (0), corrupt (1), external data file (2), compression type
	// (3), extended L2 entries (4).
	qcow2IncompatibleKnown = 1<<5 - 1
	// qcow2ExternalDataFile: the guest's data lives in another file, named
	// in a header extension.
	qcow2ExternalDataFile = 1 << 2
)

// checkQcow2 refuses a qcow2 image whose header makes QEMU open another
// file: a backing file, or an external data file. Images from container
// images are untrusted; with either, a guest could read (or, for a data
// file, write) any host file QEMU may open. The domain also declares an
// empty backing store, so libvirt tells QEMU there is no backing file.
func checkQcow2(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	header := make([]byte, qcow2OffIncompatible+8)
	n, err := io.ReadFull(f, header)
	if err != nil && n < qcow2HeaderV2Len {
		return fmt.Errorf("%w: %s: a qcow2 header is %d bytes, the file has %d", failure.ErrRefused, path, qcow2HeaderV2Len, n)
	}
	return checkQcow2Header(header[:n])
}

// checkQcow2Header is checkQcow2 on the first bytes of the image.
func checkQcow2Header(h []byte) error {
	if err := checkQcow2Features(h); err != nil {
		return err
	}
	if off, size := binary.BigEndian.Uint64(h[qcow2OffBackingFileOffset:]), binary.BigEndian.Uint32(h[qcow2OffBackingFileSize:]); off != 0 || size != 0 {
		return fmt.Errorf("%w: the qcow2 image names a backing file (other host files are off limits)", failure.ErrRefused)
	}
	return nil
}

// checkQcow2Features refuses a header QEMU would not open, or would open
// with an external data file; a backing file it leaves to the caller.
func checkQcow2Features(h []byte) error {
	if len(h) < qcow2HeaderV2Len || string(h[:4]) != "QFI\xfb" {
		return fmt.Errorf("%w: not a qcow2 header", failure.ErrRefused)
	}
	version := binary.BigEndian.Uint32(h[4:])
	if version != 2 && version != 3 {
		return fmt.Errorf("%w: qcow2 version %d", failure.ErrRefused, version)
	}
	if version == 3 {
		if len(h) < qcow2OffIncompatible+8 {
			return fmt.Errorf("%w: truncated qcow2 v3 header", failure.ErrRefused)
		}
		features := binary.BigEndian.Uint64(h[qcow2OffIncompatible:])
		if features&qcow2ExternalDataFile != 0 {
			return fmt.Errorf("%w: the qcow2 image keeps its data in an external file (other host files are off limits)", failure.ErrRefused)
		}
		if features&^qcow2IncompatibleKnown != 0 {
			return fmt.Errorf("%w: unknown qcow2 incompatible features %#x", failure.ErrRefused, features&^qcow2IncompatibleKnown)
		}
	}
	return nil
}

// qcow2 header fields the growth bound reads.
const (
	qcow2OffClusterBits = 20
	qcow2OffSize        = 24
	// QEMU's cluster sizes: 512 bytes to 2 MiB.
	qcow2MinClusterBits = 9
	qcow2MaxClusterBits = 21
)

// qcow2MaxBytes bounds what a qcow2 file of fileSize bytes, with this
// header, can grow to as the guest writes: every guest cluster allocated
// once more (all of them, beside whatever the file holds now: internal
// snapshots, compressed clusters whose space may not be reused), plus the
// tables that map and count them, taken at their largest (extended L2
// entries, 64-bit refcounts) and a few clusters of slack. That is the
// declared size of a qcow2 disk, as an emptyDisk's capacity is of a raw
// one.
func qcow2MaxBytes(h []byte, fileSize int64) (int64, error) {
	if err := checkQcow2Header(h); err != nil {
		return 0, err
	}
	bits := binary.BigEndian.Uint32(h[qcow2OffClusterBits:])
	if bits < qcow2MinClusterBits || bits > qcow2MaxClusterBits {
		return 0, fmt.Errorf("%w: qcow2 cluster bits %d", failure.ErrRefused, bits)
	}
	virtual := binary.BigEndian.Uint64(h[qcow2OffSize:])
	if virtual > 1<<62 {
		return 0, fmt.Errorf("%w: qcow2 virtual size %d", failure.ErrRefused, virtual)
	}
	cluster := int64(1) << bits
	guestClusters := (int64(virtual) + cluster - 1) / cluster
	fileClusters := (fileSize+cluster-1)/cluster + guestClusters
	l2 := addBytes(mulBytes(guestClusters, 16), cluster)                   // L2 entries, 16 bytes extended
	refcounts := addBytes(mulBytes(fileClusters, 8), mulBytes(cluster, 2)) // 64-bit refcounts, and their table
	meta := addBytes(addBytes(mulBytes(l2, 2), mulBytes(refcounts, 2)), mulBytes(cluster, 16))
	return addBytes(addBytes(fileSize, int64(virtual)), meta), nil
}
