//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// defaultsCases are VMIs aimed at each branch of the MutatingAdmissionPolicy
// podvirt-vmi-defaults (deploy/base/vmi-defaults.yaml): what it derives
// from other fields, what it adds per list item, and parents that are
// missing. Each is only a spec; the test adds apiVersion, kind and a name.
var defaultsCases = map[string]string{
	"no devices, cpu from a fractional limit": `
domain:
  resources: {limits: {cpu: 1500m, memory: 96Mi}}`,
	"cpu from the request when there is no limit": `
domain:
  resources: {requests: {cpu: "3", memory: 64Mi}}
  devices: {}`,
	"zero limit, a given topology count": `
domain:
  cpu: {threads: 2}
  resources: {limits: {cpu: "0"}, requests: {memory: 64Mi}}`,
	"quantities written as numbers": `
domain:
  resources: {limits: {cpu: 2}, requests: {memory: 134217728}}`,
	"guest from limits.memory, requests from guest": `
domain:
  resources: {limits: {memory: 200Mi}}`,
	"guest given, requests.cpu present": `
domain:
  memory: {guest: 1Gi}
  resources: {requests: {cpu: 250m}}`,
	"volumes without disks, cdrom, lun, disk without bus": `
domain:
  memory: {guest: 64Mi}
  devices:
    disks:
      - name: a
      - {name: b, cdrom: {}}
      - {name: c, lun: {}}
      - {name: d, disk: {}}
      - {name: e, cdrom: {bus: scsi, readonly: false}}
volumes:
  - {name: a, containerDisk: {image: "quay.io/x/a"}}
  - {name: b, containerDisk: {image: "quay.io/x/b:latest"}}
  - {name: c, persistentVolumeClaim: {claimName: c}}
  - {name: d, containerDisk: {image: "registry:5000/x/d"}}
  - {name: e, containerDisk: {image: "quay.io/x/e@sha256:0123456789012345678901234567890123456789012345678901234567890123"}}
  - {name: f, emptyDisk: {capacity: 1Gi}}
  - {name: g, containerDisk: {image: "quay.io/x/g:v1", imagePullPolicy: Always}}
  - {name: h, cloudInitNoCloud: {userData: "#cloud-config"}}`,
	"interfaces with ports, inputs": `
domain:
  memory: {guest: 64Mi}
  devices:
    inputs: [{name: t1}, {name: t2, bus: usb}, {name: t3, type: tablet}]
    interfaces:
      - name: default
        masquerade: {}
        ports: [{port: 22}, {port: 53, protocol: UDP}]
networks: [{name: default, pod: {}}]`,
	"no pod interface, machine without type, features without acpi": `
domain:
  memory: {guest: 64Mi}
  machine: {}
  features: {}
  devices: {autoattachPodInterface: false, autoattachSerialConsole: false}
evictionStrategy: None
terminationGracePeriodSeconds: 0`,
	"kernel boot images": `
domain:
  memory: {guest: 64Mi}
  firmware:
    kernelBoot:
      container: {image: "registry:5000/k", kernelPath: /boot/vmlinuz}`,
	"kernel boot image by digest": `
domain:
  memory: {guest: 64Mi}
  firmware:
    kernelBoot:
      container: {image: "registry:5000/k@sha256:0123456789012345678901234567890123456789012345678901234567890123", kernelPath: /boot/vmlinuz}`,
	"the Go defaulter's share: EFI, Hyper-V, timers": `
domain:
  memory: {guest: 64Mi}
  firmware: {bootloader: {efi: {}}}
  features: {hyperv: {synictimer: {}}}
  clock: {timer: {rtc: {}}}`,
}

// TestDefaultsPolicyAgreesWithTheGoDefaulter holds the kube-apiserver's
// defaults to vmirules.Default, the reference: every VMI of
// defaultsCases, of testdata/kubevirt-docs and of examples/, created with
// a server-side dry run, comes back with exactly the spec
// vmirules.Default gives the VMI sent. Most of it is set by the
// MutatingAdmissionPolicy podvirt-vmi-defaults, the rest by /mutate-vmi.
func TestDefaultsPolicyAgreesWithTheGoDefaulter(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	if out, err := e.Kubectl("", "label", "namespace", ns, "podvirt.io/host-disk=allowed"); err != nil {
		t.Fatalf("labeling the namespace: %v\n%s", err, out)
	}
	manifests := map[string][]byte{}
	for i, name := range slices.Sorted(maps.Keys(defaultsCases)) {
		spec := defaultsCases[name]
		var s map[string]any
		if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, ok := s["volumes"]; !ok && !strings.Contains(spec, "kernelBoot") {
			// Something to boot from, listed without a disk: the policy
			// adds one.
			s["volumes"] = []any{map[string]any{"name": "boot", "containerDisk": map[string]any{"image": "quay.io/x/boot:v1"}}}
		}
		m, err := json.Marshal(map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(), "kind": "VirtualMachineInstance",
			"metadata": map[string]any{"name": fmt.Sprintf("defaults-%d", i)},
			"spec":     s,
		})
		if err != nil {
			t.Fatal(err)
		}
		manifests[name] = m
	}
	files, _ := filepath.Glob("testdata/kubevirt-docs/*.yaml")
	examples, _ := filepath.Glob("../../examples/vmi-*.yaml")
	for _, f := range append(files, examples...) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(raw), "\n---\n") {
			if !strings.Contains(doc, "kind: VirtualMachineInstance\n") || strings.Contains(doc, "hostDisk") {
				continue // hostDisk: the default policies refuse its directory here (TestKubeVirtDocsAdmitted allows it)
			}
			manifests[fmt.Sprintf("%s#%d", filepath.Base(f), i)] = []byte(doc)
		}
	}
	if len(manifests) < len(defaultsCases)+30 {
		t.Fatalf("only %d VMIs to compare", len(manifests))
	}
	for name, raw := range manifests {
		t.Run(name, func(t *testing.T) {
			want := &v1alpha1.VirtualMachineInstance{}
			if err := yaml.UnmarshalStrict(raw, want); err != nil {
				t.Fatalf("the manifest: %v", err)
			}
			vmirules.Default(want)
			out, err := e.Kubectl(string(raw), "create", "--dry-run=server", "-o", "json", "-n", ns, "-f", "-")
			if err != nil {
				t.Fatalf("kubectl create --dry-run=server: %v\n%s", err, out)
			}
			got := &v1alpha1.VirtualMachineInstance{}
			if err := json.Unmarshal([]byte(out), got); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(want.Spec, got.Spec) {
				w, _ := json.MarshalIndent(want.Spec, "", " ")
				g, _ := json.MarshalIndent(got.Spec, "", " ")
				t.Errorf("the kube-apiserver's defaults differ from vmirules.Default's\nwant %s\ngot  %s", w, g)
			}
		})
	}
}
