package podvirtctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/domainspec"
)

func renderFile(t *testing.T, file string, opts RenderOptions) ([]Rendered, error) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := RenderManifests(f, file, opts)
	return r, err
}

// Every example renders, and its domain holds the devices its manifest
// asks for, as the controller renders them.
func TestRenderExamples(t *testing.T) {
	want := map[string][]string{
		"vmi-tiny.yaml":          {`<kernel>/boot/vmlinux</kernel>`, `<serial type="unix">`, `<source mode="bind" path="serial.sock">`, `<log file="serial.log" append="on">`},
		"vmi-network.yaml":       {`<interface type="ethernet">`, `<serial type="unix">`},
		"vmi-containerdisk.yaml": {`<disk type="file" device="disk">`, `disk-`},
		"vmi-efi.yaml":           {`firmware="efi"`},
		"vmi-storage.yaml":       {`<disk type="file"`},
		"vmi-scheduling.yaml":    {`<serial type="unix">`},
		"vmi-hostdisk.yaml":      {`<disk `},
	}
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		rendered, err := renderFile(t, file, RenderDefaults())
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for _, r := range rendered {
			if r.Pod.Annotations[domainspec.AnnotationDomain] != r.DomainXML || r.Pod.Annotations[domainspec.AnnotationSignature] != "" {
				t.Errorf("%s: the Pod's annotations are not the domain, unsigned: %v", file, r.Pod.Annotations)
			}
			for _, w := range want[filepath.Base(file)] {
				if !strings.Contains(r.DomainXML, w) {
					t.Errorf("%s: the domain has no %s:\n%s", file, w, r.DomainXML)
				}
			}
		}
	}
}

// A VM renders as the VMI its template makes, named and namespaced as the
// VM; the controller's flags reach the Pod and the domain.
func TestRenderVirtualMachine(t *testing.T) {
	opts := RenderDefaults()
	opts.Domain.Type = "qemu"
	opts.Pod.Image = "registry.example/launcher:v1"
	rendered, err := renderFile(t, "testdata/render/vm.yaml", opts)
	if err != nil {
		t.Fatal(err)
	}
	r := rendered[0]
	if r.Pod.Name != domainspec.PodName("web") || r.Pod.Namespace != "vms" || r.Pod.Labels[domainspec.LabelVMI] != "web" {
		t.Errorf("Pod %s/%s labels %v", r.Pod.Namespace, r.Pod.Name, r.Pod.Labels)
	}
	if r.Pod.Spec.Containers[0].Image != opts.Pod.Image || !strings.HasPrefix(r.DomainXML, `<domain type="qemu">`) {
		t.Errorf("image %s, domain %.40s: the flags were not used", r.Pod.Spec.Containers[0].Image, r.DomainXML)
	}
	// Defaulted as the webhook does: the pod network's interface.
	if !strings.Contains(r.DomainXML, `<interface type="ethernet">`) {
		t.Errorf("the template was not defaulted (no default interface):\n%s", r.DomainXML)
	}
}

// Refusals name the field, as the webhook would deny them.
func TestRenderRefusalsNameTheField(t *testing.T) {
	for file, fields := range map[string][]string{
		"bad-vmi.yaml":       {"spec.domain.devices.disks[0].name", "would deny"},
		"bad-vm.yaml":        {"spec.running", "spec.template.spec.domain.devices.disks"},
		"unknown-field.yaml": {`unknown field "spec.domain.devices.autoattachPodInterfase"`},
	} {
		_, err := renderFile(t, filepath.Join("testdata/render", file), RenderDefaults())
		if err == nil {
			t.Errorf("%s rendered", file)
			continue
		}
		for _, f := range fields {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("%s: %v\nwant it to name %s", file, err, f)
			}
		}
	}
	if _, _, err := RenderManifests(strings.NewReader("apiVersion: v1\nkind: ConfigMap\n"), "cm.yaml", RenderDefaults()); err == nil || !strings.Contains(err.Error(), "no podvirt.io/v1alpha1") {
		t.Errorf("a file without a VMI: %v", err)
	}
}

// The command: Pod YAML then the domain XML, the unsigned note in a
// comment; -o yaml is the Pod alone, parseable, the note on stderr.
func TestRenderCommandOutput(t *testing.T) {
	run := func(args ...string) (string, string) {
		t.Helper()
		root := NewRootNamed("podvirtctl")
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String(), errOut.String()
	}
	out, _ := run("render", "../../examples/vmi-tiny.yaml")
	pod, xml, ok := strings.Cut(out, "# Domain XML of")
	if !ok || !strings.Contains(pod, "UNSIGNED") || !strings.Contains(pod, "kind: Pod") || !strings.Contains(xml, "\n<domain type=\"kvm\">") {
		t.Errorf("output:\n%s", out)
	}
	out, errOut := run("render", "-f", "../../examples/vmi-tiny.yaml", "-o", "yaml", "--domain-type", "qemu")
	p := &corev1.Pod{}
	if err := yaml.UnmarshalStrict([]byte(out), p); err != nil || p.Kind != "Pod" || !strings.HasPrefix(p.Annotations[domainspec.AnnotationDomain], `<domain type="qemu">`) {
		t.Errorf("-o yaml: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "UNSIGNED") {
		t.Errorf("-o yaml does not say the Pod is unsigned: %q", errOut)
	}
}
