// Package domain renders a defaulted VirtualMachineInstance into a libvirt
// domain with libvirtxml. It is pure: the same VMI and options give the same
// XML. One file per concern of the domain (cpu.go, memory.go, firmware.go,
// devices.go, features.go), each tested on its own.
//
// Paths in the rendered XML are not host paths: the kernel and initrd are
// paths inside the kernelBoot image, and file-backed devices name a file
// relative to the VMI's directory on the node. The node agent resolves them
// with domainspec.Localize; the names, the metadata and the signature the
// domain travels with are domainspec's.
package domain
