//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// tinyVM is a VirtualMachine whose template is the tiny guest's spec.
func tinyVM(name string, strategy *v1alpha1.RunStrategy, running *bool) *v1alpha1.VirtualMachine {
	return &v1alpha1.VirtualMachine{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.VirtualMachineSpec{
			RunStrategy: strategy, Running: running,
			Template: v1alpha1.VirtualMachineInstanceTemplateSpec{
				Metadata: v1alpha1.VirtualMachineInstanceTemplateMeta{Labels: map[string]string{"app": name}},
				Spec:     libvmi.NewTiny().Spec,
			},
		},
	}
}

// waitVMStatus waits for the VM's printableStatus (and ready, when
// wantReady is set).
func (e *env) waitVMStatus(t *testing.T, ns, name string, want v1alpha1.VirtualMachinePrintableStatus, wantReady bool, timeout time.Duration) {
	t.Helper()
	framework.Eventually(t, "VM "+name+" "+string(want), timeout, func() (bool, error) {
		vm := &v1alpha1.VirtualMachine{}
		if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vm); err != nil {
			return false, err
		}
		return vm.Status.PrintableStatus == want && vm.Status.Ready == wantReady, nil
	})
}

func (e *env) vmiGone(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	framework.Eventually(t, "VMI "+name+" gone", timeout, func() (bool, error) {
		err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &v1alpha1.VirtualMachineInstance{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

// TestVMLifecycle runs a VirtualMachine with runStrategy Always through
// podvirtctl stop and start, then deletes it: its VMI and launcher Pod go
// with it and nothing is left on the node.
func TestVMLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	ctl := e.podvirtctl(t)
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(ctl, append(args, "--kubeconfig", e.Kubeconfig, "-n", ns)...).CombinedOutput()
		if err != nil {
			t.Fatalf("podvirtctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	footprint := e.Track(t, ns, libvmi.TinyName)
	e.Apply(t, ns, tinyVM(libvmi.TinyName, ptr.To(v1alpha1.RunStrategyAlways), nil))
	e.waitVMStatus(t, ns, libvmi.TinyName, v1alpha1.VMStatusRunning, true, 3*time.Minute)

	vmi := e.VMI(t, ns, libvmi.TinyName)
	vm := &v1alpha1.VirtualMachine{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: libvmi.TinyName}, vm); err != nil {
		t.Fatal(err)
	}
	if !metav1.IsControlledBy(vmi, vm) || vmi.Labels["app"] != libvmi.TinyName {
		t.Fatalf("VMI %+v: want it controlled by the VM and labelled from its template", vmi.ObjectMeta)
	}

	run("stop", libvmi.TinyName)
	e.vmiGone(t, ns, libvmi.TinyName, 2*time.Minute)
	e.waitVMStatus(t, ns, libvmi.TinyName, v1alpha1.VMStatusStopped, false, time.Minute)

	run("start", libvmi.TinyName)
	e.waitVMStatus(t, ns, libvmi.TinyName, v1alpha1.VMStatusRunning, true, 3*time.Minute)
	if again := e.VMI(t, ns, libvmi.TinyName); again.UID == vmi.UID {
		t.Fatal("start did not create a new VMI")
	}

	// Deleting the VM takes its VMI and launcher Pod (owner references,
	// garbage collection) and the guest with them.
	if err := e.Client.Delete(ctx, vm, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	e.vmiGone(t, ns, libvmi.TinyName, 2*time.Minute)
	framework.Eventually(t, "the launcher Pod gone", time.Minute, func() (bool, error) {
		err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName(libvmi.TinyName)}, &corev1.Pod{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	framework.Eventually(t, "the VM gone", time.Minute, func() (bool, error) {
		err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: libvmi.TinyName}, &v1alpha1.VirtualMachine{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	e.ExpectNoLeaks(t, footprint)
}

// TestVMRunningWithRunStrategyRefused: a VM that sets both is refused at
// apply, the error naming spec.running.
func TestVMRunningWithRunStrategyRefused(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	manifest := framework.Manifest(t, tinyVM("both", ptr.To(v1alpha1.RunStrategyAlways), ptr.To(true)))
	out, err := e.Kubectl(manifest, "apply", "-n", ns, "-f", "-")
	if err == nil {
		t.Fatalf("a VM with running and runStrategy was admitted:\n%s", out)
	}
	if !strings.Contains(out, "spec.running") || !strings.Contains(out, "mutually exclusive") {
		t.Fatalf("refusal does not name spec.running:\n%s", out)
	}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "both"}, &v1alpha1.VirtualMachine{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the refused VM exists (%v)", err)
	}
}

// TestVMGuestPowerOffPerStrategy: the guest powers itself off (an ACPI
// power button press, which the tiny guest answers with poweroff) under
// each runStrategy, and the VM does what KubeVirt's run strategies say:
// Always starts a new VMI; RerunOnFailure and Once leave the Succeeded VMI
// and the VM Stopped (only a failure reruns); Halted never ran one.
func TestVMGuestPowerOffPerStrategy(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	for _, tc := range []struct {
		strategy v1alpha1.RunStrategy
		restarts bool
	}{
		{v1alpha1.RunStrategyAlways, true},
		{v1alpha1.RunStrategyRerunOnFailure, false},
		{v1alpha1.RunStrategyOnce, false},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			t.Parallel()
			name := "off-" + strings.ToLower(string(tc.strategy))
			footprint := e.Track(t, ns, name)
			e.Apply(t, ns, tinyVM(name, ptr.To(tc.strategy), nil))
			first := e.WaitForVMIPhase(t, ns, name, 3*time.Minute, v1alpha1.Running)
			dom := domainspec.Name(ns, name)
			e.GuestConsole(t, dom)
			if err := e.ShutdownDomain(dom); err != nil {
				t.Fatal(err)
			}
			if tc.restarts {
				framework.Eventually(t, "a new VMI of "+name+" Running", 3*time.Minute, func() (bool, error) {
					vmi := &v1alpha1.VirtualMachineInstance{}
					err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi)
					return err == nil && vmi.UID != first.UID && vmi.Status.Phase == v1alpha1.Running, client.IgnoreNotFound(err)
				})
				e.waitVMStatus(t, ns, name, v1alpha1.VMStatusRunning, true, time.Minute)
				t.Logf("%s: the guest powered off and the VM started a new VMI", tc.strategy)
			} else {
				e.WaitForVMIPhase(t, ns, name, 2*time.Minute, v1alpha1.Succeeded)
				e.waitVMStatus(t, ns, name, v1alpha1.VMStatusStopped, false, time.Minute)
				// Long enough for a restart to have begun, were one due.
				time.Sleep(15 * time.Second)
				if vmi := e.VMI(t, ns, name); vmi.UID != first.UID || vmi.Status.Phase != v1alpha1.Succeeded {
					t.Errorf("%s: after the guest powered off the VM has VMI %s in %s, want the first (%s) left Succeeded", tc.strategy, vmi.UID, vmi.Status.Phase, first.UID)
				}
				t.Logf("%s: the guest powered off and the VM stayed Stopped", tc.strategy)
			}
			vm := &v1alpha1.VirtualMachine{}
			if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vm); err != nil {
				t.Fatal(err)
			}
			if err := e.Client.Delete(context.Background(), vm, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
				t.Fatal(err)
			}
			e.vmiGone(t, ns, name, 2*time.Minute)
			e.ExpectNoLeaks(t, footprint)
		})
	}
	t.Run(string(v1alpha1.RunStrategyHalted), func(t *testing.T) {
		t.Parallel()
		e.Apply(t, ns, tinyVM("off-halted", ptr.To(v1alpha1.RunStrategyHalted), nil))
		e.waitVMStatus(t, ns, "off-halted", v1alpha1.VMStatusStopped, false, time.Minute)
		time.Sleep(10 * time.Second)
		err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "off-halted"}, &v1alpha1.VirtualMachineInstance{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("a Halted VM has a VMI (get: %v)", err)
		}
	})
}
