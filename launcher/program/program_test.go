package program

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// After SIGTERM the launcher stays while the node agent's directory is
// there, and returns once it is gone (or at once when there is none).
func TestRunWaitsForRemoval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vmi")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Domain: "ns_tiny", WaitForRemoval: dir, PollInterval: 5 * time.Millisecond, Out: io.Discard})
	}()
	select {
	case err := <-done:
		t.Fatalf("returned (%v) while the directory is there", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the directory was removed")
	}

	// No directory (the domain never ran): no wait.
	start := time.Now()
	if err := Run(ctx, Options{Domain: "ns_tiny", WaitForRemoval: dir, Out: io.Discard}); err != nil || time.Since(start) > time.Second {
		t.Errorf("Run without the directory: %v after %s", err, time.Since(start))
	}
}

func TestRunNeedsDomain(t *testing.T) {
	if err := Run(context.Background(), Options{Out: io.Discard}); err == nil {
		t.Error("ran without --domain")
	}
}
