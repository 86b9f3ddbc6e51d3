package domain

import (
	"fmt"
	"path/filepath"

	"libvirt.org/go/libvirtxml"
)

// Localize turns the rendered domain's image and VMI-relative paths into
// host paths: kernel and initrd under imageRoot (where the node agent
// extracted the kernelBoot image), file-backed serial consoles under vmiDir.
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
	localizeFile := func(src *libvirtxml.DomainChardevSource) error {
		if src == nil || src.File == nil {
			return nil
		}
		if base := filepath.Base(src.File.Path); base != src.File.Path || base == "." || base == ".." {
			return fmt.Errorf("domain %q: chardev file %q must be a bare file name", dom.Name, src.File.Path)
		}
		src.File.Path = filepath.Join(vmiDir, src.File.Path)
		return nil
	}
	for i := range dom.Devices.Disks {
		d := &dom.Devices.Disks[i]
		if d.Source == nil || d.Source.File == nil {
			continue
		}
		f := d.Source.File.File
		if base := filepath.Base(f); base != f || base == "." || base == ".." {
			return fmt.Errorf("domain %q: disk file %q must be a bare file name", dom.Name, f)
		}
		d.Source.File.File = filepath.Join(vmiDir, f)
	}
	for i := range dom.Devices.Graphics {
		if vnc := dom.Devices.Graphics[i].VNC; vnc != nil && vnc.Socket != "" {
			if base := filepath.Base(vnc.Socket); base != vnc.Socket {
				return fmt.Errorf("domain %q: VNC socket %q must be a bare file name", dom.Name, vnc.Socket)
			}
			vnc.Socket = filepath.Join(vmiDir, vnc.Socket)
		}
	}
	for i := range dom.Devices.Serials {
		if err := localizeFile(dom.Devices.Serials[i].Source); err != nil {
			return err
		}
	}
	for i := range dom.Devices.Consoles {
		c := &dom.Devices.Consoles[i]
		if err := localizeFile(c.Source); err != nil {
			return err
		}
	}
	return nil
}
