package nodeagent

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// scheduledAt is the time of the controller's transitions in these tests.
var scheduledAt = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// withControllerTransitions gives the VMI the transitions the controller
// recorded up to its phase (Scheduled, or Running).
func withControllerTransitions(vmi *v1alpha1.VirtualMachineInstance, _ *corev1.Pod) {
	for _, p := range []v1alpha1.VirtualMachineInstancePhase{v1alpha1.Pending, v1alpha1.Scheduling, v1alpha1.Scheduled} {
		vmi.Status.PhaseTransitionTimestamps = append(vmi.Status.PhaseTransitionTimestamps,
			v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: p, PhaseTransitionTimestamp: metav1.NewTime(scheduledAt)})
	}
	if vmi.Status.Phase == v1alpha1.Running {
		vmi.Status.PhaseTransitionTimestamps = append(vmi.Status.PhaseTransitionTimestamps,
			v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: v1alpha1.Running, PhaseTransitionTimestamp: metav1.NewTime(scheduledAt)})
	}
}

// phasesAt lists the VMI's transitions as phase@time, for comparing.
func phasesAt(vmi *v1alpha1.VirtualMachineInstance) []string {
	var out []string
	for _, t := range vmi.Status.PhaseTransitionTimestamps {
		out = append(out, string(t.Phase)+"@"+t.PhaseTransitionTimestamp.UTC().Format(time.RFC3339))
	}
	return out
}

func at(p v1alpha1.VirtualMachineInstancePhase, t time.Time) string {
	return string(p) + "@" + t.UTC().Format(time.RFC3339)
}

// The Running report appends one transition, at the agent's clock's
// second, in its one status patch; a pass that finds the guest as it was
// writes nothing and appends nothing; Running again after Unknown is a
// write (the phase changed) that appends nothing: Running is recorded.
func TestRunningReportRecordsOneTransition(t *testing.T) {
	r, c, _ := setupWith(t, v1alpha1.Scheduled, hypervisor.StateRunning, withControllerTransitions)
	now := scheduledAt.Add(90*time.Second + 700*time.Millisecond)
	r.Now = func() time.Time { return now }
	n := countWrites(t, r, c)
	base := []string{at(v1alpha1.Pending, scheduledAt), at(v1alpha1.Scheduling, scheduledAt), at(v1alpha1.Scheduled, scheduledAt)}
	running := append(slices.Clone(base), at(v1alpha1.Running, scheduledAt.Add(90*time.Second)))

	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Running || !slices.Equal(phasesAt(vmi), running) {
		t.Fatalf("phase %q transitions %v, want Running and %v", vmi.Status.Phase, phasesAt(vmi), running)
	}
	if n["status patch "+FieldOwner] != 1 {
		t.Fatalf("writes %v, want one status patch", n)
	}
	now = now.Add(time.Minute)
	vmi = reconcileAndGet(t, r, c)
	if n["status patch "+FieldOwner] != 1 || !slices.Equal(phasesAt(vmi), running) {
		t.Fatalf("writes %v, transitions %v after a pass that changed nothing; want no write and %v", n, phasesAt(vmi), running)
	}

	markUnknown(t, c)
	unknown := phasesAt(reconcileAndGetVMI(t, c))
	if len(unknown) != len(running)+1 || !strings.HasPrefix(unknown[len(running)], "Unknown@") {
		t.Fatalf("transitions %v once Unknown, want %v and Unknown", unknown, running)
	}
	vmi = reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Running || n["status patch "+FieldOwner] != 2 || !slices.Equal(phasesAt(vmi), unknown) {
		t.Errorf("phase %q writes %v transitions %v; want Running in a second patch, transitions still %v", vmi.Status.Phase, n, phasesAt(vmi), unknown)
	}
}

// A Pod deleted under a guest that ran: the agent's LauncherPodDeleted
// appends Failed to transitions that hold Running.
func TestLauncherPodDeletedAfterRunningRecordsFailed(t *testing.T) {
	r, c, _ := setupWith(t, v1alpha1.Running, hypervisor.StateRunning, func(vmi *v1alpha1.VirtualMachineInstance, p *corev1.Pod) {
		withControllerTransitions(vmi, p)
		deletedAgo(31*time.Second)(vmi, p)
	})
	ended := scheduledAt.Add(3 * time.Hour)
	r.Now = func() time.Time { return ended }
	vmi := reconcileAndGet(t, r, c)
	want := []string{at(v1alpha1.Pending, scheduledAt), at(v1alpha1.Scheduling, scheduledAt), at(v1alpha1.Scheduled, scheduledAt),
		at(v1alpha1.Running, scheduledAt), at(v1alpha1.Failed, ended)}
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "LauncherPodDeleted" || !slices.Equal(phasesAt(vmi), want) {
		t.Errorf("phase %q reason %q transitions %v; want Failed, LauncherPodDeleted, %v", vmi.Status.Phase, vmi.Status.Reason, phasesAt(vmi), want)
	}
}
