package podvirtctl

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// StopOptions are the --grace-period and --force flags of stop and
// restart.
type StopOptions struct {
	// GracePeriod, when set, deletes the VMI with this grace period in
	// seconds.
	GracePeriod *int64
	// Force deletes the VMI at once (a grace period of 0).
	Force bool
}

func (o StopOptions) deleteOptions() []client.DeleteOption {
	switch {
	case o.Force:
		return []client.DeleteOption{client.GracePeriodSeconds(0)}
	case o.GracePeriod != nil:
		return []client.DeleteOption{client.GracePeriodSeconds(*o.GracePeriod)}
	}
	return nil
}

func (o StopOptions) set() bool { return o.Force || o.GracePeriod != nil }

// vmState is a VM and its VMI (nil when there is none).
type vmState struct {
	vm  *v1alpha1.VirtualMachine
	vmi *v1alpha1.VirtualMachineInstance
}

func (s vmState) running() bool {
	return s.vmi != nil && s.vmi.DeletionTimestamp == nil &&
		s.vmi.Status.Phase != v1alpha1.Succeeded && s.vmi.Status.Phase != v1alpha1.Failed
}

func readVM(ctx context.Context, c client.Client, key types.NamespacedName) (vmState, error) {
	vm := &v1alpha1.VirtualMachine{}
	if err := c.Get(ctx, key, vm); err != nil {
		return vmState{}, fmt.Errorf("reading VirtualMachine %s: %w", key, err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := c.Get(ctx, key, vmi); apierrors.IsNotFound(err) {
		vmi = nil
	} else if err != nil {
		return vmState{}, fmt.Errorf("reading VirtualMachineInstance %s: %w", key, err)
	}
	return vmState{vm: vm, vmi: vmi}, nil
}

// StartVM starts a VM as KubeVirt's virtctl does: a Halted VM gets
// runStrategy Always (or running: true, if it uses running); Manual and
// RerunOnFailure keep their strategy and get a start request; Always and
// Once start on their own and refuse.
func StartVM(ctx context.Context, c client.Client, key types.NamespacedName) error {
	s, err := readVM(ctx, c, key)
	if err != nil {
		return err
	}
	if s.running() {
		return fmt.Errorf("VirtualMachine %s is already running", key)
	}
	switch strategy := s.vm.RunStrategy(); strategy {
	case v1alpha1.RunStrategyHalted:
		return setRunning(ctx, c, s.vm, true)
	case v1alpha1.RunStrategyRerunOnFailure, v1alpha1.RunStrategyManual:
		if strategy == v1alpha1.RunStrategyRerunOnFailure && s.vmi != nil && s.vmi.Status.Phase == v1alpha1.Failed {
			return fmt.Errorf("VirtualMachine %s: runStrategy %s does not support starting from a failed VMI: it restarts it itself", key, strategy)
		}
		return setRequest(ctx, c, s.vm, v1alpha1.StateChangeStart)
	default:
		return fmt.Errorf("VirtualMachine %s: runStrategy %s does not support manual start requests", key, strategy)
	}
}

// StopVM stops a VM: Always and Once get runStrategy Halted (running:
// false); Manual and RerunOnFailure get a stop request. With a grace
// period (or --force) the VMI is also deleted with it, which is all
// stop does for a Halted VM whose VMI is still going.
func StopVM(ctx context.Context, c client.Client, key types.NamespacedName, opts StopOptions) error {
	s, err := readVM(ctx, c, key)
	if err != nil {
		return err
	}
	switch strategy := s.vm.RunStrategy(); strategy {
	case v1alpha1.RunStrategyHalted:
		if s.vmi == nil || (s.vmi.Status.Phase == v1alpha1.Succeeded || s.vmi.Status.Phase == v1alpha1.Failed) {
			return fmt.Errorf("VirtualMachine %s is not running", key)
		}
		if !opts.set() {
			return fmt.Errorf("VirtualMachine %s is already stopping: only a stop with --grace-period or --force applies", key)
		}
	case v1alpha1.RunStrategyRerunOnFailure, v1alpha1.RunStrategyManual:
		if !s.running() {
			return fmt.Errorf("VirtualMachine %s is not running", key)
		}
		if err := setRequest(ctx, c, s.vm, v1alpha1.StateChangeStop); err != nil {
			return err
		}
	default:
		if err := setRunning(ctx, c, s.vm, false); err != nil {
			return err
		}
	}
	if opts.set() && s.vmi != nil {
		return deleteVMI(ctx, c, s.vmi, opts)
	}
	return nil
}

// RestartVM deletes the VM's VMI for the controller to create a new one;
// Manual and RerunOnFailure VMs get a start request first so that it
// does. Halted and Once VMs refuse, as in KubeVirt.
func RestartVM(ctx context.Context, c client.Client, key types.NamespacedName, opts StopOptions) error {
	s, err := readVM(ctx, c, key)
	if err != nil {
		return err
	}
	strategy := s.vm.RunStrategy()
	if strategy == v1alpha1.RunStrategyHalted || strategy == v1alpha1.RunStrategyOnce {
		return fmt.Errorf("VirtualMachine %s: runStrategy %s does not support manual restart requests", key, strategy)
	}
	if s.vmi == nil {
		return fmt.Errorf("VirtualMachine %s is not running", key)
	}
	if strategy == v1alpha1.RunStrategyManual || strategy == v1alpha1.RunStrategyRerunOnFailure {
		if err := setRequest(ctx, c, s.vm, v1alpha1.StateChangeStart); err != nil {
			return err
		}
	}
	return deleteVMI(ctx, c, s.vmi, opts)
}

// setRunning patches the VM the way it says whether it runs.
func setRunning(ctx context.Context, c client.Client, vm *v1alpha1.VirtualMachine, run bool) error {
	patch := client.MergeFrom(vm.DeepCopy())
	switch {
	case vm.Spec.Running != nil:
		vm.Spec.Running = ptr.To(run)
	case run:
		vm.Spec.RunStrategy = ptr.To(v1alpha1.RunStrategyAlways)
	default:
		vm.Spec.RunStrategy = ptr.To(v1alpha1.RunStrategyHalted)
	}
	if err := c.Patch(ctx, vm, patch); err != nil {
		return fmt.Errorf("patching VirtualMachine %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	return nil
}

// setRequest puts a state change request on the VM for the controller.
func setRequest(ctx context.Context, c client.Client, vm *v1alpha1.VirtualMachine, request string) error {
	patch := client.MergeFrom(vm.DeepCopy())
	if vm.Annotations == nil {
		vm.Annotations = map[string]string{}
	}
	vm.Annotations[v1alpha1.AnnotationStateChangeRequest] = request
	if err := c.Patch(ctx, vm, patch); err != nil {
		return fmt.Errorf("requesting %s of VirtualMachine %s/%s: %w", request, vm.Namespace, vm.Name, err)
	}
	return nil
}

func deleteVMI(ctx context.Context, c client.Client, vmi *v1alpha1.VirtualMachineInstance, opts StopOptions) error {
	del := append(opts.deleteOptions(), client.Preconditions{UID: &vmi.UID})
	if err := c.Delete(ctx, vmi, del...); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting VirtualMachineInstance %s/%s: %w", vmi.Namespace, vmi.Name, err)
	}
	return nil
}
