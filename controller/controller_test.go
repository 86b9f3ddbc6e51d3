package controller

import (
	"context"
	"crypto/ed25519"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
)

// These tests drive the reconciler against controller-runtime's fake client
// for speed; the end-to-end suite runs the same code against a real
// kube-apiserver.

func newReconciler(t *testing.T, objs ...client.Object) (*Reconciler, client.Client) {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&v1alpha1.VirtualMachineInstance{}).Build()
	key, err := domainspec.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Reconciler{Client: c, Domain: domain.Options{Type: "qemu"}, SigningKey: key}, c
}

func testVMI() *v1alpha1.VirtualMachineInstance {
	v := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "tiny", Namespace: "ns", UID: "uid-1"}}
	v.Spec.Domain.Memory = &v1alpha1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}
	v.Spec.Domain.Firmware = &v1alpha1.Firmware{KernelBoot: &v1alpha1.KernelBoot{
		Container: &v1alpha1.KernelBootContainer{Image: "r/g:1", KernelPath: "/boot/vmlinux"}}}
	return v
}

func reconcileN(t *testing.T, r *Reconciler, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "tiny"}}); err != nil {
			t.Fatalf("reconcile %d: %v", i, err)
		}
	}
}

func get(t *testing.T, c client.Client) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	v := &v1alpha1.VirtualMachineInstance{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "tiny"}, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCreatesLauncherPodAndMovesPhases(t *testing.T) {
	r, c := newReconciler(t, testVMI())
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Pending || len(v.Finalizers) != 1 {
		t.Fatalf("after the first pass: phase %q finalizers %v, want Pending and the finalizer", v.Status.Phase, v.Finalizers)
	}
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling || v.Status.LauncherPodName != "virt-launcher-tiny" {
		t.Fatalf("phase %q pod %q, want Scheduling", v.Status.Phase, v.Status.LauncherPodName)
	}
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	if _, err := domainspec.Parse(p.Annotations[domainspec.AnnotationDomain]); err != nil {
		t.Fatalf("domain annotation: %v", err)
	}
	if _, ok := p.Annotations[domainspec.AnnotationSignature]; ok {
		t.Fatal("the Pod was signed before it had a node")
	}
	reconcileN(t, r, 3) // level-triggered: nothing changes until the Pod is bound
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling {
		t.Fatalf("phase %q before binding, want Scheduling", v.Status.Phase)
	}
	p.Spec.NodeName = "node-a"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduled || v.Status.NodeName != "node-a" {
		t.Fatalf("phase %q node %q, want Scheduled on node-a", v.Status.Phase, v.Status.NodeName)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Annotations[domainspec.AnnotationSignature]; ok {
		t.Fatal("signed before status.nodeName was written: the node agent could not report on its VMI")
	}
	reconcileN(t, r, 1)
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	keys := []ed25519.PublicKey{r.SigningKey.Public().(ed25519.PublicKey)}
	payload := domainspec.Payload{Namespace: "ns", PodName: p.Name, VMIUID: "uid-1", NodeName: "node-a", DomainXML: p.Annotations[domainspec.AnnotationDomain]}
	if err := domainspec.Verify(keys, payload, p.Annotations[domainspec.AnnotationSignature]); err != nil {
		t.Fatalf("the launcher Pod's signature does not verify for its node: %v", err)
	}
	payload.NodeName = "node-b"
	if err := domainspec.Verify(keys, payload, p.Annotations[domainspec.AnnotationSignature]); err == nil {
		t.Fatal("the signature also verifies for another node")
	}
}

func TestRefusesForeignPod(t *testing.T) {
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns"}}
	r, c := newReconciler(t, testVMI(), foreign)
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "LauncherPodConflict" {
		t.Fatalf("phase %q reason %q, want Failed/LauncherPodConflict", v.Status.Phase, v.Status.Reason)
	}
}

func TestDeletionWaitsForThePod(t *testing.T) {
	r, c := newReconciler(t, testVMI())
	reconcileN(t, r, 2)
	if err := c.Delete(context.Background(), get(t, c)); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 1) // deletes the Pod (the fake client has no finalizer on it, so it goes at once)
	reconcileN(t, r, 1) // the Pod is gone: the finalizer is removed and the VMI goes
	err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "tiny"}, &v1alpha1.VirtualMachineInstance{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("VMI still there after its Pod went: %v", err)
	}
}

// TestStaleCacheIsNotADeletion: right after creating the launcher Pod the
// cache may not show it yet; the controller must not fail the VMI for it.
func TestStaleCacheIsNotADeletion(t *testing.T) {
	vmi := testVMI()
	vmi.Status.Phase = v1alpha1.Scheduling
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	r, c := newReconciler(t, vmi)
	live := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns"}}
	_, apiServer := newReconciler(t, live)
	r.APIReader = apiServer
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduling {
		t.Fatalf("phase %q reason %q: a Pod missing from the cache was taken for deleted", v.Status.Phase, v.Status.Reason)
	}
	r.APIReader = c // now the API server agrees it is gone
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "LauncherPodDeleted" {
		t.Fatalf("phase %q reason %q, want Failed/LauncherPodDeleted", v.Status.Phase, v.Status.Reason)
	}
}

// The controller signs what it renders, not what the Pod carries (attack:
// a domain swapped on the Pod before it was signed).
func TestSwappedDomainIsNotSigned(t *testing.T) {
	r, c := newReconciler(t, testVMI())
	reconcileN(t, r, 3)
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.NodeName = "node-a"
	p.Annotations[domainspec.AnnotationDomain] = "<domain type='kvm'><devices><hostdev/></devices></domain>"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 3)
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	if sig, ok := p.Annotations[domainspec.AnnotationSignature]; ok {
		t.Errorf("a swapped domain was signed: %s", sig)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "DomainMismatch" {
		t.Errorf("phase %q reason %q, want Failed/DomainMismatch", v.Status.Phase, v.Status.Reason)
	}
}
