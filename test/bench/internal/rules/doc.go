// Package rules reads the benchmark's CEL rules (a TSV of name, expression,
// message: test/bench/testdata/rules-16.tsv) and renders the same rules as
// each policy engine's objects, so the engines compare on equal work:
// podvirt VMIPolicies, native ValidatingAdmissionPolicies with their
// bindings, and Kyverno ValidatingPolicies. One object (or VAP + binding)
// per rule, all matching CREATE and UPDATE of VirtualMachineInstances,
// all denying on failure, all labelled as the benchmark's own (Label).
package rules
