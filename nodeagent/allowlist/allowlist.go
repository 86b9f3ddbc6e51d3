package allowlist

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"libvirt.org/go/libvirtxml"
)

// Options are a node's allowlist settings. The zero value refuses every
// file, interface and partition and allows domain types kvm and qemu and
// raw disks.
type Options struct {
	// AllowedDirs are the directories the domain may read and write files
	// in: the VMI's own directory on the node.
	AllowedDirs []string
	// ReadOnlyDirs are directories the domain may only read files from:
	// the root of this VMI's extracted image, which other VMIs share (not
	// the whole image cache: other images may be other tenants').
	ReadOnlyDirs []string
	// ResolveSymlinks resolves a path's symbolic links. The resolved path
	// must stay inside the allowed directories too. Nil means EvalSymlinks
	// (this host's file system); Lexical turns resolution off.
	ResolveSymlinks func(path string) (string, error)

	// AllowedTypes are the allowed domain types. Nil means DefaultTypes.
	AllowedTypes []string
	// AllowedDiskFormats are the allowed disk driver types ("" is raw).
	// Nil means DefaultDiskFormats.
	AllowedDiskFormats []string
	// VerifiedImages are image files whose headers the caller checked name
	// no other file (no external data file, and no backing file but, for
	// an overlay the caller made, its backing image). A disk of a format
	// other than raw must be one of them and declare its backing store:
	// empty (<backingStore/>), so libvirt gives QEMU no backing, or one
	// level over an image file inside ReadOnlyDirs (raw, or qcow2 and one
	// of them) that declares an empty one of its own.
	VerifiedImages []string
	// VolumeDisks are the disks of volumes that are not the VMI's own
	// files, which the node agent found and opened without following a
	// symbolic link: a persistentVolumeClaim's disk.img or block device,
	// a hostDisk's image. Each may be a disk's source, exactly as named
	// (it is outside the allowed directories, and its links were already
	// refused where the agent sees the host's files).
	VolumeDisks []string
	// AllowBlockDisks allows disks of type block; their device nodes must
	// still be inside AllowedDirs (ReadOnlyDirs for read-only disks).
	AllowBlockDisks bool
	// AllowNetworkDisks allows disks of type network (NBD, iSCSI, RBD,
	// HTTP...). QEMU connects from the host's network namespace, so only
	// allow them where that is acceptable.
	AllowNetworkDisks bool
	// AllowedBridges are host bridges interfaces of type bridge may join.
	AllowedBridges []string
	// AllowedNetworks are libvirt networks interfaces of type network may
	// join.
	AllowedNetworks []string
	// OwnTaps are existing taps the node agent made for this domain: an
	// interface of type ethernet may name one as its unmanaged target
	// (<target dev=TAP managed='no'/>), which libvirt opens for QEMU
	// instead of making a tap. Any other unmanaged target is refused: it
	// would hand the guest an existing host device.
	OwnTaps []string
	// TargetDevPrefix is the prefix of host interface names (<target
	// dev>) the node agent gives taps. Empty refuses every target dev:
	// libvirt would take over an existing device of that name.
	TargetDevPrefix string
	// AllowUserNetworking allows interfaces of type user. QEMU runs in the
	// host's network namespace, so a guest on user networking reaches the
	// host's loopback services.
	AllowUserNetworking bool
	// AllowedPartitions are the allowed <resource><partition> values
	// (cgroup partitions under which libvirt places the QEMU process).
	AllowedPartitions []string
	// ChardevSockets are the unix sockets a chardev may have: the serial
	// console's, which QEMU binds (mode bind, a server). A unix chardev at
	// any other path, or one QEMU connects to (mode connect, reconnect),
	// is refused; nil refuses every unix chardev. Each path must also pass
	// the directory checks.
	ChardevSockets []string
	// ChardevLogs are the files a chardev log may write: the serial log.
	// Nil refuses every chardev log.
	ChardevLogs []string
	// PinnableCPUs are the host CPUs vCPUs, the emulator and I/O threads
	// may be pinned to (<cputune> vcpupin, emulatorpin, iothreadpin): the
	// CPUs the kubelet gave the launcher container exclusively. Nil
	// refuses every pin: pinning to CPUs the Pod was not given takes them
	// from other workloads.
	PinnableCPUs []int
}

// DefaultTypes are the domain types allowed when Options.AllowedTypes is nil.
func DefaultTypes() []string { return []string{"kvm", "qemu"} }

// DefaultDiskFormats are the disk formats allowed when
// Options.AllowedDiskFormats is nil: raw only, as raw images cannot name
// other files.
func DefaultDiskFormats() []string { return []string{"raw"} }

// Check returns every reason to refuse dom on this node, or nothing when
// the domain is allowed. Paths are XML paths ("devices.hostdev[0]",
// "os.kernel"); errors about opts are under "options". A nil domain is
// refused.
func Check(dom *libvirtxml.Domain, opts Options) field.ErrorList {
	c := newChecker(opts)
	if dom == nil {
		return append(c.errs, field.Required(field.NewPath("domain"), "no domain to check"))
	}
	c.domain(dom)
	return c.errs
}

// checker accumulates the refusals of one Check call.
type checker struct {
	opts    Options
	resolve func(string) (string, error)
	rw, ro  []allowedDir // ro holds both: writable directories are readable
	// imageDirs are Options.ReadOnlyDirs alone: where backing files may be.
	imageDirs []allowedDir
	errs      field.ErrorList
}

func newChecker(opts Options) *checker {
	c := &checker{opts: opts, resolve: opts.ResolveSymlinks}
	if c.resolve == nil {
		c.resolve = EvalSymlinks
	}
	if c.opts.AllowedTypes == nil {
		c.opts.AllowedTypes = DefaultTypes()
	}
	if c.opts.AllowedDiskFormats == nil {
		c.opts.AllowedDiskFormats = DefaultDiskFormats()
	}
	root := field.NewPath("options")
	c.rw = c.dirs(root.Child("allowedDirs"), opts.AllowedDirs)
	ro := c.dirs(root.Child("readOnlyDirs"), opts.ReadOnlyDirs)
	for i, d := range ro {
		for _, w := range c.rw {
			if d.clean == w.clean || inside(d.clean, []allowedDir{w}, func(d allowedDir) string { return d.clean }) {
				c.add(field.Invalid(root.Child("readOnlyDirs").Index(i), d.clean,
					fmt.Sprintf("inside the writable directory %s: its files would be writable", w.clean)))
			}
		}
	}
	c.imageDirs = ro
	c.ro = append(slices.Clone(c.rw), ro...)
	return c
}

func (c *checker) add(err *field.Error) { c.errs = append(c.errs, err) }

func (c *checker) forbid(p *field.Path, format string, args ...any) {
	c.add(field.Forbidden(p, fmt.Sprintf(format, args...)))
}

// oneOf refuses value unless it is among allowed.
func (c *checker) oneOf(p *field.Path, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		c.add(field.NotSupported(p, value, allowed))
	}
}

func (c *checker) domain(d *libvirtxml.Domain) {
	c.rest(nil, d, domainReasons(),
		"Type", "ID", "Name", "UUID", "HWUUID", "GenID", "Title", "Description", "Metadata",
		"MaximumMemory", "Memory", "CurrentMemory", "BlockIOTune", "MemoryTune", "MemoryBacking",
		"VCPU", "VCPUs", "IOThreads", "IOThreadIDs", "DefaultIOThread", "CPUTune", "NUMATune",
		"Resource", "SysInfo", "OS", "ThrottleGroups", "Features", "CPU", "Clock",
		"OnPoweroff", "OnReboot", "OnCrash", "OnLockFailure", "PM", "Devices", "SecLabel")
	c.oneOf(field.NewPath("type"), d.Type, c.opts.AllowedTypes...)
	if md := d.Metadata; md != nil {
		// libvirtxml writes metadata back verbatim: text that is not
		// balanced XML could close <metadata> and add unchecked elements.
		if err := balanced(md.XML); err != nil {
			c.forbid(field.NewPath("metadata"), "not balanced XML, and written out verbatim: %v", err)
		}
	}
	if m := d.Memory; m != nil && m.DumpCore == "on" {
		c.forbid(field.NewPath("memory", "dumpCore"), "core dumps with guest memory land in the host's core dump directory")
	}

	if t := d.BlockIOTune; t != nil {
		c.rest(field.NewPath("blkiotune"), t, map[string]string{"Device": "per-device weights and limits name host block devices"}, "Weight")
	}
	if mb := d.MemoryBacking; mb != nil {
		p := field.NewPath("memoryBacking")
		c.rest(p, mb, memoryBackingReasons(),
			"MemoryNosharepages", "MemorySource", "MemoryAccess", "MemoryAllocation", "MemoryDiscard")
		if s := mb.MemorySource; s != nil && s.Type != "" && s.Type != "anonymous" && s.Type != "memfd" {
			c.forbid(p.Child("source", "type"), "%q: file-backed guest memory lives in the host's memory_backing_dir, outside the VMI's directory", s.Type)
		}
	}
	if t := d.CPUTune; t != nil {
		c.rest(field.NewPath("cputune"), t, cputuneReasons(),
			"Shares", "Period", "Quota", "GlobalPeriod", "GlobalQuota", "EmulatorPeriod", "EmulatorQuota",
			"IOThreadPeriod", "IOThreadQuota", "VCPUPin", "EmulatorPin", "IOThreadPin")
		c.pins(field.NewPath("cputune"), t)
	}
	if cl := d.Clock; cl != nil && cl.TimeZone != "" && !timeZoneRE.MatchString(cl.TimeZone) {
		// libvirt gives QEMU TZ=<timezone>: glibc reads a tzfile by that
		// name, or at that path for ":/path" or "../".
		c.forbid(field.NewPath("clock", "timezone"), "%q: a time zone name (Area/Location), not a path: QEMU's C library would read that host file", cl.TimeZone)
	}
	if r := d.Resource; r != nil {
		p := field.NewPath("resource")
		c.rest(p, r, map[string]string{"FibreChannel": "fibre channel application ids tag the host's storage traffic"}, "Partition")
		if r.Partition != "" && !slices.Contains(c.opts.AllowedPartitions, r.Partition) {
			c.forbid(p.Child("partition"), "%q is not an allowed cgroup partition on this node", r.Partition)
		}
	}
	for i := range d.SysInfo {
		c.sysinfo(field.NewPath("sysinfo").Index(i), &d.SysInfo[i])
	}
	if d.OS != nil {
		c.os(field.NewPath("os"), d.OS)
	}
	for i, sl := range d.SecLabel {
		c.seclabel(field.NewPath("seclabel").Index(i), sl)
	}
	lifecycle := []string{"", "destroy", "restart", "preserve", "rename-restart"}
	c.oneOf(field.NewPath("on_poweroff"), d.OnPoweroff, lifecycle...)
	c.oneOf(field.NewPath("on_reboot"), d.OnReboot, lifecycle...)
	if strings.HasPrefix(d.OnCrash, "coredump") {
		c.forbid(field.NewPath("on_crash"), "%q dumps guest memory into the host's dump directory", d.OnCrash)
	} else {
		c.oneOf(field.NewPath("on_crash"), d.OnCrash, lifecycle...)
	}
	if f := d.Features; f != nil {
		// Features are guest ABI and allowed, but for the few that are
		// about the host.
		p := field.NewPath("features")
		if f.Capabilities != nil {
			c.forbid(p.Child("capabilities"), "container capabilities are for LXC, not QEMU")
		}
		if f.Xen != nil {
			c.forbid(p.Child("xen"), "Xen passthrough and host e820 maps are for Xen, not QEMU")
		}
	}
	if d.Devices != nil {
		c.devices(field.NewPath("devices"), d.Devices)
	}
}

// timeZoneRE matches IANA zone names (Europe/Berlin, Etc/GMT+1, UTC) and
// nothing that reads as a path.
var timeZoneRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)

// pins refuses CPU pinning outside Options.PinnableCPUs.
func (c *checker) pins(p *field.Path, t *libvirtxml.DomainCPUTune) {
	check := func(p *field.Path, set string) {
		cpus, err := ParseCPUList(set)
		switch {
		case err != nil:
			c.add(field.Invalid(p, set, err.Error()))
		case len(cpus) == 0:
			c.add(field.Required(p, "a pin needs CPUs"))
		}
		for _, cpu := range cpus {
			if !slices.Contains(c.opts.PinnableCPUs, cpu) {
				c.forbid(p, "%q: CPU %d is not one the launcher container was given exclusively (%v)", set, cpu, c.opts.PinnableCPUs)
				return
			}
		}
	}
	for i, v := range t.VCPUPin {
		check(p.Child("vcpupin").Index(i).Child("cpuset"), v.CPUSet)
	}
	if e := t.EmulatorPin; e != nil {
		check(p.Child("emulatorpin", "cpuset"), e.CPUSet)
	}
	for i, io := range t.IOThreadPin {
		check(p.Child("iothreadpin").Index(i).Child("cpuset"), io.CPUSet)
	}
}

// ParseCPUList parses a CPU list as cgroups and libvirt write it
// ("0-3,8,10-11"; libvirt's "^n" exclusions are refused).
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("not a CPU list: %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 4096 {
				return nil, fmt.Errorf("not a CPU list: %q", s)
			}
		}
		for cpu := a; cpu <= b; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// balanced reports whether s is a sequence of XML content that closes
// every element it opens and nothing else.
func balanced(s string) error {
	const wrapper = "podvirt-allowlist-wrapper"
	dec := xml.NewDecoder(strings.NewReader("<" + wrapper + ">" + s + "</" + wrapper + ">"))
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		switch tok.(type) {
		case xml.Directive:
			return fmt.Errorf("metadata holds an XML directive (<!...>)")
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				if _, err := dec.Token(); !errors.Is(err, io.EOF) {
					return fmt.Errorf("metadata closes an element it did not open")
				}
				return nil
			}
		}
	}
}

func (c *checker) sysinfo(p *field.Path, s *libvirtxml.DomainSysInfo) {
	c.rest(p, s, nil, "SMBIOS", "FWCfg")
	// Entries may name files QEMU reads into the guest (libvirtxml shares
	// one entry type between fw_cfg and every SMBIOS table).
	entries := func(p *field.Path, es []libvirtxml.DomainSysInfoEntry) {
		for i, e := range es {
			c.file(p.Child("entry").Index(i).Child("file"), e.File, readOnly)
		}
	}
	if f := s.FWCfg; f != nil {
		entries(p, f.Entry)
	}
	sm := s.SMBIOS
	if sm == nil {
		return
	}
	if sm.BIOS != nil {
		entries(p.Child("bios"), sm.BIOS.Entry)
	}
	if sm.System != nil {
		entries(p.Child("system"), sm.System.Entry)
	}
	for i := range sm.BaseBoard {
		entries(p.Child("baseBoard").Index(i), sm.BaseBoard[i].Entry)
	}
	if sm.Chassis != nil {
		entries(p.Child("chassis"), sm.Chassis.Entry)
	}
	for i := range sm.Processor {
		entries(p.Child("processor").Index(i), sm.Processor[i].Entry)
	}
	for i := range sm.Memory {
		entries(p.Child("memory_device").Index(i), sm.Memory[i].Entry)
	}
}

func (c *checker) seclabel(p *field.Path, sl libvirtxml.DomainSecLabel) {
	c.rest(p, &sl, seclabelReasons(), "Type", "Model", "Relabel")
	switch sl.Type {
	case "", "dynamic":
	case "none":
		c.forbid(p.Child("type"), `"none" runs QEMU unconfined`)
	case "static":
		c.forbid(p.Child("type"), `"static" lets the XML choose QEMU's security context`)
	default:
		c.add(field.NotSupported(p.Child("type"), sl.Type, []string{"dynamic"}))
	}
	if sl.Model == "none" {
		c.forbid(p.Child("model"), `"none" runs QEMU unconfined`)
	}
	if sl.Relabel != "" && sl.Relabel != "yes" {
		c.forbid(p.Child("relabel"), "%q leaves files unlabelled: QEMU's confinement no longer matches its files", sl.Relabel)
	}
}

func (c *checker) os(p *field.Path, o *libvirtxml.DomainOS) {
	c.rest(p, o, osReasons(),
		"Type", "Firmware", "FirmwareInfo", "Loader", "NVRam", "VarStore", "Kernel", "Initrd",
		"Cmdline", "Shim", "DTB", "ACPI", "BootDevices", "BootMenu", "BIOS", "SMBios")
	if o.Type != nil {
		c.oneOf(p.Child("type"), o.Type.Type, "hvm")
	}
	c.oneOf(p.Child("firmware"), o.Firmware, "", "bios", "efi")
	if l := o.Loader; l != nil {
		a := readWrite
		if l.Readonly == "yes" {
			a = readOnly
		}
		c.file(p.Child("loader"), l.Path, a)
	}
	if n := o.NVRam; n != nil {
		np := p.Child("nvram")
		c.file(np, n.NVRam, readWrite)
		c.file(np.Child("template"), n.Template, readOnly)
		if n.Source != nil {
			c.diskSource(np, n.Source, readWrite, false)
		}
	}
	if v := o.VarStore; v != nil {
		c.file(p.Child("varstore", "path"), v.Path, readWrite)
		c.file(p.Child("varstore", "template"), v.Template, readOnly)
	}
	c.file(p.Child("kernel"), o.Kernel, readOnly)
	c.file(p.Child("initrd"), o.Initrd, readOnly)
	c.file(p.Child("shim"), o.Shim, readOnly)
	c.file(p.Child("dtb"), o.DTB, readOnly)
	if o.ACPI != nil {
		for i, t := range o.ACPI.Tables {
			c.file(p.Child("acpi", "table").Index(i), t.Path, readOnly)
		}
	}
	if o.SMBios != nil && o.SMBios.Mode == "host" {
		c.forbid(p.Child("smbios", "mode"), `"host" copies the host's SMBIOS tables into the guest`)
	}
}

// Reasons for refusing fields, by Go field name. A field missing from its
// map is refused as "not on the node allowlist". They are functions so that
// the package holds no state.
func domainReasons() map[string]string {
	return map[string]string{
		"IOMMUFD":              "iommufd hands host IOMMU file descriptors to QEMU for device assignment",
		"Bootloader":           "a bootloader runs a host program",
		"BootloaderArgs":       "a bootloader runs a host program",
		"IDMap":                "id maps translate guest ids to host ids (containers, filesystem passthrough)",
		"Perf":                 "perf events read host performance counters",
		"KeyWrap":              "key wrapping uses the host's crypto facility",
		"LaunchSecurity":       "launch security (SEV, TDX) uses the host's firmware and devices",
		"QEMUCommandline":      "qemu:commandline passes arbitrary arguments and environment to QEMU",
		"QEMUCapabilities":     "qemu:capabilities overrides what libvirt believes QEMU can do",
		"QEMUOverride":         "qemu:override rewrites QEMU device properties behind libvirt",
		"QEMUDeprecation":      "qemu:deprecation changes QEMU's behaviour behind libvirt",
		"LXCNamespace":         "lxc:namespace shares host namespaces",
		"BHyveCommandline":     "bhyve:commandline passes arbitrary arguments to the hypervisor",
		"XenCommandline":       "xen:commandline passes arbitrary arguments to the hypervisor",
		"VMWareDataCenterPath": "not a QEMU domain",
	}
}

func memoryBackingReasons() map[string]string {
	return map[string]string{
		"MemoryHugePages": "hugepages come from the host's pools, outside the launcher Pod's accounting",
		"MemoryLocked":    "locked memory pins host memory that cannot be reclaimed",
	}
}

func cputuneReasons() map[string]string {
	return map[string]string{
		"VCPUSched":     "scheduler policies (fifo, rr) can starve the host",
		"EmulatorSched": "scheduler policies (fifo, rr) can starve the host",
		"IOThreadSched": "scheduler policies (fifo, rr) can starve the host",
		"CacheTune":     "cache allocation changes the host's resctrl groups",
		"MemoryTune":    "memory bandwidth allocation changes the host's resctrl groups",
		"EnergyTune":    "energy tuning changes host settings",
	}
}

func seclabelReasons() map[string]string {
	return map[string]string{
		"Label":      "a fixed label lets the XML choose QEMU's security context",
		"ImageLabel": "a fixed image label lets the XML choose how files are labelled",
		"BaseLabel":  "a base label lets the XML choose QEMU's security context",
	}
}

func osReasons() map[string]string {
	return map[string]string{
		"Init":      "os init is container-style: it runs a host program",
		"InitArgs":  "os init is container-style: it runs a host program",
		"InitEnv":   "os init is container-style: it runs a host program",
		"InitDir":   "os init is container-style: it runs a host program",
		"InitUser":  "os init is container-style: it runs a host program",
		"InitGroup": "os init is container-style: it runs a host program",
	}
}

// rest refuses every field of the struct *v that is set, is not XMLName
// and is not named in allowed. p is v's path (nil for the domain). Slices
// are refused element by element.
func (c *checker) rest(p *field.Path, v any, reasons map[string]string, allowed ...string) {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		if sf.Name == "XMLName" || slices.Contains(allowed, sf.Name) {
			continue
		}
		fv := rv.Field(i)
		if fv.IsZero() {
			continue
		}
		why := reasons[sf.Name]
		if why == "" {
			why = "not on the node allowlist"
		}
		fp := p.Child(xmlName(sf))
		if fv.Kind() == reflect.Slice {
			for j := 0; j < fv.Len(); j++ {
				c.add(field.Forbidden(fp.Index(j), why))
			}
			continue
		}
		c.add(field.Forbidden(fp, why))
	}
}

// kinds names the alternatives set in a libvirtxml union struct (the
// pointer fields a "type" attribute selects, tagged xml:"-"): e.g.
// DomainDiskSource{File: ...} is ["file"].
func kinds(v any) []string {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	var out []string
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		if sf.Tag.Get("xml") == "-" && sf.Type.Kind() == reflect.Pointer && !rv.Field(i).IsNil() {
			out = append(out, xmlName(sf))
		}
	}
	return out
}

// xmlName is the XML name of a struct field, for error paths.
func xmlName(sf reflect.StructField) string {
	switch sf.Name {
	case "QEMUCommandline":
		return "qemu:commandline"
	case "QEMUCapabilities":
		return "qemu:capabilities"
	case "QEMUOverride":
		return "qemu:override"
	case "QEMUDeprecation":
		return "qemu:deprecation"
	case "LXCNamespace":
		return "lxc:namespace"
	case "BHyveCommandline":
		return "bhyve:commandline"
	case "XenCommandline":
		return "xen:commandline"
	case "VMWareDataCenterPath":
		return "vmware:datacenterpath"
	case "EGLHeadless":
		return "egl-headless"
	case "QEMUVDAgent":
		return "qemu-vdagent"
	}
	name, _, _ := strings.Cut(sf.Tag.Get("xml"), ",")
	if name == "" || name == "-" {
		return strings.ToLower(sf.Name)
	}
	if _, local, ok := strings.Cut(name, " "); ok { // "namespace local"
		return local
	}
	return name
}
