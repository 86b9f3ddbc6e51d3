package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// VMReconciler is the VirtualMachine controller: it keeps one VMI, named
// as the VM and controlled by it, running or stopped as the VM's run
// strategy says, and reports the VM's status from that VMI and its
// launcher Pod. It is leader-elected with the manager.
type VMReconciler struct {
	Client client.Client
	// Now is the clock of the start backoff; time.Now when nil.
	Now func() time.Time
	// Workers is how many VMs are reconciled at once (1 when zero).
	Workers int
}

// SetupWithManager registers the controller: it watches VMs, the VMIs
// they own, and the launcher Pods of those VMIs (for ErrImagePull and
// ErrorUnschedulable), each Pod mapped to the VM named as its VMI.
func (r *VMReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("vm").
		For(&v1alpha1.VirtualMachine{}).
		Owns(&v1alpha1.VirtualMachineInstance{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(launcherPodToVM)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Complete(r)
}

// launcherPodToVM maps a launcher Pod to the VM named as the VMI that
// controls it; other Pods map to nothing.
func launcherPodToVM(_ context.Context, o client.Object) []reconcile.Request {
	owner := metav1.GetControllerOf(o)
	if owner == nil || owner.Kind != "VirtualMachineInstance" || owner.APIVersion != v1alpha1.GroupVersion.String() {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: owner.Name}}}
}

// Condition reasons of a VirtualMachine.
const (
	ReasonVMIConflict     = "VMINotOwned"
	ReasonVMICreateFailed = "FailedCreate"
	ReasonVMINotExists    = "VMINotExists"
)

// Reconcile implements reconcile.Reconciler.
func (r *VMReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vm := &v1alpha1.VirtualMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, vm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := vm.DeepCopy()
	vmi := &v1alpha1.VirtualMachineInstance{}
	err := r.Client.Get(ctx, req.NamespacedName, vmi)
	switch {
	case apierrors.IsNotFound(err):
		vmi = nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading the VMI: %w", err)
	case !metav1.IsControlledBy(vmi, vm):
		// Never adopt, stop or replace a VMI that is not this VM's: say so
		// and wait for it to go.
		meta.SetStatusCondition(&vm.Status.Conditions, metav1.Condition{
			Type: v1alpha1.VMConditionFailure, Status: metav1.ConditionTrue, Reason: ReasonVMIConflict,
			Message: fmt.Sprintf("VirtualMachineInstance %s exists and is not controlled by this VirtualMachine", vmi.Name), ObservedGeneration: vm.Generation,
		})
		vm.Status.PrintableStatus = v1alpha1.VMStatusUnknown
		vm.Status.Created, vm.Status.Ready = false, false
		return ctrl.Result{}, r.updateStatus(ctx, orig, vm)
	}

	var launcher *corev1.Pod
	if vmi != nil {
		launcher = &corev1.Pod{}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: domainspec.PodName(vmi.Name)}, launcher); err != nil {
			if !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("reading the launcher Pod: %w", err)
			}
			launcher = nil
		}
	}

	strategy := vm.RunStrategy()
	syncOnce(vm, vmi, strategy)
	r.syncStartFailure(vm, vmi, strategy)
	var result ctrl.Result
	var syncErr error
	if vm.DeletionTimestamp.IsZero() {
		result, vmi, syncErr = r.syncRunStrategy(ctx, vm, vmi, strategy)
	}
	if syncErr != nil {
		meta.SetStatusCondition(&vm.Status.Conditions, metav1.Condition{
			Type: v1alpha1.VMConditionFailure, Status: metav1.ConditionTrue, Reason: ReasonVMICreateFailed,
			Message: syncErr.Error(), ObservedGeneration: vm.Generation,
		})
	} else {
		meta.RemoveStatusCondition(&vm.Status.Conditions, v1alpha1.VMConditionFailure)
	}
	vm.Status.RunStrategy = strategy
	r.setStatus(vm, vmi, launcher, strategy)
	if err := r.updateStatus(ctx, orig, vm); err != nil {
		return ctrl.Result{}, err
	}
	return result, syncErr
}

// syncRunStrategy starts or stops the VMI as the strategy says. It
// returns the VMI as it now is (nil when none exists, the new one when it
// created one).
func (r *VMReconciler) syncRunStrategy(ctx context.Context, vm *v1alpha1.VirtualMachine, vmi *v1alpha1.VirtualMachineInstance, strategy v1alpha1.RunStrategy) (ctrl.Result, *v1alpha1.VirtualMachineInstance, error) {
	request := vm.Annotations[v1alpha1.AnnotationStateChangeRequest]
	switch strategy {
	case v1alpha1.RunStrategyAlways:
		if vmi != nil {
			if isFinal(vmi) {
				// Ended, failed or powered off: replace it.
				return ctrl.Result{}, vmi, r.stopVMI(ctx, vmi)
			}
			return ctrl.Result{}, vmi, nil
		}
		return r.startAfterBackoff(ctx, vm)
	case v1alpha1.RunStrategyRerunOnFailure:
		if vmi != nil {
			if vmi.Status.Phase == v1alpha1.Failed || request == v1alpha1.StateChangeStop {
				if vmi.Status.Phase == v1alpha1.Failed && request == "" {
					// Remember to start again once this one is gone.
					if err := r.setRequest(ctx, vm, v1alpha1.StateChangeStart); err != nil {
						return ctrl.Result{}, vmi, err
					}
				}
				if request == v1alpha1.StateChangeStop {
					if err := r.setRequest(ctx, vm, ""); err != nil {
						return ctrl.Result{}, vmi, err
					}
				}
				return ctrl.Result{}, vmi, r.stopVMI(ctx, vmi)
			}
			if request == v1alpha1.StateChangeStart && isFinal(vmi) {
				// Start after a power-off: this one goes, the next comes.
				return ctrl.Result{}, vmi, r.stopVMI(ctx, vmi)
			}
			return ctrl.Result{}, vmi, nil
		}
		if request != v1alpha1.StateChangeStart && vm.Status.RunStrategy == strategy {
			// Powered off (or stopped by request): stays stopped. A VM
			// that has just switched to this strategy starts once.
			return ctrl.Result{}, nil, nil
		}
		result, vmi, err := r.startAfterBackoff(ctx, vm)
		if err == nil && vmi != nil {
			err = r.setRequest(ctx, vm, "")
		}
		return result, vmi, err
	case v1alpha1.RunStrategyManual:
		switch {
		case vmi != nil && (request == v1alpha1.StateChangeStop || (request == v1alpha1.StateChangeStart && isFinal(vmi))):
			if request == v1alpha1.StateChangeStop {
				if err := r.setRequest(ctx, vm, ""); err != nil {
					return ctrl.Result{}, vmi, err
				}
			}
			return ctrl.Result{}, vmi, r.stopVMI(ctx, vmi)
		case vmi == nil && request == v1alpha1.StateChangeStart:
			return ctrl.Result{}, nil, r.start(ctx, vm)
		case vmi == nil && request == v1alpha1.StateChangeStop:
			return ctrl.Result{}, nil, r.setRequest(ctx, vm, "")
		}
		return ctrl.Result{}, vmi, nil
	case v1alpha1.RunStrategyHalted:
		if request != "" {
			if err := r.setRequest(ctx, vm, ""); err != nil {
				return ctrl.Result{}, vmi, err
			}
		}
		if vmi != nil {
			return ctrl.Result{}, vmi, r.stopVMI(ctx, vmi)
		}
		return ctrl.Result{}, nil, nil
	case v1alpha1.RunStrategyOnce:
		if vmi == nil && vm.Status.LastRunVMIUID == "" {
			return ctrl.Result{}, nil, r.start(ctx, vm)
		}
		return ctrl.Result{}, vmi, nil
	}
	return ctrl.Result{}, vmi, fmt.Errorf("unknown run strategy %q", strategy)
}

// syncOnce keeps status.lastRunVMIUID, which runStrategy Once reads: the
// VMI that ran under Once, or the one that runs as a VM switches to Once.
// A VM switching to Once with no VMI starts once more.
func syncOnce(vm *v1alpha1.VirtualMachine, vmi *v1alpha1.VirtualMachineInstance, strategy v1alpha1.RunStrategy) {
	if strategy == v1alpha1.RunStrategyOnce && vm.Status.RunStrategy != v1alpha1.RunStrategyOnce && vm.Status.RunStrategy != "" {
		vm.Status.LastRunVMIUID = ""
	}
	if vmi != nil {
		vm.Status.LastRunVMIUID = vmi.UID
	}
}

// startAfterBackoff creates the VMI unless the start backoff holds it
// back, then it asks to be called again when the backoff ends.
func (r *VMReconciler) startAfterBackoff(ctx context.Context, vm *v1alpha1.VirtualMachine) (ctrl.Result, *v1alpha1.VirtualMachineInstance, error) {
	if left := r.backoffLeft(vm); left > 0 {
		log.FromContext(ctx).Info("start delayed by the start failure backoff", "left", left.String())
		return ctrl.Result{RequeueAfter: left}, nil, nil
	}
	vmi, err := r.create(ctx, vm)
	return ctrl.Result{}, vmi, err
}

// start creates the VMI and clears a start request.
func (r *VMReconciler) start(ctx context.Context, vm *v1alpha1.VirtualMachine) error {
	if _, err := r.create(ctx, vm); err != nil {
		return err
	}
	return r.setRequest(ctx, vm, "")
}

// create creates the VMI from the template, controlled by the VM. The VMI
// has the VM's name, so the API server itself refuses a second one.
func (r *VMReconciler) create(ctx context.Context, vm *v1alpha1.VirtualMachine) (*v1alpha1.VirtualMachineInstance, error) {
	vmi := vm.NewVMIFromTemplate()
	if err := controllerutil.SetControllerReference(vm, vmi, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("owning the VMI: %w", err)
	}
	if err := r.Client.Create(ctx, vmi); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Created by an earlier pass the cache has not shown yet, or
			// someone else's: the next pass tells which.
			return nil, nil
		}
		return nil, fmt.Errorf("creating VirtualMachineInstance %s: %w", vmi.Name, err)
	}
	log.FromContext(ctx).Info("created the VMI", "vmi", vmi.Name, "uid", vmi.UID)
	vm.Status.LastRunVMIUID = vmi.UID
	return vmi, nil
}

// stopVMI deletes the VMI (once: a VMI already being deleted is left to
// finish). The launcher controller shuts the guest down within the VMI's
// own terminationGracePeriodSeconds.
func (r *VMReconciler) stopVMI(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) error {
	if !vmi.DeletionTimestamp.IsZero() {
		return nil
	}
	if err := r.Client.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting VirtualMachineInstance %s: %w", vmi.Name, err)
	}
	log.FromContext(ctx).Info("deleted the VMI", "vmi", vmi.Name, "phase", vmi.Status.Phase)
	return nil
}

// setRequest sets (or, with "", removes) the state change request
// annotation, leaving the VM's status alone.
func (r *VMReconciler) setRequest(ctx context.Context, vm *v1alpha1.VirtualMachine, request string) error {
	if vm.Annotations[v1alpha1.AnnotationStateChangeRequest] == request {
		return nil
	}
	patch := client.MergeFrom(vm.DeepCopy())
	if request == "" {
		delete(vm.Annotations, v1alpha1.AnnotationStateChangeRequest)
	} else {
		if vm.Annotations == nil {
			vm.Annotations = map[string]string{}
		}
		vm.Annotations[v1alpha1.AnnotationStateChangeRequest] = request
	}
	status := vm.Status
	err := r.Client.Patch(ctx, vm, patch)
	vm.Status = status
	if err != nil {
		return fmt.Errorf("updating the state change request: %w", err)
	}
	return nil
}

// updateStatus writes the status when it changed.
func (r *VMReconciler) updateStatus(ctx context.Context, orig, vm *v1alpha1.VirtualMachine) error {
	vm.Status.ObservedGeneration = vm.Generation
	if statusEqual(orig.Status, vm.Status) {
		return nil
	}
	if err := r.Client.Status().Update(ctx, vm); client.IgnoreNotFound(err) != nil {
		// A conflict is retried: the request is queued again.
		return fmt.Errorf("updating the VM status: %w", err)
	}
	return nil
}

func (r *VMReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func isFinal(vmi *v1alpha1.VirtualMachineInstance) bool {
	return vmi.Status.Phase == v1alpha1.Succeeded || vmi.Status.Phase == v1alpha1.Failed
}
