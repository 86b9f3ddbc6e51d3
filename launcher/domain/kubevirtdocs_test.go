package domain_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/types"
	"libvirt.org/go/libvirtxml"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/test/kvdocs"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// The VMIs of test/e2e/testdata/kubevirt-docs are KubeVirt's user guide's
// (and a few of KubeVirt's examples/), with their apiVersion changed and,
// where a page elides parts, what each file's header says. These tests take each the way the
// cluster does, without one: the CRD's structural schema (unknown fields,
// then types, enums and bounds, as kube-apiserver's strict field
// validation), the defaulting webhook's rules, the validating webhook's
// rules, then the launcher controller's rendering. The e2e test
// TestKubeVirtDocsAdmitted sends the same files to a real API server.
const kubevirtDocs = "../../test/e2e/testdata/kubevirt-docs"

// TestKubeVirtDocsVMIsAdmittedAndBootable: every VMI of the directory is
// admitted, stays valid for the schema once defaulted, and renders a domain
// that boots: a disk with boot order 1, an <os><boot> entry, or a kernel.
func TestKubeVirtDocsVMIsAdmittedAndBootable(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(kubevirtDocs, "*.yaml"))
	if err != nil || len(files) < 15 {
		t.Fatalf("kubevirt-docs VMIs: %d files, %v", len(files), err)
	}
	s := loadVMISchema(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(raw), "# From KubeVirt's user guide, https://kubevirt.io/user-guide/") &&
				!strings.HasPrefix(string(raw), "# From KubeVirt's examples, https://github.com/kubevirt/kubevirt/blob/") {
				t.Errorf("the file does not say which page of KubeVirt's user guide, or which of KubeVirt's examples, it is from")
			}
			vmi, errs := s.admit(t, raw)
			if len(errs) > 0 {
				t.Fatalf("refused:\n  %s", strings.Join(errs, "\n  "))
			}
			// Field by field against the file's default lines (the e2e
			// test checks the same lines against the API server's answer).
			problems, err := kvdocs.Compare(raw, asDecoded(t, raw), mustJSON(t, vmi))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
			// What the mutating webhook patches in must itself pass the
			// schema, as the API server checks it again after mutation.
			if errs := s.schemaErrors(t, mustJSON(t, vmi)); len(errs) > 0 {
				t.Errorf("the defaulted VMI fails the schema:\n  %s", strings.Join(errs, "\n  "))
			}
			dom, err := domain.Render(vmi, domain.Options{})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if !bootable(t, dom) {
				t.Errorf("nothing to boot in the domain: os %+v, disks %+v", dom.OS, dom.Devices.Disks)
			}
			if got, want := len(dom.Devices.Disks), len(vmi.Spec.Volumes); got != want {
				t.Errorf("%d disks in the domain for %d volumes: every volume is a disk", got, want)
			}
		})
	}
}

// TestKubeVirtDocsRefusedNameTheField: the VMIs of refused/ use fields
// outside podvirt's subset; each is refused with every "# want:" line of
// its file among the errors, which name the field.
func TestKubeVirtDocsRefusedNameTheField(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(kubevirtDocs, "refused", "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("refused kubevirt-docs VMIs: %d files, %v", len(files), err)
	}
	s := loadVMISchema(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := kvdocs.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			wants := h.Wants
			if len(wants) == 0 {
				t.Fatal(`no "# want:" line`)
			}
			_, errs := s.admit(t, raw)
			all := strings.Join(errs, "\n")
			for _, w := range wants {
				if !strings.Contains(all, w) {
					t.Errorf("errors lack %q:\n%s", w, all)
				}
			}
		})
	}
}

// asDecoded is the manifest as the Go types read and write it, so that
// what defaulting changes is all that differs from a VMI encoded after it.
func asDecoded(t *testing.T, manifest []byte) []byte {
	t.Helper()
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatal(err)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(js, vmi); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, vmi)
}

// bootable: the XML libvirt gets boots a kernel, has an <os><boot>
// entry, or a disk or interface with boot order 1.
func bootable(t *testing.T, dom *libvirtxml.Domain) bool {
	t.Helper()
	x, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := domainspec.Parse(x)
	if err != nil {
		t.Fatalf("the rendered XML does not parse back: %v", err)
	}
	if parsed.OS != nil && (len(parsed.OS.BootDevices) > 0 || parsed.OS.Kernel != "") {
		return true
	}
	for _, disk := range parsed.Devices.Disks {
		if disk.Boot != nil && disk.Boot.Order == 1 {
			return true
		}
	}
	for _, nic := range parsed.Devices.Interfaces {
		if nic.Boot != nil && nic.Boot.Order == 1 {
			return true
		}
	}
	return false
}

// vmiSchema is the VMI CRD's schema as kube-apiserver uses it.
type vmiSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

func loadVMISchema(t *testing.T) *vmiSchema {
	t.Helper()
	raw, err := fs.ReadFile(crds.Bases, "bases/podvirt.io_virtualmachineinstances.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v1crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &v1crd); err != nil {
		t.Fatal(err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
	var crd apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
		t.Fatal(err)
	}
	// The internal version holds a schema shared by all versions at the
	// top, else per version.
	var props *apiextensions.JSONSchemaProps
	if crd.Spec.Validation != nil {
		props = crd.Spec.Validation.OpenAPIV3Schema
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" && v.Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
	}
	if props == nil {
		t.Fatal("the VMI CRD has no v1alpha1 schema")
	}
	s, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	return &vmiSchema{structural: s, validator: validator}
}

// schemaErrors are what the schema says of a JSON object: its unknown
// fields, worded as kube-apiserver's strict field validation words them,
// then the schema's own checks.
func (s *vmiSchema) schemaErrors(t *testing.T, js []byte) []string {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(js, &obj); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, p := range pruning.PruneWithOptions(obj, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, fmt.Sprintf("unknown field %q", p))
	}
	for _, e := range apiservervalidation.ValidateCustomResource(nil, obj, s.validator) {
		errs = append(errs, e.Error())
	}
	return errs
}

// admit takes a manifest through the schema, then defaulting and
// validation, as a create does; it returns the defaulted VMI and every
// error, each worded as the client would see it.
func (s *vmiSchema) admit(t *testing.T, manifest []byte) (*v1alpha1.VirtualMachineInstance, []string) {
	t.Helper()
	js, err := yaml.YAMLToJSON(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.schemaErrors(t, js); len(errs) > 0 {
		return nil, errs
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := json.Unmarshal(js, vmi); err != nil {
		t.Fatal(err)
	}
	// What the API server sets on create.
	vmi.Namespace, vmi.UID = "docs", types.UID("4d1f0c8e-5b57-4c2e-9a1d-0e6f3b2a7c91")
	vmirules.Default(vmi)
	var errs []string
	for _, e := range vmirules.Validate(vmi) {
		errs = append(errs, e.Error())
	}
	return vmi, errs
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInvalidManifestsRefusedOffline runs the e2e test
// TestInvalidManifestsRejected's manifests (test/e2e/testdata/invalid)
// through the same schema and rules without a cluster, so that a changed
// rule or message shows here first.
func TestInvalidManifestsRefusedOffline(t *testing.T) {
	files, err := filepath.Glob("../../test/e2e/testdata/invalid/*.yaml")
	if err != nil || len(files) < 12 {
		t.Fatalf("invalid manifests: %d files, %v", len(files), err)
	}
	s := loadVMISchema(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			h, err := kvdocs.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			_, errs := s.admit(t, raw)
			all := strings.Join(errs, "\n")
			for _, w := range h.Wants {
				if !strings.Contains(all, w) {
					t.Errorf("errors lack %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestKubeVirtDocsHardwareRendered: the user guide's (and KubeVirt's
// examples') clock, Hyper-V, TPM, input, multiqueue and dedicated-CPU VMIs
// render what KubeVirt's converter renders for them.
func TestKubeVirtDocsHardwareRendered(t *testing.T) {
	s := loadVMISchema(t)
	for file, want := range map[string][]string{
		"hardware-clock-utc.yaml": {`<clock offset="utc" adjustment="reset"></clock>`},
		"hardware-clock-timers.yaml": {`<clock offset="utc" adjustment="reset"><timer name="rtc" tickpolicy="catchup" present="yes"></timer>` +
			`<timer name="pit" tickpolicy="delay" present="yes"></timer><timer name="hpet" present="no"></timer><timer name="hypervclock" present="yes"></timer></clock>`},
		"hardware-features-hyperv.yaml": {`<features><acpi></acpi><apic></apic><hyperv><relaxed state="on"></relaxed><vapic state="on"></vapic><spinlocks state="on" retries="8191"></spinlocks></hyperv></features>`},
		"hardware-input-tablet.yaml":    {`<input type="tablet" bus="virtio" model="virtio"><alias name="ua-tablet1"></alias></input>`},
		"disks-block-multiqueue.yaml":   {`<driver name="qemu" type="raw" queues="4"></driver>`},
		"examples-vmi-windows.yaml": {`<tpm model="tpm-tis"><backend type="emulator" version="2.0"></backend></tpm>`, `<smm state="on"></smm>`,
			`<hyperv><relaxed state="on"></relaxed><vapic state="on"></vapic><spinlocks state="on" retries="8191"></spinlocks></hyperv>`,
			`<timer name="hypervclock" present="yes"></timer>`, `<model type="e1000"></model>`},
		"examples-vmi-fedora-isolated.yaml": {`<kvm><hint-dedicated state="on"></hint-dedicated></kvm>`, `<dedicatedCpus isolateEmulatorThread="true"></dedicatedCpus>`},
		"dedicated-cpu-topology.yaml":       {`<vcpu placement="static">2</vcpu>`, `<dedicatedCpus></dedicatedCpus>`},
	} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(kubevirtDocs, file))
			if err != nil {
				t.Fatal(err)
			}
			vmi, errs := s.admit(t, raw)
			if len(errs) > 0 {
				t.Fatalf("refused: %v", errs)
			}
			x, err := domain.RenderXML(vmi, domain.Options{})
			if err != nil {
				t.Fatal(err)
			}
			x = regexp.MustCompile(`>\s+<`).ReplaceAllString(x, "><")
			for _, w := range want {
				if !strings.Contains(x, w) {
					t.Errorf("the domain lacks %s:\n%s", w, x)
				}
			}
		})
	}
}
