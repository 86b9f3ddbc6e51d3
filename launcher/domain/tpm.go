package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderTPM attaches an emulated TPM 2.0 as KubeVirt's converter does for
// a TPM that is not persistent (compute/tpm.go): model tpm-tis, backend
// emulator version 2.0. libvirt runs swtpm for it, so the node needs the
// swtpm and swtpm-tools packages; its state lives in libvirt's swtpm
// directory and is removed when the domain is undefined. A persistent TPM
// (KubeVirt's tpm-crb with persistent_state) is refused at admission.
func renderTPM(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	t := vmi.Spec.Domain.Devices.TPM
	if t == nil || (t.Enabled != nil && !*t.Enabled) {
		return nil
	}
	dom.Devices.TPMs = []libvirtxml.DomainTPM{{
		Model:   "tpm-tis",
		Backend: &libvirtxml.DomainTPMBackend{Emulator: &libvirtxml.DomainTPMBackendEmulator{Version: "2.0"}},
	}}
	return nil
}
