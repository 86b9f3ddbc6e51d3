package allowlist

import (
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"libvirt.org/go/libvirtxml"
)

func (c *checker) devices(p *field.Path, d *libvirtxml.DomainDeviceList) {
	c.rest(p, d, deviceReasons(),
		"Disks", "Controllers", "Interfaces", "Serials", "Parallels", "Consoles", "Channels",
		"Inputs", "Graphics", "Videos", "Hubs", "Watchdogs", "MemBalloon", "RNGs", "Panics", "TPMs",
		"IOMMU") // the legacy alias of IOMMUs[0], refused below unless IOMMUs says it
	if d.IOMMU != nil && len(d.IOMMUs) == 0 {
		c.forbid(p.Child("iommu"), "%s", deviceReasons()["IOMMU"])
	}
	for i := range d.Disks {
		c.disk(p.Child("disk").Index(i), &d.Disks[i])
	}
	for i := range d.Controllers {
		c.controller(p.Child("controller").Index(i), &d.Controllers[i])
	}
	for i := range d.Interfaces {
		c.iface(p.Child("interface").Index(i), &d.Interfaces[i])
	}
	for i := range d.Serials {
		s := &d.Serials[i]
		sp := p.Child("serial").Index(i)
		c.rest(sp, s, chardevReasons(), "Source", "Target", "Log", "ACPI", "Alias", "Address")
		c.chardev(sp, s.Source, s.Log)
	}
	for i := range d.Parallels {
		s := &d.Parallels[i]
		sp := p.Child("parallel").Index(i)
		c.rest(sp, s, chardevReasons(), "Source", "Target", "Log", "ACPI", "Alias", "Address")
		c.chardev(sp, s.Source, s.Log)
	}
	for i := range d.Consoles {
		s := &d.Consoles[i]
		sp := p.Child("console").Index(i)
		c.rest(sp, s, chardevReasons(), "TTY", "Source", "Target", "Log", "ACPI", "Alias", "Address")
		c.chardev(sp, s.Source, s.Log)
		if s.Target != nil {
			c.oneOf(sp.Child("target", "type"), s.Target.Type, "", "serial", "virtio")
		}
	}
	for i := range d.Channels {
		s := &d.Channels[i]
		sp := p.Child("channel").Index(i)
		c.rest(sp, s, chardevReasons(), "Source", "Target", "Log", "ACPI", "Alias", "Address")
		c.chardev(sp, s.Source, s.Log)
		if s.Target != nil {
			for _, k := range kinds(s.Target) {
				c.oneOf(sp.Child("target", "type"), k, "virtio", "guestfwd")
			}
		}
	}
	for i := range d.Inputs {
		in := &d.Inputs[i]
		ip := p.Child("input").Index(i)
		// libvirtxml allocates an empty Source for every input: only a
		// kind set in it (passthrough, evdev) names a host device.
		c.rest(ip, in, nil, "Type", "Bus", "Model", "Driver", "Source", "ACPI", "Alias", "Address")
		c.oneOf(ip.Child("type"), in.Type, "tablet", "mouse", "keyboard")
		if in.Source != nil && len(kinds(in.Source)) != 0 {
			c.forbid(ip.Child("source"), "an input source passes a host input device through")
		}
	}
	for i := range d.Graphics {
		c.graphics(p.Child("graphics").Index(i), &d.Graphics[i])
	}
	for i := range d.Videos {
		v := &d.Videos[i]
		vp := p.Child("video").Index(i)
		c.rest(vp, v, nil, "Model", "Driver", "ACPI", "Alias", "Address")
		c.oneOf(vp.Child("model", "type"), v.Model.Type, "", "vga", "cirrus", "virtio", "bochs", "ramfb", "qxl", "none")
		if a := v.Model.Accel; a != nil {
			c.rest(vp.Child("model", "acceleration"), a, map[string]string{
				"RenderNode": "a render node is a host GPU device",
			}, "Accel2D", "Accel3D")
			if a.Accel3D == "yes" {
				c.forbid(vp.Child("model", "acceleration", "accel3d"), "3D acceleration renders on the host's GPU")
			}
		}
		if v.Driver != nil && v.Driver.Name != "" && v.Driver.Name != "qemu" {
			c.forbid(vp.Child("driver", "name"), "%q runs the display in a separate host process", v.Driver.Name)
		}
	}
	for i := range d.Hubs {
		h := &d.Hubs[i]
		c.rest(p.Child("hub").Index(i), h, nil, "Type", "ACPI", "Alias", "Address")
		c.oneOf(p.Child("hub").Index(i).Child("type"), h.Type, "usb")
	}
	for i := range d.Watchdogs {
		w := &d.Watchdogs[i]
		wp := p.Child("watchdog").Index(i)
		c.rest(wp, w, nil, "Model", "Action", "ACPI", "Alias", "Address")
		if w.Action == "dump" {
			c.forbid(wp.Child("action"), `"dump" writes guest memory into the host's dump directory`)
		}
	}
	if b := d.MemBalloon; b != nil {
		c.rest(p.Child("memballoon"), b, nil,
			"Model", "AutoDeflate", "FreePageReporting", "Driver", "Stats", "ACPI", "Alias", "Address")
	}
	for i := range d.RNGs {
		c.rng(p.Child("rng").Index(i), &d.RNGs[i])
	}
	if len(d.TPMs) > 1 {
		c.forbid(p.Child("tpm").Index(1), "one emulated TPM at most")
	}
	for i := range d.TPMs {
		c.tpm(p.Child("tpm").Index(i), &d.TPMs[i])
	}
	for i := range d.Panics {
		c.rest(p.Child("panic").Index(i), &d.Panics[i], nil, "Model", "ACPI", "Alias", "Address")
	}
}

func deviceReasons() map[string]string {
	return map[string]string{
		"Emulator":     "an emulator override runs a host binary of the XML's choosing",
		"Leases":       "lock leases name host files",
		"Filesystems":  "filesystem passthrough (virtiofs, 9p) exposes host directories",
		"Smartcards":   "smartcards use the host's readers, certificate stores or chardevs",
		"Sounds":       "sound devices need a host audio backend",
		"Audios":       "audio backends reach the host's sound devices, servers or files",
		"Hostdevs":     "host device passthrough hands host hardware to the guest",
		"RedirDevs":    "USB redirection connects host USB devices or chardevs",
		"RedirFilters": "USB redirection connects host USB devices or chardevs",
		"NVRAM":        "not used by podvirt",
		"Shmems":       "shared memory is shared with host processes or other guests",
		"Memorydevs":   "memory devices (nvdimm, virtio-pmem, virtio-mem) can map host files",
		"IOMMU":        "a virtual IOMMU only serves device assignment, which is refused",
		"IOMMUs":       "a virtual IOMMU only serves device assignment, which is refused",
		"VSock":        "vsock opens a channel between the guest and host sockets",
		"Crypto":       "crypto devices use the host kernel's crypto",
		"PStore":       "pstore writes a host file",
	}
}

func (c *checker) disk(p *field.Path, d *libvirtxml.DomainDisk) {
	c.rest(p, d, map[string]string{
		"RawIO":         "rawio gives QEMU CAP_SYS_RAWIO",
		"SGIO":          "sgio is SCSI passthrough of a host device",
		"Auth":          "disk auth uses the host's libvirt secrets",
		"Encryption":    "disk encryption uses the host's libvirt secrets",
		"BackendDomain": "not a QEMU disk",
		"Mirror":        "a mirror writes a second host file",
	}, "Device", "Snapshot", "Model", "Driver", "Source", "BackingStore", "Geometry", "BlockIO",
		"Target", "IOTune", "ThrottleFilters", "ReadOnly", "Shareable", "Transient",
		"Serial", "WWN", "Vendor", "Product", "Boot", "ACPI", "Alias", "Address")
	switch d.Device {
	case "", "disk", "cdrom", "floppy":
	case "lun":
		c.forbid(p.Child("device"), `"lun" passes a host SCSI device through`)
	default:
		c.add(field.NotSupported(p.Child("device"), d.Device, []string{"disk", "cdrom", "floppy"}))
	}
	if drv := d.Driver; drv != nil {
		c.oneOf(p.Child("driver", "name"), drv.Name, "", "qemu")
		c.format(p.Child("driver", "type"), drv.Type)
		if drv.Type != "" && drv.Type != "raw" {
			c.verifiedImage(p, d)
		}
	}
	// QEMU only reads cdroms and <readonly/> disks, but a transient disk's
	// overlay is written next to its image.
	a := readWrite
	if (d.ReadOnly != nil || d.Device == "cdrom") && d.Transient == nil {
		a = readOnly
	}
	if d.Source != nil {
		c.diskSource(p, d.Source, a, true)
	}
	// Backing files are only read.
	bp := p.Child("backingStore")
	for b, depth := d.BackingStore, 0; b != nil; b, depth = b.BackingStore, depth+1 {
		c.rest(bp, b, nil, "Index", "Format", "Source", "BackingStore")
		if b.Format != nil {
			c.format(bp.Child("format", "type"), b.Format.Type)
		}
		if b.Source != nil {
			src := *b.Source
			if depth == 0 && src.File != nil {
				src.File = c.backingSecLabels(bp.Child("source", "seclabel"), src.File)
			}
			c.diskSource(bp, &src, readOnly, true)
		}
		bp = bp.Child("backingStore")
	}
	if d.BackingStore != nil && !emptyBackingStore(d.BackingStore) {
		c.backingChain(p.Child("backingStore"), d)
	}
}

// emptyBackingStore reports whether b is <backingStore/>: no backing file.
// (libvirtxml reads it with an empty, zero source.)
func emptyBackingStore(b *libvirtxml.DomainDiskBackingStore) bool {
	return b != nil && (b.Source == nil || reflect.ValueOf(*b.Source).IsZero()) && b.Format == nil && b.BackingStore == nil
}

// verifiedImage refuses a disk of a format with headers (qcow2...) unless
// its file is one of Options.VerifiedImages and it declares its backing
// chain (backingChain), so libvirt gives QEMU that chain and no other.
func (c *checker) verifiedImage(p *field.Path, d *libvirtxml.DomainDisk) {
	file := ""
	if d.Source != nil && d.Source.File != nil {
		file = d.Source.File.File
	}
	if !slices.Contains(c.opts.VerifiedImages, file) {
		c.forbid(p.Child("source", "file"), "a %s image whose header the node agent did not check: its header can name other host files", d.Driver.Type)
	}
	if d.BackingStore == nil {
		c.forbid(p.Child("backingStore"), "a %s disk must declare its backing store (empty, or one read-only image), so QEMU opens no backing file its header names", d.Driver.Type)
	}
}

// backingChain refuses a backing store other than one level over a
// read-only image: a qcow2 disk (an overlay) whose backing store is a
// file strictly inside Options.ReadOnlyDirs (never a writable directory:
// the image is shared and only read), of an explicit format raw or qcow2
// (without one libvirt would probe the image's header), qcow2 only if
// its header was checked (Options.VerifiedImages), which declares an
// empty backing store of its own.
func (c *checker) backingChain(p *field.Path, d *libvirtxml.DomainDisk) {
	if d.Driver == nil || d.Driver.Type != "qcow2" {
		typ := "raw"
		if d.Driver != nil && d.Driver.Type != "" {
			typ = d.Driver.Type
		}
		c.forbid(p, "a backing file only for a qcow2 overlay, not a %s disk", typ)
	}
	b := d.BackingStore
	format := ""
	if b.Format != nil {
		format = b.Format.Type
	}
	if format != "raw" && format != "qcow2" {
		c.add(field.NotSupported(p.Child("format", "type"), format, []string{"raw", "qcow2"}))
	}
	if b.Source == nil || b.Source.File == nil || b.Source.File.File == "" || len(kinds(b.Source)) != 1 {
		c.forbid(p.Child("source"), "a backing store must be a file of a read-only image")
	} else {
		file := b.Source.File.File
		c.fileIn(p.Child("source", "file"), file, c.imageDirs, "read-only image")
		if format == "qcow2" && !slices.Contains(c.opts.VerifiedImages, file) {
			c.forbid(p.Child("source", "file"), "a qcow2 backing image whose header the node agent did not check: its header can name other host files")
		}
	}
	if !emptyBackingStore(b.BackingStore) {
		c.forbid(p.Child("backingStore"), "a backing image must declare an empty backing store of its own: one level, so QEMU opens no other file")
	}
}

// backingSecLabels allows a backing file one seclabel: <seclabel
// model='dac' relabel='no'/>, which keeps libvirt from handing the
// shared image to QEMU's user (with dynamic ownership it would chown
// every file of the chain, and never give a backing file back). It only
// takes access away. It returns f without it, for the other checks.
func (c *checker) backingSecLabels(p *field.Path, f *libvirtxml.DomainDiskSourceFile) *libvirtxml.DomainDiskSourceFile {
	if len(f.SecLabel) == 0 {
		return f
	}
	for i, l := range f.SecLabel {
		if l != (libvirtxml.DomainDeviceSecLabel{Model: "dac", Relabel: "no"}) {
			c.forbid(p.Index(i), "a backing file's only seclabel is model='dac' relabel='no'")
		}
	}
	out := *f
	out.SecLabel = nil
	return &out
}

// format refuses disk formats outside Options.AllowedDiskFormats.
func (c *checker) format(p *field.Path, format string) {
	if format == "" {
		format = "raw"
	}
	if !slices.Contains(c.opts.AllowedDiskFormats, format) {
		c.forbid(p, "format %q is not allowed on this node (allowed: %v): image headers can name other host files", format, c.opts.AllowedDiskFormats)
	}
}

// diskSource checks the source of the disk (or nvram, or backing store) at
// parent. network says whether network sources may be allowed at all.
func (c *checker) diskSource(parent *field.Path, s *libvirtxml.DomainDiskSource, a access, network bool) {
	p := parent.Child("source")
	c.rest(p, s, map[string]string{
		"Encryption":   "disk encryption uses the host's libvirt secrets",
		"Reservations": "persistent reservations talk to the host's privileged pr-helper",
		"DataStore":    "an external data file is another host file",
	}, "File", "Block", "Dir", "Network", "Volume", "NVME", "VHostUser", "VHostVDPA", "Ctl",
		"StartupPolicy", "Index", "Slices", "SSL", "Cookies", "Readahead", "Timeout")
	typ := parent.Child("type") // <disk type=...>: a source's kind is its parent's type
	for _, k := range kinds(s) {
		switch k {
		case "file", "block", "network":
		case "dir":
			c.forbid(typ, `"dir": a directory exported as a disk exposes host files`)
		case "volume":
			c.forbid(typ, `"volume": storage pool volumes are the host's`)
		case "nvme":
			c.forbid(typ, `"nvme": passes a host NVMe device through`)
		case "vhostuser", "vhostvdpa":
			c.forbid(typ, "%q: connects the disk to a host process or device", k)
		default:
			c.forbid(typ, "%q: not on the node allowlist", k)
		}
	}
	if f := s.File; f != nil {
		c.rest(p, f, map[string]string{
			"FDGroup":  "fd groups pass host file descriptors",
			"SecLabel": "per-device seclabels change how QEMU's files are labelled",
		}, "File")
		c.file(p.Child("file"), f.File, a)
	}
	if b := s.Block; b != nil {
		if !c.opts.AllowBlockDisks && !slices.Contains(c.opts.VolumeDisks, b.Dev) {
			c.forbid(typ, `"block": block disks are not allowed on this node`)
		}
		c.rest(p, b, map[string]string{"SecLabel": "per-device seclabels change how QEMU's files are labelled"}, "Dev")
		c.file(p.Child("dev"), b.Dev, a)
	}
	if n := s.Network; n != nil {
		if !network || !c.opts.AllowNetworkDisks {
			c.forbid(typ, `"network": network disks are not allowed on this node`)
		}
		c.rest(p, n, map[string]string{
			"Auth":       "disk auth uses the host's libvirt secrets",
			"Config":     "a config file is a host file",
			"Identity":   "an ssh identity is a host key file",
			"KnownHosts": "a known hosts file is a host file",
		}, "Protocol", "Name", "Query", "TLS", "TLSHostname", "Hosts", "Initiator", "Snapshot", "Reconnect")
		for i, h := range n.Hosts {
			hp := p.Child("host").Index(i)
			if h.Transport == "unix" || h.Socket != "" {
				if h.Socket == "" {
					c.add(field.Required(hp.Child("socket"), "a unix transport needs a socket inside the VMI's directory"))
				}
				c.file(hp.Child("socket"), h.Socket, readWrite)
			}
		}
	}
}

func (c *checker) controller(p *field.Path, ctl *libvirtxml.DomainController) {
	c.rest(p, ctl, map[string]string{"XenBus": "not a QEMU controller"},
		"Type", "Index", "Model", "Driver", "PCI", "USB", "VirtIOSerial", "NVME", "ACPI", "Alias", "Address")
	c.oneOf(p.Child("type"), ctl.Type, "ide", "fdc", "scsi", "sata", "usb", "virtio-serial", "pci", "isa", "nvme")
}

func (c *checker) iface(p *field.Path, n *libvirtxml.DomainInterface) {
	c.rest(p, n, map[string]string{
		"Managed":             "managed host devices are refused",
		"TrustGuestRXFilters": "lets the guest change the filters of a host device",
		"VLan":                "VLAN tags on a host bridge join another network",
		"VirtualPort":         "virtual ports configure the host's Open vSwitch or 802.1Qbh ports",
		"PortForward":         "port forwards bind host ports",
		"Script":              "a script runs a host program",
		"DownScript":          "a script runs a host program",
		"BackendDomain":       "not a QEMU interface",
		"Backend":             "a backend names host devices (tap, vhost) or a host log file",
	}, "MAC", "Source", "Boot", "IP", "Route", "Target", "Guest", "Model", "Driver", "FilterRef",
		"Tune", "Teaming", "Link", "MTU", "Bandwidth", "PortOptions", "Coalesce", "ROM", "ACPI", "Alias", "Address")
	typ := p.Child("type")
	var ks []string
	if n.Source != nil {
		ks = kinds(n.Source)
	}
	if len(ks) == 0 {
		c.add(field.Required(typ, "an interface needs a type"))
	}
	for _, k := range ks {
		switch k {
		case "bridge":
			if b := n.Source.Bridge.Bridge; !slices.Contains(c.opts.AllowedBridges, b) {
				c.forbid(p.Child("source", "bridge"), "%q is not an allowed bridge on this node", b)
			}
		case "network":
			src := n.Source.Network
			c.rest(p.Child("source"), src, map[string]string{
				"Bridge": "the bridge of a network is the network's to choose",
				"PortID": "a port id names another interface's port",
			}, "Network", "PortGroup")
			if !slices.Contains(c.opts.AllowedNetworks, src.Network) {
				c.forbid(p.Child("source", "network"), "%q is not an allowed libvirt network on this node", src.Network)
			}
		case "user":
			if !c.opts.AllowUserNetworking {
				c.forbid(typ, `"user": user networking reaches the host's loopback services and is not allowed on this node`)
			}
			c.rest(p.Child("source"), n.Source.User, map[string]string{"Dev": "binds to a host interface"})
		case "direct", "hostdev", "vdpa":
			c.forbid(typ, "%q: passes a host network device through", k)
		case "ethernet":
			// A tap libvirt creates and leaves unconnected; the node agent
			// plumbs it (into the launcher Pod's network namespace). No
			// script, no addresses or routes on the host side.
			c.rest(p.Child("source"), n.Source.Ethernet, map[string]string{
				"IP":    "addresses on the host side of the tap change the host's network",
				"Route": "routes on the host side of the tap change the host's routing",
			})
		case "vhostuser":
			c.forbid(typ, `"vhostuser": connects the guest to a host process`)
		case "server", "client", "mcast", "udp":
			c.forbid(typ, "%q: opens sockets in the host's network namespace", k)
		default:
			c.forbid(typ, "%q: not on the node allowlist", k)
		}
	}
	if !slices.Contains(ks, "user") {
		// Only user networking has guest-side addresses and routes; on a
		// tap (ethernet) they configure the host side.
		for i := range n.IP {
			c.forbid(p.Child("ip").Index(i), "addresses on the host side of the tap change the host's network")
		}
		for i := range n.Route {
			c.forbid(p.Child("route").Index(i), "routes on the host side of the tap change the host's routing")
		}
	}
	if t := n.Target; t != nil {
		tp := p.Child("target")
		c.rest(tp, t, nil, "Dev", "Managed")
		if t.Managed == "no" && (!slices.Contains(ks, "ethernet") || !slices.Contains(c.opts.OwnTaps, t.Dev)) {
			c.forbid(tp.Child("managed"), "an unmanaged tap is an existing host device; only the node agent's own tap for this domain may be given")
		}
		if t.Dev != "" && (c.opts.TargetDevPrefix == "" || !strings.HasPrefix(t.Dev, c.opts.TargetDevPrefix) || t.Dev == c.opts.TargetDevPrefix) {
			c.forbid(tp.Child("dev"), "%q: host interface names must start with this node's prefix %q (an existing device would be taken over)", t.Dev, c.opts.TargetDevPrefix)
		}
	}
	c.rom(p.Child("rom"), n.ROM)
}

func (c *checker) rom(p *field.Path, r *libvirtxml.DomainROM) {
	if r != nil && r.File != nil {
		if *r.File == "" {
			return // <rom file=''/>: no ROM
		}
		c.file(p.Child("file"), *r.File, readOnly)
	}
}

// chardev checks a chardev's source and log: files and unix sockets inside
// the writable directories, ptys and null.
func (c *checker) chardev(p *field.Path, s *libvirtxml.DomainChardevSource, log *libvirtxml.DomainChardevLog) {
	typ := p.Child("type")
	sp := p.Child("source")
	if s != nil {
		for _, k := range kinds(s) {
			switch k {
			case "file", "pty", "null", "unix":
			case "dev":
				c.forbid(typ, `"dev": a host character device`)
			case "pipe":
				c.forbid(typ, `"pipe": a host named pipe`)
			case "stdio":
				c.forbid(typ, `"stdio": QEMU's own standard streams`)
			case "tcp", "udp":
				c.forbid(typ, "%q: a socket in the host's network namespace", k)
			case "dbus":
				c.forbid(typ, `"dbus": the host's D-Bus`)
			default:
				c.forbid(typ, "%q: not on the node allowlist", k)
			}
		}
		seclabel := map[string]string{"SecLabel": "per-device seclabels change how QEMU's files are labelled"}
		if f := s.File; f != nil {
			c.rest(sp, f, seclabel, "Path", "Append")
			if f.Path == "" {
				c.add(field.Required(sp.Child("path"), "a file chardev needs a path"))
			}
			c.file(sp.Child("path"), f.Path, readWrite)
		}
		if t := s.Pty; t != nil {
			c.rest(sp, t, map[string]string{
				"Path":     "QEMU allocates the pty; a given path names a host terminal",
				"SecLabel": seclabel["SecLabel"],
			})
		}
		if u := s.UNIX; u != nil {
			c.rest(sp, u, map[string]string{
				"SecLabel":  seclabel["SecLabel"],
				"Reconnect": "QEMU connects only to a socket it binds itself; reconnecting is for sockets it connects to",
			}, "Mode", "Path")
			if u.Mode != "bind" {
				c.forbid(sp.Child("mode"), "%q: QEMU may only bind (serve) its console socket, not connect to another process's", u.Mode)
			}
			c.exactly(sp.Child("path"), u.Path, c.opts.ChardevSockets, "a unix chardev")
		}
	}
	if log != nil {
		lp := p.Child("log", "file")
		if log.File == "" {
			c.add(field.Required(lp, "a chardev log needs a file"))
		}
		c.exactly(lp, log.File, c.opts.ChardevLogs, "a chardev log")
	}
}

// exactly refuses path unless it is one of allowed (after filepath.Clean)
// and passes the writable directory checks. An empty path is refused too:
// libvirt would choose one itself.
func (c *checker) exactly(p *field.Path, path string, allowed []string, what string) {
	if path == "" {
		c.add(field.Required(p, what+" needs a path"))
		return
	}
	ok := false
	for _, a := range allowed {
		ok = ok || filepath.Clean(a) == filepath.Clean(path)
	}
	if !ok {
		c.forbid(p, "%q: %s may only be %v on this node", path, what, allowed)
	}
	c.file(p, path, readWrite)
}

func chardevReasons() map[string]string {
	return map[string]string{"Protocol": "chardev protocols only serve tcp chardevs, which are refused"}
}

func (c *checker) graphics(p *field.Path, g *libvirtxml.DomainGraphic) {
	c.rest(p, g, map[string]string{"Audio": "audio backends are refused"},
		"SDL", "VNC", "RDP", "Desktop", "Spice", "EGLHeadless", "DBus")
	typ := p.Child("type")
	for _, k := range kinds(g) {
		switch k {
		case "vnc":
		case "sdl", "desktop":
			c.forbid(typ, "%q: draws on the host's display", k)
		case "egl-headless":
			c.forbid(typ, "%q: renders on the host's GPU", k)
		default:
			c.forbid(typ, "%q: only vnc is allowed", k)
		}
	}
	v := g.VNC
	if v == nil {
		return
	}
	c.rest(p, v, nil, "Socket", "Port", "AutoPort", "WebSocket", "Keymap", "SharePolicy", "Passwd",
		"PasswdValidTo", "Connected", "PowerControl", "Listen", "Wait", "Listeners")
	c.file(p.Child("socket"), v.Socket, readWrite)
	c.loopback(p.Child("listen"), v.Listen)
	for i := range v.Listeners {
		l := &v.Listeners[i]
		lp := p.Child("listen").Index(i)
		if l.Network != nil {
			c.forbid(lp.Child("type"), `"network": listens on an address of a host network`)
		}
		if l.Address != nil {
			c.loopback(lp.Child("address"), l.Address.Address)
		}
		if l.Socket != nil {
			c.file(lp.Child("socket"), l.Socket.Socket, readWrite)
		}
	}
}

// loopback refuses listen addresses other than loopback IPs (or none,
// which is qemu.conf's vnc_listen, 127.0.0.1 unless the host admin says
// otherwise).
func (c *checker) loopback(p *field.Path, addr string) {
	if addr == "" {
		return
	}
	if ip := net.ParseIP(addr); ip == nil || !ip.IsLoopback() {
		c.forbid(p, "%q: VNC may only listen on a loopback address or a socket", addr)
	}
}

func (c *checker) rng(p *field.Path, r *libvirtxml.DomainRNG) {
	c.rest(p, r, nil, "Model", "Driver", "Rate", "Backend", "ACPI", "Alias", "Address")
	if r.Backend == nil {
		return
	}
	bp := p.Child("backend")
	for _, k := range kinds(r.Backend) {
		switch k {
		case "random", "builtin":
		case "egd":
			c.forbid(bp.Child("model"), `"egd": reads entropy from a host chardev`)
		default:
			c.forbid(bp.Child("model"), "%q: not on the node allowlist", k)
		}
	}
	if rnd := r.Backend.Random; rnd != nil && rnd.Device != "" && rnd.Device != "/dev/urandom" {
		c.forbid(bp, "%q: the random backend may only read /dev/urandom", rnd.Device)
	}
}

// tpm allows an emulated TPM (swtpm, which libvirt runs with its state in
// its own swtpm directory, removed when the domain is undefined) and
// nothing that reaches further: no passthrough of the host's TPM, no
// external swtpm socket, no state kept after the domain, no state or
// profile at a path the XML names, no libvirt secrets, no debug logging
// into the host's swtpm log.
func (c *checker) tpm(p *field.Path, t *libvirtxml.DomainTPM) {
	c.rest(p, t, nil, "Model", "Backend", "ACPI", "Alias", "Address")
	c.oneOf(p.Child("model"), t.Model, "", "tpm-tis", "tpm-crb")
	bp := p.Child("backend")
	if t.Backend == nil {
		c.add(field.Required(bp, "an emulated TPM needs a backend of type emulator"))
		return
	}
	for _, k := range kinds(t.Backend) {
		switch k {
		case "emulator":
		case "passthrough":
			c.forbid(bp.Child("type"), `"passthrough": hands the host's TPM to the guest`)
		case "external":
			c.forbid(bp.Child("type"), `"external": connects to a host swtpm socket`)
		default:
			c.forbid(bp.Child("type"), "%q: not on the node allowlist", k)
		}
	}
	e := t.Backend.Emulator
	if e == nil {
		if len(kinds(t.Backend)) == 0 {
			c.add(field.Required(bp.Child("type"), "an emulated TPM needs a backend of type emulator"))
		}
		return
	}
	c.rest(bp, e, map[string]string{
		"Encryption": "state encryption uses the host's libvirt secrets",
		"Debug":      "debug logging writes the host's swtpm log",
		"Source":     "a state location is a host path",
		"Profile":    "a profile names host files",
	}, "Version", "ActivePCRBanks", "PersistentState")
	if e.PersistentState != "" && e.PersistentState != "no" {
		c.forbid(bp.Child("persistent_state"), "%q: the state would outlive the domain in the host's swtpm directory", e.PersistentState)
	}
	c.oneOf(bp.Child("version"), e.Version, "", "2.0")
}
