package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

func TestAuditAnnotations(t *testing.T) {
	rec := decisionRecord(1)
	rec.Decision = DecisionDenied
	rec.Policies[0].Result, rec.Policies[0].Message = PolicyFail, "hostDisk volumes are not allowed"
	rec.Replica, rec.Seq, rec.Hash = "podvirt-controller-5c7d-abcde", 42, strings.Repeat("7", 64)

	ann := AuditAnnotations(rec)
	if ann[AnnotationDecision] != "denied" {
		t.Errorf("decision %q", ann[AnnotationDecision])
	}
	var policies []map[string]string
	if err := json.Unmarshal([]byte(ann[AnnotationPolicies]), &policies); err != nil {
		t.Fatalf("policies %q: %v", ann[AnnotationPolicies], err)
	}
	want := []map[string]string{
		{"name": "deny-host-disk", "action": "Deny", "result": "fail"},
		{"name": "require-limits", "action": "Warn,Audit", "result": "pass"},
	}
	if len(policies) != 2 || policies[0]["name"] != want[0]["name"] || policies[0]["result"] != "fail" || policies[1]["action"] != "Warn,Audit" || len(policies[0]) != 3 {
		t.Errorf("policies %v, want %v (no messages)", policies, want)
	}
	anchor, err := ParseAnchor(ann[AnnotationRecord])
	if err != nil || anchor.Seq != 42 || anchor.Replica != rec.Replica || anchor.Hash != rec.Hash {
		t.Errorf("record annotation %q: %+v %v", ann[AnnotationRecord], anchor, err)
	}
	// The kube-apiserver keeps an annotation only if "<webhook name>/<key>"
	// is a qualified name.
	for key := range ann {
		if errs := validation.IsQualifiedName("validate-vmi.podvirt.io/" + key); len(errs) > 0 {
			t.Errorf("key %q would be dropped by the kube-apiserver: %v", key, errs)
		}
	}

	unsealed := AuditAnnotations(Record{Decision: DecisionAllowed})
	if len(unsealed) != 1 {
		t.Errorf("an unsealed record without policies: %v", unsealed)
	}
}

func TestClassifyDecision(t *testing.T) {
	cases := []struct {
		allowed, warned, patched bool
		want                     Decision
	}{
		{false, true, true, DecisionDenied},
		{false, false, false, DecisionDenied},
		{true, true, true, DecisionWarned},
		{true, false, true, DecisionMutated},
		{true, false, false, DecisionAllowed},
	}
	for _, tc := range cases {
		if got := ClassifyDecision(tc.allowed, tc.warned, tc.patched); got != tc.want {
			t.Errorf("ClassifyDecision(%v, %v, %v) = %s, want %s", tc.allowed, tc.warned, tc.patched, got, tc.want)
		}
	}
}

func TestSummarizePatchKeepsNoValues(t *testing.T) {
	if SummarizePatch(nil) != nil {
		t.Error("an empty patch has no summary")
	}
	var ops []jsonpatch.Operation
	for i := range MaxPatchPaths + 5 {
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: "/spec/x" + strings.Repeat("y", i%3), Value: "secret-user-data"})
	}
	sum := SummarizePatch(ops)
	if sum.Ops != MaxPatchPaths+5 || len(sum.Paths) != MaxPatchPaths || sum.Paths[1] != "add /spec/xy" {
		t.Fatalf("summary %+v", sum)
	}
	b, _ := json.Marshal(sum)
	if strings.Contains(string(b), "secret") {
		t.Fatalf("the summary leaks patch values: %s", b)
	}
}

func TestRecordFor(t *testing.T) {
	req := &admissionv1.AdmissionRequest{
		UID:       "6f1c",
		Kind:      metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
		Namespace: "team-a",
		Name:      "vm-1",
		Operation: admissionv1.Update,
		UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"dev"}},
		DryRun:    ptr.To(true),
	}
	rec := RecordFor(WebhookValidateVMI, req)
	if rec.Webhook != WebhookValidateVMI || rec.UID != "6f1c" || rec.Kind != "VirtualMachineInstance" || rec.Namespace != "team-a" ||
		rec.Name != "vm-1" || rec.Operation != "UPDATE" || rec.User != "alice" || rec.Groups[0] != "dev" || !rec.DryRun {
		t.Fatalf("RecordFor = %+v", rec)
	}
}

func TestPolicyActions(t *testing.T) {
	type action string
	if got := PolicyActions([]action{"Warn", "Audit"}); got != "Warn,Audit" {
		t.Fatal(got)
	}
}
