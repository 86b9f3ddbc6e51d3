package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podvirt/podvirt/audit"
)

// event is one Eventf call.
type event struct {
	ref                 *corev1.ObjectReference
	typ, reason, action string
	note                string
}

type eventLog struct{ events []event }

func (l *eventLog) Eventf(regarding, _ runtime.Object, typ, reason, action, note string, args ...any) {
	ref, _ := regarding.(*corev1.ObjectReference)
	l.events = append(l.events, event{ref: ref, typ: typ, reason: reason, action: action, note: fmt.Sprintf(note, args...)})
}

// innerFunc is an admission.Handler that returns resp and records its
// policies on the request's Record.
type innerFunc func(ctx context.Context, req admission.Request) admission.Response

func (f innerFunc) Handle(ctx context.Context, req admission.Request) admission.Response {
	return f(ctx, req)
}

func openAuditLog(t *testing.T) (*audit.Writer, string) {
	t.Helper()
	dir := t.TempDir()
	w, err := audit.Open(context.Background(), audit.Options{Dir: dir, Replica: "ctl-0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, dir
}

func readAuditLog(t *testing.T, dir string) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for rec, err := range audit.Read(context.Background(), dir, audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

func vmiRequest(op admissionv1.Operation) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "uid-1", Operation: op, Namespace: "team-a", Name: "vm-1",
		Kind: metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachineInstance"},
	}}
}

// TestAuditedRecordsEveryDecision: each kind of answer is written to the
// audit log with its decision, message, policies and patch summary, and
// the response carries the record's audit annotations.
func TestAuditedRecordsEveryDecision(t *testing.T) {
	denied := admission.Denied("no")
	warned := admission.Allowed("")
	warned.Warnings = []string{"w1", "w2"}
	warnedWithMessage := admission.Allowed("fine")
	warnedWithMessage.Warnings = []string{"w1"}
	patched := admission.Allowed("")
	patched.Patches = []jsonpatch.Operation{{Operation: "add", Path: "/spec/x", Value: "secret"}}
	deniedAndWarned := admission.Denied("no")
	deniedAndWarned.Warnings = []string{"w"}
	withAnnotations := admission.Allowed("")
	withAnnotations.AuditAnnotations = map[string]string{"mine": "kept"}
	cases := []struct {
		name     string
		resp     admission.Response
		decision audit.Decision
		message  string
		patchOps int
	}{
		{"allowed", admission.Allowed(""), audit.DecisionAllowed, "", 0},
		{"denied", denied, audit.DecisionDenied, "no", 0},
		{"warned", warned, audit.DecisionWarned, "w1; w2", 0},
		{"warned with a message", warnedWithMessage, audit.DecisionWarned, "fine", 0},
		{"patched", patched, audit.DecisionMutated, "", 1},
		{"denied and warned", deniedAndWarned, audit.DecisionDenied, "no", 0},
		{"inner annotations", withAnnotations, audit.DecisionAllowed, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, dir := openAuditLog(t)
			reg := prometheus.NewRegistry()
			metrics, err := audit.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			a := &Audited{Webhook: audit.WebhookValidateVMI, Log: log, Metrics: metrics,
				Inner: innerFunc(func(ctx context.Context, _ admission.Request) admission.Response {
					RecordFromContext(ctx).AddPolicy("p1", "Deny", tc.decision != audit.DecisionDenied, "m")
					return tc.resp
				})}
			resp := a.Handle(context.Background(), vmiRequest(admissionv1.Create))
			if resp.Allowed != tc.resp.Allowed {
				t.Fatalf("allowed %v, want the inner handler's %v", resp.Allowed, tc.resp.Allowed)
			}
			recs := readAuditLog(t, dir)
			if len(recs) != 1 {
				t.Fatalf("%d audit records, want 1", len(recs))
			}
			r := recs[0]
			if r.Decision != tc.decision || r.Message != tc.message || r.Webhook != audit.WebhookValidateVMI ||
				r.UID != "uid-1" || r.Namespace != "team-a" || r.Name != "vm-1" || r.Operation != "CREATE" || r.LatencyMicros < 0 {
				t.Errorf("record %+v, want decision %s, message %q", r, tc.decision, tc.message)
			}
			wantResult := audit.PolicyPass
			if tc.decision == audit.DecisionDenied {
				wantResult = audit.PolicyFail
			}
			if len(r.Policies) != 1 || r.Policies[0] != (audit.PolicyResult{Name: "p1", Action: "Deny", Result: wantResult, Message: "m"}) {
				t.Errorf("policies %+v", r.Policies)
			}
			if tc.patchOps == 0 && r.Patch != nil || tc.patchOps > 0 && (r.Patch == nil || r.Patch.Ops != tc.patchOps || r.Patch.Paths[0] != "add /spec/x") {
				t.Errorf("patch summary %+v, want %d ops", r.Patch, tc.patchOps)
			}
			if resp.AuditAnnotations[audit.AnnotationDecision] != string(tc.decision) ||
				resp.AuditAnnotations[audit.AnnotationRecord] != (audit.Anchor{Replica: "ctl-0", Seq: r.Seq, Hash: r.Hash}).String() {
				t.Errorf("audit annotations %v", resp.AuditAnnotations)
			}
			if tc.name == "inner annotations" && resp.AuditAnnotations["mine"] != "kept" {
				t.Errorf("the inner handler's annotations were dropped: %v", resp.AuditAnnotations)
			}
			if got := decisionsCounted(t, reg, audit.WebhookValidateVMI, tc.decision); got != 1 {
				t.Errorf("decisions counted %v, want 1", got)
			}
		})
	}
}

// decisionsCounted returns podvirt_admission_decisions_total of webhook
// and decision in reg.
func decisionsCounted(t *testing.T, reg *prometheus.Registry, webhook string, d audit.Decision) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "podvirt_admission_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["webhook"] == webhook && labels["decision"] == string(d) {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// TestAuditedFailsClosed: when the decision cannot be recorded, the
// request is refused whatever the inner handler said.
func TestAuditedFailsClosed(t *testing.T) {
	log, _ := openAuditLog(t)
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	a := &Audited{Webhook: audit.WebhookValidateVMI, Log: log, Inner: innerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})}
	resp := a.Handle(context.Background(), vmiRequest(admissionv1.Create))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "audit log") {
		t.Fatalf("response %+v, want a 500 refusal naming the audit log", resp.Result)
	}
}

// TestAuditedWithoutALogStillAnswers: with no log the inner answer is
// returned unchanged and carries no record annotation.
func TestAuditedWithoutALogStillAnswers(t *testing.T) {
	a := &Audited{Webhook: audit.WebhookPodGuard, Inner: innerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Denied("no")
	})}
	resp := a.Handle(context.Background(), vmiRequest(admissionv1.Create))
	if resp.Allowed || resp.Result.Message != "no" || resp.AuditAnnotations != nil {
		t.Fatalf("response %+v", resp)
	}
}

// TestAuditedEvents: a denied or warned VMI gets a Warning Event naming it;
// allowed and mutated ones, dry runs and other kinds get none.
func TestAuditedEvents(t *testing.T) {
	warned := admission.Allowed("")
	warned.Warnings = []string{"careful"}
	patched := admission.Allowed("")
	patched.Patches = []jsonpatch.Operation{{Operation: "add", Path: "/a"}}
	long := admission.Denied(strings.Repeat("x", 1000))
	exact := admission.Denied(strings.Repeat("y", 900))
	cases := []struct {
		name   string
		resp   admission.Response
		edit   func(*admission.Request)
		reason string // "" for no event
		note   string
	}{
		{"denied", admission.Denied("no"), nil, "AdmissionDenied", "validate-vmi: no"},
		{"warned", warned, nil, "AdmissionWarning", "validate-vmi: careful"},
		{"allowed", admission.Allowed(""), nil, "", ""},
		{"mutated", patched, nil, "", ""},
		{"dry run", admission.Denied("no"), func(r *admission.Request) { r.DryRun = ptr.To(true) }, "", ""},
		{"not a dry run", admission.Denied("no"), func(r *admission.Request) { r.DryRun = ptr.To(false) }, "AdmissionDenied", "validate-vmi: no"},
		{"a Pod", admission.Denied("no"), func(r *admission.Request) { r.Kind.Kind = "Pod" }, "", ""},
		{"long message cut", long, nil, "AdmissionDenied", "validate-vmi: " + strings.Repeat("x", 900) + "..."},
		{"message of 900 bytes kept", exact, nil, "AdmissionDenied", "validate-vmi: " + strings.Repeat("y", 900)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events := &eventLog{}
			a := &Audited{Webhook: audit.WebhookValidateVMI, Events: events, Inner: innerFunc(func(context.Context, admission.Request) admission.Response {
				return tc.resp
			})}
			req := vmiRequest(admissionv1.Update)
			if tc.edit != nil {
				tc.edit(&req)
			}
			a.Handle(context.Background(), req)
			if tc.reason == "" {
				if len(events.events) != 0 {
					t.Fatalf("events %+v, want none", events.events)
				}
				return
			}
			if len(events.events) != 1 {
				t.Fatalf("events %+v, want one", events.events)
			}
			e := events.events[0]
			if e.typ != corev1.EventTypeWarning || e.reason != tc.reason || e.action != "UPDATE" || e.note != tc.note {
				t.Errorf("event %s %s %s %q, want Warning %s UPDATE %q", e.typ, e.reason, e.action, e.note, tc.reason, tc.note)
			}
			if e.ref == nil || e.ref.Kind != "VirtualMachineInstance" || e.ref.APIVersion != "podvirt.io/v1alpha1" || e.ref.Namespace != "team-a" || e.ref.Name != "vm-1" {
				t.Errorf("event regarding %+v, want the VMI team-a/vm-1", e.ref)
			}
		})
	}
}

func TestRecordFromContextWithoutAudited(t *testing.T) {
	r := RecordFromContext(context.Background())
	r.AddPolicy("p", "Deny", true, "")
	if RecordFromContext(context.Background()) == r {
		t.Error("two requests without Audited share a Record")
	}
}
