package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

var vmKey = types.NamespacedName{Namespace: "ns", Name: "vm1"}

func newVM(strategy v1alpha1.RunStrategy) *v1alpha1.VirtualMachine {
	return &v1alpha1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: vmKey.Name, Namespace: vmKey.Namespace, UID: "vm-uid", Generation: 1},
		Spec: v1alpha1.VirtualMachineSpec{
			RunStrategy: ptr.To(strategy),
			Template: v1alpha1.VirtualMachineInstanceTemplateSpec{
				Metadata: v1alpha1.VirtualMachineInstanceTemplateMeta{Labels: map[string]string{"app": "web"}},
				Spec:     v1alpha1.VirtualMachineInstanceSpec{Hostname: "web"},
			},
		},
	}
}

// vmEnv is a VM controller over a fake API server with a settable clock.
type vmEnv struct {
	t   *testing.T
	c   client.Client
	r   *VMReconciler
	now time.Time
}

func newVMEnv(t *testing.T, objs ...client.Object) *vmEnv {
	t.Helper()
	n := 0
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.VirtualMachine{}, &v1alpha1.VirtualMachineInstance{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			// The fake assigns no UIDs; the API server does.
			n++
			obj.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
			return c.Create(ctx, obj, opts...)
		}}).Build()
	e := &vmEnv{t: t, c: c, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.r = &VMReconciler{Client: c, Now: func() time.Time { return e.now }}
	return e
}

func (e *vmEnv) reconcile() ctrl.Result {
	e.t.Helper()
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: vmKey})
	if err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (e *vmEnv) vm() *v1alpha1.VirtualMachine {
	e.t.Helper()
	vm := &v1alpha1.VirtualMachine{}
	if err := e.c.Get(context.Background(), vmKey, vm); err != nil {
		e.t.Fatal(err)
	}
	return vm
}

// vmi returns the VMI, nil when there is none.
func (e *vmEnv) vmi() *v1alpha1.VirtualMachineInstance {
	e.t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.c.Get(context.Background(), vmKey, vmi); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		e.t.Fatal(err)
	}
	return vmi
}

// setPhase plays the launcher controller and node agent, recording the
// phase's transition as they do.
func (e *vmEnv) setPhase(phase v1alpha1.VirtualMachineInstancePhase, reason string, ready bool) {
	e.t.Helper()
	vmi := e.vmi()
	vmi.Status.SetPhase(phase, e.now)
	vmi.Status.Reason = reason
	st := metav1.ConditionFalse
	if ready {
		st = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: st, Reason: "R"})
	if err := e.c.Status().Update(context.Background(), vmi); err != nil {
		e.t.Fatal(err)
	}
}

func (e *vmEnv) wantStatus(want v1alpha1.VirtualMachinePrintableStatus) *v1alpha1.VirtualMachine {
	e.t.Helper()
	vm := e.vm()
	if vm.Status.PrintableStatus != want {
		e.t.Fatalf("printableStatus %q, want %q (status %+v)", vm.Status.PrintableStatus, want, vm.Status)
	}
	return vm
}

func (e *vmEnv) setStrategy(s v1alpha1.RunStrategy) {
	e.t.Helper()
	vm := e.vm()
	vm.Spec.RunStrategy = &s
	if err := e.c.Update(context.Background(), vm); err != nil {
		e.t.Fatal(err)
	}
}

func (e *vmEnv) setRequest(req string) {
	e.t.Helper()
	vm := e.vm()
	vm.Annotations = map[string]string{v1alpha1.AnnotationStateChangeRequest: req}
	if err := e.c.Update(context.Background(), vm); err != nil {
		e.t.Fatal(err)
	}
}

func TestVMAlwaysCreatesOneOwnedVMI(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyAlways))
	e.reconcile()
	vmi := e.vmi()
	if vmi == nil {
		t.Fatal("no VMI created")
	}
	if !metav1.IsControlledBy(vmi, e.vm()) || vmi.Labels["app"] != "web" || vmi.Spec.Hostname != "web" {
		t.Fatalf("VMI %+v: want it controlled by the VM, from the template", vmi.ObjectMeta)
	}
	vm := e.wantStatus(v1alpha1.VMStatusStarting)
	if !vm.Status.Created || vm.Status.Ready || vm.Status.ObservedGeneration != 1 {
		t.Errorf("status %+v: want created, not ready", vm.Status)
	}
	uid := vmi.UID
	e.reconcile()
	if e.vmi().UID != uid {
		t.Fatal("a second pass replaced a VMI that is not done")
	}
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	vm = e.wantStatus(v1alpha1.VMStatusRunning)
	if !vm.Status.Ready || !meta.IsStatusConditionTrue(vm.Status.Conditions, v1alpha1.ConditionReady) {
		t.Errorf("status %+v: want ready", vm.Status)
	}
	// The guest powers off: Always starts it again, without backoff.
	e.setPhase(v1alpha1.Succeeded, "GuestShutdown", false)
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("a finished VMI was not deleted")
	}
	e.reconcile()
	if v := e.vmi(); v == nil || v.UID == uid {
		t.Fatal("no new VMI after the old one ended")
	}
	if e.vm().Status.StartFailure != nil {
		t.Error("a VMI that ran counted as a start failure")
	}
}

func TestVMRefusesAVMIItDoesNotOwn(t *testing.T) {
	other := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: vmKey.Name, Namespace: vmKey.Namespace, UID: "other"}}
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyHalted), other)
	e.reconcile()
	if v := e.vmi(); v == nil || v.UID != "other" || v.DeletionTimestamp != nil {
		t.Fatal("the VM touched a VMI it does not own")
	}
	vm := e.vm()
	if c := meta.FindStatusCondition(vm.Status.Conditions, v1alpha1.VMConditionFailure); c == nil || c.Reason != ReasonVMIConflict {
		t.Fatalf("conditions %+v: want Failure %s", vm.Status.Conditions, ReasonVMIConflict)
	}
	if vm.Status.Created {
		t.Error("created set for someone else's VMI")
	}
}

func TestVMHaltedDeletesTheVMI(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyAlways))
	e.reconcile()
	e.setPhase(v1alpha1.Running, "", true)
	e.setStrategy(v1alpha1.RunStrategyHalted)
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("Halted left the VMI")
	}
	e.reconcile()
	vm := e.wantStatus(v1alpha1.VMStatusStopped)
	if vm.Status.Created || vm.Status.Ready {
		t.Errorf("status %+v: want neither created nor ready", vm.Status)
	}
}

// A VMI being deleted (its finalizer held while the guest shuts down)
// shows Stopping and is deleted once.
func TestVMStoppingWhileTheVMIShutsDown(t *testing.T) {
	vmi := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: vmKey.Name, Namespace: vmKey.Namespace, UID: "vmi1",
		Finalizers: []string{domainspec.FinalizerLauncher}}}
	vm := newVM(v1alpha1.RunStrategyHalted)
	vmi.OwnerReferences = []metav1.OwnerReference{{APIVersion: "podvirt.io/v1alpha1", Kind: "VirtualMachine", Name: vm.Name, UID: vm.UID, Controller: ptr.To(true)}}
	vmi.Status.Phase = v1alpha1.Running
	e := newVMEnv(t, vm, vmi)
	e.reconcile()
	if v := e.vmi(); v == nil || v.DeletionTimestamp == nil {
		t.Fatal("want the VMI marked for deletion, held by its finalizer")
	}
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusStopping)
}

func TestVMRunningFieldMapsToAlwaysAndHalted(t *testing.T) {
	vm := newVM(v1alpha1.RunStrategyAlways)
	vm.Spec.RunStrategy, vm.Spec.Running = nil, ptr.To(true)
	e := newVMEnv(t, vm)
	e.reconcile()
	if e.vmi() == nil {
		t.Fatal("running: true started nothing")
	}
	vm = e.vm()
	vm.Spec.Running = ptr.To(false)
	if err := e.c.Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("running: false did not stop the VMI")
	}
}

// VMIs that fail before they run back off 10 s, 20 s, 40 s... up to 5
// minutes, and show CrashLoopBackOff while they wait.
func TestVMStartBackoff(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyAlways))
	for i, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		e.reconcile()
		if e.vmi() == nil {
			t.Fatalf("failure %d: no VMI started once the backoff ended", i)
		}
		e.setPhase(v1alpha1.Failed, "DomainStartFailed", false)
		e.reconcile() // counts the failure, deletes the VMI
		if e.vmi() != nil {
			t.Fatal("a failed VMI was not deleted")
		}
		res := e.reconcile()
		if res.RequeueAfter != want || e.vmi() != nil {
			t.Fatalf("failure %d: requeue after %v (VMI %v), want %v and no VMI", i+1, res.RequeueAfter, e.vmi() != nil, want)
		}
		vm := e.wantStatus(v1alpha1.VMStatusCrashLoopBackOff)
		if vm.Status.StartFailure.ConsecutiveFailCount != int32(i+1) {
			t.Fatalf("count %d, want %d", vm.Status.StartFailure.ConsecutiveFailCount, i+1)
		}
		e.now = e.now.Add(want)
	}
	// Once a VMI runs, the count is cleared.
	e.reconcile()
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	if sf := e.vm().Status.StartFailure; sf != nil {
		t.Fatalf("startFailure %+v after a VMI ran, want none", sf)
	}
	if got := StartBackoff(10); got != StartBackoffMax {
		t.Errorf("StartBackoff(10) = %v, want the 5 minute cap", got)
	}
}

func TestVMRerunOnFailure(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyRerunOnFailure))
	e.reconcile()
	uid := e.vmi().UID
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	e.setPhase(v1alpha1.Failed, "GuestCrashed", false)
	e.reconcile()
	e.reconcile()
	if v := e.vmi(); v == nil || v.UID == uid {
		t.Fatal("a failed VMI was not replaced")
	}
	if e.vm().Annotations[v1alpha1.AnnotationStateChangeRequest] != "" {
		t.Error("the start request was left after the restart")
	}
	// A power-off is not a failure: the VM stays stopped.
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	e.setPhase(v1alpha1.Succeeded, "GuestShutdown", false)
	e.reconcile()
	e.reconcile()
	if v := e.vmi(); v == nil || v.Status.Phase != v1alpha1.Succeeded {
		t.Fatal("RerunOnFailure replaced a VMI that powered off")
	}
	e.wantStatus(v1alpha1.VMStatusStopped)
}

func TestVMManual(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyManual))
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("Manual started on its own")
	}
	e.wantStatus(v1alpha1.VMStatusStopped)
	e.setRequest(v1alpha1.StateChangeStart)
	e.reconcile()
	if e.vmi() == nil {
		t.Fatal("a start request started nothing")
	}
	if e.vm().Annotations[v1alpha1.AnnotationStateChangeRequest] != "" {
		t.Error("the start request was not cleared")
	}
	e.setPhase(v1alpha1.Failed, "DomainStartFailed", false)
	e.reconcile()
	if v := e.vmi(); v == nil || v.DeletionTimestamp != nil {
		t.Fatal("Manual stopped or replaced a failed VMI on its own")
	}
	e.wantStatus(v1alpha1.VMStatusStopped)
	e.setPhase(v1alpha1.Running, "", true)
	e.setRequest(v1alpha1.StateChangeStop)
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("a stop request did not stop the VMI")
	}
}

func TestVMOnce(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyOnce))
	e.reconcile()
	if e.vmi() == nil {
		t.Fatal("Once did not start")
	}
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	e.setPhase(v1alpha1.Succeeded, "GuestShutdown", false)
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusStopped)
	// Even with its VMI deleted, Once never runs again.
	if err := e.c.Delete(context.Background(), e.vmi()); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("Once started a second time")
	}
	e.wantStatus(v1alpha1.VMStatusStopped)
}

func TestVMPrintableStatusFromTheLauncherPod(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyAlways))
	e.reconcile()
	e.setPhase(v1alpha1.Scheduling, "", false)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: domainspec.PodName(vmKey.Name), Namespace: vmKey.Namespace}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	if err := e.c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusUnschedulable)
	if err := e.c.Delete(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: domainspec.PodName(vmKey.Name), Namespace: vmKey.Namespace}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}
	if err := e.c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusErrImagePull)
	if err := e.c.Delete(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.setPhase(v1alpha1.Failed, "ImagePullFailed", false)
	vm := e.vm()
	vm.Spec.RunStrategy = ptr.To(v1alpha1.RunStrategyManual)
	if err := e.c.Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusErrImagePull)
}

func TestVMTerminating(t *testing.T) {
	vm := newVM(v1alpha1.RunStrategyAlways)
	vm.Finalizers = []string{"example.com/hold"}
	e := newVMEnv(t, vm)
	if err := e.c.Delete(context.Background(), e.vm()); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	if e.vmi() != nil {
		t.Fatal("a VM being deleted started a VMI")
	}
	e.wantStatus(v1alpha1.VMStatusTerminating)
}
