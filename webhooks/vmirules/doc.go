// Package vmirules holds the rules every VirtualMachineInstance is held to
// at admission, as pure functions: Default (what the user left out, as
// KubeVirt fills it in; idempotent), Validate (every semantic problem of a
// defaulted VMI at once, each with its field path) and ValidateUpdate (the
// spec is immutable). It owns the limits and defaults they apply
// (MaxVCPUs, MinGuestMemory, DefaultMachineType, ...) and the image
// reference fast path that keeps Validate allocation-free for a valid VMI.
//
// No server, no decoding, no I/O: the admission handlers in package
// webhooks call these, and the table tests and BenchmarkValidate run them
// directly. Imports: crds/v1alpha1, k8s.io/api, k8s.io/apimachinery
// (field errors, validation helpers), k8s.io/utils/ptr and
// go-containerregistry's name parser; never controller-runtime (crds
// brings in only its scheme builder), policies or webhooks.
//
// The table of mistakes lives in vmirulestest, so that webhooks runs the
// same table through the validating handler.
package vmirules
