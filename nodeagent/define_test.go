package nodeagent

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"libvirt.org/go/libvirtxml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/failure"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/network"
	"github.com/podvirt/podvirt/nodeagent/simhost"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// hostLog records, in order, every call that would change the host.
type hostLog struct{ calls []string }

type fakeStorage struct {
	log     *hostLog
	root    string
	formats map[string]string
	// backings and roDirs are the overlays' backing images and their
	// roots, as Prepare tells them.
	backings map[string]domainspec.DiskBacking
	roDirs   []string
	// podDirs is where Dir puts a Pod's files: podDirs/<Pod UID>/vmi.
	podDirs string
}

func (s *fakeStorage) Dir(p *corev1.Pod) (string, error) {
	return filepath.Join(s.podDirs, string(p.UID), "vmi"), nil
}

func (s *fakeStorage) ResolveImage(context.Context, string, corev1.PullPolicy) (string, error) {
	return s.root, nil // reads only: not a host change
}

func (s *fakeStorage) PullImage(_ context.Context, image string, _ corev1.PullPolicy) (string, error) {
	s.log.calls = append(s.log.calls, "pull "+image)
	return s.root, nil
}

func (s *fakeStorage) Prepare(_ context.Context, _ *corev1.Pod, md *domainspec.Metadata, vmiDir string) (storage.Prepared, error) {
	s.log.calls = append(s.log.calls, "prepare")
	// As the real one does, it makes the VMI's directory.
	if err := os.MkdirAll(vmiDir, 0o755); err != nil {
		return storage.Prepared{}, err
	}
	out := storage.Prepared{Formats: s.formats, Backings: s.backings, ReadOnlyDirs: s.roDirs}
	for file, f := range s.formats {
		if f == "qcow2" {
			out.Verified = append(out.Verified, filepath.Join(vmiDir, file))
		}
	}
	return out, nil
}

type fakeNetwork struct{ log *hostLog }

func (n *fakeNetwork) Prepare(_ context.Context, _ *corev1.Pod, dom string) error {
	n.log.calls = append(n.log.calls, "tap "+dom)
	return nil
}
func (n *fakeNetwork) Keep(_ context.Context, _ *corev1.Pod, dom string) error {
	n.log.calls = append(n.log.calls, "keep "+dom)
	return nil
}
func (n *fakeNetwork) Disconnect(_ context.Context, dom string) error {
	n.log.calls = append(n.log.calls, "disconnect "+dom)
	return nil
}

// signedDomain is a kernelBoot domain as the renderer writes it, with a
// containerDisk and an interface; edit changes it before it is signed.
func signedDomain(t *testing.T, edit func(*libvirtxml.Domain)) string {
	t.Helper()
	md := domainspec.Metadata{Namespace: "ns", Name: "tiny", UID: "uid-1", GracePeriodSeconds: 1,
		KernelBoot: &domainspec.KernelBootMetadata{Image: "registry.example/guest:1"},
		Volumes:    []domainspec.VolumeMetadata{{Name: "root", Kind: domainspec.VolumeContainerDisk, Image: "registry.example/disk:1"}}}
	el, err := md.Element()
	if err != nil {
		t.Fatal(err)
	}
	dom := &libvirtxml.Domain{
		Type: "qemu", Name: domainspec.Name("ns", "tiny"), UUID: "uid-1", Metadata: el,
		Memory: &libvirtxml.DomainMemory{Value: 128, Unit: "MiB"},
		OS: &libvirtxml.DomainOS{Type: &libvirtxml.DomainOSType{Type: "hvm"},
			Kernel: "/boot/vmlinux", Initrd: "/boot/initrd.img"},
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device: "disk",
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: domainspec.DiskFile("root")}},
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			}},
			Interfaces: []libvirtxml.DomainInterface{{
				Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
				Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
			}},
		},
	}
	if edit != nil {
		edit(dom)
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// defineSetup is setup with a Pod that carries xml signed for node-a, and
// host-side fakes that record every change.
func defineSetup(t *testing.T, xml string) (*Reconciler, client.Client, *fakeHypervisor, *hostLog) {
	t.Helper()
	r, c, hv := setup(t, v1alpha1.Scheduled, hypervisor.StateAbsent)
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pem, err := domainspec.MarshalPublicKeysPEM(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	r.Options.TrustedKeysFile = filepath.Join(t.TempDir(), "trusted.pem")
	if err := os.WriteFile(r.Options.TrustedKeysFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p); err != nil {
		t.Fatal(err)
	}
	sig, err := domainspec.Sign(key, domainspec.Payload{Namespace: "ns", PodName: p.Name, VMIUID: "uid-1", NodeName: "node-a", DomainXML: xml})
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations[domainspec.AnnotationDomain], p.Annotations[domainspec.AnnotationSignature] = xml, sig
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	log := &hostLog{}
	r.Storage = &fakeStorage{log: log, root: filepath.Join(r.Options.StateDir, "images", "sha256-ab", "rootfs"),
		formats: map[string]string{domainspec.DiskFile("root"): "qcow2"}, podDirs: t.TempDir()}
	r.Network = &fakeNetwork{log: log}
	hv.defineLog = log
	return r, c, hv, log
}

func TestDefineOrderAndLocalizedDomain(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, nil))
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q reason %q, want Running", vmi.Status.Phase, vmi.Status.Reason)
	}
	// The tap is made before libvirt starts QEMU on it, and moved into
	// the Pod (Keep) once QEMU runs.
	want := "pull registry.example/guest:1, tap ns_tiny, prepare, define, keep ns_tiny"
	if got := strings.Join(log.calls, ", "); got != want {
		t.Errorf("host changes %q, want %q", got, want)
	}
	dom, err := domainspec.Parse(hv.defined)
	if err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	vmiDir, _ := r.Storage.Dir(p) // in the launcher Pod's state volume
	disk := dom.Devices.Disks[0]
	if disk.Source.File.File != filepath.Join(vmiDir, "disk-root.img") || disk.Driver.Type != "qcow2" || disk.BackingStore == nil {
		t.Errorf("disk %+v %+v %+v: want the prepared file, its format and no backing chain", disk.Source.File, disk.Driver, disk.BackingStore)
	}
	socketDir := filepath.Join(r.Options.StateDir, "vmis", "uid-1") // by the VMI's UID, never its name
	if fi, err := os.Stat(socketDir); err != nil || !fi.IsDir() {
		t.Errorf("the VMI's socket directory %s: %v", socketDir, err)
	}
	tap := network.TapOf("ns_tiny")
	if nic := dom.Devices.Interfaces[0]; nic.Source.Ethernet == nil || nic.Target == nil || nic.Target.Dev != tap || nic.Target.Managed != "no" {
		t.Errorf("interface %+v %+v, want the existing tap %s, unmanaged", nic.Source, nic.Target, tap)
	}
	if !strings.HasPrefix(dom.OS.Kernel, filepath.Join(r.Options.StateDir, "images")) {
		t.Errorf("kernel %q is not in the pulled image", dom.OS.Kernel)
	}
}

// A containerDisk's overlay is defined with its one-level backing chain
// over the image in the cache, which the domain may only read; a backing
// image outside the images Prepare named is refused.
func TestDefineGivesTheOverlayItsBackingChain(t *testing.T) {
	r, c, hv, _ := defineSetup(t, signedDomain(t, nil))
	fs := r.Storage.(*fakeStorage)
	diskRoot := filepath.Join(r.Options.StateDir, "images", "sha256-cd", "rootfs")
	image := filepath.Join(diskRoot, "disk", "disk.img")
	fs.backings = map[string]domainspec.DiskBacking{domainspec.DiskFile("root"): {File: image, Format: "raw"}}
	fs.roDirs = []string{diskRoot}
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q reason %q, want Running", vmi.Status.Phase, vmi.Status.Reason)
	}
	dom, err := domainspec.Parse(hv.defined)
	if err != nil {
		t.Fatal(err)
	}
	b := dom.Devices.Disks[0].BackingStore
	if b == nil || b.Format == nil || b.Format.Type != "raw" || b.Source == nil || b.Source.File == nil || b.Source.File.File != image ||
		len(b.Source.File.SecLabel) != 1 || b.Source.File.SecLabel[0].Relabel != "no" || b.BackingStore == nil || b.BackingStore.Format != nil ||
		(b.BackingStore.Source != nil && b.BackingStore.Source.File != nil) {
		t.Errorf("backing store %+v: want %s (raw), not relabelled, then nothing", b, image)
	}

	r, c, hv, _ = defineSetup(t, signedDomain(t, nil))
	fs = r.Storage.(*fakeStorage)
	fs.backings = map[string]domainspec.DiskBacking{domainspec.DiskFile("root"): {File: "/etc/shadow", Format: "raw"}}
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != "DomainRefused" {
		t.Errorf("a backing file outside the images: phase %q reason %q, want Failed DomainRefused", vmi.Status.Phase, vmi.Status.Reason)
	}
	if hv.defined != "" {
		t.Error("a domain over a host file was defined")
	}
}

// A domain the allowlist refuses touches nothing on the host: no pull, no
// directory, no link, no disk, no define.
func TestRefusedDomainTouchesNothing(t *testing.T) {
	for name, edit := range map[string]func(*libvirtxml.Domain){
		"host device": func(d *libvirtxml.Domain) {
			d.Devices.Hostdevs = append(d.Devices.Hostdevs, libvirtxml.DomainHostdev{SubsysPCI: &libvirtxml.DomainHostdevSubsysPCI{}})
		},
		"host file as disk": func(d *libvirtxml.Domain) {
			d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{Device: "disk",
				Source: &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: "/dev/sda"}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"}})
		},
		"emulator override": func(d *libvirtxml.Domain) { d.Devices.Emulator = "/bin/sh" },
	} {
		t.Run(name, func(t *testing.T) {
			r, c, hv, log := defineSetup(t, signedDomain(t, edit))
			vmi := reconcileAndGet(t, r, c)
			if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != failure.ReasonRefused {
				t.Errorf("phase %q reason %q, want Failed/%s", vmi.Status.Phase, vmi.Status.Reason, failure.ReasonRefused)
			}
			if len(log.calls) != 0 || hv.defined != "" {
				t.Errorf("a refused domain changed the host: %v", log.calls)
			}
			entries, _ := os.ReadDir(r.Options.StateDir)
			if len(entries) != 0 {
				t.Errorf("a refused domain left files in the state dir: %v", entries)
			}
		})
	}
}

func TestBadSignatureTouchesNothing(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, nil))
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	p.Annotations[domainspec.AnnotationDomain] = signedDomain(t, func(d *libvirtxml.Domain) { d.Memory.Value = 4096 })
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Reason != failure.ReasonBadSignature || len(log.calls) != 0 || hv.defined != "" {
		t.Errorf("reason %q, host changes %v: an edited domain must be refused before anything", vmi.Status.Reason, log.calls)
	}
}

func TestSecondInterfaceIsUnsupportedBeforeAnything(t *testing.T) {
	r, c, _, log := defineSetup(t, signedDomain(t, func(d *libvirtxml.Domain) {
		d.Devices.Interfaces = append(d.Devices.Interfaces, d.Devices.Interfaces[0])
	}))
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Reason != failure.ReasonUnsupported || len(log.calls) != 0 {
		t.Errorf("reason %q, host changes %v", vmi.Status.Reason, log.calls)
	}
}

// A VMI deleted and created again under the same name finds the old
// domain shut off: it is removed with the old VMI's files, never started,
// and the new domain is verified and defined (attack: a namespace editor
// who let the old domain outlive its VMI).
func TestEarlierVMIsDomainIsRemovedNotStarted(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, nil))
	hv.states["ns_tiny"], hv.owners["ns_tiny"] = hypervisor.StateShutoff, "uid-0"
	old := mustVMIDir(t, r, "uid-0")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(old, "disk-root.img"), []byte("the old VMI's disk"), 0o600)
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q reason %q, want Running", vmi.Status.Phase, vmi.Status.Reason)
	}
	if got := strings.Join(hv.calls, ","); got != "undefine,define,start" {
		t.Errorf("libvirt calls %q, want the old domain undefined before the new one is defined and started", got)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the earlier VMI's directory is still there: %v", err)
	}
	if log.calls[0] != "disconnect ns_tiny" {
		t.Errorf("host changes %v: the old domain's links go first", log.calls)
	}
}

// A domain of this VMI that was defined but never started is defined
// again before it starts: a start is verified like a first define.
func TestShutoffDomainIsVerifiedBeforeStart(t *testing.T) {
	r, c, hv, _ := defineSetup(t, signedDomain(t, nil))
	hv.states["ns_tiny"] = hypervisor.StateShutoff
	p := &corev1.Pod{}
	_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "virt-launcher-tiny"}, p)
	p.Annotations[domainspec.AnnotationSignature] = "0123456789abcdef.forged"
	if err := c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Reason != failure.ReasonBadSignature {
		t.Errorf("reason %q, want %s", vmi.Status.Reason, failure.ReasonBadSignature)
	}
	for _, call := range hv.calls {
		if call == "start" {
			t.Errorf("a domain was started without a valid signature: %v", hv.calls)
		}
	}
}

// A domain of the VMI's name that podvirt did not define is left alone.
func TestForeignDomainIsLeftAlone(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, nil))
	hv.states["ns_tiny"], hv.owners["ns_tiny"] = hypervisor.StateRunning, ""
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != failure.ReasonDomainNameTaken {
		t.Errorf("phase %q reason %q, want Failed/%s", vmi.Status.Phase, vmi.Status.Reason, failure.ReasonDomainNameTaken)
	}
	if len(hv.calls) != 0 || len(log.calls) != 0 {
		t.Errorf("touched a domain podvirt did not define: %v %v", hv.calls, log.calls)
	}
}

// An emptyDisk beyond what the launcher Pod declares fails the VMI
// DiskQuotaExceeded, naming the disk and the numbers, before anything
// touches the host (attacker: a namespace editor under a ResourceQuota).
func TestEmptyDiskBeyondThePodsStorageTouchesNothing(t *testing.T) {
	r, c, hv, log := defineSetup(t, signedDomain(t, func(d *libvirtxml.Domain) {
		md, err := domainspec.ReadMetadata(d)
		if err != nil {
			t.Fatal(err)
		}
		md.Volumes = append(md.Volumes, domainspec.VolumeMetadata{Name: "scratch", Kind: domainspec.VolumeEmptyDisk, CapacityBytes: 541e9})
		if d.Metadata, err = md.Element(); err != nil {
			t.Fatal(err)
		}
	}))
	vmi := reconcileAndGet(t, r, c)
	if vmi.Status.Phase != v1alpha1.Failed || vmi.Status.Reason != failure.ReasonDiskQuota {
		t.Errorf("phase %q reason %q, want Failed/%s", vmi.Status.Phase, vmi.Status.Reason, failure.ReasonDiskQuota)
	}
	var msg string
	for _, cond := range vmi.Status.Conditions {
		msg += cond.Message
	}
	if !strings.Contains(msg, "volume scratch") || !strings.Contains(msg, "541000000000") || !strings.Contains(msg, "1073741824") {
		t.Errorf("conditions %q: want the disk and the numbers", msg)
	}
	if len(log.calls) != 0 || hv.defined != "" {
		t.Errorf("a VMI that does not fit changed the host: %v", log.calls)
	}
}

// A node that sets a domain type (a simulated node on libvirt's test
// driver) defines the signed domain with its type, and still refuses
// what the allowlist refuses; a simulated host makes nothing outside its
// own directory.
func TestDomainTypeOfTheNodeOnASimulatedHost(t *testing.T) {
	r, c, hv, _ := defineSetup(t, signedDomain(t, nil))
	r.Options.DomainType = "test"
	simRoot := filepath.Join(r.Options.StateDir, "sim")
	r.Storage, r.Network = &simhost.Storage{Root: simRoot}, simhost.Network{}
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Running {
		t.Fatalf("phase %q reason %q, want Running", vmi.Status.Phase, vmi.Status.Reason)
	}
	dom, err := domainspec.Parse(hv.defined)
	if err != nil {
		t.Fatal(err)
	}
	if dom.Type != "test" {
		t.Errorf("defined type %q, want the node's test", dom.Type)
	}
	if !strings.HasPrefix(dom.OS.Kernel, filepath.Join(simRoot, "images")) {
		t.Errorf("kernel %q is not under the simulated image root %s", dom.OS.Kernel, simRoot)
	}
	// Nothing but the VMI's empty directory, which the allowlist resolves.
	var made []string
	_ = filepath.WalkDir(simRoot, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			made = append(made, path)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(simRoot, "images")); len(made) > 0 || !os.IsNotExist(err) {
		t.Errorf("the simulated host made files %v or an image root (%v)", made, err)
	}

	// The allowlist still holds on such a node.
	r, c, hv, _ = defineSetup(t, signedDomain(t, func(d *libvirtxml.Domain) {
		d.Devices.Emulator = "/tmp/evil"
	}))
	r.Options.DomainType = "test"
	r.Storage, r.Network = &simhost.Storage{Root: simRoot}, simhost.Network{}
	if vmi := reconcileAndGet(t, r, c); vmi.Status.Phase != v1alpha1.Failed || hv.defined != "" {
		t.Errorf("an emulator override on a simulated node: phase %q reason %q, defined %d bytes; want Failed and nothing defined", vmi.Status.Phase, vmi.Status.Reason, len(hv.defined))
	}
}
