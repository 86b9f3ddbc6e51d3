package domain

import (
	"fmt"
	"path/filepath"

	"libvirt.org/go/libvirtxml"
)

// Localize turns the rendered domain's image and VMI-relative paths into
// host paths: kernel and initrd under imageRoot (where the node agent
// extracted the kernelBoot image); disk files, file-backed serial consoles
// and the VNC socket under vmiDir.
func Localize(dom *libvirtxml.Domain, imageRoot, vmiDir string) error {
	if dom.OS != nil {
		for _, p := range []*string{&dom.OS.Kernel, &dom.OS.Initrd} {
			if *p == "" {
				continue
			}
			if !filepath.IsAbs(*p) {
				return fmt.Errorf("domain %q: image path %q is not absolute", dom.Name, *p)
			}
			*p = filepath.Join(imageRoot, filepath.Clean(*p))
		}
	}
	if dom.Devices == nil {
		return nil
	}
	// Every VMI-relative path: the renderer writes bare file names only.
	var inVMIDir []*string
	for i := range dom.Devices.Disks {
		if src := dom.Devices.Disks[i].Source; src != nil && src.File != nil {
			inVMIDir = append(inVMIDir, &src.File.File)
		}
	}
	for i := range dom.Devices.Graphics {
		if vnc := dom.Devices.Graphics[i].VNC; vnc != nil && vnc.Socket != "" {
			inVMIDir = append(inVMIDir, &vnc.Socket)
		}
	}
	for i := range dom.Devices.Serials {
		if src := dom.Devices.Serials[i].Source; src != nil && src.File != nil {
			inVMIDir = append(inVMIDir, &src.File.Path)
		}
	}
	for i := range dom.Devices.Consoles {
		if src := dom.Devices.Consoles[i].Source; src != nil && src.File != nil {
			inVMIDir = append(inVMIDir, &src.File.Path)
		}
	}
	for _, p := range inVMIDir {
		if base := filepath.Base(*p); base != *p || base == "." || base == ".." {
			return fmt.Errorf("domain %q: file %q must be a bare file name", dom.Name, *p)
		}
		*p = filepath.Join(vmiDir, *p)
	}
	return nil
}
