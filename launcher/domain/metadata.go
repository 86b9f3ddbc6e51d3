package domain

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
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
	// UserData and NetworkData are a cloudInitNoCloud volume's documents,
	// base64-encoded: user data may be binary (gzip), XML text may not.
	UserData    string `xml:"userData,omitempty"`
	NetworkData string `xml:"networkData,omitempty"`
	// UserDataSecret names the Secret holding the user data instead.
	UserDataSecret string `xml:"userDataSecret,attr,omitempty"`
}

// KernelBootMetadata names the image whose files the domain's <kernel> and
// <initrd> paths refer to.
type KernelBootMetadata struct {
	Image      string `xml:"image,attr"`
	PullPolicy string `xml:"pullPolicy,attr,omitempty"`
}

func renderMetadata(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	md := Metadata{Namespace: vmi.Namespace, Name: vmi.Name, UID: string(vmi.UID), GracePeriodSeconds: 30}
	if g := vmi.Spec.TerminationGracePeriodSeconds; g != nil {
		md.GracePeriodSeconds = *g
	}
	if c := kernelBootContainer(vmi); c != nil {
		md.KernelBoot = &KernelBootMetadata{Image: c.Image, PullPolicy: string(c.ImagePullPolicy)}
	}
	for _, v := range vmi.Spec.Volumes {
		md.Volumes = append(md.Volumes, volumeMetadata(v))
	}
	out, err := xml.Marshal(md)
	if err != nil {
		return fmt.Errorf("marshalling the domain metadata: %w", err)
	}
	dom.Metadata = &libvirtxml.DomainMetadata{XML: string(out)}
	return nil
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

func volumeMetadata(v v1alpha1.Volume) VolumeMetadata {
	vm := VolumeMetadata{Name: v.Name}
	switch {
	case v.ContainerDisk != nil:
		vm.Kind, vm.Image, vm.Path, vm.PullPolicy = VolumeContainerDisk, v.ContainerDisk.Image, v.ContainerDisk.Path, string(v.ContainerDisk.ImagePullPolicy)
	case v.CloudInitNoCloud != nil:
		ci := v.CloudInitNoCloud
		vm.Kind = VolumeCloudInitNoCloud
		vm.UserData = base64Document(ci.UserData, ci.UserDataBase64)
		vm.NetworkData = base64Document(ci.NetworkData, ci.NetworkDataBase64)
		if ci.UserDataSecretRef != nil {
			vm.UserDataSecret = ci.UserDataSecretRef.Name
		}
	case v.EmptyDisk != nil:
		vm.Kind, vm.CapacityBytes = VolumeEmptyDisk, v.EmptyDisk.Capacity.Value()
	case v.PersistentVolumeClaim != nil:
		vm.Kind, vm.ClaimName = VolumePVC, v.PersistentVolumeClaim.ClaimName
	case v.HostDisk != nil:
		vm.Kind, vm.Path = VolumeHostDisk, v.HostDisk.Path
		if v.HostDisk.Capacity != nil {
			vm.CapacityBytes = v.HostDisk.Capacity.Value()
		}
	}
	return vm
}

// base64Document is a document given as text or (validated by admission)
// as base64, in base64.
func base64Document(text, b64 string) string {
	if b64 != "" {
		return b64
	}
	if text == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(text))
}
