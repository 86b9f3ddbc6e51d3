package controller

import (
	"testing"
	"time"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// vmiThrough is a VMI that went through phases, each recorded as the
// controller and node agent record them, and ended with reason.
func vmiThrough(reason string, phases ...v1alpha1.VirtualMachineInstancePhase) *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range phases {
		vmi.Status.SetPhase(p, at)
		at = at.Add(time.Minute)
	}
	vmi.Status.Reason = reason
	return vmi
}

func TestVMIRan(t *testing.T) {
	const P, Sg, Sd, R, U, F = v1alpha1.Pending, v1alpha1.Scheduling, v1alpha1.Scheduled, v1alpha1.Running, v1alpha1.Unknown, v1alpha1.Failed
	// A VMI from before phaseTransitionTimestamps: its phase and reason
	// alone.
	old := func(phase v1alpha1.VirtualMachineInstancePhase, reason string) *v1alpha1.VirtualMachineInstance {
		vmi := &v1alpha1.VirtualMachineInstance{}
		vmi.Status.Phase, vmi.Status.Reason = phase, reason
		return vmi
	}
	for _, c := range []struct {
		name string
		vmi  *v1alpha1.VirtualMachineInstance
		ran  bool
	}{
		{"Pod deleted while Scheduled (the controller's LauncherPodDeleted)", vmiThrough("LauncherPodDeleted", P, Sg, Sd, F), false},
		{"Pod deleted while Scheduling", vmiThrough("LauncherPodDeleted", P, Sg, F), false},
		{"Pod deleted after Running (the controller's LauncherPodDeleted)", vmiThrough("LauncherPodDeleted", P, Sg, Sd, R, F), true},
		{"Pod ended after Running (the agent's LauncherPodEnded)", vmiThrough("LauncherPodEnded", P, Sg, Sd, R, F), true},
		{"Pod deleted after Running and Unknown", vmiThrough("LauncherPodDeleted", P, Sg, Sd, R, U, R, F), true},
		{"start failed", vmiThrough("StartFailed", P, Sg, Sd, F), false},
		{"image pull failed", vmiThrough("ImagePullFailed", P, Sg, Sd, F), false},
		{"guest crashed", vmiThrough(vmiReasonGuestCrashed, P, Sg, Sd, R, F), true},
		{"node lost while Scheduled", vmiThrough(ReasonNodeLost, P, Sg, Sd, F), true},
		{"Running", vmiThrough("", P, Sg, Sd, R), true},
		{"Scheduled", vmiThrough("", P, Sg, Sd), false},
		{"older: Failed LauncherPodDeleted", old(F, "LauncherPodDeleted"), false},
		{"older: Failed LauncherPodEnded", old(F, "LauncherPodEnded"), false},
		{"older: Failed GuestCrashed", old(F, vmiReasonGuestCrashed), true},
		{"older: Failed DomainLost", old(F, vmiReasonDomainLost), true},
		{"older: Failed StartFailed", old(F, "StartFailed"), false},
		{"older: Unknown", old(U, ReasonNodeUnresponsive), true},
	} {
		if got := vmiRan(c.vmi); got != c.ran {
			t.Errorf("%s: vmiRan = %v, want %v (status %+v)", c.name, got, c.ran, c.vmi.Status)
		}
	}
}

// A VM whose VMI ran and then lost its launcher Pod starts the next VMI
// at once; one whose VMI lost it before it ran backs off.
func TestVMLauncherPodDeletedBackoff(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyAlways))
	e.reconcile()
	for _, p := range []v1alpha1.VirtualMachineInstancePhase{v1alpha1.Pending, v1alpha1.Scheduling, v1alpha1.Scheduled, v1alpha1.Running} {
		e.setPhase(p, "", p == v1alpha1.Running)
	}
	e.now = e.now.Add(3 * time.Hour)
	e.setPhase(v1alpha1.Failed, "LauncherPodDeleted", false)
	e.reconcile() // deletes the failed VMI
	if res := e.reconcile(); res.RequeueAfter != 0 || e.vmi() == nil {
		t.Fatalf("requeue after %v (VMI %v) once a VMI that ran lost its Pod, want a new VMI at once", res.RequeueAfter, e.vmi() != nil)
	}
	if sf := e.vm().Status.StartFailure; sf != nil {
		t.Fatalf("startFailure %+v for a VMI that ran, want none", sf)
	}

	for _, p := range []v1alpha1.VirtualMachineInstancePhase{v1alpha1.Pending, v1alpha1.Scheduling, v1alpha1.Scheduled} {
		e.setPhase(p, "", false)
	}
	e.setPhase(v1alpha1.Failed, "LauncherPodDeleted", false)
	e.reconcile()
	if res := e.reconcile(); res.RequeueAfter != StartBackoffInitial || e.vmi() != nil {
		t.Fatalf("requeue after %v (VMI %v) once a VMI lost its Pod before it ran, want %v and no VMI", res.RequeueAfter, e.vmi() != nil, StartBackoffInitial)
	}
	if sf := e.vm().Status.StartFailure; sf == nil || sf.ConsecutiveFailCount != 1 {
		t.Fatalf("startFailure %+v, want a count of 1", sf)
	}
}
