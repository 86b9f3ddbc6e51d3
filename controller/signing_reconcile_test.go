package controller

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/pod"
)

// The signature is written once; later passes find it current and write
// nothing.
func TestSignatureWrittenOnce(t *testing.T) {
	r, c, n, _ := boundVMI(t, interceptor.Funcs{})
	reconcileN(t, r, 1)
	p := launcherPod(t, c)
	if err := verifyPod(t, r, p); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if n["patch Pod"] != 1 {
		t.Errorf("%d patches, want 1", n["patch Pod"])
	}
	// The node agent's finalizer comes in the signing write.
	if len(p.Finalizers) != 1 || p.Finalizers[0] != domainspec.FinalizerDomain {
		t.Errorf("finalizers %v after signing, want %s", p.Finalizers, domainspec.FinalizerDomain)
	}
	reconcileN(t, r, 3)
	if n["patch Pod"] != 1 || n["status VMI"] != 0 || n["update VMI"] != 0 {
		t.Errorf("writes %v after the Pod was signed, want none", n)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduled {
		t.Errorf("phase %q", v.Status.Phase)
	}
}

// After a key rotation the Pod is signed again with the new key.
func TestResignedWithANewKey(t *testing.T) {
	r, c, n, _ := boundVMI(t, interceptor.Funcs{})
	reconcileN(t, r, 1)
	old := launcherPod(t, c).Annotations[domainspec.AnnotationSignature]
	key, err := domainspec.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SigningKey = key
	// The node agent removed its finalizer (the Pod ended): signing again
	// does not add it back.
	p := launcherPod(t, c)
	p.Finalizers = nil
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 1)
	p = launcherPod(t, c)
	if len(p.Finalizers) != 0 {
		t.Errorf("finalizers %v after signing again, want none", p.Finalizers)
	}
	if sig := p.Annotations[domainspec.AnnotationSignature]; sig == old || verifyPod(t, r, p) != nil {
		t.Errorf("signature %s after rotation (was %s): %v", sig, old, verifyPod(t, r, p))
	}
	if n["patch Pod"] != 2 {
		t.Errorf("%d patches, want 2", n["patch Pod"])
	}
}

func TestSigningErrors(t *testing.T) {
	r, c, _, _ := boundVMI(t, interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
		if _, ok := obj.(*corev1.Pod); ok {
			return errBoom
		}
		return c.Patch(ctx, obj, patch, opts...)
	}})
	if _, err := reconcileOnce(r); !errors.Is(err, errBoom) {
		t.Errorf("patch failing: %v", err)
	}
	r.SigningKey = ed25519.PrivateKey{1, 2, 3}
	if _, err := reconcileOnce(r); !errors.Is(err, domainspec.ErrInvalidKey) {
		t.Errorf("bad signing key: %v", err)
	}
	if _, ok := launcherPod(t, c).Annotations[domainspec.AnnotationSignature]; ok {
		t.Error("signed although every signing failed")
	}
}

// A Pod on its way out is not signed.
func TestTerminatingPodIsNotSigned(t *testing.T) {
	r, c, n, _ := boundVMI(t, interceptor.Funcs{})
	p := launcherPod(t, c)
	p.Finalizers = []string{domainspec.FinalizerDomain}
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 2)
	if _, ok := launcherPod(t, c).Annotations[domainspec.AnnotationSignature]; ok || n["patch Pod"] != 0 {
		t.Errorf("a terminating Pod was signed (writes %v)", n)
	}
}

// A signed Pod whose domain is no longer what this build renders (an
// earlier build signed it) keeps its signature and its VMI runs on.
func TestSignedOlderRenderingIsLeftAlone(t *testing.T) {
	r, c, n, _ := boundVMI(t, interceptor.Funcs{})
	reconcileN(t, r, 1)
	p := launcherPod(t, c)
	sig := p.Annotations[domainspec.AnnotationSignature]
	p.Annotations[domainspec.AnnotationDomain] += "\n"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	for k := range n {
		delete(n, k)
	}
	reconcileN(t, r, 2)
	if got := launcherPod(t, c).Annotations[domainspec.AnnotationSignature]; got != sig || n["patch Pod"] != 0 {
		t.Errorf("signature %q (was %q), writes %v", got, sig, n)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Scheduled {
		t.Errorf("phase %q reason %q", v.Status.Phase, v.Status.Reason)
	}
}

// A VMI that no longer renders is not signed for.
func TestSigningNeedsARendering(t *testing.T) {
	r, c, _, _ := boundVMI(t, interceptor.Funcs{})
	v := get(t, c)
	v.Spec.Domain.Memory = nil
	if err := c.Update(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if _, err := reconcileOnce(r); err == nil || !strings.Contains(err.Error(), "rendering") {
		t.Errorf("reconcile of a VMI that no longer renders: %v", err)
	}
	if _, ok := launcherPod(t, c).Annotations[domainspec.AnnotationSignature]; ok {
		t.Error("signed")
	}
}

// A Running VMI's Pod is signed too (the controller may have restarted
// between the binding and the signing).
func TestRunningVMIIsSigned(t *testing.T) {
	r, c, _, _ := boundVMI(t, interceptor.Funcs{})
	v := get(t, c)
	v.Status.Phase = v1alpha1.Running
	if err := c.Status().Update(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	reconcileN(t, r, 1)
	if err := verifyPod(t, r, launcherPod(t, c)); err != nil {
		t.Errorf("signature: %v", err)
	}
	if v := get(t, c); v.Status.Phase != v1alpha1.Running || v.Status.NodeName != "node-a" {
		t.Errorf("phase %q node %q", v.Status.Phase, v.Status.NodeName)
	}
}

func renderPod(vmi *v1alpha1.VirtualMachineInstance, xml string, r *Reconciler) (*corev1.Pod, error) {
	return pod.Render(vmi, xml, r.Pod)
}
