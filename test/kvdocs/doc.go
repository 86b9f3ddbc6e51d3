// Package kvdocs reads the expectations written into the headers of the
// VMIs of test/e2e/testdata/kubevirt-docs (manifests from KubeVirt's
// documentation) and checks a defaulted VMI against them, field by field.
// The unit tests (launcher/domain, no cluster) and the e2e tests (a real
// kube-apiserver and podvirt's webhooks) share it, so both hold every file
// to the same lines.
//
// A header line is one of:
//
//	# want: TEXT                 the refusal names this (refused/ only)
//	# default: PATH = JSON       KubeVirt's default, and podvirt's
//	# podvirt default: PATH = JSON
//	                             podvirt's, where it differs from KubeVirt's
//	                             (each difference is argued in docs/api.md)
//	# kubevirt only: PATH (WHAT)  KubeVirt's admission sets PATH, podvirt's
//	                             leaves it as it is
//	# boot: no, REASON           not booted by the e2e corpus test
//
// PATH is a field path in the notation of apimachinery's field errors
// (spec.domain.devices.disks[0].disk.bus); JSON is the value the stored
// VMI holds there. The defaults of a file are exactly what admission adds
// or changes under spec: a default left out, one more, or another value
// fails the check, and so does a change at a kubevirt-only path. Together
// the lines compare the stored spec with KubeVirt's, field by field.
package kvdocs
