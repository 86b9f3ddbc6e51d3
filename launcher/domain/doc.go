// Package domain renders a defaulted VirtualMachineInstance into a libvirt
// domain with libvirtxml. It is pure: the same VMI and options give the same
// XML. One file per concern of the domain (cpu.go, memory.go, firmware.go,
// devices.go, features.go), each tested on its own.
//
// Paths in the rendered XML are not host paths: the kernel and initrd are
// paths inside the kernelBoot image, and file-backed devices name a file
// relative to the VMI's directory on the node. The node agent resolves them
// (see Localize) after it has pulled the image.
package domain
