package vmirules

import (
	"encoding/base64"
	"fmt"
	"net"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func validateVolumes(spec *v1alpha1.VirtualMachineInstanceSpec) field.ErrorList {
	var errs field.ErrorList
	volumes := map[string]int{}
	for i, v := range spec.Volumes {
		errs = append(errs, validateName(v.Name, volumesPath, i)...)
		if j, dup := volumes[v.Name]; dup {
			errs = append(errs, field.Duplicate(volumesPath.Index(i).Child("name"), fmt.Sprintf("%s (also volumes[%d])", v.Name, j)))
		}
		volumes[v.Name] = i
		errs = append(errs, validateVolumeSource(&v, i)...)
	}
	used := map[string]bool{}
	for i, d := range spec.Domain.Devices.Disks {
		j, ok := volumes[d.Name]
		if !ok {
			errs = append(errs, field.Invalid(disksPath.Index(i).Child("name"), d.Name, "no volume of this name: every disk needs a volume of the same name"))
		}
		used[d.Name] = true
		// A LUN passes SCSI commands to a block device: KubeVirt maps it
		// only onto a PVC (or DataVolume, which podvirt does not have).
		if d.LUN != nil && ok && spec.Volumes[j].PersistentVolumeClaim == nil {
			errs = append(errs, field.Invalid(disksPath.Index(i).Child("lun"), d.Name, "a lun needs a persistentVolumeClaim volume"))
		}
	}
	// Defaulting gives every volume a disk (KubeVirt's
	// SetDefaultVolumeDisk), so this holds for every defaulted VMI; it
	// guards the renderer against one that was not.
	for i, v := range spec.Volumes {
		if !used[v.Name] {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("name"), v.Name, "no disk uses this volume (defaulting adds a disk of the same name: was the VMI defaulted?)"))
		}
	}
	return errs
}

// validateVolumeSource checks the source of v, the i-th volume.
func validateVolumeSource(v *v1alpha1.Volume, i int) field.ErrorList {
	var errs field.ErrorList
	if v.DataVolume != nil {
		errs = append(errs, field.Forbidden(volumesPath.Index(i).Child("dataVolume"),
			"a DataVolume needs KubeVirt's Containerized Data Importer (CDI), which podvirt does not run: import the disk image into a PersistentVolumeClaim (CDI, or any tool that writes disk.img into it) and use persistentVolumeClaim instead (docs/api.md)"))
		return errs
	}
	if countSet(v.ContainerDisk != nil, v.CloudInitNoCloud != nil, v.EmptyDisk != nil, v.PersistentVolumeClaim != nil, v.HostDisk != nil, v.Ephemeral != nil) != 1 {
		errs = append(errs, field.Invalid(volumesPath.Index(i), v.Name, "set exactly one of containerDisk, cloudInitNoCloud, emptyDisk, persistentVolumeClaim, ephemeral and hostDisk"))
	}
	if eph := v.Ephemeral; eph != nil {
		if eph.PersistentVolumeClaim == nil {
			errs = append(errs, field.Required(volumesPath.Index(i).Child("ephemeral", "persistentVolumeClaim"), "an ephemeral volume is a claim's disk under an overlay"))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(eph.PersistentVolumeClaim.ClaimName) {
				errs = append(errs, field.Invalid(volumesPath.Index(i).Child("ephemeral", "persistentVolumeClaim", "claimName"), eph.PersistentVolumeClaim.ClaimName, msg))
			}
		}
	}
	if cd := v.ContainerDisk; cd != nil {
		errs = append(errs, validateImage(cd.Image, func() *field.Path { return volumesPath.Index(i).Child("containerDisk", "image") })...)
		if cd.Path != "" && !isCleanAbs(cd.Path) {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("containerDisk", "path"), cd.Path, "must be an absolute, clean path (no '..', no trailing '/')"))
		}
	}
	if ci := v.CloudInitNoCloud; ci != nil {
		// As KubeVirt's validateVolumes: at most one source of user data,
		// and some user or network data (the node writes an empty
		// user-data file when only network data is given).
		users := countSet(ci.UserData != "", ci.UserDataBase64 != "", ci.UserDataSecretRef != nil)
		if users > 1 {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("cloudInitNoCloud"), v.Name, "set at most one of userData, userDataBase64 and secretRef"))
		}
		if users == 0 && ci.NetworkData == "" && ci.NetworkDataBase64 == "" {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("cloudInitNoCloud"), v.Name, "set one of userData, userDataBase64 and secretRef, or networkData or networkDataBase64"))
		}
		if ci.UserDataSecretRef != nil && ci.UserDataSecretRef.Name == "" {
			errs = append(errs, field.Required(volumesPath.Index(i).Child("cloudInitNoCloud", "secretRef", "name"), ""))
		}
		if ci.NetworkData != "" && ci.NetworkDataBase64 != "" {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("cloudInitNoCloud"), v.Name, "set at most one of networkData and networkDataBase64"))
		}
		for _, f := range []struct{ name, value string }{{"userDataBase64", ci.UserDataBase64}, {"networkDataBase64", ci.NetworkDataBase64}} {
			if f.value == "" {
				continue
			}
			if _, err := base64.StdEncoding.DecodeString(f.value); err != nil {
				errs = append(errs, field.Invalid(volumesPath.Index(i).Child("cloudInitNoCloud", f.name), truncate(f.value, 32), "is not valid base64: "+err.Error()))
			}
		}
	}
	if ed := v.EmptyDisk; ed != nil && ed.Capacity.Sign() <= 0 {
		errs = append(errs, field.Invalid(volumesPath.Index(i).Child("emptyDisk", "capacity"), ed.Capacity.String(), "must be greater than zero"))
	}
	if pvc := v.PersistentVolumeClaim; pvc != nil {
		for _, msg := range validation.IsDNS1123Subdomain(pvc.ClaimName) {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("persistentVolumeClaim", "claimName"), pvc.ClaimName, msg))
		}
	}
	if hd := v.HostDisk; hd != nil {
		if !isCleanAbs(hd.Path) {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("hostDisk", "path"), hd.Path, "must be an absolute, clean path (no '..', no trailing '/')"))
		}
		if hd.Type == v1alpha1.HostDiskExistsOrCreate && (hd.Capacity == nil || hd.Capacity.Sign() <= 0) {
			errs = append(errs, field.Required(volumesPath.Index(i).Child("hostDisk", "capacity"), "type DiskOrCreate needs the size of the image to create"))
		}
		// KubeVirt refuses a size for an image that must already exist:
		// it would be silently ignored.
		if hd.Type == v1alpha1.HostDiskExists && hd.Capacity != nil && !hd.Capacity.IsZero() {
			errs = append(errs, field.Invalid(volumesPath.Index(i).Child("hostDisk", "capacity"), hd.Capacity.String(), "only type DiskOrCreate takes a capacity"))
		}
	}
	return errs
}

func validateNetworks(spec *v1alpha1.VirtualMachineInstanceSpec) field.ErrorList {
	var errs field.ErrorList
	networks := map[string]bool{}
	podNetworks := 0
	for i, n := range spec.Networks {
		errs = append(errs, validateName(n.Name, networksPath, i)...)
		if networks[n.Name] {
			errs = append(errs, field.Duplicate(networksPath.Index(i).Child("name"), n.Name))
		}
		networks[n.Name] = true
		if n.Pod == nil {
			errs = append(errs, field.Required(networksPath.Index(i).Child("pod"), "the pod network is the only network source supported"))
			continue
		}
		podNetworks++
		if podNetworks > 1 {
			errs = append(errs, field.Forbidden(networksPath.Index(i).Child("pod"), "at most one pod network"))
		}
		if c := n.Pod.VMNetworkCIDR; c != "" {
			if _, _, err := net.ParseCIDR(c); err != nil {
				errs = append(errs, field.Invalid(networksPath.Index(i).Child("pod", "vmNetworkCIDR"), c, "must be a CIDR such as 10.0.2.0/24"))
			}
		}
	}
	ifaceNets := map[string]bool{}
	for i, iface := range spec.Domain.Devices.Interfaces {
		ifaceNets[iface.Name] = true
		if !networks[iface.Name] {
			errs = append(errs, field.Invalid(interfacesPath.Index(i).Child("name"), iface.Name, "no network of this name: every interface needs a network of the same name"))
		}
	}
	for i, n := range spec.Networks {
		if !ifaceNets[n.Name] {
			errs = append(errs, field.Invalid(networksPath.Index(i).Child("name"), n.Name, "no interface uses this network: add an interface of the same name"))
		}
	}
	return errs
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
