package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestTPM(t *testing.T) {
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.TPM = &v1alpha1.TPMDevice{}
	// KubeVirt's non-persistent TPM: tpm-tis, emulator 2.0, no persistent
	// state.
	wantXML(t, renderXML(t, vmi), []string{`<tpm model="tpm-tis"><backend type="emulator" version="2.0"></backend></tpm>`}, "persistent_state")
	vmi.Spec.Domain.Devices.TPM = &v1alpha1.TPMDevice{Enabled: ptr.To(false)}
	wantXML(t, renderXML(t, vmi), nil, "<tpm")
	wantXML(t, renderXML(t, tinyVMI()), nil, "<tpm")
}
