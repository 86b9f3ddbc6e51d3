package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock returns times one millisecond apart from start.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTestWriter opens a Writer for replica in dir with a fake clock; edit
// adjusts the options first.
func openTestWriter(t testing.TB, dir, replica string, edit func(*Options)) *Writer {
	t.Helper()
	opts := Options{Dir: dir, Replica: replica, Now: newFakeClock(testEpoch).Now}
	if edit != nil {
		edit(&opts)
	}
	w, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

// decisionRecord is a plausible validate-vmi record; i varies its name.
func decisionRecord(i int) Record {
	return Record{
		Webhook:   WebhookValidateVMI,
		UID:       fmt.Sprintf("uid-%04d", i),
		User:      "alice",
		Groups:    []string{"system:authenticated", "dev"},
		Operation: "CREATE",
		Kind:      "VirtualMachineInstance",
		Namespace: "team-a",
		Name:      fmt.Sprintf("vm-%d", i),
		Decision:  DecisionAllowed,
		Policies: []PolicyResult{
			{Name: "deny-host-disk", Action: "Deny", Result: PolicyPass},
			{Name: "require-limits", Action: "Warn,Audit", Result: PolicyPass},
		},
		LatencyMicros: int64(100 + i),
	}
}

// appendRecords appends n decisionRecords from first and returns the sealed
// records.
func appendRecords(t testing.TB, w *Writer, first, n int) []Record {
	t.Helper()
	var sealed []Record
	for i := first; i < first+n; i++ {
		rec, err := w.Append(context.Background(), decisionRecord(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		sealed = append(sealed, rec)
	}
	return sealed
}

// fileLines returns the lines of dir/name, each with its newline.
func fileLines(t testing.TB, dir, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))
}

// writeLines replaces dir/name with lines.
func writeLines(t testing.TB, dir, name string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), bytes.Join(lines, nil), 0o640); err != nil {
		t.Fatal(err)
	}
}

func mustVerify(t testing.TB, dir, replica string) ChainSummary {
	t.Helper()
	sum, err := VerifyChain(context.Background(), dir, replica)
	if err != nil {
		t.Fatalf("VerifyChain(%s): %v", replica, err)
	}
	return sum
}
