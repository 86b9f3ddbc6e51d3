package domain

import (
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
