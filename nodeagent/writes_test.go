package nodeagent

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// countWrites wraps the reconciler's client, counting its writes by kind
// (update, patch, status) and whether they carry the agent's field
// manager.
func countWrites(t *testing.T, r *Reconciler, c client.Client) map[string]int {
	t.Helper()
	n := map[string]int{}
	owner := func(opts any) string {
		switch o := opts.(type) {
		case []client.PatchOption:
			po := &client.PatchOptions{}
			po.ApplyOptions(o)
			return po.FieldManager
		case []client.SubResourcePatchOption:
			po := &client.SubResourcePatchOptions{}
			po.ApplyOptions(o)
			return po.FieldManager
		}
		return ""
	}
	r.Client = interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			n["update"]++
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			n["patch "+owner(opts)]++
			return c.Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			n["status update"]++
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			n["status patch "+owner(opts)]++
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	return n
}

// A signed Pod that carries the agent's finalizer (the controller adds it
// when it signs) costs the agent one write at start, the VMI's Running
// status, as a patch under its own field manager; a pass that finds
// everything as it is writes nothing.
func TestStartWritesOnlyTheStatus(t *testing.T) {
	r, c, _ := setup(t, v1alpha1.Scheduled, hypervisor.StateRunning)
	n := countWrites(t, r, c)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q, want Running", vmi.Status.Phase)
	}
	if len(n) != 1 || n["status patch "+FieldOwner] != 1 {
		t.Errorf("writes %v, want one status patch by %s", n, FieldOwner)
	}
	reconcileAndGet(t, r, c)
	if len(n) != 1 || n["status patch "+FieldOwner] != 1 {
		t.Errorf("writes %v after a pass that changed nothing, want none more", n)
	}
}

// A signed Pod without the agent's finalizer (signed by an earlier
// controller) gets it before anything starts; an unsigned one is left
// alone.
func TestFinalizerOnlyOnASignedPod(t *testing.T) {
	r, c, _ := setupWith(t, v1alpha1.Scheduled, hypervisor.StateRunning, func(_ *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
		p.Finalizers = nil
		delete(p.Annotations, domainspec.AnnotationSignature)
	})
	n := countWrites(t, r, c)
	reconcileAndGet(t, r, c)
	if len(n) != 0 {
		t.Errorf("writes %v for an unsigned Pod, want none", n)
	}
	r, c, _ = setupWith(t, v1alpha1.Scheduled, hypervisor.StateRunning, func(_ *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
		p.Finalizers = nil
	})
	n = countWrites(t, r, c)
	reconcileAndGet(t, r, c)
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	if len(p.Finalizers) != 1 || p.Finalizers[0] != domainspec.FinalizerDomain || n["patch "+FieldOwner] != 1 || n["update"] != 0 {
		t.Errorf("finalizers %v, writes %v: want %s added by one patch", p.Finalizers, n, domainspec.FinalizerDomain)
	}
}
