package controller

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// wantTransitions fails unless the VMI's phaseTransitionTimestamps are
// exactly these phases, in this order, each at the time given.
func wantTransitions(t *testing.T, vmi *v1alpha1.VirtualMachineInstance, want ...v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp) {
	t.Helper()
	got := vmi.Status.PhaseTransitionTimestamps
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Phase == want[i].Phase && got[i].PhaseTransitionTimestamp.Equal(&want[i].PhaseTransitionTimestamp)
	}
	if !ok {
		t.Fatalf("phaseTransitionTimestamps %+v, want %+v", got, want)
	}
}

func transition(p v1alpha1.VirtualMachineInstancePhase, at time.Time) v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp {
	return v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: p, PhaseTransitionTimestamp: metav1.NewTime(at)}
}

// Each phase the launcher controller sets appends one transition, at its
// clock's second, in the status patch that sets the phase and carries
// only what changed; a pass that changes nothing writes nothing and
// appends nothing. A launcher Pod deleted before the guest ran leaves a
// Failed VMI with no Running transition.
func TestLauncherControllerRecordsPhaseTransitions(t *testing.T) {
	var patches []map[string]any
	r, c, n, _ := newIntercepted(t, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			data, err := patch.Data(obj)
			if err != nil {
				return err
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return err
			}
			patches = append(patches, m)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}, testVMI())
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return now }
	t0 := now

	reconcileN(t, r, 1)
	wantTransitions(t, get(t, c), transition(v1alpha1.Pending, t0))
	now = now.Add(1500 * time.Millisecond) // recorded to the second
	t1 := t0.Add(time.Second)
	reconcileN(t, r, 1)
	wantTransitions(t, get(t, c), transition(v1alpha1.Pending, t0), transition(v1alpha1.Scheduling, t1))

	// Unbound: nothing changes, nothing is written.
	before := n["status VMI"]
	now = now.Add(time.Minute)
	reconcileN(t, r, 2)
	if n["status VMI"] != before {
		t.Fatalf("%d status writes by passes that changed nothing, want none", n["status VMI"]-before)
	}
	wantTransitions(t, get(t, c), transition(v1alpha1.Pending, t0), transition(v1alpha1.Scheduling, t1))

	p := launcherPod(t, c)
	p.Spec.NodeName = "node-a"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t2 := now.Truncate(time.Second)
	patches = nil
	reconcileN(t, r, 1)
	wantTransitions(t, get(t, c), transition(v1alpha1.Pending, t0), transition(v1alpha1.Scheduling, t1), transition(v1alpha1.Scheduled, t2))
	if len(patches) != 1 {
		t.Fatalf("%d status patches for Scheduled, want 1", len(patches))
	}
	status, _ := patches[0]["status"].(map[string]any)
	if keys := slices.Sorted(maps.Keys(status)); !slices.Equal(keys, []string{"nodeName", "phase", "phaseTransitionTimestamps"}) {
		t.Errorf("the Scheduled patch carries status %v, want nodeName, phase and phaseTransitionTimestamps only", keys)
	}
	if md, _ := patches[0]["metadata"].(map[string]any); md["resourceVersion"] == nil {
		t.Errorf("the Scheduled patch %v is not under the read resourceVersion", patches[0])
	}

	// The Pod goes before it was signed, the guest never started.
	if err := c.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: p.Name}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	t3 := now.Truncate(time.Second)
	reconcileN(t, r, 1)
	v := get(t, c)
	if v.Status.Phase != v1alpha1.Failed || v.Status.Reason != "LauncherPodDeleted" {
		t.Fatalf("phase %q reason %q, want Failed, LauncherPodDeleted", v.Status.Phase, v.Status.Reason)
	}
	wantTransitions(t, v, transition(v1alpha1.Pending, t0), transition(v1alpha1.Scheduling, t1),
		transition(v1alpha1.Scheduled, t2), transition(v1alpha1.Failed, t3))
	if vmiRan(v) {
		t.Error("vmiRan: a VMI whose Pod was deleted while Scheduled ran, want a start failure")
	}
}

// The heartbeat controller's Unknown appends one transition; what it
// writes without changing the phase (AwaitingFencing) appends none; its
// NodeLost appends Failed.
func TestHeartbeatRecordsPhaseTransitions(t *testing.T) {
	vmi := runningVMI("tiny", "node-a")
	ran := hbStart.Add(-time.Hour)
	vmi.Status.PhaseTransitionTimestamps = []v1alpha1.VirtualMachineInstancePhaseTransitionTimestamp{
		transition(v1alpha1.Pending, ran), transition(v1alpha1.Scheduling, ran), transition(v1alpha1.Scheduled, ran), transition(v1alpha1.Running, ran)}
	e := newHBEnv(t, interceptor.Funcs{}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, nodeLease("node-a", hbStart), vmi, launcherOf(vmi))
	e.expire()
	unknown := e.now
	got := e.vmi("tiny")
	if got.Status.Phase != v1alpha1.Unknown {
		t.Fatalf("phase %q, want Unknown", got.Status.Phase)
	}
	want := append(slices.Clone(vmi.Status.PhaseTransitionTimestamps), transition(v1alpha1.Unknown, unknown))
	wantTransitions(t, got, want...)

	patches := e.patches
	e.now = e.now.Add(6 * time.Minute) // past the unknown timeout, no fence
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Reason != ReasonAwaitingFencing || e.patches != patches+1 {
		t.Fatalf("reason %q after %d patches, want AwaitingFencing in one", got.Status.Reason, e.patches-patches)
	}
	wantTransitions(t, e.vmi("tiny"), want...)

	node := &corev1.Node{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Name: "node-a"}, node); err != nil {
		t.Fatal(err)
	}
	node.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}}
	if err := e.c.Update(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)
	e.reconcile("node-a")
	got = e.vmi("tiny")
	if got.Status.Phase != v1alpha1.Failed || got.Status.Reason != ReasonNodeLost {
		t.Fatalf("phase %q reason %q, want Failed, NodeLost", got.Status.Phase, got.Status.Reason)
	}
	wantTransitions(t, got, append(want, transition(v1alpha1.Failed, e.now))...)
}
