package pod

import (
	"encoding/json"
	"fmt"
	"path"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// Claim is what the controller read of a persistentVolumeClaim that a VMI
// uses: how the launcher Pod must attach it, and how large a disk.img
// the node agent makes in it.
type Claim struct {
	// Block is a claim of volumeMode Block: the Pod gets it as a device
	// (volumeDevices), and the device is the disk. Otherwise the Pod
	// mounts it, and its disk.img is the disk.
	Block bool
	// Bytes is the claim's size (its capacity once bound, else its
	// request); 0 when unknown.
	Bytes int64
}

// addVolumes attaches the volumes whose disks are not the VMI's own files
// to the launcher container, so the kubelet sets them up and whatever
// judges Pods (RBAC, quota, Pod Security admission, the scheduler's
// volume binding) judges them as it judges any Pod's:
//   - a persistentVolumeClaim as a Pod volume of the VMI volume's name,
//     mounted under domainspec.ClaimMountDir (its disk.img is the disk)
//     or, a block-mode claim, as a device under domainspec.ClaimDeviceDir.
//     The mount is read-only: the launcher container never needs to
//     write it, and the node agent writes through the kubelet's mount;
//   - a hostDisk's directory as a hostPath volume, mounted read-only
//     under domainspec.HostDiskMountDir: a namespace whose Pod Security
//     level forbids hostPath volumes refuses the launcher Pod, so a
//     hostDisk needs exactly what a Pod with that hostPath needs.
//
// The claims' sizes go in domainspec.AnnotationClaimBytes.
func addVolumes(p *corev1.Pod, vmi *v1alpha1.VirtualMachineInstance, claims map[string]Claim) error {
	c := &p.Spec.Containers[0]
	sizes := map[string]int64{}
	for _, v := range vmi.Spec.Volumes {
		switch {
		case v.Ephemeral != nil && v.Ephemeral.PersistentVolumeClaim != nil:
			// Read-only, whatever the spec says: the guest writes to
			// its overlay in the state volume.
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: v.Ephemeral.PersistentVolumeClaim.ClaimName, ReadOnly: true},
			}})
			if claims[v.Ephemeral.PersistentVolumeClaim.ClaimName].Block {
				c.VolumeDevices = append(c.VolumeDevices, corev1.VolumeDevice{Name: v.Name, DevicePath: path.Join(domainspec.ClaimDeviceDir, v.Name)})
				continue
			}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: path.Join(domainspec.ClaimMountDir, v.Name), ReadOnly: true})
		case v.PersistentVolumeClaim != nil:
			pvc := v.PersistentVolumeClaim
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.ClaimName, ReadOnly: pvc.ReadOnly},
			}})
			claim := claims[pvc.ClaimName]
			if claim.Block {
				c.VolumeDevices = append(c.VolumeDevices, corev1.VolumeDevice{Name: v.Name, DevicePath: path.Join(domainspec.ClaimDeviceDir, v.Name)})
				continue
			}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: path.Join(domainspec.ClaimMountDir, v.Name), ReadOnly: true})
			if claim.Bytes > 0 {
				sizes[v.Name] = claim.Bytes
			}
		case v.HostDisk != nil:
			typ := corev1.HostPathDirectory
			if v.HostDisk.Type == v1alpha1.HostDiskExistsOrCreate {
				typ = corev1.HostPathDirectoryOrCreate
			}
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path.Dir(v.HostDisk.Path), Type: &typ},
			}})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: path.Join(domainspec.HostDiskMountDir, v.Name), ReadOnly: true})
		}
	}
	if len(sizes) > 0 {
		raw, err := json.Marshal(sizes)
		if err != nil {
			return fmt.Errorf("the claims' sizes: %w", err)
		}
		p.Annotations[domainspec.AnnotationClaimBytes] = string(raw)
	}
	return nil
}
