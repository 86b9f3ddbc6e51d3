package domainspec

// Where a VMI's files live on its node and what they may take. The
// launcher Pod declares it (launcher/pod) and the node agent holds the
// files to it (nodeagent/storage); both read these, so they agree.

// StateVolume is the launcher Pod's emptyDir volume that holds the VMI's
// writable files on the node: disk files, the cloud-init ISO and the
// serial log. Bytes in a Pod's own volume are what the kubelet counts
// against the Pod's ephemeral storage (and evicts for), and the volume
// goes with the Pod.
const StateVolume = "vmi-state"

// StateSubdir is the node agent's directory inside StateVolume, which
// holds the files. The kubelet makes an emptyDir world-writable; the
// agent's own directory is not, so no other process on the node can plant
// a file (a symlink to a host file) where a disk will be.
const StateSubdir = "vmi"

// SerialLogFile is the file, relative to the VMI's directory on the node,
// that receives the serial console.
const SerialLogFile = "serial.log"

// SerialLogMaxBytes bounds the serial log: once it is larger, the node
// agent keeps its last SerialLogMaxBytes in SerialLogFile+".1" and
// truncates it.
const SerialLogMaxBytes = 8 << 20

// SerialLogAllowanceBytes is what the serial log counts in the launcher
// Pod's ephemeral storage: the live file and its rotated copy, up to
// SerialLogMaxBytes each, and as much again for what the guest writes
// between two checks. It is counted whether or not a serial console is
// attached, so both sides agree without reading the devices.
const SerialLogAllowanceBytes = 3 * SerialLogMaxBytes

// ISOOverheadBytes is what a cloud-init ISO takes beyond its files (the
// image is made that much larger than their sum).
const ISOOverheadBytes = 1 << 20

// CloudInitMetaDataBytes bounds the meta-data file the node agent writes
// into a cloud-init ISO (instance-id and local-hostname).
const CloudInitMetaDataBytes = 4 << 10

// SecretMaxBytes is the most a Secret holds (the API server's limit), the
// size counted for user data from a Secret, unknown when the Pod is
// rendered.
const SecretMaxBytes = 1 << 20

// Where the launcher container mounts the volumes whose disks are not the
// VMI's own files, each under the VMI volume's name. The kubelet sets up
// only what a container mounts; the node agent finds the kubelet's mount
// on the host from the launcher container's mount table, so these are
// the paths both sides agree on.
const (
	// ClaimMountDir holds the filesystem-mode persistentVolumeClaims:
	// ClaimMountDir/<volume>/ClaimDiskFile is the disk.
	ClaimMountDir = "/var/run/podvirt/volumes"
	// ClaimDeviceDir holds the block-mode persistentVolumeClaims' devices:
	// ClaimDeviceDir/<volume> is the disk.
	ClaimDeviceDir = "/var/run/podvirt/devices"
	// HostDiskMountDir holds the directory of each hostDisk's image, a
	// hostPath volume: so the namespace's Pod Security admission and
	// whatever else judges Pods judges the host directory too.
	HostDiskMountDir = "/var/run/podvirt/hostdisks"
)

// ClaimDiskFile is the disk image in a filesystem-mode claim, as KubeVirt
// names it: made to fit the claim when absent.
const ClaimDiskFile = "disk.img"

// ClaimFilesystemOverhead is the share of a filesystem-mode claim kept
// free of disk.img for the filesystem's own (KubeVirt's default, 5.5%),
// in thousandths.
const ClaimFilesystemOverhead = 55

// AnnotationClaimBytes is the launcher Pod's annotation giving, for each
// filesystem-mode persistentVolumeClaim, the claim's requested size in
// bytes (a JSON object keyed by volume name): what the node agent sizes a
// new disk.img to. Only the controller writes launcher Pods.
const AnnotationClaimBytes = "podvirt.io/claim-bytes"
