package podvirtctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podvirt/podvirt/audit"
)

var auditTestEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// writeAuditFixture writes n records per replica, two per file; replica r's
// record i is at epoch + (2i+r) seconds. Every third record is denied by deny-host-disk
// and made by bob in team-b. It returns the directory and the sealed
// records by replica.
func writeAuditFixture(t *testing.T, replicas []string, n int) (string, map[string][]audit.Record) {
	t.Helper()
	dir := t.TempDir()
	sealed := map[string][]audit.Record{}
	for r, replica := range replicas {
		w, err := audit.Open(context.Background(), audit.Options{Dir: dir, Replica: replica, MaxFileBytes: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			sealed[replica] = append(sealed[replica], appendAuditRecord(t, w, i, auditTestEpoch.Add(time.Duration(2*i+r)*time.Second)))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir, sealed
}

func appendAuditRecord(t *testing.T, w *audit.Writer, i int, at time.Time) audit.Record {
	t.Helper()
	rec := audit.Record{
		Time: at, Webhook: audit.WebhookValidateVMI, UID: fmt.Sprintf("uid-%d", i), User: "alice",
		Operation: "CREATE", Kind: "VirtualMachineInstance", Namespace: "team-a", Name: fmt.Sprintf("vm-%d", i),
		Decision:      audit.DecisionAllowed,
		Policies:      []audit.PolicyResult{{Name: "require-limits", Action: "Warn", Result: audit.PolicyPass}},
		LatencyMicros: 1500,
	}
	if i%3 == 2 {
		rec.User, rec.Namespace, rec.Decision = "bob", "team-b", audit.DecisionDenied
		rec.Policies = []audit.PolicyResult{{Name: "deny-host-disk", Action: "Deny", Result: audit.PolicyFail, Message: "hostDisk volumes are not allowed"}}
	}
	sealedRec, err := w.Append(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	return sealedRec
}

// syncBuffer is a bytes.Buffer safe for a command writing from one
// goroutine while the test reads from another.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runAudit runs `podvirtctl audit args...` through the root command.
func runAudit(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut syncBuffer
	err = runAuditTo(ctx, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

func runAuditTo(ctx context.Context, out, errOut *syncBuffer, args ...string) error {
	root := NewRoot()
	root.SetArgs(append([]string{"audit"}, args...))
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

func TestAuditQueryTable(t *testing.T) {
	dir, _ := writeAuditFixture(t, []string{"ctl-a", "ctl-b"}, 6)
	out, stderr, err := runAudit(context.Background(), "query", "--dir", dir)
	if err != nil || stderr != "" {
		t.Fatalf("query: %v, stderr %q", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 13 {
		t.Fatalf("want a header and 12 rows:\n%s", out)
	}
	for _, col := range []string{"TIME", "WEBHOOK", "DECISION", "OPERATION", "KIND", "OBJECT", "USER", "POLICIES", "LATENCY"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %s", lines[0], col)
		}
	}
	// Merged by time: the replicas alternate.
	for i, line := range lines[1:] {
		want := auditTestEpoch.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z")
		if !strings.HasPrefix(line, want) {
			t.Fatalf("row %d %q, want time %s", i, line, want)
		}
	}
	if row := lines[5]; !strings.Contains(row, "team-b/vm-2") || !strings.Contains(row, "denied") || !strings.Contains(row, "bob") ||
		!strings.Contains(row, "deny-host-disk=fail") || !strings.Contains(row, "1.5ms") {
		t.Fatalf("row 4 %q", row)
	}
}

func TestAuditQueryFiltersAndJSON(t *testing.T) {
	dir, sealed := writeAuditFixture(t, []string{"ctl-a", "ctl-b"}, 6)
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"decision", []string{"--decision", "denied"}, 4},
		{"decisions", []string{"--decision", "denied,allowed"}, 12},
		{"namespace", []string{"--namespace", "team-a"}, 8},
		{"user", []string{"--user", "bob"}, 4},
		{"policy", []string{"--policy", "require-limits"}, 8},
		{"since", []string{"--since", auditTestEpoch.Add(6 * time.Second).Format(time.RFC3339)}, 6},
		{"until", []string{"--until", auditTestEpoch.Add(6 * time.Second).Format(time.RFC3339)}, 6},
		{"range and decision", []string{"--since", auditTestEpoch.Add(4 * time.Second).Format(time.RFC3339), "--until", auditTestEpoch.Add(9 * time.Second).Format(time.RFC3339), "--decision", "DENIED"}, 2},
		{"since a date", []string{"--since", "2026-03-02"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runAudit(context.Background(), append([]string{"query", "--dir", dir, "-o", "json"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got []audit.Record
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var rec audit.Record
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				got = append(got, rec)
			}
			if len(got) != tc.want {
				t.Fatalf("%d records, want %d:\n%s", len(got), tc.want, out)
			}
		})
	}

	// JSON output is the stored line.
	out, _, err := runAudit(context.Background(), "query", "--dir", dir, "-o", "json", "--user", "bob", "--since", "2026-03-01", "--until", auditTestEpoch.Add(5*time.Second).Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(filepath.Join(dir, audit.FileName("ctl-a", 2)))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(stored), "\n")
	if strings.TrimSpace(out) != first || !strings.Contains(out, sealed["ctl-a"][2].Hash) {
		t.Fatalf("json output\n%s\nis not the stored line\n%s", out, first)
	}
}

func TestAuditQueryErrors(t *testing.T) {
	dir, _ := writeAuditFixture(t, []string{"ctl-a"}, 2)
	for _, args := range [][]string{
		{"--decision", "maybe"},
		{"--since", "yesterday"},
		{"--since", "2026-03-02T00:00:00Z", "--until", "2026-03-01T00:00:00Z"},
		{"-o", "yaml"},
		{"--dir", filepath.Join(dir, "missing")},
	} {
		if _, _, err := runAudit(context.Background(), append([]string{"query", "--dir", dir}, args...)...); err == nil {
			t.Errorf("query %v succeeded", args)
		}
	}
	_, stderr, err := runAudit(context.Background(), "query", "--dir", dir, "--user", "nobody")
	if err != nil || !strings.Contains(stderr, "no matching") {
		t.Errorf("an empty result: %v, stderr %q", err, stderr)
	}
}

func TestAuditQueryWarnsAboutBadLines(t *testing.T) {
	dir, _ := writeAuditFixture(t, []string{"ctl-a"}, 3)
	name := audit.FileName("ctl-a", 1)
	path := filepath.Join(dir, name)
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(data, []byte(`"user":"alice"`), []byte(`"user":"mallory"`), 1), 0o640); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runAudit(context.Background(), "query", "--dir", dir, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "mallory") || strings.Count(out, "\n") != 2 {
		t.Fatalf("an edited line must not be printed:\n%s", out)
	}
	if !strings.Contains(stderr, name+":1: hash mismatch") || !strings.Contains(stderr, "audit verify") {
		t.Fatalf("stderr %q", stderr)
	}
}

func TestAuditVerify(t *testing.T) {
	dir, sealed := writeAuditFixture(t, []string{"ctl-a", "ctl-b"}, 6)
	out, _, err := runAudit(context.Background(), "verify", "--dir", dir)
	if err != nil {
		t.Fatalf("verify of an intact log: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ctl-a: ok: 6 record(s) in 3 file(s), seq 1-6, head "+sealed["ctl-a"][5].Hash) || !strings.Contains(out, "verified 12 record(s) in 2 chain(s)") {
		t.Fatalf("output:\n%s", out)
	}

	anchor := audit.AuditAnnotations(sealed["ctl-b"][3])[audit.AnnotationRecord]
	if _, _, err := runAudit(context.Background(), "verify", "--dir", dir, "--anchor", anchor); err != nil {
		t.Fatalf("verify with a matching anchor: %v", err)
	}
	if _, _, err := runAudit(context.Background(), "verify", "--dir", dir, "--anchor", "ctl-c:1:"+strings.Repeat("0", 64)); err == nil {
		t.Fatal("an anchor of a replica without files must fail")
	}
	if _, _, err := runAudit(context.Background(), "verify", "--dir", dir, "--anchor", "nonsense"); err == nil {
		t.Fatal("a malformed anchor must fail")
	}

	// Remove ctl-b's 3rd record (the 1st line of its 2nd file).
	name := audit.FileName("ctl-b", 2)
	path := filepath.Join(dir, name)
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(lines[1:], "")), 0o640); err != nil {
		t.Fatal(err)
	}
	out, _, err = runAudit(context.Background(), "verify", "--dir", dir)
	if err == nil {
		t.Fatalf("verify of a log with a removed line succeeded:\n%s", out)
	}
	want := name + ":1: sequence mismatch: expected seq 3, found 4"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "1 of 2 chain(s) broken") {
		t.Fatalf("error %q, want it to name %q", err, want)
	}
	if !strings.Contains(out, "ctl-a: ok") || !strings.Contains(out, "ctl-b: BROKEN at "+name+":1") {
		t.Fatalf("output:\n%s", out)
	}
	if _, _, err := runAudit(context.Background(), "verify", "--dir", dir, "--replica", "ctl-a"); err != nil {
		t.Fatalf("verify --replica ctl-a: %v", err)
	}
	if _, _, err := runAudit(context.Background(), "verify", "--dir", t.TempDir()); err == nil {
		t.Fatal("verify of an empty directory must fail")
	}
}

func TestAuditTail(t *testing.T) {
	dir, _ := writeAuditFixture(t, []string{"ctl-a", "ctl-b"}, 6)
	out, _, err := runAudit(context.Background(), "tail", "--dir", dir, "-n", "3", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec audit.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s/%d", rec.Replica, rec.Seq))
	}
	if strings.Join(names, " ") != "ctl-b/5 ctl-a/6 ctl-b/6" {
		t.Fatalf("tail -n 3: %v", names)
	}
	out, _, err = runAudit(context.Background(), "tail", "--dir", dir, "-n", "2", "--decision", "denied")
	if err != nil || strings.Count(out, "denied") != 2 || strings.Count(out, "\n") != 3 {
		t.Fatalf("tail -n 2 --decision denied: %v\n%s", err, out)
	}
}

func TestAuditTailFollow(t *testing.T) {
	dir, _ := writeAuditFixture(t, []string{"ctl-a"}, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runAuditTo(ctx, &out, &errOut, "tail", "-f", "--dir", dir, "-n", "1", "--poll-interval", "5ms")
	}()
	waitFor := func(what string, cond func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; output so far:\n%s\nstderr: %s", what, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the last existing record", func(s string) bool { return strings.Contains(s, "team-a/vm-1") })
	if strings.Contains(out.String(), "vm-0") {
		t.Fatal("-n 1 printed more than the last record")
	}

	// New records, across a rotation, and from a replica that starts later.
	w, err := audit.Open(ctx, audit.Options{Dir: dir, Replica: "ctl-a", MaxFileBytes: 1500})
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 6; i++ {
		appendAuditRecord(t, w, i, auditTestEpoch.Add(time.Duration(i)*time.Minute))
	}
	w.Close()
	b, err := audit.Open(ctx, audit.Options{Dir: dir, Replica: "ctl-b"})
	if err != nil {
		t.Fatal(err)
	}
	appendAuditRecord(t, b, 42, auditTestEpoch.Add(time.Hour))
	b.Close()
	waitFor("the new records", func(s string) bool {
		return strings.Contains(s, "vm-2") && strings.Contains(s, "vm-5") && strings.Contains(s, "vm-42")
	})
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1+1+4+1 {
		t.Fatalf("want a header and 6 rows, got:\n%s", out.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("tail -f ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail -f did not stop when its context ended")
	}
}
