package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// A pass on a cached VMI that predates the controller's own last write
// writes nothing (it could only conflict): it waits for the cache, and
// the next pass on a current VMI goes on.
func TestStaleCachedVMIWritesNothing(t *testing.T) {
	var stale *v1alpha1.VirtualMachineInstance
	serveStale := false
	r, c, n, _ := newIntercepted(t, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if vmi, ok := obj.(*v1alpha1.VirtualMachineInstance); ok && serveStale && stale != nil {
				stale.DeepCopyInto(vmi)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}, testVMI())
	stale = get(t, c)
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	if after := get(t, c); after.ResourceVersion == stale.ResourceVersion {
		t.Fatalf("the first pass wrote nothing (phase %q): nothing to test", after.Status.Phase)
	}
	before := len(n)
	writes := n["patch VMI"] + n["status VMI"]

	serveStale = true
	res, err := reconcileOnce(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := n["patch VMI"] + n["status VMI"]; got != writes || len(n) != before {
		t.Errorf("a pass on the VMI as it was before our write wrote again (%v)", n)
	}
	if res.RequeueAfter == 0 {
		t.Error("a stale pass must come back (RequeueAfter), in case no watch event does")
	}

	serveStale = false
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	if got := n["patch VMI"] + n["status VMI"] + n["create Pod"]; got == writes {
		t.Errorf("the pass on the current VMI did nothing (%v)", n)
	}
}

func TestOwnWritesForgetsOnceTheCacheCatchesUp(t *testing.T) {
	var w ownWrites
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	w.wrote(key, "10")
	w.wrote(key, "11")
	if !w.stale(key, "10") || !w.stale(key, "11") {
		t.Fatal("versions our writes replaced must read stale")
	}
	if w.stale(key, "12") {
		t.Fatal("a version no write of ours replaced is current")
	}
	if w.stale(key, "10") {
		t.Error("once a current version was seen, the record goes (versions never go back)")
	}
	w.wrote(key, "20")
	w.forget(key)
	if w.stale(key, "20") {
		t.Error("forget keeps nothing")
	}
}

// A launcher Pod signed by this controller whose cached copy does not show
// the signature yet is not signed a second time.
func TestUnsignedCacheOfASignedPodIsNotSignedAgain(t *testing.T) {
	var stale *corev1.Pod
	r, c, n, _ := boundVMI(t, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if p, ok := obj.(*corev1.Pod); ok && stale != nil {
				stale.DeepCopyInto(p)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	signed := launcherPod(t, c)
	if signed.Annotations[domainspec.AnnotationSignature] == "" || n["patch Pod"] != 1 {
		t.Fatalf("signature %q after %d Pod patches: want the Pod signed once", signed.Annotations[domainspec.AnnotationSignature], n["patch Pod"])
	}
	stale = signed.DeepCopy()
	delete(stale.Annotations, domainspec.AnnotationSignature)
	stale.Finalizers = nil
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	if n["patch Pod"] != 1 {
		t.Errorf("%d Pod patches: a pass on the cache from before the signature signed again", n["patch Pod"])
	}
	stale = nil
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	if n["patch Pod"] != 1 {
		t.Errorf("%d Pod patches: the signed Pod was written again", n["patch Pod"])
	}
}
