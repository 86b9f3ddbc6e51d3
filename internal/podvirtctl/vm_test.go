package podvirtctl

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

var key = types.NamespacedName{Namespace: "ns", Name: "vm1"}

func vmWith(strategy *v1alpha1.RunStrategy, running *bool) *v1alpha1.VirtualMachine {
	return &v1alpha1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
		Spec: v1alpha1.VirtualMachineSpec{RunStrategy: strategy, Running: running}}
}

func vmiIn(phase v1alpha1.VirtualMachineInstancePhase) *v1alpha1.VirtualMachineInstance {
	vmi := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, UID: "vmi1"}}
	vmi.Status.Phase = phase
	return vmi
}

// fakeClient records the grace period of each delete.
func fakeClient(t *testing.T, grace *[]*int64, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			do := &client.DeleteOptions{}
			do.ApplyOptions(opts)
			*grace = append(*grace, do.GracePeriodSeconds)
			return c.Delete(ctx, obj, opts...)
		}}).Build()
}

func getVM(t *testing.T, c client.Client) *v1alpha1.VirtualMachine {
	t.Helper()
	vm := &v1alpha1.VirtualMachine{}
	if err := c.Get(context.Background(), key, vm); err != nil {
		t.Fatal(err)
	}
	return vm
}

func vmiGone(t *testing.T, c client.Client) bool {
	t.Helper()
	return apierrors.IsNotFound(c.Get(context.Background(), key, &v1alpha1.VirtualMachineInstance{}))
}

func strategy(s v1alpha1.RunStrategy) *v1alpha1.RunStrategy { return &s }

func TestStartVM(t *testing.T) {
	for name, c := range map[string]struct {
		vm                    *v1alpha1.VirtualMachine
		vmi                   *v1alpha1.VirtualMachineInstance
		wantErr               string
		wantStrategy, request string
		wantRunning           *bool
	}{
		"halted":                  {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), wantStrategy: "Always"},
		"neither field":           {vm: vmWith(nil, nil), wantStrategy: "Always"},
		"running false":           {vm: vmWith(nil, ptr.To(false)), wantRunning: ptr.To(true)},
		"manual":                  {vm: vmWith(strategy(v1alpha1.RunStrategyManual), nil), wantStrategy: "Manual", request: "Start"},
		"manual, powered off":     {vm: vmWith(strategy(v1alpha1.RunStrategyManual), nil), vmi: vmiIn(v1alpha1.Succeeded), wantStrategy: "Manual", request: "Start"},
		"rerun, powered off":      {vm: vmWith(strategy(v1alpha1.RunStrategyRerunOnFailure), nil), vmi: vmiIn(v1alpha1.Succeeded), wantStrategy: "RerunOnFailure", request: "Start"},
		"rerun, failed":           {vm: vmWith(strategy(v1alpha1.RunStrategyRerunOnFailure), nil), vmi: vmiIn(v1alpha1.Failed), wantErr: "failed"},
		"always":                  {vm: vmWith(strategy(v1alpha1.RunStrategyAlways), nil), wantErr: "does not support manual start"},
		"once":                    {vm: vmWith(strategy(v1alpha1.RunStrategyOnce), nil), wantErr: "does not support manual start"},
		"already running, halted": {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), vmi: vmiIn(v1alpha1.Running), wantErr: "already running"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{c.vm}
			if c.vmi != nil {
				objs = append(objs, c.vmi)
			}
			var grace []*int64
			cl := fakeClient(t, &grace, objs...)
			err := StartVM(context.Background(), cl, key)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vm := getVM(t, cl)
			if c.wantRunning != nil {
				if vm.Spec.Running == nil || *vm.Spec.Running != *c.wantRunning || vm.Spec.RunStrategy != nil {
					t.Fatalf("spec %+v: want running %v and no runStrategy", vm.Spec, *c.wantRunning)
				}
			} else if vm.Spec.RunStrategy == nil || string(*vm.Spec.RunStrategy) != c.wantStrategy || vm.Spec.Running != nil {
				t.Fatalf("spec %+v: want runStrategy %s", vm.Spec, c.wantStrategy)
			}
			if got := vm.Annotations[v1alpha1.AnnotationStateChangeRequest]; got != c.request {
				t.Errorf("request %q, want %q", got, c.request)
			}
		})
	}
}

func TestStopVM(t *testing.T) {
	for name, c := range map[string]struct {
		vm           *v1alpha1.VirtualMachine
		vmi          *v1alpha1.VirtualMachineInstance
		opts         StopOptions
		wantErr      string
		wantStrategy string
		wantRunning  *bool
		request      string
		wantGrace    *int64
	}{
		"always":                  {vm: vmWith(strategy(v1alpha1.RunStrategyAlways), nil), vmi: vmiIn(v1alpha1.Running), wantStrategy: "Halted"},
		"running true":            {vm: vmWith(nil, ptr.To(true)), vmi: vmiIn(v1alpha1.Running), wantRunning: ptr.To(false)},
		"once":                    {vm: vmWith(strategy(v1alpha1.RunStrategyOnce), nil), vmi: vmiIn(v1alpha1.Running), wantStrategy: "Halted"},
		"manual":                  {vm: vmWith(strategy(v1alpha1.RunStrategyManual), nil), vmi: vmiIn(v1alpha1.Running), wantStrategy: "Manual", request: "Stop"},
		"manual, not running":     {vm: vmWith(strategy(v1alpha1.RunStrategyManual), nil), wantErr: "not running"},
		"halted, not running":     {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), wantErr: "not running"},
		"halted, stopping":        {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), vmi: vmiIn(v1alpha1.Running), wantErr: "--grace-period"},
		"halted, stopping, force": {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), vmi: vmiIn(v1alpha1.Running), opts: StopOptions{Force: true}, wantStrategy: "Halted", wantGrace: ptr.To(int64(0))},
		"always, grace period":    {vm: vmWith(strategy(v1alpha1.RunStrategyAlways), nil), vmi: vmiIn(v1alpha1.Running), opts: StopOptions{GracePeriod: ptr.To(int64(5))}, wantStrategy: "Halted", wantGrace: ptr.To(int64(5))},
	} {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{c.vm}
			if c.vmi != nil {
				objs = append(objs, c.vmi)
			}
			var grace []*int64
			cl := fakeClient(t, &grace, objs...)
			err := StopVM(context.Background(), cl, key, c.opts)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vm := getVM(t, cl)
			if c.wantRunning != nil {
				if vm.Spec.Running == nil || *vm.Spec.Running != *c.wantRunning {
					t.Fatalf("spec %+v: want running %v", vm.Spec, *c.wantRunning)
				}
			} else if vm.Spec.RunStrategy == nil || string(*vm.Spec.RunStrategy) != c.wantStrategy {
				t.Fatalf("spec %+v: want runStrategy %s", vm.Spec, c.wantStrategy)
			}
			if got := vm.Annotations[v1alpha1.AnnotationStateChangeRequest]; got != c.request {
				t.Errorf("request %q, want %q", got, c.request)
			}
			if c.wantGrace == nil {
				if len(grace) != 0 || !(c.vmi == nil || !vmiGone(t, cl)) {
					t.Errorf("stop without --grace-period deleted the VMI itself (%v)", grace)
				}
			} else if len(grace) != 1 || grace[0] == nil || *grace[0] != *c.wantGrace || !vmiGone(t, cl) {
				t.Errorf("deletes %v, want one with grace period %d", grace, *c.wantGrace)
			}
		})
	}
}

func TestRestartVM(t *testing.T) {
	for name, c := range map[string]struct {
		vm      *v1alpha1.VirtualMachine
		vmi     *v1alpha1.VirtualMachineInstance
		wantErr string
		request string
	}{
		"always":      {vm: vmWith(strategy(v1alpha1.RunStrategyAlways), nil), vmi: vmiIn(v1alpha1.Running)},
		"manual":      {vm: vmWith(strategy(v1alpha1.RunStrategyManual), nil), vmi: vmiIn(v1alpha1.Running), request: "Start"},
		"rerun":       {vm: vmWith(strategy(v1alpha1.RunStrategyRerunOnFailure), nil), vmi: vmiIn(v1alpha1.Running), request: "Start"},
		"halted":      {vm: vmWith(strategy(v1alpha1.RunStrategyHalted), nil), wantErr: "does not support manual restart"},
		"once":        {vm: vmWith(strategy(v1alpha1.RunStrategyOnce), nil), vmi: vmiIn(v1alpha1.Running), wantErr: "does not support manual restart"},
		"always, off": {vm: vmWith(strategy(v1alpha1.RunStrategyAlways), nil), wantErr: "not running"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{c.vm}
			if c.vmi != nil {
				objs = append(objs, c.vmi)
			}
			var grace []*int64
			cl := fakeClient(t, &grace, objs...)
			err := RestartVM(context.Background(), cl, key, StopOptions{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !vmiGone(t, cl) {
				t.Error("the VMI was not deleted")
			}
			if got := getVM(t, cl).Annotations[v1alpha1.AnnotationStateChangeRequest]; got != c.request {
				t.Errorf("request %q, want %q", got, c.request)
			}
		})
	}
}

func TestVMCommandsAreWired(t *testing.T) {
	root := NewRoot()
	for _, name := range []string{"start", "stop", "restart"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("%s: %v", name, err)
		}
		if cmd.Flags().Lookup("namespace") == nil || cmd.Flags().Lookup("kubeconfig") == nil {
			t.Errorf("%s has no --namespace or --kubeconfig", name)
		}
		if (name != "start") != (cmd.Flags().Lookup("grace-period") != nil && cmd.Flags().Lookup("force") != nil) {
			t.Errorf("%s: --grace-period and --force only on stop and restart", name)
		}
	}
}
