package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"libvirt.org/go/libvirtxml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// fakeHypervisor keeps domain states in a map; the end-to-end suite runs
// the real libvirt.
type fakeHypervisor struct {
	states map[string]hypervisor.DomainState
	calls  []string
	// defined is the last XML defined; defineLog, when set, records the
	// define among the other host changes.
	defined   string
	defineLog *hostLog
	// owners is the VMI UID in each domain's metadata ("" for a domain
	// podvirt did not define); uid-1 when not named.
	owners map[string]string
}

func (f *fakeHypervisor) Define(xml string) error {
	f.calls = append(f.calls, "define")
	f.defined = xml
	if f.defineLog != nil {
		f.defineLog.calls = append(f.defineLog.calls, "define")
	}
	return nil
}
func (f *fakeHypervisor) Start(n string) error {
	f.calls = append(f.calls, "start")
	f.states[n] = hypervisor.StateRunning
	return nil
}

// XML is a definition whose podvirt metadata names owners[n], else
// the VMI of setup.
func (f *fakeHypervisor) XML(n string) (string, error) {
	if _, ok := f.states[n]; !ok {
		return "", nil
	}
	uid := "uid-1"
	if o, ok := f.owners[n]; ok {
		uid = o
	}
	if uid == "" {
		return "<domain><name>" + n + "</name></domain>", nil
	}
	ns, name, _ := domainspec.ParseName(n)
	el, _ := (&domainspec.Metadata{Namespace: ns, Name: name, UID: uid}).Element()
	return (&libvirtxml.Domain{Name: n, Metadata: el}).Marshal()
}

func (f *fakeHypervisor) List() ([]string, error) {
	var names []string
	for n := range f.states {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (f *fakeHypervisor) State(n string) (hypervisor.DomainState, error) { return f.states[n], nil }
func (f *fakeHypervisor) Shutdown(string) error                          { f.calls = append(f.calls, "shutdown"); return nil }
func (f *fakeHypervisor) Destroy(n string) error {
	f.calls = append(f.calls, "destroy")
	f.states[n] = hypervisor.StateShutoff
	return nil
}
func (f *fakeHypervisor) Undefine(n string) error {
	f.calls = append(f.calls, "undefine")
	delete(f.states, n)
	return nil
}

func setup(t *testing.T, phase v1alpha1.VirtualMachineInstancePhase, state hypervisor.DomainState) (*Reconciler, client.Client, *fakeHypervisor) {
	t.Helper()
	return setupWith(t, phase, state, nil)
}

// setupWith is setup with the VMI and the launcher Pod changed by edit
// before they are stored (a Pod already being deleted, say).
func setupWith(t *testing.T, phase v1alpha1.VirtualMachineInstancePhase, state hypervisor.DomainState, edit func(*v1alpha1.VirtualMachineInstance, *corev1.Pod)) (*Reconciler, client.Client, *fakeHypervisor) {
	t.Helper()
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	vmi := &v1alpha1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "tiny", Namespace: "ns", UID: "uid-1"},
		Status: v1alpha1.VirtualMachineInstanceStatus{Phase: phase, NodeName: "node-a"}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns",
			Labels:      map[string]string{domainspec.LabelVMI: "tiny", domainspec.LabelVMIUID: "uid-1"},
			Annotations: map[string]string{domainspec.AnnotationSignature: "signed"}, // never checked: no define here
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "podvirt.io/v1alpha1", Kind: "VirtualMachineInstance",
				Name: "tiny", UID: "uid-1", Controller: ptr.To(true)}},
			Finalizers: []string{domainspec.FinalizerDomain}},
		Spec:   corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	p.UID = "pod-uid-1"
	// What launcher/pod declares for the VMI's files.
	files := resource.MustParse("1Gi")
	p.Spec.Containers = []corev1.Container{{Name: domainspec.LauncherContainerName, Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("2Gi")}}}}
	p.Spec.Volumes = []corev1.Volume{{Name: domainspec.StateVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &files}}}}
	if edit != nil {
		edit(vmi, p)
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(vmi, p).WithStatusSubresource(vmi).Build()
	hv := &fakeHypervisor{states: map[string]hypervisor.DomainState{}, owners: map[string]string{}}
	if state != hypervisor.StateAbsent {
		hv.states["ns_tiny"] = state
	}
	return &Reconciler{Client: c, APIReader: c, Hypervisor: hv, Options: Options{NodeName: "node-a", StateDir: t.TempDir()}}, c, hv
}

func reconcileAndGet(t *testing.T, r *Reconciler, c client.Client) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}}); err != nil {
		t.Fatal(err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "tiny"}, vmi); err != nil {
		t.Fatal(err)
	}
	return vmi
}

func TestVanishedDomainFailsTheVMI(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateAbsent)
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "DomainLost" {
		t.Errorf("phase %q reason %q, want Failed/DomainLost", vmi.Status.Phase, vmi.Status.Reason)
	}
	if len(hv.calls) != 0 {
		t.Errorf("the agent touched libvirt: %v (it must never start a second life)", hv.calls)
	}
}

func TestGuestPowerOffSucceeds(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateShutoff)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Succeeded || vmi.Status.Reason != "GuestShutdown" {
		t.Errorf("phase %q reason %q, want Succeeded/GuestShutdown", vmi.Status.Phase, vmi.Status.Reason)
	}
	if len(hv.calls) != 0 {
		t.Errorf("a powered-off guest was restarted: %v", hv.calls)
	}
}

func TestGuestCrashFails(t *testing.T) {
	r, c, _ := setup(t, v1alpha1.Running, hypervisor.StateCrashed)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "GuestCrashed" {
		t.Errorf("phase %q reason %q, want Failed/GuestCrashed", vmi.Status.Phase, vmi.Status.Reason)
	}
}

func TestRunningDomainIsAdopted(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Scheduled, hypervisor.StateRunning)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("phase %q, want Running", vmi.Status.Phase)
	}
	if len(hv.calls) != 0 {
		t.Errorf("an agent restart touched a running domain: %v", hv.calls)
	}
}

func TestDeletionShutsDownThenReleases(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	if err := c.Delete(context.Background(), p, client.GracePeriodSeconds(30)); err != nil {
		t.Fatal(err)
	}
	reconcileAndGet(t, r, c) // the guest is running: ACPI shutdown, the Pod is kept
	if hv.calls[0] != "shutdown" {
		t.Fatalf("calls %v, want shutdown first", hv.calls)
	}
	hv.states["ns_tiny"] = hypervisor.StateShutoff // the guest powered off
	reconcileAndGet(t, r, c)
	if _, ok := hv.states["ns_tiny"]; ok {
		t.Errorf("domain still defined: calls %v", hv.calls)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(p), p); err == nil {
		t.Errorf("the Pod still exists with finalizers %v", p.Finalizers)
	}
}

// The VMI's files in the Pod's state volume go once the domain is gone,
// not before: the launcher waits for them to go, and only then does the
// kubelet remove the volume and the Pod's cgroup.
func TestDeletionRemovesTheVMIsFilesOnceTheDomainIsGone(t *testing.T) {
	r, c, hv := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	fs := &fakeStorage{log: &hostLog{}, podDirs: t.TempDir()}
	r.Storage = fs
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	dir, _ := fs.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "disk-root.img"), []byte("disk"), 0o600)
	if err := c.Delete(context.Background(), p, client.GracePeriodSeconds(30)); err != nil {
		t.Fatal(err)
	}
	reconcileAndGet(t, r, c) // shutting down
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the files went while the guest runs: %v", err)
	}
	hv.states["ns_tiny"] = hypervisor.StateShutoff
	reconcileAndGet(t, r, c)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the VMI's files are still there after the domain went: %v", err)
	}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(p), p); err == nil {
		t.Errorf("the Pod still exists with finalizers %v", p.Finalizers)
	}
}

// Each of the node's launcher Pods gets its serial log rotated, in its
// state volume and where an older agent put it.
func TestSerialLogRotatorRotatesEachPodsLog(t *testing.T) {
	r, c, _ := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	fs := &fakeStorage{log: &hostLog{}, podDirs: t.TempDir()}
	r.Storage = fs
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	podDir, _ := fs.Dir(p)
	legacy := mustVMIDir(t, r, "uid-1")
	for _, dir := range []string{podDir, legacy} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, domainspec.SerialLogFile), make([]byte, domainspec.SerialLogMaxBytes+1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&SerialLogRotator{Reconciler: r}).Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{podDir, legacy} {
		live, err1 := os.Stat(filepath.Join(dir, domainspec.SerialLogFile))
		old, err2 := os.Stat(filepath.Join(dir, domainspec.SerialLogFile+".1"))
		if err1 != nil || err2 != nil || live.Size() != 0 || old.Size() != domainspec.SerialLogMaxBytes {
			t.Errorf("%s: serial.log %v %v, serial.log.1 %v %v; want it rotated", dir, live, err1, old, err2)
		}
	}
}
