package nodeagent

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
)

// fakeCPUs is a node of 8 CPUs whose launcher container may run on cpus.
type fakeCPUs struct{ cpus []int }

func (f fakeCPUs) ContainerCPUs(*corev1.Pod, string) ([]int, []int, error) {
	return f.cpus, []int{0, 1, 2, 3, 4, 5, 6, 7}, nil
}

func (fakeCPUs) SiblingOrder(cpus []int) []int { return cpus }

// brokenCPUs has no cpuset to read.
type brokenCPUs struct{ fakeCPUs }

func (brokenCPUs) ContainerCPUs(*corev1.Pod, string) ([]int, []int, error) {
	return nil, nil, errors.New("reading the cpuset: no such file")
}

// dedicatedDomain is signedDomain with 2 vCPUs and dedicated CPUs asked
// for in the metadata.
func dedicatedDomain(t *testing.T, isolate bool) string {
	return signedDomain(t, func(d *libvirtxml.Domain) {
		md, err := domainspec.ReadMetadata(d)
		if err != nil {
			t.Fatal(err)
		}
		md.DedicatedCPUs = &domainspec.DedicatedCPUsMetadata{IsolateEmulatorThread: isolate}
		if d.Metadata, err = md.Element(); err != nil {
			t.Fatal(err)
		}
		d.VCPU = &libvirtxml.DomainVCPU{Placement: "static", Value: 2}
	})
}

func setQOS(t *testing.T, r *Reconciler, qos corev1.PodQOSClass) {
	t.Helper()
	p := &corev1.Pod{}
	key := types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}
	if err := r.Client.Get(context.Background(), key, p); err != nil {
		t.Fatal(err)
	}
	p.Status.QOSClass = qos
	if err := r.Client.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func TestDedicatedCPUsPinned(t *testing.T) {
	for _, c := range []struct {
		name     string
		isolate  bool
		cpus     []int
		emulator string
	}{{"isolated emulator thread", true, []int{2, 3, 6}, "6"}, {"emulator with the vCPUs", false, []int{2, 3}, "2,3"}} {
		t.Run(c.name, func(t *testing.T) {
			r, cl, hv, _ := defineSetup(t, dedicatedDomain(t, c.isolate))
			r.CPUs = fakeCPUs{cpus: c.cpus}
			setQOS(t, r, corev1.PodQOSGuaranteed)
			if vmi := reconcileAndGet(t, r, cl); vmi.Status.Phase != v1alpha1.Running {
				t.Fatalf("phase %q reason %q message %q", vmi.Status.Phase, vmi.Status.Reason, readyMessage(vmi))
			}
			dom, err := domainspec.Parse(hv.defined)
			if err != nil {
				t.Fatal(err)
			}
			tune := dom.CPUTune
			if tune == nil || len(tune.VCPUPin) != 2 || tune.VCPUPin[0].CPUSet != "2" || tune.VCPUPin[1].CPUSet != "3" ||
				tune.EmulatorPin == nil || tune.EmulatorPin.CPUSet != c.emulator {
				t.Errorf("cputune %+v, want vCPUs on 2 and 3, the emulator on %s", tune, c.emulator)
			}
		})
	}
}

// Without exclusive CPUs (CPU manager policy none: the container may run
// on every CPU) the VMI fails Unsupported, naming the field, before
// anything on the host changes.
func TestDedicatedCPUsWithoutExclusiveCPUsFail(t *testing.T) {
	for _, c := range []struct {
		name string
		cpus CPUSets
		qos  corev1.PodQOSClass
	}{
		{"policy none", fakeCPUs{cpus: []int{0, 1, 2, 3, 4, 5, 6, 7}}, corev1.PodQOSGuaranteed},
		{"not guaranteed", fakeCPUs{cpus: []int{2, 3}}, corev1.PodQOSBurstable},
		{"no cgroups", nil, corev1.PodQOSGuaranteed},
		{"no cpuset", brokenCPUs{}, corev1.PodQOSGuaranteed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, cl, hv, log := defineSetup(t, dedicatedDomain(t, false))
			r.CPUs = c.cpus
			setQOS(t, r, c.qos)
			vmi := reconcileAndGet(t, r, cl)
			if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != failure.ReasonUnsupported ||
				!strings.Contains(readyMessage(vmi), "spec.domain.cpu.dedicatedCpuPlacement") {
				t.Errorf("phase %q reason %q message %q, want Failed/%s naming the field", vmi.Status.Phase, vmi.Status.Reason, readyMessage(vmi), failure.ReasonUnsupported)
			}
			if len(log.calls) != 0 || hv.defined != "" {
				t.Errorf("host changes %v", log.calls)
			}
		})
	}
}

func readyMessage(vmi *v1alpha1.VirtualMachineInstance) string {
	for _, c := range vmi.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}
