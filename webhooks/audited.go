package webhooks

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podvirt/podvirt/audit"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// BuiltinValidation names the VMI's semantic validation among the policy
// results of an audit record.
const BuiltinValidation = audit.PolicyBuiltinValidation

// Record collects what a handler adds to its decision's audit line: each
// policy's result. Handlers get it with RecordFromContext.
type Record struct {
	policies []audit.PolicyResult
}

type recordKey struct{}

// RecordFromContext returns the request's Record, or a throwaway one when
// the handler runs without Audited (tests).
func RecordFromContext(ctx context.Context) *Record {
	if r, ok := ctx.Value(recordKey{}).(*Record); ok {
		return r
	}
	return &Record{}
}

// AddPolicy records one check's result.
func (r *Record) AddPolicy(name, action string, pass bool, message string) {
	res := audit.PolicyFail
	if pass {
		res = audit.PolicyPass
	}
	r.policies = append(r.policies, audit.PolicyResult{Name: name, Action: action, Result: res, Message: message})
}

// AddPolicyResults records the VMIPolicies that applied (skipped ones are
// left out).
func (r *Record) AddPolicyResults(set *policies.PolicySet, results []policies.PolicyResult) {
	r.policies = slices.Grow(r.policies, len(results))
	for _, res := range results {
		var outcome audit.PolicyOutcome
		switch res.Outcome {
		case policies.Passed:
			outcome = audit.PolicyPass
		case policies.Failed:
			outcome = audit.PolicyFail
		case policies.Errored:
			outcome = audit.PolicyError
		default:
			continue
		}
		action := ""
		if p := set.Policy(res.Policy); p != nil {
			action = audit.PolicyActions(p.Actions())
		}
		var msgs []string
		for _, v := range res.Violations {
			msgs = append(msgs, v.Message)
		}
		r.policies = append(r.policies, audit.PolicyResult{Name: res.Policy, Action: action, Result: outcome, Message: strings.Join(msgs, "; ")})
	}
}

// Audited wraps a handler so that every decision is written to the audit
// log (and fsync'd) before the response leaves, counted in the metrics,
// surfaced as apiserver audit annotations, and, for VMIs denied or warned,
// reported as an Event.
type Audited struct {
	Webhook string
	Inner   admission.Handler
	// Log is the audit log; nil records nothing (fail-open is never
	// chosen silently: the controller always sets it).
	Log     *audit.Writer
	Metrics *audit.Metrics
	Events  events.EventRecorder
}

// Handle implements admission.Handler.
func (a *Audited) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	rec := &Record{}
	resp := a.Inner.Handle(context.WithValue(ctx, recordKey{}, rec), req)

	line := audit.RecordFor(a.Webhook, &req.AdmissionRequest)
	line.Decision = audit.ClassifyDecision(resp.Allowed, len(resp.Warnings) > 0, len(resp.Patches) > 0)
	if resp.Result != nil {
		line.Message = resp.Result.Message
	}
	if line.Message == "" && len(resp.Warnings) > 0 {
		line.Message = strings.Join(resp.Warnings, "; ")
	}
	line.Policies = rec.policies
	line.Patch = audit.SummarizePatch(resp.Patches)
	line.LatencyMicros = audit.Latency(time.Since(start))
	if a.Log != nil {
		sealed, err := a.Log.Append(ctx, line)
		if err != nil {
			// No record, no decision: fail closed.
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("writing the admission audit log: %w", err))
		}
		if resp.AuditAnnotations == nil {
			resp.AuditAnnotations = map[string]string{}
		}
		maps.Copy(resp.AuditAnnotations, audit.AuditAnnotations(sealed))
	}
	if a.Metrics != nil {
		a.Metrics.Observe(a.Webhook, line.Decision, time.Since(start))
	}
	a.event(req, line)
	return resp
}

// event reports a denied or warned VMI on the VMI (by reference: a denied
// create has no object yet, and the Event still names it).
func (a *Audited) event(req admission.Request, line audit.Record) {
	if a.Events == nil || req.Kind.Kind != "VirtualMachineInstance" || req.DryRun != nil && *req.DryRun {
		return
	}
	typ, reason := corev1.EventTypeWarning, "AdmissionDenied"
	switch line.Decision {
	case audit.DecisionDenied:
	case audit.DecisionWarned:
		reason = "AdmissionWarning"
	default:
		return
	}
	ref := &corev1.ObjectReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: req.Kind.Kind,
		Namespace: req.Namespace, Name: req.Name,
	}
	a.Events.Eventf(ref, nil, typ, reason, string(req.Operation), "%s: %s", a.Webhook, truncate(line.Message, 900))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
