package policycontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// MaxAuditResults caps the violations listed in a VMIPolicy's status.
const MaxAuditResults = 100

// Reconciler keeps the compiled policy cache in step with the
// VMIPolicy objects (compiling each generation once, off the request path),
// writes their status (Ready, compile errors, observedGeneration), and
// audits the VMIs that already exist against each policy, when the policy
// changes and every AuditInterval.
type Reconciler struct {
	Client        client.Client
	Cache         *policies.Cache
	Params        policies.ParamSource
	AuditInterval time.Duration
	// Violations is the gauge podvirt_policy_violations{policy}; nil
	// records none.
	Violations *prometheus.GaugeVec

	mu   sync.Mutex
	uids map[string]types.UID // policy name -> UID, to forget deleted ones

	synced atomic.Bool // SyncedChecker passed once
}

// NewViolationsGauge registers podvirt_policy_violations on reg.
func NewViolationsGauge(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "podvirt_policy_violations",
		Help: "VMIs that violate each VMIPolicy, from the last background audit.",
	}, []string{"policy"})
	if err := reg.Register(g); err != nil {
		return nil, fmt.Errorf("registering podvirt_policy_violations: %w", err)
	}
	return g, nil
}

// SetupWithManager registers two controllers of VMIPolicies. The cache
// controller (ReconcileCache) runs on every replica, leader or not: every
// replica's validating webhook reads its own policies.Cache, and one left
// empty would admit VMIs without their policies. The status controller
// (Reconcile: status and background audit, which write to the API server)
// runs on the leader only.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.AuditInterval == 0 {
		r.AuditInterval = 5 * time.Minute
	}
	err := ctrl.NewControllerManagedBy(mgr).Named("vmipolicy-cache").For(&v1alpha1.VMIPolicy{}).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(reconcile.Func(r.ReconcileCache))
	if err != nil {
		return fmt.Errorf("setting up the VMIPolicy cache controller: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).Named("vmipolicy").For(&v1alpha1.VMIPolicy{}).Complete(r)
}

// ReconcileCache compiles a VMIPolicy into the cache (once per generation)
// or forgets a deleted one. It writes nothing to the API server.
func (r *Reconciler) ReconcileCache(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &v1alpha1.VMIPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.remember(p.Name, p.UID)
	r.Cache.Upsert(p)
	return ctrl.Result{}, nil
}

// SyncedChecker is a readiness check: it passes once every VMIPolicy the
// client lists is in the cache at its current generation, so that a
// replica starting up does not admit VMIs before it knows their policies.
// Once passed it always passes: a policy edit must not make every replica
// unready at once.
func (r *Reconciler) SyncedChecker(req *http.Request) error {
	if r.synced.Load() {
		return nil
	}
	list := &v1alpha1.VMIPolicyList{}
	if err := r.Client.List(req.Context(), list); err != nil {
		return fmt.Errorf("listing VMIPolicies: %w", err)
	}
	set := r.Cache.Set()
	for i := range list.Items {
		p := &list.Items[i]
		if c := set.Policy(p.Name); c == nil || c.UID != p.UID || c.Generation < p.Generation {
			return fmt.Errorf("VMIPolicy %s is not compiled yet", p.Name)
		}
	}
	r.synced.Store(true)
	return nil
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &v1alpha1.VMIPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.remember(p.Name, p.UID)
	compiled, errs := r.Cache.Upsert(p)

	status := p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	status.CompileErrors = nil
	cond := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Compiled",
		Message: "every expression compiled and type-checked", ObservedGeneration: p.Generation}
	if len(errs) > 0 {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "CompileFailed", errs.ToAggregate().Error()
		for _, e := range errs {
			status.CompileErrors = append(status.CompileErrors, v1alpha1.ExpressionError{FieldRef: e.Field, Message: e.ErrorBody()})
		}
	}
	meta.SetStatusCondition(&status.Conditions, cond)

	due := status.Audit == nil || status.Audit.LastAuditTime == nil ||
		time.Since(status.Audit.LastAuditTime.Time) >= r.AuditInterval || p.Status.ObservedGeneration != p.Generation
	if due && len(errs) == 0 {
		audit, err := r.audit(ctx, compiled)
		if err != nil {
			return ctrl.Result{}, err
		}
		status.Audit = audit
		if r.Violations != nil {
			r.Violations.WithLabelValues(p.Name).Set(float64(audit.Violations))
		}
	}
	if !equality.Semantic.DeepEqual(status, &p.Status) {
		p.Status = *status
		if err := r.Client.Status().Update(ctx, p); err != nil {
			return ctrl.Result{}, fmt.Errorf("writing the status of VMIPolicy %s: %w", p.Name, err)
		}
	}
	return ctrl.Result{RequeueAfter: r.AuditInterval}, nil
}

// audit evaluates the policy against every existing VMI as if each were
// being created now.
func (r *Reconciler) audit(ctx context.Context, p *policies.CompiledPolicy) (*v1alpha1.VMIPolicyAuditStatus, error) {
	vmis := &v1alpha1.VirtualMachineInstanceList{}
	if err := r.Client.List(ctx, vmis); err != nil {
		return nil, fmt.Errorf("listing VMIs for the background audit: %w", err)
	}
	now := metav1.Now()
	out := &v1alpha1.VMIPolicyAuditStatus{LastAuditTime: &now}
	namespaces := map[string]*corev1.Namespace{}
	for i := range vmis.Items {
		vmi := &vmis.Items[i]
		if !vmi.DeletionTimestamp.IsZero() {
			continue
		}
		ns, ok := namespaces[vmi.Namespace]
		if !ok {
			ns = &corev1.Namespace{}
			if err := r.Client.Get(ctx, types.NamespacedName{Name: vmi.Namespace}, ns); err != nil {
				ns = nil
			}
			namespaces[vmi.Namespace] = ns
		}
		vmi.APIVersion, vmi.Kind = v1alpha1.GroupVersion.String(), "VirtualMachineInstance"
		raw, err := json.Marshal(vmi)
		if err != nil {
			return nil, fmt.Errorf("encoding VMI %s/%s: %w", vmi.Namespace, vmi.Name, err)
		}
		obj, err := policies.DecodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("decoding VMI %s/%s: %w", vmi.Namespace, vmi.Name, err)
		}
		in := policies.NewInputFromObjects(admissionv1.Create, obj, nil, ns, nil, r.Params)
		res := p.Evaluate(ctx, in)
		if res.Outcome != policies.Failed && res.Outcome != policies.Errored {
			continue
		}
		out.Violations++
		if len(out.Results) < MaxAuditResults {
			msg := ""
			if len(res.Violations) > 0 {
				msg = res.Violations[0].Message
			}
			out.Results = append(out.Results, v1alpha1.VMIPolicyViolation{Namespace: vmi.Namespace, Name: vmi.Name, Message: msg})
		}
	}
	log.FromContext(ctx).V(1).Info("background audit", "policy", p.Name, "vmis", len(vmis.Items), "violations", out.Violations)
	return out, nil
}

func (r *Reconciler) remember(name string, uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uids == nil {
		r.uids = map[string]types.UID{}
	}
	if old, ok := r.uids[name]; ok && old != uid {
		r.Cache.Delete(old)
	}
	r.uids[name] = uid
}

func (r *Reconciler) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uid, ok := r.uids[name]; ok {
		r.Cache.Delete(uid)
		delete(r.uids, name)
	}
	if r.Violations != nil {
		r.Violations.DeleteLabelValues(name)
	}
}
