// Package policies is podvirt's engine for VMIPolicies: CEL policy-as-code
// for VirtualMachineInstances with the model, semantics and limits of a
// Kubernetes ValidatingAdmissionPolicy (VAP).
//
// # Meaning
//
// Expressions are compiled with cel-go in the environment kube-apiserver
// builds for a VAP (k8s.io/apiserver/pkg/cel/environment at the default
// compatibility version, with the Kubernetes libraries: quantity, lists,
// regex, urls, ip, cidr, format, semver, sets, strings, two-variable
// comprehensions, optionals) and see the same variables: object,
// oldObject, request, params, namespaceObject and variables. The values are
// the ones a VAP sees for a custom resource: the object as decoded JSON. So
// an expression means here exactly what it means in a VAP; ExportVAP
// produces the equivalent VAP and binding.
//
// Beyond a VAP, object and oldObject are typed from the VMI CRD's OpenAPI
// schema (embedded in package crds), with metadata typed as ObjectMeta: a
// misspelt field (object.spec.domian) or a type error is a compile error
// with the compiler's position, and the policy is rejected when it is
// created or updated (Compiler.Validate) instead of failing at run time.
// The static types follow the run-time values: formatted strings
// (date-time, byte...) are strings, numbers are dyn.
//
// # Cost
//
// Run-time limits are VAP's: celconfig.PerCallLimit per expression,
// RuntimeCELCostBudget per evaluation of validations and of audit
// annotations, RuntimeCELCostBudgetMatchConditions for matchConditions;
// exceeding one is a runtime error handled by failurePolicy. Every
// expression's worst-case cost is estimated at compile time for several
// object sizes (Costs, `podvirtctl policy lint`). When the estimate for
// the request's object size proves that no limit can be reached, the
// evaluation runs the same plan without cost tracking, which cel-go pays
// for with allocations on every call; otherwise it runs the cost-tracked
// program kube-apiserver would run.
//
// # Use
//
// The VMIPolicy admission webhook calls Compiler.Validate. A controller
// feeds Cache from a VMIPolicy informer (Cache.Upsert compiles once per
// generation and returns the errors for the status). The VMI validating
// webhook parses each request's object once with DecodeObject into a
// compact document, fills its typed VirtualMachineInstance from that
// document with a TypedDecoder (for the built-in checks), builds an Input
// with NewDecodedInput, evaluates Cache.Set() and turns the results into a
// Verdict with PolicySet.Decide. Nothing is compiled on the request path.
package policies
