package policies_test

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// A webhook compiles its policies once, then for each request parses the
// object once: the typed VMI for its own checks and the policies' input
// come from the same document.
func Example() {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		panic(err)
	}
	var policy v1alpha1.VMIPolicy
	if err := yaml.Unmarshal([]byte(`
metadata: {name: max-vcpus}
spec:
  params: {max: 4}
  validations:
  - expression: object.spec.domain.?cpu.?cores.orValue(1) <= params.max
    messageExpression: "'at most ' + string(params.max) + ' cores'"
`), &policy); err != nil {
		panic(err)
	}
	compiled, errs := compiler.Compile(&policy)
	if len(errs) > 0 {
		panic(errs.ToAggregate())
	}
	set := policies.NewPolicySet([]*policies.CompiledPolicy{compiled})

	// One request.
	raw := []byte(`{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance",` +
		`"metadata":{"name":"big","namespace":"prod"},"spec":{"domain":{"cpu":{"cores":8}}}}`)
	object, err := policies.DecodeObject(raw)
	if err != nil {
		panic(err)
	}
	var typed policies.TypedDecoder
	var vmi v1alpha1.VirtualMachineInstance
	if err := typed.Decode(object, &vmi); err != nil {
		panic(err)
	}
	fmt.Println("cores:", vmi.Spec.Domain.CPU.Cores)

	req := &admissionv1.AdmissionRequest{
		Name: "big", Namespace: "prod", Operation: admissionv1.Create,
		Object: runtime.RawExtension{Raw: raw},
	}
	in := policies.NewDecodedInput(req, object, nil, nil, nil)
	verdict := set.Decide(set.Evaluate(context.Background(), in, nil))
	fmt.Println(verdict.Allowed, verdict.Message)
	// Output:
	// cores: 8
	// false VMIPolicy 'max-vcpus' denied request: at most 4 cores
}
