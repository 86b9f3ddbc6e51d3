package domainspec

import (
	"encoding/xml"
	"fmt"

	"libvirt.org/go/libvirtxml"
)

// MetadataNamespace is the XML namespace of podvirt's element in the
// domain's <metadata>.
const MetadataNamespace = "https://podvirt.io/domain/v1alpha1"

// Metadata is what the node agent needs to know about the domain that the
// XML itself does not say: whose it is, and which image holds the kernel.
type Metadata struct {
	XMLName   xml.Name `xml:"https://podvirt.io/domain/v1alpha1 vmi"`
	Namespace string   `xml:"namespace,attr"`
	Name      string   `xml:"name,attr"`
	UID       string   `xml:"uid,attr"`
	// GracePeriodSeconds is how long the guest gets to power off after an
	// ACPI shutdown request before it is destroyed.
	GracePeriodSeconds int64               `xml:"gracePeriodSeconds,attr"`
	KernelBoot         *KernelBootMetadata `xml:"kernelBoot,omitempty"`
	// DedicatedCPUs says the vCPUs are to be pinned, each to a CPU of its
	// own among those the kubelet gave the launcher container exclusively
	// (NodeFacts.CPUPins); the node agent fails the VMI when the container
	// has no exclusive CPUs.
	DedicatedCPUs *DedicatedCPUsMetadata `xml:"dedicatedCpus,omitempty"`
	// Volumes say where each disk's data comes from; the node agent prepares
	// the file DiskFile(name) from it.
	Volumes []VolumeMetadata `xml:"volume"`
}

// Volume source kinds in VolumeMetadata.Kind.
const (
	VolumeContainerDisk    = "containerDisk"
	VolumeCloudInitNoCloud = "cloudInitNoCloud"
	VolumeEmptyDisk        = "emptyDisk"
	VolumePVC              = "persistentVolumeClaim"
	VolumeHostDisk         = "hostDisk"
	VolumeEphemeral        = "ephemeral"
)

// VolumeMetadata is one volume's source.
type VolumeMetadata struct {
	Name       string `xml:"name,attr"`
	Kind       string `xml:"kind,attr"`
	Image      string `xml:"image,attr,omitempty"`
	Path       string `xml:"path,attr,omitempty"`
	PullPolicy string `xml:"pullPolicy,attr,omitempty"`
	// CapacityBytes is the size of an emptyDisk or a created hostDisk.
	CapacityBytes int64  `xml:"capacityBytes,attr,omitempty"`
	ClaimName     string `xml:"claimName,attr,omitempty"`
	// ReadOnly is a persistentVolumeClaim attached read-only.
	ReadOnly bool `xml:"readOnly,attr,omitempty"`
	// Create is a hostDisk of type DiskOrCreate: its image is made
	// (CapacityBytes, sparse) when absent.
	Create bool `xml:"create,attr,omitempty"`
	// UserData and NetworkData are a cloudInitNoCloud volume's documents,
	// base64-encoded: user data may be binary (gzip), XML text may not.
	UserData    string `xml:"userData,omitempty"`
	NetworkData string `xml:"networkData,omitempty"`
	// UserDataSecret names the Secret holding the user data instead.
	UserDataSecret string `xml:"userDataSecret,attr,omitempty"`
}

// DedicatedCPUsMetadata asks for dedicated CPUs.
type DedicatedCPUsMetadata struct {
	// IsolateEmulatorThread pins QEMU's emulator thread to one more
	// dedicated CPU.
	IsolateEmulatorThread bool `xml:"isolateEmulatorThread,attr,omitempty"`
}

// KernelBootMetadata names the image whose files the domain's <kernel> and
// <initrd> paths refer to.
type KernelBootMetadata struct {
	Image      string `xml:"image,attr"`
	PullPolicy string `xml:"pullPolicy,attr,omitempty"`
}

// ReadMetadata returns podvirt's metadata element of a domain.
func ReadMetadata(dom *libvirtxml.Domain) (*Metadata, error) {
	if dom.Metadata == nil {
		return nil, fmt.Errorf("domain %q has no podvirt metadata", dom.Name)
	}
	md := &Metadata{}
	if err := xml.Unmarshal([]byte(dom.Metadata.XML), md); err != nil {
		return nil, fmt.Errorf("domain %q: reading podvirt metadata: %w", dom.Name, err)
	}
	return md, nil
}

// Element is the metadata as the domain's <metadata> element.
func (md *Metadata) Element() (*libvirtxml.DomainMetadata, error) {
	out, err := xml.Marshal(md)
	if err != nil {
		return nil, fmt.Errorf("marshalling the domain metadata: %w", err)
	}
	return &libvirtxml.DomainMetadata{XML: string(out)}, nil
}
