package domain

import (
	"encoding/base64"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// renderMetadata writes what the node agent needs beyond the XML itself
// (domainspec.Metadata): whose domain it is and where each volume's data
// comes from.
func renderMetadata(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	md := domainspec.Metadata{Namespace: vmi.Namespace, Name: vmi.Name, UID: string(vmi.UID), GracePeriodSeconds: 30}
	if g := vmi.Spec.TerminationGracePeriodSeconds; g != nil {
		md.GracePeriodSeconds = *g
	}
	if c := kernelBootContainer(vmi); c != nil {
		md.KernelBoot = &domainspec.KernelBootMetadata{Image: c.Image, PullPolicy: string(c.ImagePullPolicy)}
	}
	if ok, isolate := DedicatedCPUs(vmi); ok {
		md.DedicatedCPUs = &domainspec.DedicatedCPUsMetadata{IsolateEmulatorThread: isolate}
	}
	for _, v := range vmi.Spec.Volumes {
		md.Volumes = append(md.Volumes, volumeMetadata(v))
	}
	el, err := md.Element()
	if err != nil {
		return err
	}
	dom.Metadata = el
	return nil
}

func volumeMetadata(v v1alpha1.Volume) domainspec.VolumeMetadata {
	vm := domainspec.VolumeMetadata{Name: v.Name}
	switch {
	case v.ContainerDisk != nil:
		vm.Kind, vm.Image, vm.Path, vm.PullPolicy = domainspec.VolumeContainerDisk, v.ContainerDisk.Image, v.ContainerDisk.Path, string(v.ContainerDisk.ImagePullPolicy)
	case v.CloudInitNoCloud != nil:
		ci := v.CloudInitNoCloud
		vm.Kind = domainspec.VolumeCloudInitNoCloud
		vm.UserData = base64Document(ci.UserData, ci.UserDataBase64)
		vm.NetworkData = base64Document(ci.NetworkData, ci.NetworkDataBase64)
		if ci.UserDataSecretRef != nil {
			vm.UserDataSecret = ci.UserDataSecretRef.Name
		}
	case v.EmptyDisk != nil:
		vm.Kind, vm.CapacityBytes = domainspec.VolumeEmptyDisk, v.EmptyDisk.Capacity.Value()
	case v.PersistentVolumeClaim != nil:
		vm.Kind, vm.ClaimName, vm.ReadOnly = domainspec.VolumePVC, v.PersistentVolumeClaim.ClaimName, v.PersistentVolumeClaim.ReadOnly
	case v.Ephemeral != nil && v.Ephemeral.PersistentVolumeClaim != nil:
		vm.Kind, vm.ClaimName, vm.ReadOnly = domainspec.VolumeEphemeral, v.Ephemeral.PersistentVolumeClaim.ClaimName, true
	case v.HostDisk != nil:
		vm.Kind, vm.Path, vm.Create = domainspec.VolumeHostDisk, v.HostDisk.Path, v.HostDisk.Type == v1alpha1.HostDiskExistsOrCreate
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
