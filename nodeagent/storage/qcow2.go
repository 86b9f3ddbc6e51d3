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
// file, write) any host file QEMU may open. Such an image backs a
// containerDisk's overlay, and the domain declares its own backing store
// empty, so libvirt tells QEMU it has no backing file.
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

// qcow2OffSize is the header field of the guest's disk size.
const qcow2OffSize = 24
