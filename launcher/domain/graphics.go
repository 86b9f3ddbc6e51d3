package domain

import (
	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// VNCSocketFile is the VNC server's unix socket, relative to the VMI's
// directory on the node.
const VNCSocketFile = "vnc.sock"

// renderGraphics attaches a VGA device and a VNC server on a unix socket
// (never a TCP port) when autoattachGraphicsDevice is true.
func renderGraphics(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	if a := vmi.Spec.Domain.Devices.AutoattachGraphicsDevice; a == nil || !*a {
		return nil
	}
	dom.Devices.Graphics = append(dom.Devices.Graphics, libvirtxml.DomainGraphic{VNC: &libvirtxml.DomainGraphicVNC{Socket: VNCSocketFile}})
	dom.Devices.Videos = append(dom.Devices.Videos, libvirtxml.DomainVideo{Model: libvirtxml.DomainVideoModel{Type: "vga", Heads: 1}})
	return nil
}
