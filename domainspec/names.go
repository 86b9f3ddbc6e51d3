package domainspec

import "strings"

// Labels, annotations and finalizers of launcher Pods. Only the
// controller's service account may set them (the Pod guard); the node
// agent trusts a Pod only through them and the domainspec.
const (
	// LabelVMI names the launcher Pod's VMI.
	LabelVMI = "podvirt.io/vmi"
	// LabelVMIUID is the UID of the launcher Pod's VMI; the signature
	// covers it, so a Pod of a recreated VMI of the same name is not the
	// old one's.
	LabelVMIUID = "podvirt.io/vmi-uid"
	// AnnotationDomain carries the rendered, node-independent domain XML.
	AnnotationDomain = "podvirt.io/domain"
	// AnnotationSignature carries the controller's signature of
	// AnnotationDomain for the Pod, its VMI and its node (Sign).
	AnnotationSignature = "podvirt.io/domain-signature"
	// FinalizerDomain, on a launcher Pod, keeps it until the node agent
	// has shut the guest down and undefined its domain.
	FinalizerDomain = "podvirt.io/domain"
	// FinalizerLauncher, on a VMI, keeps it until its launcher Pod, and
	// with it the guest, is gone.
	FinalizerLauncher = "podvirt.io/launcher"
	// Prefix starts every label, annotation and finalizer podvirt owns.
	Prefix = "podvirt.io/"
)

// LauncherContainerName is the launcher container's name in its Pod.
const LauncherContainerName = "launcher"

// PodNamePrefix is prepended to the VMI name to name its launcher Pod.
const PodNamePrefix = "virt-launcher-"

// PodName is the launcher Pod name of a VMI. It is deterministic, so
// reconciling twice never creates a second Pod.
func PodName(vmiName string) string { return PodNamePrefix + vmiName }

// Name is the libvirt domain name of a VMI: <namespace>_<name>. Both parts
// are DNS labels, so '_' cannot be ambiguous.
func Name(namespace, name string) string { return namespace + "_" + name }

// DiskFile is the file, relative to the VMI's directory on the node, that
// backs the disk of a volume; the node agent prepares it before defining
// the domain.
func DiskFile(volume string) string { return "disk-" + volume + ".img" }

// ParseName splits a domain name made by Name into the VMI's namespace and
// name; ok is false for a name Name cannot have made.
func ParseName(domainName string) (namespace, name string, ok bool) {
	namespace, name, ok = strings.Cut(domainName, "_")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "_") {
		return "", "", false
	}
	return namespace, name, true
}
