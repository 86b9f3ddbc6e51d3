//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/kvdocs"
)

// TestKubeVirtDocsAdmitted sends every VMI of testdata/kubevirt-docs (KubeVirt's
// user guide's and examples', apiVersion changed, and what each file's
// header names where its page elides parts) through the real API server with a
// server-side dry run: the CRD schema, the mutating and the validating
// webhooks and the default policies all run, nothing is stored, so no PVC,
// Secret or image the examples name needs to exist. Each is admitted, and
// comes back defaulted with a disk per volume on a bus; its spec differs
// from the file's exactly by the file's "# default:" lines (KubeVirt's
// defaults, and podvirt's where they differ), never at a path of its
// "# kubevirt only:" lines (package test/kvdocs). Those of refused/
// use fields outside podvirt's subset, or values it refuses, and are
// refused naming the field
// (their "# want:" lines). launcher/domain's TestKubeVirtDocsVMIsAdmittedAndBootable
// runs the same files through the same rules and the renderer without a
// cluster.
func TestKubeVirtDocsAdmitted(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	// The hostDisk example: the default policy deny-host-disk exempts
	// namespaces labeled for host disks.
	if out, err := e.Kubectl("", "label", "namespace", ns, "podvirt.io/host-disk=allowed"); err != nil {
		t.Fatalf("labeling the namespace: %v\n%s", err, out)
	}
	// Its image is in /data, outside the directories the default policy
	// allowed-host-disk-dirs lists: the test adds /data/ to them, as a
	// cluster admin would, until it ends.
	e.allowHostDiskDir(t, ns, "/data/", "testdata/kubevirt-docs/disks-hostdisk.yaml")
	files, err := filepath.Glob("testdata/kubevirt-docs/*.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("kubevirt-docs VMIs: %v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			vmi := &v1alpha1.VirtualMachineInstance{}
			stored := e.dryRunApplyFile(t, ns, file, vmi)
			// Field by field: what the server stored under spec differs
			// from the file exactly by the file's default lines, and
			// leaves alone what only KubeVirt sets.
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sent, err := yaml.YAMLToJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			problems, err := kvdocs.Compare(raw, sent, stored)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			if h, _ := kvdocs.Parse(raw); len(h.Defaults) == 0 {
				t.Error(`no "# default:" line: every VMI here gets some default`)
			}
			d := vmi.Spec.Domain
			if d.Machine == nil || d.Machine.Type == "" || d.Memory == nil || d.Memory.Guest == nil {
				t.Errorf("not defaulted: machine %+v memory %+v", d.Machine, d.Memory)
			}
			disks := map[string]bool{}
			for _, disk := range d.Devices.Disks {
				disks[disk.Name] = true
				switch {
				case disk.Disk != nil && disk.Disk.Bus != "", disk.CDRom != nil && disk.CDRom.Bus != "", disk.LUN != nil && disk.LUN.Bus != "":
				default:
					t.Errorf("disk %s has no kind or no bus after defaulting: %+v", disk.Name, disk)
				}
			}
			for _, v := range vmi.Spec.Volumes {
				if !disks[v.Name] {
					t.Errorf("volume %s has no disk after defaulting", v.Name)
				}
			}
		})
	}

	refused, err := filepath.Glob("testdata/kubevirt-docs/refused/*.yaml")
	if err != nil || len(refused) < 3 {
		t.Fatalf("refused kubevirt-docs VMIs: %v, %v", refused, err)
	}
	for _, file := range refused {
		t.Run("refused/"+filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wants := wantLines(t, raw)
			out, err := e.Kubectl(string(raw), "apply", "--dry-run=server", "-n", ns, "-f", "-")
			if err == nil {
				t.Fatalf("admitted:\n%s", out)
			}
			for _, w := range wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestKubeVirtDocsVMsAdmitted sends the VirtualMachines of
// testdata/kubevirt-docs-vms (written as KubeVirt's user guide and labs
// write them, apiVersion changed) through the real API server with a
// server-side dry run: each is admitted, keeps its run strategy (or
// spec.running) and its template's disks.
func TestKubeVirtDocsVMsAdmitted(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	files, err := filepath.Glob("testdata/kubevirt-docs-vms/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("kubevirt-docs VMs: %v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			vm := &v1alpha1.VirtualMachine{}
			e.dryRunApplyFile(t, ns, file, vm)
			if vm.Spec.RunStrategy == nil && vm.Spec.Running == nil {
				t.Errorf("neither runStrategy nor running survived admission: %+v", vm.Spec)
			}
			if len(vm.Spec.Template.Spec.Domain.Devices.Disks) == 0 {
				t.Errorf("the template lost its disks: %+v", vm.Spec.Template.Spec.Domain.Devices)
			}
		})
	}
}

// dryRunApplyFile sends the manifest in file through the API server with
// a server-side dry run (schema, webhooks, policies; nothing stored) and
// decodes the server's answer into obj.
// allowHostDiskDir adds dir to the allowed-host-disk-dirs VMIPolicy's
// directories until the test ends, and waits until the webhook admits
// file (a VMI with a hostDisk there) in ns.
func (e *env) allowHostDiskDir(t *testing.T, ns, dir, file string) {
	t.Helper()
	patch := fmt.Sprintf(`[{"op":"add","path":"/spec/params/dirs/-","value":%q}]`, dir)
	if out, err := e.Kubectl("", "patch", "vmipolicy", "allowed-host-disk-dirs", "--type=json", "-p", patch); err != nil {
		t.Fatalf("allowing %s for hostDisks: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		out, err := e.Kubectl("", "get", "vmipolicy", "allowed-host-disk-dirs", "-o", "jsonpath={.spec.params.dirs}")
		var dirs []string
		if err == nil && json.Unmarshal([]byte(out), &dirs) == nil {
			for i, d := range dirs {
				if d == dir {
					_, _ = e.Kubectl("", "patch", "vmipolicy", "allowed-host-disk-dirs", "--type=json", "-p", fmt.Sprintf(`[{"op":"remove","path":"/spec/params/dirs/%d"}]`, i))
					break
				}
			}
		}
	})
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, "the webhook to take the policy's new directory", 60*time.Second, func() (bool, error) {
		_, err := e.Kubectl(string(raw), "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err == nil, nil
	})
}

func (e *env) dryRunApplyFile(t *testing.T, ns, file string, obj any) []byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Kubectl(string(raw), "apply", "--dry-run=server", "-o", "json", "-n", ns, "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), obj); err != nil {
		t.Fatalf("the server's answer: %v\n%s", err, out)
	}
	return []byte(out)
}
