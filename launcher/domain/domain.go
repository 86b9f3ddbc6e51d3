package domain

import (
	"fmt"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// Options are the cluster-wide settings of rendering.
type Options struct {
	// Type is the libvirt domain type: "kvm" on real clusters, "qemu" for
	// software emulation where KVM is unusable. Defaults to "kvm".
	Type string
}

// DefaultType is the domain type used when Options.Type is empty.
const DefaultType = "kvm"

// Render builds the libvirt domain of a defaulted VMI.
func Render(vmi *v1alpha1.VirtualMachineInstance, opts Options) (*libvirtxml.Domain, error) {
	if vmi.UID == "" {
		return nil, fmt.Errorf("VirtualMachineInstance %s/%s has no UID yet", vmi.Namespace, vmi.Name)
	}
	typ := opts.Type
	if typ == "" {
		typ = DefaultType
	}
	dom := &libvirtxml.Domain{
		Type:       typ,
		Name:       domainspec.Name(vmi.Namespace, vmi.Name),
		UUID:       domainUUID(vmi),
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
	}
	steps := []func(*v1alpha1.VirtualMachineInstance, *libvirtxml.Domain) error{
		renderMetadata, renderCPU, renderMemory, renderFirmware, renderSysInfo, renderFeatures,
		renderHyperv, renderDedicatedCPUs, renderClock, renderDevices, renderDisks, renderInterfaces,
		renderInputs, renderRng, renderTPM, renderGraphics,
	}
	for _, step := range steps {
		if err := step(vmi, dom); err != nil {
			return nil, err
		}
	}
	return dom, nil
}

// RenderXML renders the domain and marshals it.
func RenderXML(vmi *v1alpha1.VirtualMachineInstance, opts Options) (string, error) {
	dom, err := Render(vmi, opts)
	if err != nil {
		return "", err
	}
	out, err := dom.Marshal()
	if err != nil {
		return "", fmt.Errorf("marshalling the domain XML: %w", err)
	}
	return out, nil
}

// domainUUID is the firmware UUID the user chose, else the VMI's UID.
func domainUUID(vmi *v1alpha1.VirtualMachineInstance) string {
	if fw := vmi.Spec.Domain.Firmware; fw != nil && fw.UUID != "" {
		return string(fw.UUID)
	}
	return string(vmi.UID)
}
