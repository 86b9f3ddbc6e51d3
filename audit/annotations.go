package audit

import (
	"encoding/json"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
)

// Webhook names for Record.Webhook and the metrics' webhook label.
const (
	WebhookMutateVMI      = "mutate-vmi"
	WebhookValidateVMI    = "validate-vmi"
	WebhookPodGuard       = "pod-guard"
	WebhookValidatePolicy = "validate-vmipolicy"
	WebhookValidateVM     = "validate-vm"
)

// PolicyBuiltinValidation is the PolicyResult name of the VMI's semantic
// validation (vmirules.Validate, in webhooks/vmirules), which is not a VMIPolicy.
const PolicyBuiltinValidation = "podvirt.io/validation"

// Audit annotation keys. The kube-apiserver prefixes each key with the
// webhook's name and a "/" (validator.vmi.podvirt.io/decision: h.Name+"/"+k
// in k8s.io/apiserver's admission/plugin/webhook/{validating,mutating}
// dispatchers) and drops keys that contain a "/" of their own, so these
// carry no prefix.
const (
	// AnnotationDecision holds the Decision.
	AnnotationDecision = "decision"
	// AnnotationPolicies holds the policies' results as a JSON array of
	// {"name","action","result"}, messages left out.
	AnnotationPolicies = "policies"
	// AnnotationRecord holds "<replica>:<seq>:<hash>", the audit line's
	// place in its chain: an anchor for `podvirtctl audit verify --anchor`.
	AnnotationRecord = "record"
)

// MaxPatchPaths bounds PatchSummary.Paths.
const MaxPatchPaths = 32

// RecordFor starts the record of a decision of webhook on req: request UID,
// user, groups, operation, kind, namespace, name and dry-run. The caller
// adds the verdict (Decision, Message, Policies, Patch, LatencyMicros) and
// Appends it.
func RecordFor(webhook string, req *admissionv1.AdmissionRequest) Record {
	rec := Record{
		Webhook:   webhook,
		UID:       string(req.UID),
		User:      req.UserInfo.Username,
		Groups:    req.UserInfo.Groups,
		Operation: string(req.Operation),
		Kind:      req.Kind.Kind,
		Namespace: req.Namespace,
		Name:      req.Name,
	}
	if req.DryRun != nil {
		rec.DryRun = *req.DryRun
	}
	return rec
}

// ClassifyDecision names a webhook's answer: denied when not allowed, else
// warned when it returned warnings, else mutated when it returned a
// non-empty patch, else allowed.
func ClassifyDecision(allowed, warned, patched bool) Decision {
	switch {
	case !allowed:
		return DecisionDenied
	case warned:
		return DecisionWarned
	case patched:
		return DecisionMutated
	}
	return DecisionAllowed
}

// SummarizePatch records where a patch writes, never what: nil for an
// empty patch.
func SummarizePatch(ops []jsonpatch.Operation) *PatchSummary {
	if len(ops) == 0 {
		return nil
	}
	sum := &PatchSummary{Ops: len(ops)}
	for _, op := range ops[:min(len(ops), MaxPatchPaths)] {
		sum.Paths = append(sum.Paths, op.Operation+" "+op.Path)
	}
	return sum
}

// Latency converts a decision's duration to Record.LatencyMicros.
func Latency(d time.Duration) int64 { return d.Microseconds() }

// AuditAnnotations returns the AdmissionResponse auditAnnotations for a
// sealed record (as Append returned it): the decision, the policies'
// results when there are any, and the record's place in its chain.
func AuditAnnotations(rec Record) map[string]string {
	ann := map[string]string{AnnotationDecision: string(rec.Decision)}
	if len(rec.Policies) > 0 {
		type brief struct {
			Name   string        `json:"name"`
			Action string        `json:"action"`
			Result PolicyOutcome `json:"result"`
		}
		briefs := make([]brief, len(rec.Policies))
		for i, p := range rec.Policies {
			briefs[i] = brief{Name: p.Name, Action: p.Action, Result: p.Result}
		}
		// Marshaling strings and a string type cannot fail.
		b, _ := json.Marshal(briefs)
		ann[AnnotationPolicies] = string(b)
	}
	if rec.Seq > 0 && rec.Hash != "" {
		ann[AnnotationRecord] = Anchor{Replica: rec.Replica, Seq: rec.Seq, Hash: rec.Hash}.String()
	}
	return ann
}

// PolicyActions joins a policy's validationActions for PolicyResult.Action.
func PolicyActions[S ~string](actions []S) string {
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = string(a)
	}
	return strings.Join(parts, ",")
}
