package pod

import (
	"encoding/base64"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// StateDir is where the launcher container mounts the VMI's state volume
// (domainspec.StateVolume), read-only: the launcher only watches it, to
// stay until the node agent has removed the VMI's files (see Render).
const StateDir = "/var/run/podvirt/vmi-state"

// Storage is the ephemeral storage of a launcher Pod: what the VMI's files
// on the node may take, declared where ResourceQuota, LimitRange, the
// scheduler and the kubelet's eviction see it.
type Storage struct {
	// Files is what the VMI's files may take: the sizeLimit of the state
	// volume, and what the node agent holds them to.
	Files resource.Quantity
	// Total is the launcher container's ephemeral-storage request and
	// limit: Files plus the container's own (Options.LauncherStorage).
	Total resource.Quantity
}

// ephemeralStorage is the Pod's ephemeral storage. What counts, by declared size,
// since that is what a guest may fill (a sparse file is no smaller to
// quota):
//   - each emptyDisk: its capacity;
//   - each containerDisk and ephemeral volume: Options.ContainerDiskBytes for its writable
//     overlay. The node agent makes it a qcow2 overlay over the image in
//     the node's shared, read-only image cache (which counts in no Pod,
//     as KubeVirt's does not): a few clusters at the start, it grows
//     with what the guest writes, up to the image's virtual size and its
//     tables (about 1.7 MiB for 1Gi). The image's size is unknown here
//     (the controller pulls nothing), so the allowance is declared, and
//     the node agent refuses an image whose overlay could grow beyond
//     what the Pod declares;
//   - each cloudInitNoCloud volume: its ISO, the documents given inline
//     (or domainspec.SecretMaxBytes for user data from a Secret) plus
//     domainspec.CloudInitMetaDataBytes and domainspec.ISOOverheadBytes;
//   - the serial log: domainspec.SerialLogAllowanceBytes;
//   - the launcher container's own: Options.LauncherStorage.
//
// Volumes that are not files of the VMI's (PVCs, host disks) count
// nothing here. An ephemeral-storage the user set in
// spec.domain.resources (the larger of request and limit) raises the
// total when it is larger: it is the most the VMI may take, never less
// than its disks need (a containerDisk whose image is larger than the
// default allowance needs it).
func ephemeralStorage(vmi *v1alpha1.VirtualMachineInstance, opts Options) Storage {
	files := *resource.NewQuantity(domainspec.SerialLogAllowanceBytes, resource.BinarySI)
	for _, v := range vmi.Spec.Volumes {
		switch {
		case v.EmptyDisk != nil:
			files.Add(v.EmptyDisk.Capacity)
		case v.ContainerDisk != nil, v.Ephemeral != nil:
			files.Add(opts.ContainerDiskBytes)
		case v.CloudInitNoCloud != nil:
			files.Add(*resource.NewQuantity(cloudInitBytes(v.CloudInitNoCloud), resource.BinarySI))
		}
	}
	total := files.DeepCopy()
	total.Add(opts.LauncherStorage)
	res := vmi.Spec.Domain.Resources
	for _, user := range []resource.Quantity{res.Requests[corev1.ResourceEphemeralStorage], res.Limits[corev1.ResourceEphemeralStorage]} {
		if user.Cmp(total) > 0 {
			total = user.DeepCopy()
			files = user.DeepCopy()
			files.Sub(opts.LauncherStorage)
		}
	}
	return Storage{Files: files, Total: total}
}

// cloudInitBytes bounds the cloud-init ISO the node agent writes for ci:
// its documents, the meta-data, and the filesystem's own.
func cloudInitBytes(ci *v1alpha1.CloudInitNoCloudSource) int64 {
	n := int64(domainspec.ISOOverheadBytes + domainspec.CloudInitMetaDataBytes)
	n += int64(len(ci.UserData)) + int64(base64.StdEncoding.DecodedLen(len(ci.UserDataBase64)))
	n += int64(len(ci.NetworkData)) + int64(base64.StdEncoding.DecodedLen(len(ci.NetworkDataBase64)))
	if ci.UserDataSecretRef != nil {
		n += domainspec.SecretMaxBytes
	}
	return n
}

// addStorage sets the container's ephemeral-storage request and limit
// and adds the state volume with its sizeLimit. The kubelet sets up only
// volumes a container mounts, so the launcher mounts it.
func addStorage(p *corev1.Pod, s Storage) {
	c := &p.Spec.Containers[0]
	c.Resources.Requests[corev1.ResourceEphemeralStorage] = s.Total
	c.Resources.Limits[corev1.ResourceEphemeralStorage] = s.Total
	files := s.Files.DeepCopy()
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{
		Name:         domainspec.StateVolume,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &files}},
	})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: domainspec.StateVolume, MountPath: StateDir, ReadOnly: true})
}
