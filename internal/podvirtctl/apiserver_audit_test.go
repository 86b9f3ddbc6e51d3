package podvirtctl

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/podvirt/podvirt/audit"
)

// The keys the kube-apiserver gives podvirt's record annotations: the
// webhooks' names (deploy/base/webhooks.yaml) + "/" + audit.AnnotationRecord.
const (
	validatorKey = "validator.vmi.podvirt.io/" + audit.AnnotationRecord
	defaulterKey = "defaulter.vmi.podvirt.io/" + audit.AnnotationRecord
)

// apiserverEventLine is one line of a kube-apiserver audit log (with its
// newline) as the kube-apiserver's JSON encoder writes it.
func apiserverEventLine(t *testing.T, stage auditv1.Stage, id string, annotations map[string]string) string {
	t.Helper()
	ev := auditv1.Event{
		TypeMeta:   metav1.TypeMeta{Kind: "Event", APIVersion: auditv1.SchemeGroupVersion.String()},
		Level:      auditv1.LevelMetadata,
		AuditID:    types.UID(id),
		Stage:      stage,
		RequestURI: "/apis/podvirt.io/v1alpha1/namespaces/team-a/virtualmachineinstances",
		Verb:       "create",
		ObjectRef: &auditv1.ObjectReference{
			Resource: "virtualmachineinstances", Namespace: "team-a", Name: "vm-" + id, APIGroup: "podvirt.io", APIVersion: "v1alpha1",
		},
		ResponseStatus:           &metav1.Status{Code: 201},
		RequestReceivedTimestamp: metav1.NewMicroTime(auditTestEpoch),
		StageTimestamp:           metav1.NewMicroTime(auditTestEpoch),
		Annotations:              annotations,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// recordOf is the record annotation's value of a sealed record.
func recordOf(rec audit.Record) string { return audit.AuditAnnotations(rec)[audit.AnnotationRecord] }

// writeAPIServerLog writes lines to dir/name, gzip-compressed if name ends
// in .gz, and returns the path.
func writeAPIServerLog(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	data := []byte(strings.Join(lines, ""))
	if strings.HasSuffix(name, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiserverLogFixture is a chain directory with replicas ctl-a and ctl-b (6
// records each), and a kube-apiserver audit log holding every record's
// anchor: a rotated, compressed file and the current one, which ends in a
// torn line.
type apiserverLogFixture struct {
	dir            string
	sealed         map[string][]audit.Record
	rotated, live  string
	logDir         string
	wrongHash      string
	tornLineNumber int
}

func newAPIServerLogFixture(t *testing.T) apiserverLogFixture {
	t.Helper()
	dir, sealed := writeAuditFixture(t, []string{"ctl-a", "ctl-b"}, 6)
	fx := apiserverLogFixture{dir: dir, sealed: sealed, logDir: t.TempDir(), wrongHash: strings.Repeat("e", 64)}
	a, b := sealed["ctl-a"], sealed["ctl-b"]
	tampered := fmt.Sprintf("ctl-a:1:%s", fx.wrongHash)
	fx.rotated = writeAPIServerLog(t, fx.logDir, "kube-apiserver-audit-2026-03-01T12-00-00.000.log.gz",
		// The defaulter and the validator of one request: two anchors, one event.
		apiserverEventLine(t, auditv1.StageResponseComplete, "1", map[string]string{
			defaulterKey: recordOf(a[0]), validatorKey: recordOf(b[0]),
			"authorization.k8s.io/decision": "allow", "validator.vmi.podvirt.io/decision": "allowed",
		}),
		// Other stages repeat ResponseComplete's annotations and are not
		// read: this tampered one must not count.
		apiserverEventLine(t, auditv1.StageResponseStarted, "2", map[string]string{validatorKey: tampered}),
		apiserverEventLine(t, auditv1.StageResponseComplete, "2", map[string]string{validatorKey: recordOf(a[1])}),
		// No podvirt annotations.
		apiserverEventLine(t, auditv1.StageResponseComplete, "3", map[string]string{"authorization.k8s.io/decision": "allow"}),
	)
	var lines []string
	for i := 2; i < 6; i++ {
		lines = append(lines, apiserverEventLine(t, auditv1.StageResponseComplete, fmt.Sprintf("a%d", i), map[string]string{validatorKey: recordOf(a[i])}))
	}
	for i := 1; i < 6; i++ {
		lines = append(lines, apiserverEventLine(t, auditv1.StageResponseComplete, fmt.Sprintf("b%d", i), map[string]string{validatorKey: recordOf(b[i])}))
	}
	// A repeated anchor counts once.
	lines = append(lines, apiserverEventLine(t, auditv1.StageResponseComplete, "b5-again", map[string]string{validatorKey: recordOf(b[5])}))
	// The kube-apiserver is writing the last line.
	torn := apiserverEventLine(t, auditv1.StageResponseComplete, "torn", map[string]string{validatorKey: tampered})
	lines = append(lines, torn[:len(torn)/2])
	fx.tornLineNumber = len(lines)
	fx.live = writeAPIServerLog(t, fx.logDir, "kube-apiserver-audit.log", lines...)
	return fx
}

func (fx apiserverLogFixture) args(extra ...string) []string {
	args := []string{"verify", "--dir", fx.dir, "--apiserver-audit-log", fx.rotated, "--apiserver-audit-log", fx.live}
	return append(args, extra...)
}

func TestAuditVerifyAPIServerAuditLog(t *testing.T) {
	fx := newAPIServerLogFixture(t)
	out, stderr, err := runAudit(context.Background(), fx.args()...)
	if err != nil {
		t.Fatalf("verify against an intact log: %v\n%s", err, out)
	}
	for _, want := range []string{
		"kube-apiserver audit log: 12 anchor(s) from 12 event(s) in 2 file(s) (13 record annotation(s), 1 repeated); 1 event(s) at stages other than ResponseComplete ignored\n",
		fmt.Sprintf("kube-apiserver audit log: note: the last line, %s:%d, is incomplete (the kube-apiserver may be writing it); it was not read\n", fx.live, fx.tornLineNumber),
		"ctl-a: ok: 6 record(s)",
		"ctl-b: ok: 6 record(s)",
		"anchors: 12 of 12 verified\n",
		"verified 12 record(s) in 2 chain(s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAILED") || stderr != "" {
		t.Errorf("output:\n%s\nstderr: %s", out, stderr)
	}

	// A tampered anchor, an anchor of a replica without a chain, and one
	// past the end of a chain (lines cut from it).
	unknown := "ctl-gone:1:" + strings.Repeat("0", 64)
	beyond := "ctl-a:9:" + strings.Repeat("9", 64)
	tampered := "ctl-b:3:" + fx.wrongHash
	bad := writeAPIServerLog(t, fx.logDir, "bad.log",
		apiserverEventLine(t, auditv1.StageResponseComplete, "x1", map[string]string{validatorKey: tampered}),
		apiserverEventLine(t, auditv1.StageResponseComplete, "x2", map[string]string{validatorKey: unknown}),
		apiserverEventLine(t, auditv1.StageResponseComplete, "x3", map[string]string{defaulterKey: beyond}),
	)
	out, _, err = runAudit(context.Background(), fx.args("--apiserver-audit-log", bad)...)
	if err == nil {
		t.Fatalf("verify against a log with bad anchors succeeded:\n%s", out)
	}
	for _, want := range []string{
		"kube-apiserver audit log: 15 anchor(s) from 15 event(s) in 3 file(s)",
		"ctl-a: BROKEN at " + audit.FileName("ctl-a", 3) + ":3: anchor mismatch: the chain ends at seq 6 but an anchor names seq 9",
		"ctl-b: BROKEN at " + audit.FileName("ctl-b", 2) + ":1: anchor mismatch: seq 3 hashes to " + fx.sealed["ctl-b"][2].Hash,
		"(2 record(s) verified before it)",
		"ctl-gone: BROKEN: no audit files\n",
		fmt.Sprintf("anchor %s from %s:3 (%s): FAILED: the chain ends before it: the chain ends at seq 6", beyond, bad, defaulterKey),
		fmt.Sprintf("anchor %s from %s:1 (%s): FAILED: mismatch: seq 3 hashes to %s but the anchor says %s", tampered, bad, validatorKey, fx.sealed["ctl-b"][2].Hash, fx.wrongHash),
		fmt.Sprintf("anchor %s from %s:2 (%s): FAILED: no chain: replica ctl-gone has no audit files in %s\n", unknown, bad, validatorKey, fx.dir),
		"anchors: 12 of 15 verified, 3 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(err.Error(), "3 of 3 chain(s) broken, 3 of 15 anchor(s) not verified") {
		t.Errorf("error %q", err)
	}
	var brk *audit.Break
	if !errors.As(err, &brk) || brk.Reason != audit.ReasonAnchorMismatch {
		t.Errorf("error %v does not wrap the first break", err)
	}

	// --replica narrows: the unknown replica's anchor is skipped, the
	// others still fail.
	out, _, err = runAudit(context.Background(), fx.args("--apiserver-audit-log", bad, "--replica", "ctl-a,ctl-b")...)
	if err == nil || !strings.Contains(out, "anchors: 12 of 15 verified, 2 failed, 1 skipped (their replicas are not among --replica)\n") {
		t.Fatalf("--replica ctl-a,ctl-b: %v\n%s", err, out)
	}
	if strings.Contains(out, "anchor "+unknown) || strings.Contains(out, "ctl-gone:") {
		t.Errorf("a skipped anchor was judged:\n%s", out)
	}
	onlyUnknown := writeAPIServerLog(t, fx.logDir, "unknown.log",
		apiserverEventLine(t, auditv1.StageResponseComplete, "y", map[string]string{validatorKey: unknown}))
	out, _, err = runAudit(context.Background(), fx.args("--apiserver-audit-log", onlyUnknown, "--replica", "ctl-a", "--replica", "ctl-b")...)
	if err != nil || !strings.Contains(out, "anchors: 12 of 13 verified, 1 skipped") {
		t.Fatalf("an unknown replica's anchor, skipped by --replica: %v\n%s", err, out)
	}
	// ... but not when --replica names it.
	out, _, err = runAudit(context.Background(), fx.args("--apiserver-audit-log", onlyUnknown, "--replica", "ctl-a,ctl-gone")...)
	if err == nil || !strings.Contains(out, "ctl-gone: BROKEN: no audit files") || !strings.Contains(out, "FAILED: no chain") ||
		!strings.Contains(out, "skipped") {
		t.Fatalf("--replica naming a replica without a chain: %v\n%s", err, out)
	}
}

func TestAuditVerifyAPIServerAuditLogBrokenChain(t *testing.T) {
	fx := newAPIServerLogFixture(t)
	// Remove ctl-b's 3rd record: the anchors of seq 3-6 can no longer be checked.
	name := audit.FileName("ctl-b", 2)
	path := filepath.Join(fx.dir, name)
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	if err := os.WriteFile(path, []byte(strings.Join(lines[1:], "")), 0o640); err != nil {
		t.Fatal(err)
	}
	out, _, err := runAudit(context.Background(), fx.args()...)
	if err == nil {
		t.Fatalf("verify of a broken chain succeeded:\n%s", out)
	}
	for _, want := range []string{
		"ctl-b: BROKEN at " + name + ":1: sequence mismatch: expected seq 3, found 4: 1 line(s) before this one were removed or moved (2 record(s) verified before it)\n",
		"ctl-b: 4 anchor(s) not checked: they name lines after the chain's break\n",
		"anchors: 8 of 12 verified, 4 not checked (their chain breaks before them)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(err.Error(), "1 of 2 chain(s) broken, 4 of 12 anchor(s) not verified") {
		t.Errorf("error %q", err)
	}
}

func TestAuditVerifyAPIServerAuditLogBadLines(t *testing.T) {
	fx := newAPIServerLogFixture(t)
	good := apiserverEventLine(t, auditv1.StageResponseComplete, "g", map[string]string{validatorKey: recordOf(fx.sealed["ctl-a"][0])})
	podvirtLine, err := os.ReadFile(filepath.Join(fx.dir, audit.FileName("ctl-a", 1)))
	if err != nil {
		t.Fatal(err)
	}
	firstPodvirtLine, _, _ := strings.Cut(string(podvirtLine), "\n")
	for name, middle := range map[string]string{
		"garbage":           "{not json\n",
		"empty line":        "\n",
		"podvirt's own log": firstPodvirtLine + "\n",
		"another kind":      `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[]}` + "\n",
		"torn, then more":   good[:40] + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writeAPIServerLog(t, fx.logDir, "corrupt.log", good, middle, good)
			_, _, err := runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", path)
			if err == nil || !strings.Contains(err.Error(), path+":2: not a kube-apiserver audit event") {
				t.Fatalf("a corrupt line 2: %v", err)
			}
		})
	}

	// A final line without a newline that is a whole event is read.
	path := writeAPIServerLog(t, fx.logDir, "unended.log", good, strings.TrimSuffix(good, "\n"))
	out, _, err := runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", path)
	if err != nil || strings.Contains(out, "incomplete") || !strings.Contains(out, "1 anchor(s) from 2 event(s) in 1 file(s) (2 record annotation(s), 1 repeated)") {
		t.Fatalf("an unended whole last event: %v\n%s", err, out)
	}

	// A record annotation that is not an anchor fails the run, named.
	path = writeAPIServerLog(t, fx.logDir, "malformed.log", good,
		apiserverEventLine(t, auditv1.StageResponseComplete, "m", map[string]string{validatorKey: "ctl-a:1:nothex"}))
	out, _, err = runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", path)
	want := fmt.Sprintf("kube-apiserver audit log: FAILED: %s:2 (%s): anchor \"ctl-a:1:nothex\" is not", path, validatorKey)
	if err == nil || !strings.Contains(out, want) || !strings.Contains(err.Error(), "1 record annotation(s) not an anchor") {
		t.Fatalf("a malformed record annotation: %v\n%s", err, out)
	}

	// No podvirt annotations at all: a warning, about the audit policy.
	path = writeAPIServerLog(t, fx.logDir, "none.log", apiserverEventLine(t, auditv1.StageResponseComplete, "n", nil))
	_, stderr, err := runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", path)
	if err != nil || !strings.Contains(stderr, "no podvirt record annotations") {
		t.Fatalf("a log without anchors: %v, stderr %q", err, stderr)
	}

	// Files that cannot be read.
	notGzip := filepath.Join(fx.logDir, "not-gzip.log.gz")
	if err := os.WriteFile(notGzip, []byte("\x1f\x8bnot gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	cut := writeAPIServerLog(t, fx.logDir, "cut.log.gz", good, good)
	data, _ := os.ReadFile(cut)
	if err := os.WriteFile(cut, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(fx.logDir, "missing.log"), notGzip, cut} {
		if _, _, err := runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", path); err == nil {
			t.Errorf("--apiserver-audit-log %s succeeded", path)
		}
	}
}

func TestParseAPIServerAuditLine(t *testing.T) {
	line := apiserverEventLine(t, auditv1.StageResponseComplete, "id-1", map[string]string{
		validatorKey: "ctl-a:7:" + strings.Repeat("a", 64), defaulterKey: "garbage", "record": "ctl-b:1:" + strings.Repeat("b", 64),
		"validator.vmi.podvirt.io/records": "x", "mutation.webhook.admission.k8s.io/round_0_index_0": "{}",
	})
	ev, err := parseAPIServerAuditLine([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range ev.Records {
		keys = append(keys, r.Key)
	}
	if ev.AuditID != "id-1" || ev.Stage != auditv1.StageResponseComplete || !slices.Equal(keys, []string{defaulterKey, "record", validatorKey}) {
		t.Fatalf("event %+v", ev)
	}
	if ev.Records[0].Err == nil || ev.Records[2].Err != nil || ev.Records[2].Anchor.Seq != 7 {
		t.Fatalf("records %+v", ev.Records)
	}
}

// FuzzParseAPIServerAuditLine: the parser never panics nor modifies its
// input, refuses only with errNotAuditEvent, and what it accepts is an
// audit.k8s.io/v1 Event with a stage whose record annotations are exactly
// the annotations keyed "<something>/record" (or "record"), each either an
// anchor that formats and parses back to itself or marked not one. Seeds:
// testdata/fuzz/FuzzParseAPIServerAuditLine.
func FuzzParseAPIServerAuditLine(f *testing.F) {
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete",` +
		`"annotations":{"validator.vmi.podvirt.io/record":"ctl-0:1:` + strings.Repeat("0", 64) + `"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		before := bytes.Clone(line)
		ev, err := parseAPIServerAuditLine(line)
		if !bytes.Equal(before, line) {
			t.Fatal("parseAPIServerAuditLine modified its input")
		}
		if err != nil {
			if !errors.Is(err, errNotAuditEvent) {
				t.Fatalf("error %v does not wrap errNotAuditEvent", err)
			}
			return
		}
		if ev.Stage == "" {
			t.Fatal("accepted an event without a stage")
		}
		// The same bytes decoded on their own, into nothing but the
		// annotations.
		var bare struct {
			APIVersion  string            `json:"apiVersion"`
			Kind        string            `json:"kind"`
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(line, &bare); err != nil {
			t.Fatalf("accepted a line encoding/json refuses as an event: %v", err)
		}
		if bare.APIVersion != "audit.k8s.io/v1" || bare.Kind != "Event" {
			t.Fatalf("accepted apiVersion %q, kind %q", bare.APIVersion, bare.Kind)
		}
		var want []string
		for k := range bare.Annotations {
			if k == audit.AnnotationRecord || strings.HasSuffix(k, "/"+audit.AnnotationRecord) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		var got []string
		for _, r := range ev.Records {
			got = append(got, r.Key)
			if r.Value != bare.Annotations[r.Key] {
				t.Fatalf("record %s = %q, the line says %q", r.Key, r.Value, bare.Annotations[r.Key])
			}
			if r.Err != nil {
				if _, err := audit.ParseAnchor(r.Value); err == nil {
					t.Fatalf("record %s = %q marked not an anchor, but it parses", r.Key, r.Value)
				}
				continue
			}
			again, err := audit.ParseAnchor(r.Anchor.String())
			if err != nil || again != r.Anchor || r.Anchor.Seq == 0 {
				t.Fatalf("anchor %+v of %q does not round-trip: %+v, %v", r.Anchor, r.Value, again, err)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("record annotations %v, want %v", got, want)
		}
	})
}

func TestAuditVerifyAPIServerAuditLogFromStdin(t *testing.T) {
	fx := newAPIServerLogFixture(t)
	rotated, err := os.ReadFile(fx.rotated)
	if err != nil {
		t.Fatal(err)
	}
	// One replica's chain, as in its own Pod: the other's anchors are skipped.
	root := NewRoot()
	var out, errOut syncBuffer
	root.SetArgs([]string{"audit", "verify", "--dir", fx.dir, "--replica", "ctl-a", "--apiserver-audit-log", "-", "--apiserver-audit-log", fx.live})
	root.SetIn(bytes.NewReader(rotated))
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("verify with the rotated log on stdin: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "anchors: 6 of 12 verified, 6 skipped (their replicas are not among --replica)\n") {
		t.Fatalf("output:\n%s", out.String())
	}
	if _, _, err := runAudit(context.Background(), "verify", "--dir", fx.dir, "--apiserver-audit-log", "-", "--apiserver-audit-log", "-"); err == nil {
		t.Fatal("stdin twice must fail")
	}
}
