package controller

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
)

var errBoom = errors.New("boom")

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// calls counts the writes that reach the fake API server, by verb and kind.
type calls map[string]int

// newIntercepted is newReconciler with a recorder, write counting and
// optional interceptors (a nil one passes through).
func newIntercepted(t *testing.T, f interceptor.Funcs, objs ...client.Object) (*Reconciler, client.Client, calls, *events.FakeRecorder) {
	t.Helper()
	n := calls{}
	count := func(verb string, obj client.Object) {
		n[verb+" "+typeName(obj)]++
	}
	wrapped := interceptor.Funcs{
		Get: f.Get,
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count("create", obj)
			if f.Create != nil {
				return f.Create(ctx, c, obj, opts...)
			}
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count("update", obj)
			if f.Update != nil {
				return f.Update(ctx, c, obj, opts...)
			}
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			count("patch", obj)
			if f.Patch != nil {
				return f.Patch(ctx, c, obj, patch, opts...)
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count("delete", obj)
			if f.Delete != nil {
				return f.Delete(ctx, c, obj, opts...)
			}
			return c.Delete(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count("status", obj)
			if f.SubResourceUpdate != nil {
				return f.SubResourceUpdate(ctx, c, sub, obj, opts...)
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			count("status", obj)
			if f.SubResourcePatch != nil {
				return f.SubResourcePatch(ctx, c, sub, obj, patch, opts...)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.VirtualMachineInstance{}).WithInterceptorFuncs(wrapped).Build()
	key, err := domainspec.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(100)
	return &Reconciler{Client: c, Domain: domain.Options{Type: "qemu"}, SigningKey: key, Recorder: rec}, c, n, rec
}

func typeName(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Pod:
		return "Pod"
	case *v1alpha1.VirtualMachineInstance:
		return "VMI"
	case *corev1.Secret:
		return "Secret"
	case *corev1.ConfigMap:
		return "ConfigMap"
	}
	return "other"
}

func reconcileOnce(r *Reconciler) (ctrl.Result, error) {
	return r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "tiny"}})
}

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func launcherPod(t *testing.T, c client.Client) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// boundVMI is a VMI whose launcher Pod the controller made and the
// scheduler bound to node-a, the VMI Scheduled there.
func boundVMI(t *testing.T, f interceptor.Funcs) (*Reconciler, client.Client, calls, *events.FakeRecorder) {
	t.Helper()
	r, c, n, rec := newIntercepted(t, f, testVMI())
	reconcileN(t, r, 2)
	p := launcherPod(t, c)
	p.Spec.NodeName = "node-a"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduled {
		t.Fatalf("phase %q, want Scheduled", v.Status.Phase)
	}
	for k := range n {
		delete(n, k)
	}
	drain(rec)
	return r, c, n, rec
}

func verifyPod(t *testing.T, r *Reconciler, p *corev1.Pod) error {
	t.Helper()
	keys := []ed25519.PublicKey{r.SigningKey.Public().(ed25519.PublicKey)}
	return domainspec.Verify(keys, domainspec.Payload{
		Namespace: p.Namespace, PodName: p.Name, VMIUID: string(p.Labels[domainspec.LabelVMIUID]),
		NodeName: p.Spec.NodeName, DomainXML: p.Annotations[domainspec.AnnotationDomain],
	}, p.Annotations[domainspec.AnnotationSignature])
}

func TestVMIGoneIsNotAnError(t *testing.T) {
	r, _, n, _ := newIntercepted(t, interceptor.Funcs{})
	if res, err := reconcileOnce(r); err != nil || res != (ctrl.Result{}) {
		t.Errorf("reconcile of a missing VMI = %+v, %v", res, err)
	}
	if len(n) != 0 {
		t.Errorf("writes %v for a missing VMI", n)
	}
}

func TestReadErrorsAreReturned(t *testing.T) {
	for _, kind := range []string{"vmi", "pod"} {
		failing := true
		r, c, n, _ := newIntercepted(t, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, isPod := obj.(*corev1.Pod); failing && isPod == (kind == "pod") {
				return errBoom
			}
			return c.Get(ctx, key, obj, opts...)
		}}, testVMI())
		if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
			t.Errorf("%s read failing: %v", kind, err)
		}
		if len(n) != 0 {
			t.Errorf("%s read failing: writes %v", kind, n)
		}
		failing = false
		if v := get(t, c); v.Status.Phase != "" {
			t.Errorf("%s read failing: phase %q", kind, v.Status.Phase)
		}
	}
}

func TestFailedPhaseSetsReadyCondition(t *testing.T) {
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns"}}
	vmi := testVMI()
	vmi.Generation = 3
	r, c, _, rec := newIntercepted(t, interceptor.Funcs{}, vmi, foreign)
	if _, err := reconcileOnce(r); err != nil {
		t.Fatal(err)
	}
	v := get(t, c)
	cond := meta.FindStatusCondition(v.Status.Conditions, v1alpha1.ConditionReady)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "LauncherPodConflict" || !strings.Contains(cond.Message, "virt-launcher-tiny") || cond.ObservedGeneration != 3 {
		t.Errorf("ready condition %+v", cond)
	}
	if ev := drain(rec); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning LauncherPodConflict ") {
		t.Errorf("events %q, want one warning LauncherPodConflict", ev)
	}
	// The foreign Pod is left alone, and so is the VMI from then on.
	if p := launcherPod(t, c); !p.DeletionTimestamp.IsZero() {
		t.Error("the foreign Pod is being deleted")
	}
}

func TestPhasesBeforeFailureSetNoCondition(t *testing.T) {
	r, c, _, rec := newIntercepted(t, interceptor.Funcs{}, testVMI())
	reconcileN(t, r, 2)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling || len(v.Status.Conditions) != 0 || v.Status.Reason != "" {
		t.Errorf("phase %q reason %q conditions %+v", v.Status.Phase, v.Status.Reason, v.Status.Conditions)
	}
	if ev := drain(rec); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate ") {
		t.Errorf("events %q, want one SuccessfulCreate", ev)
	}
}

// A VMI that cannot be rendered fails, and no Pod is made for it.
func TestRenderFailure(t *testing.T) {
	vmi := testVMI()
	vmi.Spec.Domain.Memory = nil
	r, c, n, _ := newIntercepted(t, interceptor.Funcs{}, vmi)
	reconcileN(t, r, 2)
	if v := get(t, c); v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "RenderFailed" {
		t.Errorf("phase %q reason %q, want Failed/RenderFailed", v.Status.Phase, v.Status.Reason)
	}
	if n["create Pod"] != 0 {
		t.Errorf("%d Pods created for an unrenderable VMI", n["create Pod"])
	}
}

func TestCreateFailureIsRetried(t *testing.T) {
	fail := true
	r, c, _, rec := newIntercepted(t, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if fail {
			return errBoom
		}
		return c.Create(ctx, obj, opts...)
	}}, testVMI())
	reconcileN(t, r, 1)
	drain(rec)
	if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
		t.Errorf("create failing: %v", err)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Pending || v.Status.LauncherPodName != "" {
		t.Errorf("create failing: phase %q pod %q, want still Pending", v.Status.Phase, v.Status.LauncherPodName)
	}
	if ev := drain(rec); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning FailedCreate ") || !strings.Contains(ev[0], "boom") {
		t.Errorf("events %q, want one FailedCreate", ev)
	}
	fail = false
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling {
		t.Errorf("after the retry: phase %q", v.Status.Phase)
	}
}

// A Pod created by an earlier pass whose write the cache has not shown
// yet: AlreadyExists is success.
func TestCreateAlreadyExists(t *testing.T) {
	r, c, _, _ := newIntercepted(t, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		return apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, obj.GetName())
	}}, testVMI())
	reconcileN(t, r, 2)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling || v.Status.LauncherPodName != "virt-launcher-tiny" {
		t.Errorf("phase %q pod %q, want Scheduling", v.Status.Phase, v.Status.LauncherPodName)
	}
}

func TestWriteErrorsAreReturned(t *testing.T) {
	for name, f := range map[string]interceptor.Funcs{
		"finalizer": {Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return errBoom
		}},
		"status": {SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return errBoom
		}},
	} {
		r, _, _, _ := newIntercepted(t, f, testVMI())
		if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
			t.Errorf("%s write failing: %v", name, err)
		}
	}
}

// Without an APIReader the client is asked; a launcher Pod it does not
// have either was deleted.
func TestDeletedPodWithoutAPIReader(t *testing.T) {
	vmi := testVMI()
	vmi.Status.Phase = v1alpha1.Scheduled
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	r, c, _, _ := newIntercepted(t, interceptor.Funcs{}, vmi)
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "LauncherPodDeleted" {
		t.Errorf("phase %q reason %q, want Failed/LauncherPodDeleted", v.Status.Phase, v.Status.Reason)
	}
}

// A Pod the cache lacks but the API server has: wait a second and look
// again; an API server that cannot answer is an error, not a deletion.
func TestAPIReader(t *testing.T) {
	vmi := testVMI()
	vmi.Status.Phase = v1alpha1.Running
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	r, c, _, _ := newIntercepted(t, interceptor.Funcs{}, vmi)
	live := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns"}}
	_, apiServer, _, _ := newIntercepted(t, interceptor.Funcs{}, live)
	r.APIReader = apiServer
	res, err := reconcileOnce(r)
	if err != nil || res.RequeueAfter != time.Second {
		t.Errorf("Pod only on the API server: %+v, %v; want a requeue after 1s", res, err)
	}
	_, broken, _, _ := newIntercepted(t, interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		return errBoom
	}})
	r.APIReader = broken
	if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
		t.Errorf("API server failing: %v", err)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Running {
		t.Errorf("phase %q reason %q, want still Running", v.Status.Phase, v.Status.Reason)
	}
}

// A finished VMI frees its Pod's resources; the VMI itself stays.
func TestFinishedVMIDeletesItsPod(t *testing.T) {
	for _, phase := range []v1alpha1.VirtualMachineInstancePhase{v1alpha1.Succeeded, v1alpha1.Failed} {
		r, c, n, _ := boundVMI(t, interceptor.Funcs{})
		v := get(t, c)
		v.Status.Phase = phase
		if err := c.Status().Update(context.Background(), v); err != nil {
			t.Fatal(err)
		}
		reconcileN(t, r, 1)
		err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, &corev1.Pod{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s: launcher Pod still there: %v", phase, err)
		}
		reconcileN(t, r, 2)
		if v := get(t, c); v.Status.Phase != phase || len(v.Finalizers) != 1 || v.Finalizers[0] != domainspec.FinalizerLauncher {
			t.Errorf("%s: phase %q finalizers %v, want the VMI kept as it ended", phase, v.Status.Phase, v.Finalizers)
		}
		if n["delete Pod"] != 1 || n["create Pod"] != 0 {
			t.Errorf("%s: writes %v, want one Pod deletion and no new Pod", phase, n)
		}
	}
}

// A finished VMI's Pod that is already going is not deleted again; one
// already gone is not an error.
func TestFinishedVMIWithPodGoing(t *testing.T) {
	vmi := testVMI()
	vmi.Status.Phase = v1alpha1.Succeeded
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	r, c, n, _ := newIntercepted(t, interceptor.Funcs{}, vmi)
	p, err := launcherPodFor(r, vmi)
	if err != nil {
		t.Fatal(err)
	}
	p.Finalizers = []string{domainspec.FinalizerDomain}
	if err := c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for k := range n {
		delete(n, k)
	}
	reconcileN(t, r, 2)
	if n["delete Pod"] != 0 {
		t.Errorf("a Pod already being deleted was deleted again: %v", n)
	}

	r, _, _, _ = newIntercepted(t, interceptor.Funcs{Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, obj.GetName())
	}}, vmi.DeepCopy(), mustPod(t, r, vmi))
	if _, err := reconcileOnce(r); err != nil {
		t.Errorf("Pod gone under the delete: %v", err)
	}
	r, _, _, _ = newIntercepted(t, interceptor.Funcs{Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		return errBoom
	}}, vmi.DeepCopy(), mustPod(t, r, vmi))
	if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
		t.Errorf("delete failing: %v", err)
	}
}
