package framework

// Every use of the node agent's Go API by the end-to-end tests is in this
// file, so that a move of those packages is a change of imports here.

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"libvirt.org/go/libvirtxml"

	libvirt "github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/network"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// DomainState is what libvirt says of a domain, in the node agent's terms.
type DomainState = libvirt.DomainState

// Domain states.
const (
	StateAbsent  = libvirt.StateAbsent
	StateRunning = libvirt.StateRunning
	StateShutoff = libvirt.StateShutoff
	StateCrashed = libvirt.StateCrashed
)

// hypervisor is the node's libvirtd, through the node agent's client.
type hypervisor struct{ lv *libvirt.Libvirt }

func newHypervisor(socket string) *hypervisor {
	return &hypervisor{lv: &libvirt.Libvirt{Socket: socket}}
}

func (h *hypervisor) close() { _ = h.lv.Close() }

// DomainState is the state of a libvirt domain by name (StateAbsent when
// no domain of that name is defined).
func (e *Env) DomainState(domName string) (DomainState, error) { return e.hv.lv.State(domName) }

// ShutdownDomain presses the guest's ACPI power button straight through
// libvirt, as `poweroff` in the guest would end it.
func (e *Env) ShutdownDomain(domName string) error { return e.hv.lv.Shutdown(domName) }

// WriteISO writes an ISO 9660 image holding files, with a volume label,
// as the node agent writes cloud-init disks.
func WriteISO(path, label string, files map[string][]byte) error {
	return storage.WriteISO(path, label, files)
}

// PodVMIDir is where the node agent keeps the files (disks, cloud-init
// ISO, serial log) of the VMI of launcher Pod p: in the Pod's vmi-state
// volume, under the kubelet's root.
func (e *Env) PodVMIDir(p *corev1.Pod) (string, error) {
	return (&storage.Volumes{KubeletRootDir: e.KubeletRootDir()}).Dir(p)
}

// PodNetworkLinks are the names of the links the node agent may make on
// the host for a domain on the Pod network (its tap before it moves into
// the Pod; the bridge and veth of earlier node agents), as it names them.
func PodNetworkLinks(domName string) []string { return network.HostLinkNames(domName) }

// Domains names every domain libvirt has defined, podvirt's or not.
func (e *Env) Domains() ([]string, error) { return e.hv.lv.List() }

// DomainUUID is the UUID in the domain's definition ("" when absent).
func (e *Env) DomainUUID(domName string) (string, error) {
	xml, err := e.hv.lv.XML(domName)
	if err != nil || xml == "" {
		return "", err
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return "", fmt.Errorf("parsing the definition of domain %s: %w", domName, err)
	}
	return d.UUID, nil
}
