package webhooks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/webhooks/vmirules"
)

// notDefaultedHint tells an operator what to do when a created VMI reaches
// /validate-vmi without its defaults.
const notDefaultedHint = "not defaulted: the kube-apiserver did not apply podvirt's defaults " +
	"(MutatingAdmissionPolicy podvirt-vmi-defaults, Kubernetes 1.36 or later, and the /mutate-vmi webhook); " +
	"apply deploy/base of this podvirt release"

// notDefaulted returns one error per member of the VMI's spec that
// vmirules.Default would still set or change, or nil when the VMI carries
// its defaults.
//
// Most defaults are set inside the kube-apiserver by a
// MutatingAdmissionPolicy (deploy/base/vmi-defaults.yaml), the rest by
// /mutate-vmi; vmirules.Default is the reference both must agree with. A
// VMI stored without them would be rendered from guesses, so a policy
// missing, out of date or disagreeing is a refused create that names the
// fields, never a guest started on other defaults.
func notDefaulted(raw []byte, vmi *v1alpha1.VirtualMachineInstance) field.ErrorList {
	defaulted := &v1alpha1.VirtualMachineInstance{Spec: *vmi.Spec.DeepCopy()}
	vmirules.Default(defaulted)
	if equality.Semantic.DeepEqual(vmi.Spec, defaulted.Spec) {
		return nil
	}
	ops, err := specPatch(raw, &vmi.Spec, &defaulted.Spec)
	if err != nil || len(ops) == 0 {
		// The same JSON, spelled differently in Go: nothing is missing.
		return nil
	}
	errs := make(field.ErrorList, 0, len(ops))
	for i, op := range ops {
		want, _ := json.Marshal(op.Value)
		msg := fmt.Sprintf("not defaulted (want %s)", want)
		if i == 0 {
			// The remedy once, not once per field.
			msg = fmt.Sprintf("%s (want %s)", notDefaultedHint, want)
		}
		errs = append(errs, field.Required(pointerPath(op.Path), msg))
	}
	return errs
}

// pointerPath turns a JSON pointer into a field path: numeric segments
// are list indexes, "-" (append) is left as it is.
func pointerPath(pointer string) *field.Path {
	var p *field.Path
	for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		if i, err := strconv.Atoi(seg); err == nil && p != nil {
			p = p.Index(i)
			continue
		}
		if p == nil {
			p = field.NewPath(seg)
		} else {
			p = p.Child(seg)
		}
	}
	return p
}
