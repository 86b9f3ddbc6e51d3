package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// PollInterval is how often Eventually asks.
const PollInterval = 250 * time.Millisecond

// Poll calls cond every interval, at once first, until it returns true
// (nil), returns an error (that error), or timeout passes (an error
// naming the timeout). It is wait.PollUntilContextTimeout.
func Poll(ctx context.Context, interval, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, interval, timeout, true, cond)
}

// Eventually polls cond every PollInterval until it returns true or
// timeout passes, then fails the test naming what it waited for and the
// last error cond returned. An error does not end the wait: conditions
// typically fail to get an object that is yet to come.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	if err := eventually(context.Background(), timeout, cond); err != nil {
		t.Fatalf("timed out after %s waiting for %s (%v)", timeout, what, err)
	}
}

// eventually is Eventually's wait, returning what Eventually reports.
func eventually(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	var last error
	err := Poll(ctx, PollInterval, timeout, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("last error: %v", last)
	}
	return nil
}

// VMI gets a VMI.
func (e *Env) VMI(t testing.TB, ns, name string) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
		t.Fatal(err)
	}
	return vmi
}

// WaitForVMIPhase waits until the VMI is in one of phases and returns it.
func (e *Env) WaitForVMIPhase(t testing.TB, ns, name string, timeout time.Duration, phases ...v1alpha1.VirtualMachineInstancePhase) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	Eventually(t, fmt.Sprintf("VMI %s %v", name, phases), timeout, func() (bool, error) {
		err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi)
		if err != nil {
			return false, err
		}
		for _, p := range phases {
			if vmi.Status.Phase == p {
				return true, nil
			}
		}
		return false, fmt.Errorf("phase %q", vmi.Status.Phase)
	})
	return vmi
}

// WaitForPod waits until the Pod exists and cond (nil: any) holds, and
// returns it.
func (e *Env) WaitForPod(t testing.TB, ns, name, what string, timeout time.Duration, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	Eventually(t, what, timeout, func() (bool, error) {
		err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, p)
		return err == nil && (cond == nil || cond(p)), err
	})
	return p
}

// WaitForGone waits until obj (its kind, namespace and name) is not found.
func (e *Env) WaitForGone(t testing.TB, what string, timeout time.Duration, obj client.Object) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	probe := obj.DeepCopyObject().(client.Object)
	Eventually(t, what, timeout, func() (bool, error) {
		err := e.Client.Get(context.Background(), key, probe)
		return apierrors.IsNotFound(err), err
	})
}

// DeleteVMI deletes a VMI with kubectl (as a user would: it waits until
// the VMI is gone) and waits until its launcher Pods are gone too.
func (e *Env) DeleteVMI(t testing.TB, ns, name string, timeout time.Duration) {
	t.Helper()
	if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", name, fmt.Sprintf("--timeout=%ds", int(timeout.Seconds()))); err != nil {
		t.Fatalf("kubectl delete vmi %s: %v\n%s", name, err, out)
	}
	e.WaitForGone(t, "VMI "+name+" gone", timeout, &v1alpha1.VirtualMachineInstance{ObjectMeta: objectMeta(ns, name)})
	e.WaitForLauncherPodsGone(t, ns, name, timeout)
}

// WaitForLauncherPodsGone waits until no Pod of the VMI (label
// podvirt.io/vmi, so forged ones too) is left.
func (e *Env) WaitForLauncherPodsGone(t testing.TB, ns, name string, timeout time.Duration) {
	t.Helper()
	Eventually(t, "the launcher Pods of "+name+" gone", timeout, func() (bool, error) {
		pods, err := e.launcherPods(context.Background(), ns, name)
		if err != nil {
			return false, err
		}
		if len(pods) > 0 {
			return false, fmt.Errorf("%d left, e.g. %s (phase %s)", len(pods), pods[0].Name, pods[0].Status.Phase)
		}
		return true, nil
	})
}
