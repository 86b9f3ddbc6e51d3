package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
)

// launcherPodFor renders the Pod the controller would create for vmi.
func launcherPodFor(r *Reconciler, vmi *v1alpha1.VirtualMachineInstance) (*corev1.Pod, error) {
	xml, err := domain.RenderXML(vmi, r.Domain)
	if err != nil {
		return nil, err
	}
	return renderPod(vmi, xml, r)
}

func mustPod(t *testing.T, r *Reconciler, vmi *v1alpha1.VirtualMachineInstance) *corev1.Pod {
	t.Helper()
	p, err := launcherPodFor(r, vmi)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Deleting a VMI deletes its Pod once, then waits, the finalizer in place,
// for the node agent to let the Pod go; then the VMI goes.
func TestDeletionWaitsForTheNodeAgent(t *testing.T) {
	r, c, n, rec := boundVMI(t, interceptor.Funcs{})
	p := launcherPod(t, c)
	p.Finalizers = []string{domainspec.FinalizerDomain} // the node agent's
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), get(t, c)); err != nil {
		t.Fatal(err)
	}
	for k := range n {
		delete(n, k)
	}
	for i := 0; i < 3; i++ {
		res, err := reconcileOnce(r)
		if err != nil || res.RequeueAfter != 10*time.Second {
			t.Fatalf("pass %d: %+v, %v; want a requeue after 10s", i, res, err)
		}
		if v := get(t, c); len(v.Finalizers) != 1 {
			t.Fatalf("pass %d: finalizers %v while the Pod is still there", i, v.Finalizers)
		}
	}
	if p := launcherPod(t, c); p.DeletionTimestamp.IsZero() {
		t.Error("the launcher Pod is not being deleted")
	}
	if n["delete Pod"] != 1 {
		t.Errorf("%d Pod deletions, want 1", n["delete Pod"])
	}
	if ev := drain(rec); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal SuccessfulDelete ") {
		t.Errorf("events %q, want one SuccessfulDelete", ev)
	}
	// The node agent is done.
	p = launcherPod(t, c)
	p.Finalizers = nil
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if res, err := reconcileOnce(r); err != nil || res != (ctrl.Result{}) {
		t.Errorf("after the Pod went: %+v, %v", res, err)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "tiny"}, &v1alpha1.VirtualMachineInstance{}); !apierrors.IsNotFound(err) {
		t.Errorf("VMI still there after its Pod went: %v", err)
	}
}

func TestDeletionErrors(t *testing.T) {
	vmi := testVMI()
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	vmi.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	r, _, _, _ := newIntercepted(t, interceptor.Funcs{})
	pod := mustPod(t, r, vmi)
	for name, f := range map[string]interceptor.Funcs{
		"delete": {Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return errBoom
		}},
		"finalizer": {Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return errBoom
		}},
	} {
		objs := []client.Object{vmi.DeepCopy()}
		if name == "delete" {
			objs = append(objs, pod.DeepCopy())
		}
		r, _, _, _ := newIntercepted(t, f, objs...)
		if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
			t.Errorf("%s failing: %v", name, err)
		}
	}
	// Gone under our feet: not an error.
	for name, f := range map[string]interceptor.Funcs{
		"delete": {Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, obj.GetName())
		}},
		"finalizer": {Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return apierrors.NewNotFound(schema.GroupResource{Resource: "virtualmachineinstances"}, obj.GetName())
		}},
	} {
		objs := []client.Object{vmi.DeepCopy()}
		if name == "delete" {
			objs = append(objs, pod.DeepCopy())
		}
		r, _, _, _ := newIntercepted(t, f, objs...)
		if _, err := reconcileOnce(r); err != nil {
			t.Errorf("%s not found: %v", name, err)
		}
	}
}
