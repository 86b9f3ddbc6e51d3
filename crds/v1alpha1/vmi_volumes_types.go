package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Volume is storage a disk refers to. Exactly one source is set.
type Volume struct {
	// Name is the volume's name, a DNS label; a disk of the same name uses
	// it (one is added when none is given).
	Name string `json:"name"`
	// ContainerDisk is a disk image shipped in a container image; writes go
	// to a copy that is discarded with the VMI.
	// +optional
	ContainerDisk *ContainerDiskSource `json:"containerDisk,omitempty"`
	// CloudInitNoCloud is cloud-init's NoCloud data source, as a disk.
	// +optional
	CloudInitNoCloud *CloudInitNoCloudSource `json:"cloudInitNoCloud,omitempty"`
	// EmptyDisk is a blank disk that lives and dies with the VMI.
	// +optional
	EmptyDisk *EmptyDiskSource `json:"emptyDisk,omitempty"`
	// PersistentVolumeClaim is a disk on a PVC in the VMI's namespace.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
	// HostDisk is a disk image on the node's filesystem. The default policy
	// denies it; node agents accept only paths under their own directory.
	// +optional
	HostDisk *HostDisk `json:"hostDisk,omitempty"`
	// Ephemeral is a persistentVolumeClaim's disk.img used read-only: the
	// guest writes to an overlay that is discarded with the VMI.
	// +optional
	Ephemeral *EphemeralVolumeSource `json:"ephemeral,omitempty"`
	// DataVolume is KubeVirt's CDI DataVolume. podvirt runs no
	// Containerized Data Importer, so it is refused at admission: import
	// the image into a PersistentVolumeClaim (with CDI or any other tool)
	// and use persistentVolumeClaim instead.
	// +optional
	DataVolume *DataVolumeSource `json:"dataVolume,omitempty"`
}

// EphemeralVolumeSource is a claim whose disk backs a per-VMI overlay.
type EphemeralVolumeSource struct {
	// PersistentVolumeClaim is the claim, in filesystem mode, holding
	// disk.img; it is attached read-only.
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim"`
}

// DataVolumeSource names a CDI DataVolume (refused: see Volume.DataVolume).
type DataVolumeSource struct {
	// Name is the DataVolume's name in the VMI's namespace.
	Name string `json:"name"`
	// Hotpluggable is KubeVirt's hotplug flag.
	// +optional
	Hotpluggable bool `json:"hotpluggable,omitempty"`
}

// ContainerDiskSource is a disk image inside a container image.
type ContainerDiskSource struct {
	// Image is the image reference.
	Image string `json:"image"`
	// ImagePullSecret names a Secret with registry credentials.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// Path is the disk image's path inside the image. Defaults to the only
	// file under /disk.
	// +optional
	Path string `json:"path,omitempty"`
	// ImagePullPolicy is when the node pulls the image. Defaults, as in
	// KubeVirt, to Always for an image ending in :latest or with neither
	// ':' nor '@', else IfNotPresent.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// CloudInitNoCloudSource is cloud-init NoCloud user and network data.
// At most one of userData, userDataBase64 and secretRef is set; with none
// of them, networkData or networkDataBase64 is (the user data is then
// empty).
type CloudInitNoCloudSource struct {
	// UserDataSecretRef names a Secret whose "userdata" key holds the user data.
	// +optional
	UserDataSecretRef *corev1.LocalObjectReference `json:"secretRef,omitempty"`
	// UserDataBase64 is the user data, base64-encoded.
	// +optional
	UserDataBase64 string `json:"userDataBase64,omitempty"`
	// UserData is the user data.
	// +optional
	UserData string `json:"userData,omitempty"`
	// NetworkData is the network configuration (version 2).
	// +optional
	NetworkData string `json:"networkData,omitempty"`
	// NetworkDataBase64 is the network configuration, base64-encoded.
	// +optional
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`
}

// EmptyDiskSource is a blank disk.
type EmptyDiskSource struct {
	// Capacity is the disk's size.
	Capacity resource.Quantity `json:"capacity"`
}

// PersistentVolumeClaimVolumeSource is a PVC holding a disk.
type PersistentVolumeClaimVolumeSource struct {
	// ClaimName is the PVC's name in the VMI's namespace.
	ClaimName string `json:"claimName"`
	// ReadOnly attaches the PVC read-only. Defaults to false.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
}

// HostDiskType says whether a host disk image must exist.
// +kubebuilder:validation:Enum=Disk;DiskOrCreate
type HostDiskType string

// Host disk types.
const (
	HostDiskExists         HostDiskType = "Disk"
	HostDiskExistsOrCreate HostDiskType = "DiskOrCreate"
)

// HostDisk is a disk image on the node.
type HostDisk struct {
	// Path is the image's absolute path on the node.
	Path string `json:"path"`
	// Type is Disk (must exist) or DiskOrCreate.
	Type HostDiskType `json:"type"`
	// Capacity is the size of an image created by DiskOrCreate; type Disk
	// takes none.
	// +optional
	Capacity *resource.Quantity `json:"capacity,omitempty"`
}
