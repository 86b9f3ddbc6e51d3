//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
)

// registryRE matches the example images' registries; the tests point them
// at the loopback registry so no traffic leaves this machine.
var registryRE = regexp.MustCompile(`(registry\.example|quay\.io)/`)

// deniedByDefault are the examples the default policies (deploy/base)
// deny, and the message saying so.
var deniedByDefault = map[string]string{
	"vmi-hostdisk.yaml": "VMIPolicy 'deny-host-disk' denied request: hostDisk volumes are not allowed: data (/var/lib/podvirt-hostdisks/data.img)",
}

// TestExamplesAdmittedDefaultedRendered applies every examples/vmi-*.yaml
// and checks each VMI is admitted, defaulted and rendered into a launcher
// Pod whose domain has a device for every disk and interface.
func TestExamplesAdmittedDefaultedRendered(t *testing.T) {
	e := newEnv(t)
	files, err := filepath.Glob("../../examples/vmi-*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			manifest := registryRE.ReplaceAllString(string(raw), e.Registry+"/")
			ns := e.Namespace(t)
			if want, ok := deniedByDefault[filepath.Base(file)]; ok {
				out, err := e.Kubectl(manifest, "apply", "-n", ns, "-f", "-")
				if err == nil || !strings.Contains(out, want) {
					t.Fatalf("want the default policy to deny it with %q; err=%v\n%s", want, err, out)
				}
				// The image the node agent makes stays when the VMI ends.
				t.Cleanup(func() { os.Remove(hostDiskDir + "/data.img") })
				// The policy exempts namespaces labeled for host disks.
				if out, err := e.Kubectl("", "label", "namespace", ns, "podvirt.io/host-disk=allowed"); err != nil {
					t.Fatalf("labeling the namespace: %v\n%s", err, out)
				}
			}
			if out, err := e.Kubectl(manifest, "apply", "-n", ns, "-f", "-"); err != nil {
				t.Fatalf("kubectl apply: %v\n%s", err, out)
			}
			for _, name := range vmiNames(t, manifest) {
				checkRendered(t, e, ns, name)
			}
		})
	}
}

func vmiNames(t *testing.T, manifest string) []string {
	t.Helper()
	var names []string
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	for {
		var doc struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind == "VirtualMachineInstance" {
			names = append(names, doc.Metadata.Name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no VirtualMachineInstance in the manifest")
	}
	return names
}

func checkRendered(t *testing.T, e *env, ns, name string) {
	t.Helper()
	ctx := context.Background()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
		t.Fatal(err)
	}
	d := vmi.Spec.Domain
	if d.Machine == nil || d.Machine.Type == "" || d.CPU == nil || d.CPU.Sockets == 0 || d.CPU.Cores == 0 || d.CPU.Threads == 0 ||
		vmi.Spec.EvictionStrategy == nil || vmi.Spec.TerminationGracePeriodSeconds == nil {
		t.Errorf("%s: not defaulted: machine %+v cpu %+v eviction %v grace %v", name, d.Machine, d.CPU, vmi.Spec.EvictionStrategy, vmi.Spec.TerminationGracePeriodSeconds)
	}
	for _, disk := range d.Devices.Disks {
		if disk.Disk == nil && disk.CDRom == nil && disk.LUN == nil {
			t.Errorf("%s: disk %s has no kind after defaulting", name, disk.Name)
		}
		if disk.Disk != nil && disk.Disk.Bus == "" {
			t.Errorf("%s: disk %s has no bus after defaulting", name, disk.Name)
		}
	}
	for _, iface := range d.Devices.Interfaces {
		if iface.Model == "" {
			t.Errorf("%s: interface %s has no model after defaulting", name, iface.Name)
		}
	}

	p := &corev1.Pod{}
	framework.Eventually(t, name+"'s launcher Pod", 60*time.Second, func() (bool, error) {
		err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName(name)}, p)
		return err == nil, err
	})
	dom, err := domainspec.Parse(p.Annotations[domainspec.AnnotationDomain])
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if dom.Name != domainspec.Name(ns, name) {
		t.Errorf("%s: domain name %q", name, dom.Name)
	}
	if got, want := len(dom.Devices.Disks), len(d.Devices.Disks); got != want {
		t.Errorf("%s: %d disks in the domain, %d in the spec", name, got, want)
	}
	if got, want := len(dom.Devices.Interfaces), len(d.Devices.Interfaces); got != want {
		t.Errorf("%s: %d interfaces in the domain, %d in the spec", name, got, want)
	}
	if got, want := dom.VCPU.Value, uint(d.CPU.Cores*d.CPU.Sockets*d.CPU.Threads); got != want {
		t.Errorf("%s: %d vCPUs in the domain, want %d", name, got, want)
	}
	if len(p.Spec.NodeSelector)+len(vmi.Spec.NodeSelector) > 0 && !reflect.DeepEqual(p.Spec.NodeSelector, vmi.Spec.NodeSelector) {
		t.Errorf("%s: Pod nodeSelector %v, VMI %v", name, p.Spec.NodeSelector, vmi.Spec.NodeSelector)
	}
	if p.Spec.PriorityClassName != vmi.Spec.PriorityClassName || !reflect.DeepEqual(p.Spec.Affinity, vmi.Spec.Affinity) {
		t.Errorf("%s: Pod priorityClassName %q affinity %v; VMI %q %v", name, p.Spec.PriorityClassName, p.Spec.Affinity, vmi.Spec.PriorityClassName, vmi.Spec.Affinity)
	}
	// The DefaultTolerationSeconds admission plugin adds its own, so each
	// of the VMI's must be among the Pod's.
	for _, want := range vmi.Spec.Tolerations {
		found := false
		for _, got := range p.Spec.Tolerations {
			found = found || reflect.DeepEqual(got, want)
		}
		if !found {
			t.Errorf("%s: toleration %+v not on the Pod", name, want)
		}
	}
	// Whatever the node agent makes of it, the VMI must leave Scheduling,
	// and a failure must say why.
	framework.Eventually(t, name+" past scheduling", 120*time.Second, func() (bool, error) {
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
			return false, err
		}
		switch vmi.Status.Phase {
		case v1alpha1.Running, v1alpha1.Succeeded, v1alpha1.Failed:
			return true, nil
		}
		return false, nil
	})
	if vmi.Status.Phase == v1alpha1.Failed && vmi.Status.Reason == "" {
		t.Errorf("%s: Failed without a reason", name)
	}
	t.Logf("%s: %s %s", name, vmi.Status.Phase, vmi.Status.Reason)
}

// TestInvalidManifestsRejected applies each test/e2e/testdata/invalid file
// through the real kube-apiserver and checks the message names the field
// (every "# want:" line of the file), and that nothing is stored.
func TestInvalidManifestsRejected(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 12 {
		t.Fatalf("only %d invalid manifests", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wants := wantLines(t, raw)
			out, err := e.Kubectl(string(raw), "apply", "-n", ns, "-f", "-")
			if err == nil {
				t.Fatalf("applied:\n%s", out)
			}
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			name := vmiNames(t, string(raw))[0]
			if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &v1alpha1.VirtualMachineInstance{}); err == nil {
				t.Errorf("%s was stored", name)
			}
		})
	}
}

// wantLines are the "# want: " comments of a manifest refused on purpose:
// each a text the refusal must contain. A manifest without one fails the
// test.
func wantLines(t *testing.T, raw []byte) []string {
	t.Helper()
	var wants []string
	for _, line := range strings.Split(string(raw), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			wants = append(wants, w)
		}
	}
	if len(wants) == 0 {
		t.Fatal(`no "# want:" line`)
	}
	return wants
}
