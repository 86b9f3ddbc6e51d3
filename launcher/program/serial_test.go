package program

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("streamed %q, want %q", out.String(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The guest's console reaches the container's stdout: a log that appears
// late, grows, and is rotated (truncated) streams every byte once, in order.
func TestFollowSerialLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serial.log")
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { followSerialLog(ctx, path, out, 5*time.Millisecond); close(done) }()

	time.Sleep(20 * time.Millisecond) // no file yet: nothing, no error
	if err := os.WriteFile(path, []byte("boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "boot\n")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("podvirt-guest-ready\n")
	waitFor(t, out, "boot\npodvirt-guest-ready\n")
	// Rotation: copy and truncate, then QEMU appends at the new end.
	f.Truncate(0)
	time.Sleep(30 * time.Millisecond)
	f.WriteString("after\n")
	f.Close()
	waitFor(t, out, "boot\npodvirt-guest-ready\nafter\n")
	cancel()
	<-done
}
