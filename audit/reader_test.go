package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// twoReplicas writes records of replicas ctl-a and ctl-b whose times
// interleave: ctl-a at even milliseconds, ctl-b at odd ones.
func twoReplicas(t *testing.T, perReplica int, maxFileBytes int64) string {
	t.Helper()
	dir := t.TempDir()
	for r, replica := range []string{"ctl-a", "ctl-b"} {
		w := openTestWriter(t, dir, replica, func(o *Options) { o.MaxFileBytes = maxFileBytes })
		for i := range perReplica {
			rec := decisionRecord(i)
			rec.Time = testEpoch.Add(time.Duration(2*i+r) * time.Millisecond)
			rec.User = []string{"alice", "bob"}[i%2]
			rec.Namespace = []string{"team-a", "team-b", "team-c"}[i%3]
			if i%4 == 3 {
				rec.Decision = DecisionDenied
				rec.Policies = []PolicyResult{{Name: "deny-host-disk", Action: "Deny", Result: PolicyFail, Message: "hostDisk volumes are not allowed"}}
			}
			if _, err := w.Append(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
	}
	return dir
}

func collect(t *testing.T, seq func(func(Record, error) bool)) ([]Record, []error) {
	t.Helper()
	var recs []Record
	var errs []error
	for rec, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, errs
}

func TestReadMergesReplicasByTime(t *testing.T) {
	dir := twoReplicas(t, 10, 1500)
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	if len(errs) > 0 || len(recs) != 20 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	for i, rec := range recs {
		if want := testEpoch.Add(time.Duration(i) * time.Millisecond); !rec.Time.Equal(want) {
			t.Fatalf("record %d at %v, want %v (merge by time)", i, rec.Time, want)
		}
		if want := []string{"ctl-a", "ctl-b"}[i%2]; rec.Replica != want {
			t.Fatalf("record %d from %s, want %s", i, rec.Replica, want)
		}
	}
}

func TestReadFilters(t *testing.T) {
	dir := twoReplicas(t, 12, 0)
	cases := []struct {
		name   string
		filter Filter
		want   int
	}{
		{"everything", Filter{}, 24},
		{"since", Filter{Since: testEpoch.Add(10 * time.Millisecond)}, 14},
		{"until (exclusive)", Filter{Until: testEpoch.Add(10 * time.Millisecond)}, 10},
		{"range", Filter{Since: testEpoch.Add(4 * time.Millisecond), Until: testEpoch.Add(8 * time.Millisecond)}, 4},
		{"namespace", Filter{Namespace: "team-b"}, 8},
		{"user", Filter{User: "bob"}, 12},
		{"decision", Filter{Decisions: []Decision{DecisionDenied}}, 6},
		{"decisions", Filter{Decisions: []Decision{DecisionDenied, DecisionAllowed}}, 24},
		{"policy", Filter{Policy: "deny-host-disk"}, 24},
		{"policy not evaluated", Filter{Policy: "require-limits"}, 18},
		{"combined", Filter{User: "bob", Decisions: []Decision{DecisionDenied}, Namespace: "team-a"}, 2},
		{"webhook", Filter{Webhook: WebhookPodGuard}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, errs := collect(t, Read(context.Background(), dir, tc.filter))
			if len(errs) > 0 || len(recs) != tc.want {
				t.Fatalf("%d records (want %d), errors %v", len(recs), tc.want, errs)
			}
			for _, rec := range recs {
				if !tc.filter.Matches(rec) {
					t.Fatalf("record %d of %s does not match", rec.Seq, rec.Replica)
				}
			}
		})
	}
}

func TestReadReportsBadLinesAndGoesOn(t *testing.T) {
	dir := twoReplicas(t, 4, 0)
	name := FileName("ctl-a", 1)
	lines := fileLines(t, dir, name)
	lines[1] = []byte("not a record\n")
	writeLines(t, dir, name, lines)
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	var lineErr *LineError
	if len(errs) != 1 || !errors.As(errs[0], &lineErr) || lineErr.File != name || lineErr.Line != 2 || !errors.Is(lineErr, ErrUnparsable) {
		t.Fatalf("errors %v, want one LineError for %s:2", errs, name)
	}
	if len(recs) != 7 {
		t.Fatalf("%d records, want the 7 good ones", len(recs))
	}
}

func TestReadStopsWhenAsked(t *testing.T) {
	dir := twoReplicas(t, 10, 1500)
	n := 0
	for range Read(context.Background(), dir, Filter{}) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatal(n)
	}
}

func TestFollow(t *testing.T) {
	dir := twoReplicas(t, 6, 1500)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	records := make(chan Record, 100)
	go func() {
		defer close(records)
		for rec, err := range Follow(ctx, dir, FollowOptions{Last: 3, PollInterval: 5 * time.Millisecond}) {
			if err != nil {
				t.Errorf("Follow: %v", err)
				continue
			}
			records <- rec
		}
	}()
	next := func() Record {
		t.Helper()
		select {
		case rec := <-records:
			return rec
		case <-ctx.Done():
			t.Fatal("Follow yielded nothing")
		}
		return Record{}
	}
	// The last 3 records, in time order.
	for _, want := range []string{"ctl-b/5", "ctl-a/6", "ctl-b/6"} {
		if rec := next(); fmt.Sprintf("%s/%d", rec.Replica, rec.Seq) != want {
			t.Fatalf("backlog: got %s/%d, want %s", rec.Replica, rec.Seq, want)
		}
	}
	// New lines, across rotations (small files), and a new replica.
	w := openTestWriter(t, dir, "ctl-a", func(o *Options) { o.MaxFileBytes = 1500 })
	defer w.Close()
	var want []uint64
	for i := range 8 {
		rec, err := w.Append(ctx, decisionRecord(100+i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rec.Seq)
		if i == 3 {
			time.Sleep(20 * time.Millisecond) // let Follow catch up mid-way
		}
	}
	var got []uint64
	for range want {
		rec := next()
		if rec.Replica != "ctl-a" {
			t.Fatalf("unexpected %s/%d", rec.Replica, rec.Seq)
		}
		got = append(got, rec.Seq)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("followed seqs %v, want %v", got, want)
	}
	c := openTestWriter(t, dir, "ctl-c", nil)
	defer c.Close()
	appendRecords(t, c, 0, 1)
	if rec := next(); rec.Replica != "ctl-c" || rec.Seq != 1 {
		t.Fatalf("new replica: got %s/%d", rec.Replica, rec.Seq)
	}
	cancel()
	for range records {
	}
}

func TestFollowWaitsForTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	records := make(chan Record, 1)
	go func() {
		for rec, err := range Follow(ctx, dir, FollowOptions{Last: 10, PollInterval: 5 * time.Millisecond}) {
			if err == nil {
				records <- rec
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	w := openTestWriter(t, dir, "ctl-0", nil)
	defer w.Close()
	appendRecords(t, w, 0, 1)
	select {
	case rec := <-records:
		if rec.Seq != 1 {
			t.Fatal(rec.Seq)
		}
	case <-ctx.Done():
		t.Fatal("Follow saw nothing")
	}
}

func TestLast(t *testing.T) {
	dir := twoReplicas(t, 10, 1500)
	recs, errs := collect(t, Last(context.Background(), dir, Filter{Decisions: []Decision{DecisionDenied}}, 3))
	if len(errs) > 0 || len(recs) != 3 {
		t.Fatalf("%d records, errors %v", len(recs), errs)
	}
	// Denied: seq 4 and 8 of each replica (i%4 == 3), at 2i+r ms.
	var got []string
	for _, rec := range recs {
		got = append(got, fmt.Sprintf("%s/%d", rec.Replica, rec.Seq))
	}
	if want := []string{"ctl-b/4", "ctl-a/8", "ctl-b/8"}; !slices.Equal(got, want) {
		t.Fatalf("Last 3 denied = %v, want %v", got, want)
	}
	if recs, _ := collect(t, Last(context.Background(), filepath.Join(dir, "missing"), Filter{}, 3)); len(recs) != 0 {
		t.Fatal("a missing directory has no records")
	}
}

func TestReadReportsATornLineInAnOlderFile(t *testing.T) {
	dir := twoReplicas(t, 6, 1500)
	name := FileName("ctl-a", 1)
	lines := fileLines(t, dir, name)
	writeLines(t, dir, name, [][]byte{lines[0], lines[1][:30]})
	recs, errs := collect(t, Read(context.Background(), dir, Filter{}))
	var lineErr *LineError
	if len(errs) != 1 || !errors.As(errs[0], &lineErr) || lineErr.File != name || lineErr.Line != 2 {
		t.Fatalf("errors %v", errs)
	}
	if len(recs) != 11 {
		t.Fatalf("%d records", len(recs))
	}
}
