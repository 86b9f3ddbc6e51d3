package podvirtctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/launcher/pod"
	"github.com/podvirt/podvirt/webhooks"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// OfflineUID is the UID a rendered VMI gets when its manifest has none:
// the API server assigns the real one, and the domain's UUID, name of
// the Pod's label and owner reference follow it.
const OfflineUID types.UID = "00000000-0000-0000-0000-000000000000"

// RenderOptions are what the controller takes as flags, with its defaults
// (RenderDefaults), and what the API server would have filled in.
type RenderOptions struct {
	Domain domain.Options
	Pod    pod.Options
	// Namespace is used when a manifest names none (kubectl apply's -n).
	Namespace string
	// UID is used when a manifest has none.
	UID types.UID
}

// RenderDefaults are the controller's defaults (podvirt-controller's
// --domain-type, --launcher-image, --launcher-image-pull-policy,
// --container-disk-bytes).
func RenderDefaults() RenderOptions {
	return RenderOptions{Domain: domain.Options{Type: domain.DefaultType}, Pod: pod.DefaultOptions(), Namespace: "default", UID: OfflineUID}
}

// Rendered is one manifest's launcher Pod, as the controller creates it.
type Rendered struct {
	// Source names the manifest: its kind and name.
	Source string
	Pod    *corev1.Pod
	// DomainXML is the Pod's podvirt.io/domain annotation.
	DomainXML string
}

// RenderManifests renders every VirtualMachineInstance and VirtualMachine
// in the YAML or JSON documents of r (file names the input in errors).
// Other kinds are skipped, each named in skipped.
func RenderManifests(r io.Reader, file string, opts RenderOptions) (out []Rendered, skipped []string, err error) {
	docs := k8syaml.NewYAMLReader(bufio.NewReader(r))
	for i := 0; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: reading document %d: %w", file, i+1, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d is not YAML or JSON: %w", file, i+1, err)
		}
		if string(raw) == "null" {
			continue // only comments
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(raw, &tm); err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		rendered, err := renderDocument(raw, tm, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		if rendered == nil {
			skipped = append(skipped, fmt.Sprintf("document %d (%s %s)", i+1, tm.APIVersion, tm.Kind))
			continue
		}
		out = append(out, *rendered)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("%s holds no %s VirtualMachineInstance or VirtualMachine", file, v1alpha1.GroupVersion)
	}
	return out, skipped, nil
}

// renderDocument renders one VMI or VM document; nil for other kinds.
func renderDocument(raw []byte, tm metav1.TypeMeta, opts RenderOptions) (*Rendered, error) {
	if tm.APIVersion != v1alpha1.GroupVersion.String() {
		return nil, nil
	}
	var vmi *v1alpha1.VirtualMachineInstance
	switch tm.Kind {
	case "VirtualMachineInstance":
		vmi = &v1alpha1.VirtualMachineInstance{}
		if err := decodeStrict(raw, vmi); err != nil {
			return nil, err
		}
		fill(&vmi.ObjectMeta, opts)
		// The mutating webhook, then the validating one's built-in rules.
		vmirules.Default(vmi)
		if errs := vmirules.Validate(vmi); len(errs) > 0 {
			return nil, denied("VirtualMachineInstance", vmi.Name, errs)
		}
	case "VirtualMachine":
		vm := &v1alpha1.VirtualMachine{}
		if err := decodeStrict(raw, vm); err != nil {
			return nil, err
		}
		fill(&vm.ObjectMeta, opts)
		// The VM webhook judges the VMI its template makes; the VM
		// controller creates that VMI, which the VMI webhooks default
		// and validate again, to the same result.
		made, errs := webhooks.ValidateVM(vm)
		if len(errs) > 0 {
			return nil, denied("VirtualMachine", vm.Name, errs)
		}
		vmi = made
		vmi.UID = opts.UID
	default:
		return nil, nil
	}
	xml, err := domain.RenderXML(vmi, opts.Domain)
	if err != nil {
		return nil, fmt.Errorf("rendering the domain of %s: %w", vmi.Name, err)
	}
	p, err := pod.Render(vmi, xml, opts.Pod)
	if err != nil {
		return nil, fmt.Errorf("rendering the launcher Pod of %s: %w", vmi.Name, err)
	}
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	return &Rendered{Source: tm.Kind + " " + vmi.Name, Pod: p, DomainXML: xml}, nil
}

// decodeStrict decodes as the API server does with kubectl's strict field
// validation: an unknown field is an error naming its path.
func decodeStrict(raw []byte, into any) error {
	strict, err := sigsjson.UnmarshalStrict(raw, into)
	if err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("the API server would refuse it (strict field validation): %s", strings.Join(msgs, "; "))
	}
	return nil
}

// fill sets what the API server would: the namespace from -n, a UID.
func fill(m *metav1.ObjectMeta, opts RenderOptions) {
	if m.Namespace == "" {
		m.Namespace = opts.Namespace
	}
	if m.UID == "" {
		m.UID = opts.UID
	}
}

// denied is the admission webhook's refusal: every field error, one a line.
func denied(kind, name string, errs field.ErrorList) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = "  " + e.Error()
	}
	return fmt.Errorf("%s %s: podvirt's admission webhook would deny it:\n%s", kind, name, strings.Join(lines, "\n"))
}

// unsignedNote says why a rendered Pod has no signature annotation.
const unsignedNote = "The launcher Pod is UNSIGNED (no " + domainspec.AnnotationSignature + "): the controller signs the domain with its key\n" +
	"only once the Pod is scheduled, for that node; the Pod it creates has no signature until then, as here.\n" +
	"Offline there is neither key nor node, and a node agent refuses an unsigned domain."
