package nodeagent

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// markUnknown does what the controller does when the node's heartbeat
// Lease runs out (controller/heartbeat.go).
func markUnknown(t *testing.T, c client.Client) {
	t.Helper()
	vmi := reconcileAndGetVMI(t, c)
	vmi.Status.SetPhase(v1alpha1.Unknown, time.Now())
	vmi.Status.Reason = "NodeUnresponsive"
	meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: "NodeUnresponsive", Message: "node-a stopped heart-beating"})
	if err := c.Status().Update(t.Context(), vmi); err != nil {
		t.Fatal(err)
	}
}

func reconcileAndGetVMI(t *testing.T, c client.Client) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "ns", Name: "tiny"}, vmi); err != nil {
		t.Fatal(err)
	}
	return vmi
}

// An agent back after its Lease ran out finds the guest still running:
// Running again, Ready, the guest untouched, and no second startup counted.
func TestUnknownRunningGuestIsRunningAgain(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	rec := events.NewFakeRecorder(4)
	r.Events = rec
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r.Metrics = m
	markUnknown(t, c)
	vmi := reconcileAndGet(t, r, c)
	ready := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady)
	if vmi.Status.Phase != v1alpha1.Running || vmi.Status.Reason != "" || ready == nil || ready.Status != metav1.ConditionTrue {
		t.Errorf("phase %q reason %q Ready %+v; want Running, no reason, Ready", vmi.Status.Phase, vmi.Status.Reason, ready)
	}
	if len(hv.calls) != 0 {
		t.Errorf("the agent touched a running guest on its way back: %v (no reboot)", hv.calls)
	}
	if got := <-rec.Events; got != "Normal StillRunning the guest still runs on node node-a: its node agent answers again" {
		t.Errorf("event %q", got)
	}
	if got := histogramCount(t, reg, "podvirt_nodeagent_vmi_startup_seconds"); got != 0 {
		t.Errorf("startup observed %d times: back from Unknown is no start", got)
	}
}

// A guest that vanished while no agent watched (the host rebooted) is
// never started a second time from Unknown.
func TestUnknownVanishedGuestIsLost(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateAbsent)
	markUnknown(t, c)
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "DomainLost" {
		t.Errorf("phase %q reason %q, want Failed/DomainLost", vmi.Status.Phase, vmi.Status.Reason)
	}
	if len(hv.calls) != 0 {
		t.Errorf("the agent touched libvirt: %v (it must never start a second life)", hv.calls)
	}
}

// A guest that powered off while no agent watched ends Succeeded.
func TestUnknownPoweredOffGuestSucceeds(t *testing.T) {
	r, c, _ := setup(t, v1alpha1.Running, hypervisor.StateShutoff)
	markUnknown(t, c)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Succeeded || vmi.Status.Reason != "GuestShutdown" {
		t.Errorf("phase %q reason %q, want Succeeded/GuestShutdown", vmi.Status.Phase, vmi.Status.Reason)
	}
}
