package domainspec

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// NodeFacts are what a node knows that the controller could not: where
// things are on this node. Localize writes them into the signed domain.
type NodeFacts struct {
	// ImageRoot is the directory holding the kernelBoot image's files.
	ImageRoot string
	// VMIDir is the VMI's own directory: disk files, the cloud-init ISO,
	// the serial log (on the node, the launcher Pod's StateVolume).
	VMIDir string
	// SocketDir holds the VMI's unix sockets (VNC); VMIDir when empty. A
	// socket's path is limited to 107 bytes, which a path in the
	// kubelet's directory of a Pod can exceed. Chardev sockets (the serial
	// console) live in VMIDir, where the launcher container sees them,
	// and are given to QEMU through SocketDir/VMIDirLink, the node
	// agent's link to VMIDir.
	SocketDir string
	// Tap is the existing tap (the node agent's, made for this domain)
	// that the guest's interface is given, unmanaged: libvirt opens it for
	// QEMU and the node agent then moves it into the launcher Pod's
	// network namespace. Empty leaves the interface as rendered (a tap
	// libvirt makes, which nothing connects).
	Tap string
	// DiskFormats is the format the node decided for each disk file when
	// it made it, by the bare file name the renderer wrote (DiskFile). A
	// disk not named keeps its rendered format. A disk in any format but
	// raw gets an explicit backing chain, so libvirt gives QEMU exactly
	// that whatever the image's header says: its DiskBackings entry, or
	// none (an empty backing store).
	DiskFormats map[string]string
	// DiskBackings are the backing files of the disks that have one (a
	// containerDisk's qcow2 overlay over its image in the node's image
	// cache), by the same bare file names. The chain is one level deep:
	// the backing file declares an empty backing store of its own, and
	// libvirt is told not to change its owner (the file is shared by the
	// VMIs of the image, and only read).
	DiskBackings map[string]DiskBacking
	// DiskFiles are disk files that are not the VMI's own but a volume's
	// on the node (a persistentVolumeClaim's disk.img in the kubelet's
	// mount of the claim, a hostDisk's image), by the bare file name the
	// renderer wrote (DiskFile): absolute paths, given as they are.
	DiskFiles map[string]string
	// DiskDevices are the block devices of block-mode
	// persistentVolumeClaims, by the same bare file names: the disk
	// becomes <disk type='block'> with <source dev=...>.
	DiskDevices map[string]string
	// CPUPins are the host CPUs of a domain with dedicated CPUs
	// (Metadata.DedicatedCPUs): the CPUs the kubelet gave the launcher
	// container exclusively. Nil leaves the domain unpinned.
	CPUPins *CPUPins
	// Type, when set, replaces the domain's type: on a node whose libvirt
	// runs another hypervisor than the one the controller renders for
	// (libvirt's test driver, on a simulated node).
	Type string
}

// DiskBacking is the backing file of a disk: an absolute path on the
// node and its format (raw or qcow2).
type DiskBacking struct {
	File, Format string
}

// CPUPins pins each vCPU to a host CPU of its own, and the emulator
// thread to others.
type CPUPins struct {
	// VCPUs[i] is vCPU i's host CPU; one per vCPU of the domain.
	VCPUs []int
	// Emulator are the emulator thread's host CPUs; empty leaves it
	// unpinned (it then runs anywhere the Pod's cgroup lets it).
	Emulator []int
}

// Localize makes every node-side rewrite of a rendered domain, and nothing
// else changes it on the node: the domain type, when the node sets one;
// kernel and initrd under ImageRoot; the vCPU and emulator pins of
// dedicated CPUs (CPUPins); disk files, each with its format and backing
// chain, under VMIDir, or where DiskFiles and DiskDevices put a volume's;
// file-backed serial consoles and chardev logs under VMIDir; the VNC
// socket under SocketDir; chardev sockets under SocketDir/VMIDirLink
// (VMIDir when SocketDir is empty); the interface onto the existing Tap.
// Rendered paths are image paths (absolute, cleaned before they are
// joined, so they cannot leave ImageRoot) or bare file names (anything
// else is an error).
func Localize(dom *libvirtxml.Domain, facts NodeFacts) error {
	if facts.Type != "" {
		dom.Type = facts.Type
	}
	if dom.OS != nil {
		for _, p := range []*string{&dom.OS.Kernel, &dom.OS.Initrd} {
			if *p == "" {
				continue
			}
			if !filepath.IsAbs(*p) {
				return fmt.Errorf("domain %q: image path %q is not absolute", dom.Name, *p)
			}
			*p = filepath.Join(facts.ImageRoot, filepath.Clean(*p))
		}
	}
	if err := pin(dom, facts.CPUPins); err != nil {
		return err
	}
	if dom.Devices == nil {
		return nil
	}
	volumeDisks := map[int]bool{}
	for i := range dom.Devices.Disks {
		d := &dom.Devices.Disks[i]
		if d.Source == nil || d.Source.File == nil {
			continue
		}
		placed, err := volumeDisk(d, facts)
		if err != nil {
			return fmt.Errorf("domain %q: %w", dom.Name, err)
		}
		if placed {
			volumeDisks[i] = true
			continue
		}
		if f, ok := facts.DiskFormats[d.Source.File.File]; ok && d.Driver != nil {
			d.Driver.Type = f
			if f != "raw" {
				d.BackingStore = backingStore(facts.DiskBackings, d.Source.File.File)
			}
		}
	}
	if facts.Tap != "" {
		for i := range dom.Devices.Interfaces {
			nic := &dom.Devices.Interfaces[i]
			nic.Source = &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}}
			nic.Target = &libvirtxml.DomainInterfaceTarget{Dev: facts.Tap, Managed: "no"}
		}
	}
	return inVMIDir(dom, facts.VMIDir, facts.SocketDir, volumeDisks)
}

// volumeDisk puts a disk rendered as the bare file name of a volume that
// is not the VMI's own file where the node has it: a file (DiskFiles) or a
// block device (DiskDevices), raw, with no backing chain (a raw file
// has no header to name one). placed says it did: inVMIDir then leaves
// the disk alone.
func volumeDisk(d *libvirtxml.DomainDisk, facts NodeFacts) (placed bool, err error) {
	name := d.Source.File.File
	file, isFile := facts.DiskFiles[name]
	dev, isDev := facts.DiskDevices[name]
	if !isFile && !isDev {
		return false, nil
	}
	path := file
	if isDev {
		path = dev
	}
	if isFile && isDev || !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return false, fmt.Errorf("disk file %q: the node's path %q is not one clean absolute path", name, path)
	}
	if d.Driver != nil {
		d.Driver.Type = "raw"
	}
	if isDev {
		d.Source = &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: dev}}
		return true, nil
	}
	d.Source.File.File = file
	return true, nil
}

// backingStore is the explicit backing chain of the disk file: its
// backing file, if it has one, then nothing.
//
//	<backingStore type='file'>
//	  <format type='raw'/>
//	  <source file='/var/lib/podvirt/images/sha256-.../rootfs/disk/disk.img'>
//	    <seclabel model='dac' relabel='no'/>
//	  </source>
//	  <backingStore/>
//	</backingStore>
//
// With dynamic ownership libvirt would make every file of the chain
// QEMU's user's, and never give a backing file back (it is shared): the
// image's file, world-readable and writable by no one, is read as it is.
func backingStore(backings map[string]DiskBacking, file string) *libvirtxml.DomainDiskBackingStore {
	b, ok := backings[file]
	if !ok {
		return &libvirtxml.DomainDiskBackingStore{}
	}
	return &libvirtxml.DomainDiskBackingStore{
		Format: &libvirtxml.DomainDiskFormat{Type: b.Format},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{
			File:     b.File,
			SecLabel: []libvirtxml.DomainDeviceSecLabel{{Model: "dac", Relabel: "no"}},
		}},
		BackingStore: &libvirtxml.DomainDiskBackingStore{},
	}
}

// pin writes the domain's <cputune>: vcpupin for every vCPU and
// emulatorpin, replacing whatever the domain said.
func pin(dom *libvirtxml.Domain, pins *CPUPins) error {
	if pins == nil {
		return nil
	}
	if dom.VCPU == nil || int(dom.VCPU.Value) != len(pins.VCPUs) {
		return fmt.Errorf("domain %q: %d CPUs to pin its vCPUs to, for %v vCPUs", dom.Name, len(pins.VCPUs), dom.VCPU)
	}
	tune := &libvirtxml.DomainCPUTune{}
	for i, cpu := range pins.VCPUs {
		tune.VCPUPin = append(tune.VCPUPin, libvirtxml.DomainCPUTuneVCPUPin{VCPU: uint(i), CPUSet: strconv.Itoa(cpu)})
	}
	if len(pins.Emulator) > 0 {
		set := make([]string, len(pins.Emulator))
		for i, cpu := range pins.Emulator {
			set[i] = strconv.Itoa(cpu)
		}
		tune.EmulatorPin = &libvirtxml.DomainCPUTuneEmulatorPin{CPUSet: strings.Join(set, ",")}
	}
	dom.CPUTune = tune
	return nil
}

// inVMIDir puts every VMI-relative path under dir (but the disks placed
// where a volume is): the renderer writes bare file names only; sockets go under socketDir when it is set.
func inVMIDir(dom *libvirtxml.Domain, dir, socketDir string, placed map[int]bool) error {
	if socketDir == "" {
		socketDir = dir
	}
	chardevDir := dir
	if socketDir != dir {
		chardevDir = filepath.Join(socketDir, VMIDirLink)
	}
	var paths, sockets, chardevSockets []*string
	for i := range dom.Devices.Disks {
		if src := dom.Devices.Disks[i].Source; src != nil && src.File != nil && !placed[i] {
			paths = append(paths, &src.File.File)
		}
	}
	for i := range dom.Devices.Graphics {
		if vnc := dom.Devices.Graphics[i].VNC; vnc != nil && vnc.Socket != "" {
			sockets = append(sockets, &vnc.Socket)
		}
	}
	chardev := func(src *libvirtxml.DomainChardevSource, log *libvirtxml.DomainChardevLog) {
		if src != nil && src.File != nil {
			paths = append(paths, &src.File.Path)
		}
		if src != nil && src.UNIX != nil {
			chardevSockets = append(chardevSockets, &src.UNIX.Path)
		}
		if log != nil {
			paths = append(paths, &log.File)
		}
	}
	for i := range dom.Devices.Serials {
		chardev(dom.Devices.Serials[i].Source, dom.Devices.Serials[i].Log)
	}
	for i := range dom.Devices.Consoles {
		chardev(dom.Devices.Consoles[i].Source, dom.Devices.Consoles[i].Log)
	}
	for _, set := range []struct {
		dir   string
		paths []*string
	}{{dir, paths}, {socketDir, sockets}, {chardevDir, chardevSockets}} {
		for _, p := range set.paths {
			if base := filepath.Base(*p); base != *p || base == "." || base == ".." {
				return fmt.Errorf("domain %q: file %q must be a bare file name", dom.Name, *p)
			}
			*p = filepath.Join(set.dir, *p)
		}
	}
	return nil
}
