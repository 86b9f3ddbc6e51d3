package program

import (
	"context"
	"io"
	"os"
	"time"
)

// followSerialLog copies what is appended to path to w until ctx ends,
// like `tail -F`: it waits for the file to appear, and starts over from
// the beginning when the file shrinks (the node agent's copy-and-truncate
// rotation). It polls rather than uses inotify: the file is written by
// QEMU on the host, outside this container, and a poll is a read of a few
// bytes.
func followSerialLog(ctx context.Context, path string, w io.Writer, interval time.Duration) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	var offset int64
	buf := make([]byte, 32<<10)
	for {
		if f, err := os.Open(path); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < offset {
				offset = 0 // rotated: the log starts again
			}
			for {
				n, err := f.ReadAt(buf, offset)
				if n > 0 {
					_, _ = w.Write(buf[:n])
					offset += int64(n)
				}
				if err != nil || n == 0 {
					break
				}
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
