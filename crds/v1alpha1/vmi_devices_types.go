package v1alpha1

// Devices are the guest's devices.
type Devices struct {
	// Disks are the guest's block devices, each backed by the volume of the
	// same name. Every volume no disk names gets a disk of its name (a hard
	// disk on the default bus), as in KubeVirt.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Disks []Disk `json:"disks,omitempty"`
	// Interfaces are the guest's network interfaces, each attached to the
	// network of the same name. Defaults to one masquerade interface named
	// "default" when no network is given and autoattachPodInterface is not
	// false.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Interfaces []Interface `json:"interfaces,omitempty"`
	// AutoattachPodInterface adds the default pod network interface when
	// none is given. Defaults to true.
	// +optional
	AutoattachPodInterface *bool `json:"autoattachPodInterface,omitempty"`
	// AutoattachSerialConsole attaches a serial console to the guest.
	// Defaults to true.
	// +optional
	AutoattachSerialConsole *bool `json:"autoattachSerialConsole,omitempty"`
	// AutoattachGraphicsDevice attaches a VGA device and a VNC server on a
	// unix socket. Defaults to false (KubeVirt defaults to true; podvirt has
	// no VNC proxy yet).
	// +optional
	AutoattachGraphicsDevice *bool `json:"autoattachGraphicsDevice,omitempty"`
	// Rng attaches a virtio random number generator fed by the host's
	// /dev/urandom.
	// +optional
	Rng *Rng `json:"rng,omitempty"`
	// Inputs are input devices: tablets (absolute pointers, so a VNC
	// cursor follows the guest's), on the usb or virtio bus.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Inputs []Input `json:"inputs,omitempty"`
	// BlockMultiQueue gives each virtio disk one queue per vCPU. Defaults
	// to false.
	// +optional
	BlockMultiQueue *bool `json:"blockMultiQueue,omitempty"`
	// NetworkInterfaceMultiQueue gives each virtio interface one queue per
	// vCPU (vhost multiqueue). Defaults to false. true is refused for a
	// VMI of more than one vCPU with a virtio interface: the node agent
	// connects the guest through a single-queue tap.
	// +optional
	NetworkInterfaceMultiQueue *bool `json:"networkInterfaceMultiqueue,omitempty"`
	// TPM attaches an emulated TPM 2.0 (swtpm on the node). Its state
	// lives as long as the VMI.
	// +optional
	TPM *TPMDevice `json:"tpm,omitempty"`
}

// Input is an input device.
type Input struct {
	// Name is the device's name.
	Name string `json:"name"`
	// Type is tablet, the only type KubeVirt supports.
	// +kubebuilder:validation:Enum=tablet
	// +optional
	Type string `json:"type,omitempty"`
	// Bus is usb or virtio. Defaults to usb.
	// +kubebuilder:validation:Enum=usb;virtio
	// +optional
	Bus string `json:"bus,omitempty"`
}

// TPMDevice is an emulated TPM 2.0.
type TPMDevice struct {
	// Enabled false attaches no TPM. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Persistent keeps the TPM's state beyond the VMI (KubeVirt keeps it
	// on a PVC of the VM). Only false is supported: podvirt keeps no
	// state of a VMI after it ends, so a VM's next VMI starts with a new
	// TPM.
	// +optional
	Persistent *bool `json:"persistent,omitempty"`
}

// Disk is a guest block device. Exactly one of disk, cdrom and lun is set;
// disk{} is the default.
type Disk struct {
	// Name is the disk's name; the volume of the same name backs it.
	Name string `json:"name"`
	// Disk is a hard disk.
	// +optional
	Disk *DiskTarget `json:"disk,omitempty"`
	// CDRom is a CD-ROM drive.
	// +optional
	CDRom *CDRomTarget `json:"cdrom,omitempty"`
	// LUN is a SCSI LUN passed to the guest.
	// +optional
	LUN *LunTarget `json:"lun,omitempty"`
	// BootOrder is the disk's place in the boot order, from 1, unique among
	// disks and interfaces. When no disk or interface has one, the first
	// disk boots (as in KubeVirt); otherwise devices without one are not
	// boot devices.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
	// Serial is the disk's serial number as the guest sees it.
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.+-]+$`
	// +optional
	Serial string `json:"serial,omitempty"`
}

// DiskBus is how a disk is attached.
// +kubebuilder:validation:Enum=virtio;sata;scsi
type DiskBus string

// Disk buses.
const (
	DiskBusVirtio DiskBus = "virtio"
	DiskBusSATA   DiskBus = "sata"
	DiskBusSCSI   DiskBus = "scsi"
)

// DiskTarget is a hard disk.
type DiskTarget struct {
	// Bus is virtio, sata or scsi. Defaults to sata, KubeVirt's x86_64
	// default, which every guest OS drives without extra drivers.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly makes the disk read-only. Defaults to false. A sata hard
	// disk cannot be read-only.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
}

// CDRomTarget is a CD-ROM drive.
type CDRomTarget struct {
	// Bus is sata or scsi. Defaults to sata.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly defaults to true. false is accepted, as in KubeVirt, but a
	// CD-ROM's medium is read-only whatever it says.
	// +optional
	ReadOnly *bool `json:"readonly,omitempty"`
}

// LunTarget is a SCSI LUN. Its volume must be a persistentVolumeClaim.
type LunTarget struct {
	// Bus is scsi. Defaults to scsi.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly makes the LUN read-only. Defaults to false.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
}

// Interface is a guest network interface. Exactly one of masquerade and
// bridge is set.
type Interface struct {
	// Name is the interface's name; the network of the same name backs it.
	Name string `json:"name"`
	// Model is the emulated NIC: virtio, e1000, e1000e, rtl8139. Defaults to
	// virtio.
	// +kubebuilder:validation:Enum=virtio;e1000;e1000e;rtl8139
	// +optional
	Model string `json:"model,omitempty"`
	// Masquerade connects the guest through NAT behind the Pod's address.
	// +optional
	Masquerade *InterfaceMasquerade `json:"masquerade,omitempty"`
	// Bridge connects the guest to the Pod's network directly, giving it
	// the Pod's address.
	// +optional
	Bridge *InterfaceBridge `json:"bridge,omitempty"`
	// MacAddress is the interface's MAC address, for example
	// 02:00:00:00:00:01. Generated by libvirt when empty.
	// +optional
	MacAddress string `json:"macAddress,omitempty"`
	// Ports are the ports forwarded to a masquerade interface. Empty: all.
	// +listType=atomic
	// +optional
	Ports []Port `json:"ports,omitempty"`
	// BootOrder is the interface's place in the boot order (PXE), from 1,
	// unique among disks and interfaces.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
}

// InterfaceMasquerade is NAT behind the Pod's address.
type InterfaceMasquerade struct{}

// InterfaceBridge bridges the guest onto the Pod's network.
type InterfaceBridge struct{}

// Port is a port forwarded to a masquerade interface.
type Port struct {
	// Name names the port, unique among the interface's ports.
	// +optional
	Name string `json:"name,omitempty"`
	// Protocol is TCP or UDP. Defaults to TCP.
	// +kubebuilder:validation:Enum=TCP;UDP
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// Port is the port number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// Rng is a virtio random number generator.
type Rng struct{}
