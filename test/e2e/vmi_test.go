//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestVMILifecycle walks one VMI through the whole design: admission
// (defaults, validation), the launcher Pod under the real kubelet, a real
// QEMU guest booting, and deletion with ACPI shutdown.
func TestVMILifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)

	applied := time.Now()
	footprint := e.Track(t, ns, "tiny")
	e.Apply(t, ns, libvmi.NewTiny())

	t.Run("defaults from the mutating webhook are stored", func(t *testing.T) {
		vmi := &v1alpha1.VirtualMachineInstance{}
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tiny"}, vmi); err != nil {
			t.Fatal(err)
		}
		d := vmi.Spec.Domain
		if d.Machine == nil || d.Machine.Type != "q35" {
			t.Errorf("machine = %+v, want type q35", d.Machine)
		}
		if d.CPU == nil || d.CPU.Cores != 1 || d.CPU.Sockets != 1 || d.CPU.Threads != 1 {
			t.Errorf("cpu = %+v, want 1/1/1", d.CPU)
		}
		if got := d.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("128Mi")) != 0 {
			t.Errorf("resources.requests.memory = %s, want 128Mi (from memory.guest)", got.String())
		}
		if a := d.Devices.AutoattachSerialConsole; a == nil || !*a {
			t.Errorf("devices.autoattachSerialConsole = %v, want true", a)
		}
		// The tiny image is tagged :latest: Always, as for a Pod's
		// container (and a KubeVirt kernelBoot image).
		if c := d.Firmware.KernelBoot.Container; c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("kernelBoot.container.imagePullPolicy = %q, want Always", c.ImagePullPolicy)
		}
	})

	launcher := &corev1.Pod{}
	podKey := types.NamespacedName{Namespace: ns, Name: domainspec.PodName("tiny")}
	t.Run("the launcher Pod carries the domain and runs on the node", func(t *testing.T) {
		launcher = e.WaitForPod(t, ns, podKey.Name, "launcher Pod Running", 120*time.Second, func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning
		})
		if launcher.Spec.NodeName != e.Node {
			t.Errorf("Pod on node %q, want %q", launcher.Spec.NodeName, e.Node)
		}
		dom, err := domainspec.Parse(launcher.Annotations[domainspec.AnnotationDomain])
		if err != nil {
			t.Fatalf("annotation %s: %v", domainspec.AnnotationDomain, err)
		}
		if dom.Type != "qemu" || dom.Name != ns+"_tiny" || dom.Memory.Value != 128*1024 {
			t.Errorf("domain type=%q name=%q memory=%d%s, want qemu, %s_tiny, 131072KiB", dom.Type, dom.Name, dom.Memory.Value, dom.Memory.Unit, ns)
		}
		if dom.UUID != launcher.Labels[domainspec.LabelVMIUID] {
			t.Errorf("domain UUID %s, want the VMI UID %s", dom.UUID, launcher.Labels[domainspec.LabelVMIUID])
		}
	})

	domName := domainspec.Name(ns, "tiny")
	t.Run("the guest boots and the VMI is Running", func(t *testing.T) {
		vmi := e.WaitForVMIPhase(t, ns, "tiny", 120*time.Second, v1alpha1.Running)
		t.Logf("kubectl apply -> VMI Running: %s", time.Since(applied).Round(time.Millisecond))
		out, err := e.Kubectl("", "get", "vmi", "-n", ns)
		if err != nil || !strings.Contains(out, "PHASE") || !strings.Contains(out, "NODE") || !strings.Contains(out, "AGE") ||
			!strings.Contains(out, "Running") || !strings.Contains(out, e.Node) {
			t.Errorf("kubectl get vmi (printer columns Phase, Node, Age): %v\n%s", err, out)
		}
		if vmi.Status.NodeName != e.Node {
			t.Errorf("status.nodeName = %q, want %q", vmi.Status.NodeName, e.Node)
		}
		state, err := e.DomainState(domName)
		if err != nil || state != framework.StateRunning {
			t.Fatalf("libvirt domain %s state = %v, %v; want Running", domName, state, err)
		}
		e.GuestConsole(t, domName)
		t.Logf("kubectl apply -> guest ready marker: %s", time.Since(applied).Round(time.Millisecond))

		// The guest's console is the launcher Pod's log, as for any Pod.
		framework.Eventually(t, "the guest's ready marker in kubectl logs", 30*time.Second, func() (bool, error) {
			out, err := e.Kubectl("", "logs", "-n", ns, domainspec.PodName("tiny"))
			return err == nil && strings.Contains(out, framework.ReadyMarker), nil
		})

		// A VM's cost is its Pod's cost: QEMU runs in the launcher Pod's cgroup.
		raw, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, domName+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		cg, err := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/cgroup")
		if err != nil {
			t.Fatal(err)
		}
		if want := "memory:/kubepods/burstable/pod" + string(launcher.UID) + "\n"; !strings.Contains(string(cg), want) {
			t.Errorf("QEMU's cgroups:\n%s\nwant %q", cg, want)
		}
	})

	t.Run("deleting the VMI shuts the guest down and removes the Pod", func(t *testing.T) {
		deleted := time.Now()
		if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", "tiny", "--timeout=120s"); err != nil {
			t.Fatalf("kubectl delete: %v\n%s", err, out)
		}
		e.WaitForGone(t, "VMI gone", 60*time.Second, libvmi.NewTiny(libvmi.WithNamespace(ns)))
		e.WaitForGone(t, "launcher Pod gone", 60*time.Second, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podKey.Name}})
		state, err := e.DomainState(domName)
		if err != nil || state != framework.StateAbsent {
			t.Errorf("libvirt domain %s state = %v, %v; want Absent", domName, state, err)
		}
		t.Logf("kubectl delete -> VMI, Pod and domain gone: %s", time.Since(deleted).Round(time.Millisecond))
		e.ExpectNoLeaks(t, footprint)
	})
}

// TestExplain checks that kubectl explain prints the API's comments,
// defaults included.
func TestExplain(t *testing.T) {
	e := newEnv(t)
	out, err := e.Kubectl("", "explain", "virtualmachineinstance.spec.domain.cpu")
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	for _, want := range []string{"Cores is the number of cores per socket. Defaults to 1.", "Sockets is the number of sockets. Defaults to 1."} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain lacks %q:\n%s", want, out)
		}
	}
}

// TestInvalidVMIRejected sends VMIs the validating webhook must reject and
// checks that kubectl shows every field path at once and nothing is stored.
func TestInvalidVMIRejected(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	const bad = `
apiVersion: podvirt.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: bad
spec:
  domain:
    resources:
      limits:
        memory: 64Mi
    memory:
      guest: 128Mi
    firmware:
      kernelBoot:
        container:
          image: 127.0.0.1:15000/podvirt/tiny-guest:latest
          initrdPath: boot/initrd.img
`
	out, err := e.Kubectl(bad, "apply", "-n", ns, "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply of an invalid VMI succeeded:\n%s", out)
	}
	for _, want := range []string{
		// Only the validating webhook says these: the CRD schema knows none of them.
		`The VirtualMachineInstance "bad" is invalid`,
		"spec.domain.memory.guest: Invalid value: \"128Mi\": must not exceed resources.limits.memory (64Mi)",
		"spec.domain.firmware.kernelBoot.container.kernelPath: Required value",
		"spec.domain.firmware.kernelBoot.container.initrdPath: Invalid value: \"boot/initrd.img\": must be an absolute, clean path",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, out)
		}
	}
	err = e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "bad"}, &v1alpha1.VirtualMachineInstance{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the rejected VMI was stored (get: %v)", err)
	}
}

// TestGuestPowerOffSucceeds powers the guest off from inside (an ACPI
// power button press straight through libvirt, as `poweroff` in the guest
// would): the VMI ends Succeeded, its launcher Pod is released and the
// domain undefined, and the guest is not started again.
func TestGuestPowerOffSucceeds(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	footprint := e.Track(t, ns, "tiny")
	e.Apply(t, ns, libvmi.NewTiny())
	domName := domainspec.Name(ns, "tiny")
	e.GuestConsole(t, domName)
	if err := e.ShutdownDomain(domName); err != nil {
		t.Fatal(err)
	}
	vmi := e.WaitForVMIPhase(t, ns, "tiny", 60*time.Second, v1alpha1.Succeeded)
	if vmi.Status.Reason != "GuestShutdown" {
		t.Errorf("reason %q, want GuestShutdown", vmi.Status.Reason)
	}
	e.WaitForGone(t, "launcher Pod released", 60*time.Second, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: domainspec.PodName("tiny")}})
	if state, err := e.DomainState(domName); err != nil || state != framework.StateAbsent {
		t.Errorf("domain state %v, %v; want Absent", state, err)
	}
	// The VMI stays (Succeeded); nothing of its guest may.
	e.ExpectNoLeaks(t, footprint)
}
