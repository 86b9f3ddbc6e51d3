package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// Defaults of the node heartbeat controller.
const (
	// DefaultUnknownTimeout is how long a VMI stays Unknown before podvirt
	// fails it, if its node is fenced by then.
	DefaultUnknownTimeout = 5 * time.Minute
	// defaultLeaseDuration is assumed for a Lease that states none (the
	// node agent's default, as the kubelet's node Lease).
	defaultLeaseDuration = 40 * time.Second
	// defaultRecheck is how often a node whose Lease ran out is looked at
	// again: its fencing is read, not watched.
	defaultRecheck = 10 * time.Second
)

// VMINodeNameField indexes VMIs by status.nodeName in the manager's cache.
const VMINodeNameField = "status.nodeName"

// NodeHeartbeatReconciler is the node heartbeat controller. Each node
// agent renews a Lease (domainspec.NodeLeaseName) in Namespace; when one
// runs out, this controller marks the Running VMIs of that node Unknown,
// and fails them (NodeLost) once they have been unresponsive for
// UnknownTimeout and the node is fenced, never on the Lease alone: a node
// cut off from the API server may still run its guests, and a second copy
// elsewhere would write the same disks (docs/operations.md). A node agent
// that answers again reports its guests Running itself. One request is
// one node (its name, no namespace).
type NodeHeartbeatReconciler struct {
	// Client reads Leases, VMIs and Pods from the cache (Leases cached in
	// Namespace only, VMIs indexed by VMINodeNameField) and writes.
	Client client.Client
	// APIReader reads past the cache what must be current: a Lease about
	// to be declared expired, the launcher Pod and the Node of a fencing
	// decision. Client when nil.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Metrics   *HeartbeatMetrics
	// Namespace holds the heartbeat Leases (podvirt's).
	Namespace string
	// UnknownTimeout is how long a VMI stays unresponsive before it may
	// fail; DefaultUnknownTimeout when zero, and negative means none.
	UnknownTimeout time.Duration
	// Recheck is how often a node whose Lease ran out is looked at again;
	// 10 s when zero.
	Recheck time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu sync.Mutex
	// seen is, by node, the Lease's renewTime as last observed and when
	// it was first observed so: expiry is measured on this clock, as the
	// kube-controller-manager measures node Leases, so no clock skew
	// between node and controller can expire a Lease that is renewed, and
	// a new leader gives every Lease a full duration before it judges.
	seen map[string]observation
}

type observation struct {
	renewTime time.Time
	at        time.Time
}

// heartbeat is what the Lease of one node says now.
type heartbeat struct {
	node, lease string
	// renewed is the renewTime the agent wrote (its own clock), for
	// messages; expires is when it runs out on this controller's clock.
	renewed, expires time.Time
	duration         time.Duration
	expired          bool
}

// SetupWithManager registers the controller. The manager's cache must
// hold Leases of Namespace only (the controller may read no others).
func (r *NodeHeartbeatReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.VirtualMachineInstance{}, VMINodeNameField, vmiNodeName); err != nil {
		return fmt.Errorf("indexing VMIs by %s: %w", VMINodeNameField, err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodeheartbeat").
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(r.leaseToNode)).
		// A launcher Pod force-deleted (or gone) may fence its node.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(launcherPodToNode), builder.WithPredicates(predicate.Funcs{
			CreateFunc:  func(event.CreateEvent) bool { return false },
			UpdateFunc:  func(e event.UpdateEvent) bool { return !e.ObjectNew.GetDeletionTimestamp().IsZero() },
			DeleteFunc:  func(event.DeleteEvent) bool { return true },
			GenericFunc: func(event.GenericEvent) bool { return false },
		})).
		Complete(r)
}

func vmiNodeName(o client.Object) []string {
	if vmi, ok := o.(*v1alpha1.VirtualMachineInstance); ok && vmi.Status.NodeName != "" {
		return []string{vmi.Status.NodeName}
	}
	return nil
}

func (r *NodeHeartbeatReconciler) leaseToNode(_ context.Context, o client.Object) []reconcile.Request {
	node, ok := domainspec.NodeOfLease(o.GetName())
	if !ok || o.GetNamespace() != r.Namespace {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: node}}}
}

func launcherPodToNode(_ context.Context, o client.Object) []reconcile.Request {
	p, ok := o.(*corev1.Pod)
	if !ok || p.Labels[domainspec.LabelVMI] == "" || p.Spec.NodeName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p.Spec.NodeName}}}
}

// Reconcile implements reconcile.Reconciler for one node.
func (r *NodeHeartbeatReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := req.Name
	key := types.NamespacedName{Namespace: r.Namespace, Name: domainspec.NodeLeaseName(node)}
	lease := &coordinationv1.Lease{}
	if err := r.Client.Get(ctx, key, lease); err != nil {
		if apierrors.IsNotFound(err) {
			// No heartbeat says nothing: a node agent older than the
			// heartbeat, or none on that node.
			r.forget(node)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading Lease %s: %w", key, err)
	}
	hb := r.observe(node, lease)
	if hb.expired {
		// The cache may lag a renewal: ask the API server before saying
		// the node stopped.
		live := &coordinationv1.Lease{}
		if err := r.reader().Get(ctx, key, live); err != nil {
			return ctrl.Result{}, fmt.Errorf("reading Lease %s: %w", key, client.IgnoreNotFound(err))
		}
		hb = r.observe(node, live)
	}

	vmis := &v1alpha1.VirtualMachineInstanceList{}
	if err := r.Client.List(ctx, vmis, client.MatchingFields{VMINodeNameField: node}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the VMIs of node %s: %w", node, err)
	}
	var next time.Duration
	var errs []error
	for i := range vmis.Items {
		after, err := r.syncVMI(ctx, hb, &vmis.Items[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("VMI %s/%s: %w", vmis.Items[i].Namespace, vmis.Items[i].Name, err))
		}
		next = sooner(next, after)
	}
	if hb.expired {
		next = sooner(next, r.recheck())
	} else {
		// No renewal comes from a stopped agent: look again when the
		// Lease would run out.
		next = sooner(next, hb.expires.Sub(r.now())+time.Second)
	}
	return ctrl.Result{RequeueAfter: next}, errors.Join(errs...)
}

// observe records what the Lease says and judges it on this controller's
// clock: it runs out a Lease duration after its renewTime last changed.
func (r *NodeHeartbeatReconciler) observe(node string, l *coordinationv1.Lease) heartbeat {
	now := r.now()
	var renewed time.Time
	if l.Spec.RenewTime != nil {
		renewed = l.Spec.RenewTime.Time
	}
	duration := defaultLeaseDuration
	if s := l.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		duration = time.Duration(*s) * time.Second
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]observation{}
	}
	o, ok := r.seen[node]
	if !ok || !o.renewTime.Equal(renewed) {
		o = observation{renewTime: renewed, at: now}
		r.seen[node] = o
	}
	r.mu.Unlock()
	expires := o.at.Add(duration)
	return heartbeat{node: node, lease: l.Namespace + "/" + l.Name, renewed: renewed, expires: expires, duration: duration, expired: !now.Before(expires)}
}

func (r *NodeHeartbeatReconciler) forget(node string) {
	r.mu.Lock()
	delete(r.seen, node)
	r.mu.Unlock()
}

func (r *NodeHeartbeatReconciler) unknownTimeout() time.Duration {
	switch {
	case r.UnknownTimeout == 0:
		return DefaultUnknownTimeout
	case r.UnknownTimeout < 0:
		return 0
	}
	return r.UnknownTimeout
}

func (r *NodeHeartbeatReconciler) recheck() time.Duration {
	if r.Recheck <= 0 {
		return defaultRecheck
	}
	return r.Recheck
}

func (r *NodeHeartbeatReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *NodeHeartbeatReconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// sooner is the shorter of two requeue delays, 0 meaning none.
func sooner(a, b time.Duration) time.Duration {
	switch {
	case b <= 0:
		return a
	case a <= 0:
		return b
	}
	return min(a, b)
}
