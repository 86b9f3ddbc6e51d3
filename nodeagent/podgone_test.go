package nodeagent

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// deletedAgo marks the launcher Pod deleted ago, with a 30 s grace period
// (the default the agent also assumes for a domain without metadata).
func deletedAgo(ago time.Duration) func(*v1alpha1.VirtualMachineInstance, *corev1.Pod) {
	return func(_ *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
		p.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(-ago).Add(30 * time.Second)}
		p.DeletionGracePeriodSeconds = ptr.To(int64(30))
	}
}

func podGone(t *testing.T, c client.Client) bool {
	t.Helper()
	err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, &corev1.Pod{})
	return err != nil
}

// A launcher Pod deleted by hand while its VMI stays: the guest gets its
// ACPI shutdown, and when it powers off the VMI Succeeded, saying why,
// before the Pod is released (as KubeVirt's virt-handler reports a guest
// that shut down on its launcher's SIGTERM).
func TestLauncherPodDeletedGuestPowersOffSucceeds(t *testing.T) {
	r, c, hv := setupWith(t, v1alpha1.Running, hypervisor.StateRunning, deletedAgo(time.Second))
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Running || hv.calls[0] != "shutdown" {
		t.Fatalf("phase %q, calls %v; want Running while the ACPI shutdown is sent", vmi.Status.Phase, hv.calls)
	}
	// Not Ready meanwhile, as KubeVirt says it: PodTerminating; written
	// once, not at every resent shutdown.
	ready := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonPodTerminating {
		t.Errorf("Ready %+v while the guest shuts down; want False, PodTerminating", ready)
	}
	rv := vmi.ResourceVersion
	if again := reconcileAndGet(t, r, c); again.ResourceVersion != rv {
		t.Errorf("the resent shutdown wrote the VMI again (resourceVersion %s -> %s)", rv, again.ResourceVersion)
	}
	hv.states["ns_tiny"] = hypervisor.StateShutoff
	vmi = reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Succeeded || vmi.Status.Reason != "GuestShutdown" ||
		!strings.Contains(readyMessage(vmi), "launcher Pod virt-launcher-tiny was deleted") {
		t.Errorf("phase %q reason %q Ready %q; want Succeeded/GuestShutdown naming the deleted Pod", vmi.Status.Phase, vmi.Status.Reason, readyMessage(vmi))
	}
	if _, defined := hv.states["ns_tiny"]; defined || !podGone(t, c) {
		t.Errorf("domain defined %v, Pod gone %v; want both released (calls %v)", defined, podGone(t, c), hv.calls)
	}
}

// fakeQEMU records, among the hypervisor's calls, when libvirt's leftover
// cgroups are removed.
type fakeQEMU struct{ hv *fakeHypervisor }

func (f fakeQEMU) PlaceQEMU(*corev1.Pod, string) (int, []string, error) { return 1, nil, nil }
func (f fakeQEMU) QEMUPID(string) (int, error)                          { return 1, nil }
func (f fakeQEMU) RemoveLibvirtCgroups(dom string) ([]string, error) {
	f.hv.calls = append(f.hv.calls, "remove-libvirt-cgroups "+dom)
	return nil, nil
}

// Past the grace period the VMI is marked Failed before the guest is
// destroyed: once destroyed it would read as shut off.
func TestLauncherPodDeletedGraceOverFailsThenDestroys(t *testing.T) {
	r, c, hv := setupWith(t, v1alpha1.Running, hypervisor.StateRunning, deletedAgo(31*time.Second))
	r.QEMU = fakeQEMU{hv}
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "LauncherPodDeleted" ||
		!strings.Contains(readyMessage(vmi), "did not power off within its grace period of 30s: destroyed") {
		t.Errorf("phase %q reason %q Ready %q; want Failed/LauncherPodDeleted", vmi.Status.Phase, vmi.Status.Reason, readyMessage(vmi))
	}
	// libvirt's cgroups of the domain go once it is undefined: a libvirtd
	// restarted under the guest would have left them.
	if want := []string{"destroy", "undefine", "remove-libvirt-cgroups ns_tiny"}; strings.Join(hv.calls, ",") != strings.Join(want, ",") || !podGone(t, c) {
		t.Errorf("calls %v, Pod gone %v; want %v and the Pod released", hv.calls, podGone(t, c), want)
	}
}

func TestLauncherPodDeletedGuestCrashedFails(t *testing.T) {
	r, c, _ := setupWith(t, v1alpha1.Running, hypervisor.StateCrashed, deletedAgo(time.Second))
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "GuestCrashed" {
		t.Errorf("phase %q reason %q, want Failed/GuestCrashed", vmi.Status.Phase, vmi.Status.Reason)
	}
}

// A launcher Pod whose container ended on its own: its guest gets the
// grace period from when the container ended, then is destroyed and its
// VMI Failed, instead of an ACPI request resent forever.
func TestLauncherPodEndedGuestDestroyedAfterGrace(t *testing.T) {
	r, c, hv := setupWith(t, v1alpha1.Running, hypervisor.StateRunning, func(_ *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "launcher", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, FinishedAt: metav1.NewTime(time.Now().Add(-time.Minute))}}}}
	})
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "LauncherPodEnded" ||
		!strings.Contains(readyMessage(vmi), "virt-launcher-tiny ended (Failed)") {
		t.Errorf("phase %q reason %q Ready %q; want Failed/LauncherPodEnded", vmi.Status.Phase, vmi.Status.Reason, readyMessage(vmi))
	}
	if hv.calls[0] != "destroy" {
		t.Errorf("calls %v, want the guest destroyed: its grace period ran from when the container ended", hv.calls)
	}
}

// What the controller decides stays the controller's: a VMI being
// deleted, or one whose guest never ran, is not reported on.
func TestLauncherPodDeletedLeavesTheControllersVMIsAlone(t *testing.T) {
	for name, tc := range map[string]struct {
		phase v1alpha1.VirtualMachineInstancePhase
		edit  func(*v1alpha1.VirtualMachineInstance, *corev1.Pod)
	}{
		"VMI being deleted": {v1alpha1.Running, func(v *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
			deletedAgo(time.Second)(v, p)
			v.DeletionTimestamp = &metav1.Time{Time: time.Now()}
			v.Finalizers = []string{domainspec.FinalizerLauncher}
		}},
		"guest never ran": {v1alpha1.Scheduled, deletedAgo(time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			r, c, hv := setupWith(t, tc.phase, hypervisor.StateShutoff, tc.edit)
			if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != tc.phase {
				t.Errorf("phase %q, want it left %q", vmi.Status.Phase, tc.phase)
			}
			if _, defined := hv.states["ns_tiny"]; defined || !podGone(t, c) {
				t.Errorf("domain defined %v, Pod gone %v; want both released", defined, podGone(t, c))
			}
		})
	}
}
