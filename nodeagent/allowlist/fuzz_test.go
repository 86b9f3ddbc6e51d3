package allowlist

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

// fuzzOptions allow every optional kind, so that more domains get through
// to the invariant.
func fuzzOptions() Options {
	return Options{
		AllowedDirs:         []string{vmiDir},
		ReadOnlyDirs:        []string{imageRoot},
		ResolveSymlinks:     Lexical,
		AllowedDiskFormats:  []string{"raw", "qcow2"},
		AllowBlockDisks:     true,
		AllowNetworkDisks:   true,
		AllowUserNetworking: true,
		AllowedBridges:      []string{"br-pods"},
		AllowedNetworks:     []string{"pods"},
		AllowedPartitions:   []string{"/kubepods/pod1"},
	}
}

// FuzzCheck feeds arbitrary XML to libvirtxml and Check. Check must never
// panic, and every domain it accepts must name host files only inside the
// directories, found by an independent walk over every field that can
// hold a path; it must also accept its own re-marshalled form, which is
// what the node agent defines.
func FuzzCheck(f *testing.F) {
	f.Add(tinyXML(f, imageRoot, vmiDir))
	f.Add(richDomain)
	f.Add(`<domain type="kvm"><devices><disk type="file"><source file="/etc/shadow"/></disk></devices></domain>`)
	opts := fuzzOptions()
	f.Fuzz(func(t *testing.T, xml string) {
		dom := &libvirtxml.Domain{}
		if err := dom.Unmarshal(xml); err != nil {
			return
		}
		if errs := Check(dom, opts); len(errs) != 0 {
			return
		}
		for _, hp := range hostPaths(dom) {
			if !insideAny(hp.value, append(opts.AllowedDirs, opts.ReadOnlyDirs...)) {
				t.Fatalf("accepted a domain with %s = %q outside the directories:\n%s", hp.field, hp.value, xml)
			}
		}
		out, err := dom.Marshal()
		if err != nil {
			return
		}
		again := &libvirtxml.Domain{}
		if err := again.Unmarshal(out); err != nil {
			return // libvirtxml cannot always read what it wrote; libvirt would refuse it too
		}
		if errs := Check(again, opts); len(errs) != 0 {
			t.Fatalf("accepted, but refused after a marshal round trip:\n%s\nfirst:\n%s\nthen:\n%s", dump(errs), xml, out)
		}
	})
}

type hostPath struct{ field, value string }

// pathAttrs are XML names of attributes and elements that name host files
// anywhere in libvirt's domain schema.
var pathAttrs = map[string]bool{
	"file": true, "path": true, "dir": true, "dev": true, "socket": true, "template": true,
	"kernel": true, "initrd": true, "dtb": true, "shim": true, "emulator": true, "keyfile": true,
	"tap": true, "vhost": true, "logFile": true, "evdev": true, "rendernode": true, "agentsock": true,
}

// chardataPaths are elements whose text is a host path.
var chardataPaths = map[string]bool{
	"DomainLoader.Path": true, "DomainNVRam.NVRam": true, "DomainACPITable.Path": true,
	"DomainRNGBackendRandom.Device": true,
}

// notPaths are path-like names that are guest-side.
var notPaths = map[string]bool{
	"DomainDiskTarget.Dev": true, "DomainInterfaceTarget.Dev": true, "DomainBootDevice.Dev": true,
	"DomainInterfaceGuest.Dev": true,
}

// hostPaths collects every non-empty string in dom held by a field that
// names a host file.
func hostPaths(dom *libvirtxml.Domain) []hostPath {
	var out []hostPath
	var walk func(v reflect.Value, where string)
	walk = func(v reflect.Value, where string) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), where)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), where)
			}
		case reflect.Struct:
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				sf := t.Field(i)
				name, _, _ := strings.Cut(sf.Tag.Get("xml"), ",")
				key := t.Name() + "." + sf.Name
				fv := v.Field(i)
				isPath := (pathAttrs[name] || chardataPaths[key]) && !notPaths[key]
				if isPath && fv.Kind() == reflect.String && fv.String() != "" {
					if key == "DomainRNGBackendRandom.Device" && fv.String() == "/dev/urandom" {
						continue
					}
					out = append(out, hostPath{key, fv.String()})
					continue
				}
				if isPath && fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Elem().Kind() == reflect.String && fv.Elem().String() != "" {
					out = append(out, hostPath{key, fv.Elem().String()})
					continue
				}
				walk(fv, where+"."+sf.Name)
			}
		}
	}
	walk(reflect.ValueOf(dom), "domain")
	return out
}

func insideAny(path string, dirs []string) bool {
	if !filepath.IsAbs(path) || strings.ContainsAny(path, "\x00\n") {
		return false
	}
	for _, elem := range strings.Split(path, "/") {
		if elem == ".." {
			return false
		}
	}
	clean := filepath.Clean(path)
	for _, d := range dirs {
		if strings.HasPrefix(clean, d+"/") {
			return true
		}
	}
	return false
}

// The oracle itself must see the files of the rich domain, or the fuzz
// invariant proves nothing.
func TestHostPathsOracle(t *testing.T) {
	got := map[string]bool{}
	for _, hp := range hostPaths(parse(t, richDomain)) {
		got[hp.field] = true
	}
	for _, want := range []string{
		"DomainDiskSourceFile.File", "DomainChardevSourceFile.Path", "DomainChardevSourceUNIX.Path",
		"DomainChardevLog.File", "DomainGraphicListenerSocket.Socket", "DomainLoader.Path",
		"DomainNVRam.NVRam", "DomainNVRam.Template", "DomainACPITable.Path", "DomainSysInfoEntry.File",
	} {
		if !got[want] {
			t.Errorf("the oracle misses %s (found %v)", want, got)
		}
	}
	if hp := hostPaths(parse(t, withDevices(t, `<hostdev mode="subsystem" type="scsi_host"><source protocol="vhost" wwpn="naa.x"/></hostdev><filesystem><source dir="/etc"/></filesystem>`))); len(hp) == 0 {
		t.Error("the oracle sees no path in a filesystem passthrough")
	}
}

// FuzzPaths puts an arbitrary path into each file slot of the rich
// domain: whenever Check accepts it, the path is inside the directories
// the slot may use (the writable ones for files QEMU writes).
func FuzzPaths(f *testing.F) {
	for _, p := range []string{
		vmiDir + "/disk.img", imageRoot + "/boot/vmlinux", "/etc/shadow", "relative",
		vmiDir + "/../x", vmiDir + "//x", vmiDir + "/./x", vmiDir + "/", vmiDir, vmiDir + "x/y",
		imageRoot + "/../../vmis/default_tiny/x", "/" + vmiDir, vmiDir + "/a/..", vmiDir + "/\x00",
	} {
		for slot := range uint8(len(pathSlots())) {
			f.Add(p, slot)
		}
	}
	opts := richOptions()
	f.Fuzz(func(t *testing.T, path string, slot uint8) {
		slots := pathSlots()
		s := slots[int(slot)%len(slots)]
		dom := parse(t, richDomain)
		s.set(dom, path)
		if errs := Check(dom, opts); len(errs) != 0 || path == "" { // "" names no file
			return
		}
		dirs := []string{vmiDir}
		if !s.writes {
			dirs = append(dirs, imageRoot)
		}
		if !insideAny(path, dirs) {
			t.Fatalf("slot %s accepted %q", s.name, path)
		}
	})
}

type pathSlot struct {
	name   string
	writes bool
	set    func(*libvirtxml.Domain, string)
}

// pathSlots are the file fields of richDomain.
func pathSlots() []pathSlot {
	return []pathSlot{
		{"disk", true, func(d *libvirtxml.Domain, p string) { d.Devices.Disks[0].Source.File.File = p }},
		{"cdrom", false, func(d *libvirtxml.Domain, p string) { d.Devices.Disks[1].Source.File.File = p }},
		{"backing store", false, func(d *libvirtxml.Domain, p string) { d.Devices.Disks[2].BackingStore.Source.File.File = p }},
		{"serial", true, func(d *libvirtxml.Domain, p string) { d.Devices.Serials[0].Source.File.Path = p }},
		{"serial log", true, func(d *libvirtxml.Domain, p string) { d.Devices.Serials[1].Log.File = p }},
		{"channel", true, func(d *libvirtxml.Domain, p string) { d.Devices.Channels[0].Source.UNIX.Path = p }},
		{"vnc socket", true, func(d *libvirtxml.Domain, p string) { d.Devices.Graphics[1].VNC.Listeners[0].Socket.Socket = p }},
		{"kernel", false, func(d *libvirtxml.Domain, p string) { d.OS.Kernel = p }},
		{"initrd", false, func(d *libvirtxml.Domain, p string) { d.OS.Initrd = p }},
		{"loader", false, func(d *libvirtxml.Domain, p string) { d.OS.Loader.Path = p }},
		{"nvram", true, func(d *libvirtxml.Domain, p string) { d.OS.NVRam.NVRam = p }},
		{"nvram template", false, func(d *libvirtxml.Domain, p string) { d.OS.NVRam.Template = p }},
		{"acpi table", false, func(d *libvirtxml.Domain, p string) { d.OS.ACPI.Tables[0].Path = p }},
		{"fw_cfg file", false, func(d *libvirtxml.Domain, p string) { d.SysInfo[1].FWCfg.Entry[1].File = p }},
		{"interface rom", false, func(d *libvirtxml.Domain, p string) { d.Devices.Interfaces[1].ROM.File = &p }},
	}
}
