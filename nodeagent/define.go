package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"libvirt.org/go/libvirtxml"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/allowlist"
	"github.com/podvirt/podvirt/nodeagent/failure"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/network"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// define defines the domain the Pod carries, in the contract's order
// (domainspec): verify the signature, parse, Localize with the node's
// facts, check the result against the allowlist, and only then touch the
// host (pulls, files, links, rules). Preparing the disks tells their
// formats and backing images, so the signed domain is localized and
// checked a second time, with every fact known, and exactly that is
// defined.
//
// It returns the volume disks outside the VMI's directory that QEMU must
// hold once started (storage.VerifyOpen).
func (r *Reconciler) define(ctx context.Context, p *corev1.Pod, vmi *v1alpha1.VirtualMachineInstance, domName string) (map[string]storage.FileID, error) {
	if err := r.verifySignature(p); err != nil {
		return nil, err
	}
	signed := p.Annotations[domainspec.AnnotationDomain]
	dom, md, err := parseOwn(signed, vmi, domName)
	if err != nil {
		return nil, err
	}
	facts, opts, err := r.plan(ctx, p, dom, md, domName)
	if err != nil {
		return nil, err
	}
	if err := localizeAndCheck(dom, facts, opts); err != nil {
		return nil, err
	}

	// Checked: from here on the host changes.
	if md.KernelBoot != nil {
		start := time.Now()
		root, err := r.Storage.PullImage(ctx, md.KernelBoot.Image, corev1.PullPolicy(md.KernelBoot.PullPolicy))
		if err != nil {
			return nil, err
		}
		facts.ImageRoot, opts.ReadOnlyDirs = root, []string{root}
		log.FromContext(ctx).Info("image ready", "image", md.KernelBoot.Image, "took", time.Since(start).String())
	}
	if err := os.MkdirAll(facts.SocketDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", facts.SocketDir, err)
	}
	if facts.Tap != "" {
		if err := r.Network.Prepare(ctx, p, domName); err != nil {
			return nil, fmt.Errorf("making the guest's tap: %w", err)
		}
	}
	prepared, err := r.Storage.Prepare(ctx, p, md, facts.VMIDir)
	if err != nil {
		return nil, err
	}
	// The disks' formats as decided when they were made, the overlays'
	// backing images and, read-only, the roots of those images.
	facts.DiskFormats, facts.DiskBackings, opts.VerifiedImages = prepared.Formats, prepared.Backings, prepared.Verified
	facts.DiskFiles, facts.DiskDevices, opts.VolumeDisks = prepared.DiskFiles, prepared.DiskDevices, prepared.VolumeDisks
	opts.ReadOnlyDirs = append(slices.Clone(opts.ReadOnlyDirs), prepared.ReadOnlyDirs...)
	if err := linkVMIDir(facts.SocketDir, facts.VMIDir); err != nil {
		return nil, err
	}

	final, _, err := parseOwn(signed, vmi, domName)
	if err != nil {
		return nil, err
	}
	if err := localizeAndCheck(final, facts, opts); err != nil {
		return nil, err
	}
	xml, err := final.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshalling the localized domain: %w", err)
	}
	if err := r.Hypervisor.Define(xml); err != nil {
		return nil, err
	}
	log.FromContext(ctx).Info("defined domain")
	return prepared.VolumeIDs, nil
}

// parseOwn parses the signed domain and its metadata, and refuses a domain
// that names another VMI than the Pod's.
func parseOwn(signed string, vmi *v1alpha1.VirtualMachineInstance, domName string) (*libvirtxml.Domain, *domainspec.Metadata, error) {
	dom, err := domainspec.Parse(signed)
	if err != nil {
		return nil, nil, err
	}
	md, err := domainspec.ReadMetadata(dom)
	if err != nil {
		return nil, nil, err
	}
	if dom.Name != domName || md.UID != string(vmi.UID) {
		return nil, nil, fmt.Errorf("the domain XML names %q (uid %s), not this VMI", dom.Name, md.UID)
	}
	return dom, md, nil
}

// plan gathers the node facts a domain will get and what the allowlist
// lets it reach, without changing anything on the host: the image's place
// is read from the cache or the registry's manifest, the rest is derived
// from names. The VMI's files go in its launcher Pod's state volume,
// where the kubelet counts them, its sockets in a directory of its own
// under StateDir (a short path, as unix sockets need).
func (r *Reconciler) plan(ctx context.Context, p *corev1.Pod, dom *libvirtxml.Domain, md *domainspec.Metadata, domName string) (domainspec.NodeFacts, allowlist.Options, error) {
	socketDir, err := r.vmiDir(md.UID)
	if err != nil {
		return domainspec.NodeFacts{}, allowlist.Options{}, err
	}
	dir, err := r.Storage.Dir(p)
	if err != nil {
		return domainspec.NodeFacts{}, allowlist.Options{}, err
	}
	facts := domainspec.NodeFacts{VMIDir: dir, SocketDir: socketDir, Type: r.Options.DomainType}
	opts := r.Options.Allowlist
	if facts.Type != "" {
		opts.AllowedTypes = []string{facts.Type}
	}
	opts.AllowedDirs = []string{facts.VMIDir, facts.SocketDir}
	// The serial console, and nothing else, as a chardev: the socket QEMU
	// binds through the agent's link, its log in the Pod's volume.
	opts.ChardevSockets = []string{filepath.Join(socketDir, domainspec.VMIDirLink, domainspec.SerialSocketFile)}
	opts.ChardevLogs = []string{filepath.Join(dir, domainspec.SerialLogFile)}
	if sock := opts.ChardevSockets[0]; len(sock) > maxSocketPath && hasUNIXChardev(dom) {
		return facts, opts, fmt.Errorf("%w: the serial console's socket %s is %d bytes, more than the %d of a unix socket's path: give the node agent a shorter --state-dir",
			failure.ErrUnsupported, sock, len(sock), maxSocketPath)
	}
	opts.TargetDevPrefix = network.TapPrefix
	opts.ReadOnlyDirs, opts.VerifiedImages = nil, nil
	if opts.AllowedDiskFormats == nil {
		// qcow2 only for the images Prepare checked.
		opts.AllowedDiskFormats = []string{"raw", "qcow2"}
	}
	if dom.Devices != nil && len(dom.Devices.Interfaces) > 0 {
		if len(dom.Devices.Interfaces) > 1 || r.Network == nil {
			return facts, opts, fmt.Errorf("interfaces: this node agent connects one interface to the Pod network; more are %w", failure.ErrUnsupported)
		}
		facts.Tap = network.TapOf(domName)
		opts.OwnTaps = []string{facts.Tap}
	}
	if md.DedicatedCPUs != nil {
		pins, err := r.dedicatedCPUs(p, dom, md.DedicatedCPUs)
		if err != nil {
			return facts, opts, err
		}
		facts.CPUPins = pins
		opts.PinnableCPUs = append(slices.Clone(pins.VCPUs), pins.Emulator...)
	}
	if err := storage.Check(p, md); err != nil {
		return facts, opts, err
	}
	if md.KernelBoot != nil {
		root, err := r.Storage.ResolveImage(ctx, md.KernelBoot.Image, corev1.PullPolicy(md.KernelBoot.PullPolicy))
		if err != nil {
			return facts, opts, err
		}
		facts.ImageRoot, opts.ReadOnlyDirs = root, []string{root}
	}
	return facts, opts, nil
}

// dedicatedCPUs pins the vCPUs (and an isolated emulator thread) to the
// CPUs the kubelet gave the launcher container exclusively: what KubeVirt's
// virt-launcher does with its own container's cpuset. The container has
// them only when the kubelet's CPU manager policy is static (the Pod is
// Guaranteed with whole CPUs, which launcher/pod makes it): its cpuset is
// then exactly the CPUs it requests, fewer than the node's. Otherwise,
// policy none, the VMI fails Unsupported rather than run unpinned.
// Without isolation the emulator thread is pinned to the vCPUs' CPUs, so
// that it stays off the other workloads' CPUs as the container would
// keep it.
func (r *Reconciler) dedicatedCPUs(p *corev1.Pod, dom *libvirtxml.Domain, d *domainspec.DedicatedCPUsMetadata) (*domainspec.CPUPins, error) {
	const field = "spec.domain.cpu.dedicatedCpuPlacement"
	if dom.VCPU == nil || dom.VCPU.Value == 0 {
		return nil, fmt.Errorf("%w: %s: the domain gives no vCPU count", failure.ErrRefused, field)
	}
	vcpus := int(dom.VCPU.Value)
	need := vcpus
	if d.IsolateEmulatorThread {
		need++
	}
	if r.CPUs == nil {
		return nil, fmt.Errorf("%w: %s: this node agent reads no cgroups, so it cannot tell which CPUs are the launcher container's", failure.ErrUnsupported, field)
	}
	cpus, node, err := r.CPUs.ContainerCPUs(p, domainspec.LauncherContainerName)
	if err != nil {
		// No cpuset to read (no cpuset controller for the Pods' cgroups)
		// is no exclusive CPUs either.
		return nil, fmt.Errorf("%w: %s: cannot tell which CPUs the launcher container has on node %s: %v", failure.ErrUnsupported, field, r.Options.NodeName, err)
	}
	if p.Status.QOSClass != corev1.PodQOSGuaranteed || len(cpus) != need || len(cpus) >= len(node) {
		return nil, fmt.Errorf("%w: %s: the launcher container has no exclusive CPUs on node %s: it may run on %d of the node's %d CPUs (QoS %s), not %d of its own; the kubelet's CPU manager policy must be static",
			failure.ErrUnsupported, field, r.Options.NodeName, len(cpus), len(node), p.Status.QOSClass, need)
	}
	ordered := r.CPUs.SiblingOrder(cpus)
	pins := &domainspec.CPUPins{VCPUs: ordered[:vcpus], Emulator: ordered[vcpus:]}
	if !d.IsolateEmulatorThread {
		pins.Emulator = slices.Clone(ordered)
	}
	return pins, nil
}

// localizeAndCheck localizes the domain with the facts and checks it
// against the allowlist: whoever signed it, the domain may reach nothing on
// the host but its own directory and, read-only, its own image.
func localizeAndCheck(dom *libvirtxml.Domain, facts domainspec.NodeFacts, opts allowlist.Options) error {
	if err := domainspec.Localize(dom, facts); err != nil {
		return err
	}
	if errs := allowlist.Check(dom, opts); len(errs) > 0 {
		return fmt.Errorf("%w: %v", failure.ErrRefused, errs.ToAggregate())
	}
	return nil
}

// verifySignature checks that a trusted key signed this Pod's domain for
// this namespace, Pod name, VMI UID and node.
func (r *Reconciler) verifySignature(p *corev1.Pod) error {
	pem, err := os.ReadFile(r.Options.TrustedKeysFile)
	if err != nil {
		return fmt.Errorf("%w: reading the trusted keys: %v", failure.ErrBadSignature, err)
	}
	keys, err := domainspec.ParsePublicKeysPEM(pem)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", failure.ErrBadSignature, r.Options.TrustedKeysFile, err)
	}
	payload := domainspec.Payload{Namespace: p.Namespace, PodName: p.Name, VMIUID: p.Labels[domainspec.LabelVMIUID],
		NodeName: r.Options.NodeName, DomainXML: p.Annotations[domainspec.AnnotationDomain]}
	if err := domainspec.Verify(keys, payload, p.Annotations[domainspec.AnnotationSignature]); err != nil {
		return fmt.Errorf("%w: %v", failure.ErrBadSignature, err)
	}
	return nil
}

// placeInPod moves the guest's QEMU into its launcher Pod's cgroup unless
// it is there already.
func (r *Reconciler) placeInPod(ctx context.Context, p *corev1.Pod, domName string) error {
	if r.QEMU == nil {
		return nil
	}
	pid, placed, err := r.QEMU.PlaceQEMU(p, domName)
	if err != nil {
		return err
	}
	if len(placed) > 0 {
		log.FromContext(ctx).Info("moved QEMU into the launcher Pod's cgroup", "pid", pid, "hierarchies", placed)
	}
	return nil
}

// maxSocketPath is the longest path a unix socket may have (sun_path
// holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

func hasUNIXChardev(dom *libvirtxml.Domain) bool {
	if dom.Devices == nil {
		return false
	}
	for _, s := range dom.Devices.Serials {
		if s.Source != nil && s.Source.UNIX != nil {
			return true
		}
	}
	for _, c := range dom.Devices.Consoles {
		if c.Source != nil && c.Source.UNIX != nil {
			return true
		}
	}
	return false
}

// start starts the defined domain. A domain with disks outside the VMI's
// directory (claims, host disks) starts paused: once QEMU holds them, the
// agent checks they are the files it checked (storage.VerifyOpen), and
// only then lets the guest run; any other file, and the domain is
// destroyed before its first instruction.
func (r *Reconciler) start(ctx context.Context, p *corev1.Pod, domName string, volumeDisks map[string]storage.FileID) error {
	ps, ok := r.Hypervisor.(hypervisor.PausedStarter)
	if len(volumeDisks) == 0 || !ok || r.QEMU == nil {
		return r.Hypervisor.Start(domName)
	}
	if err := ps.StartPaused(domName); err != nil {
		return err
	}
	pid, err := r.QEMU.QEMUPID(domName)
	if err == nil {
		err = storage.VerifyOpen("/proc", pid, volumeDisks)
	}
	if err != nil {
		if derr := r.Hypervisor.Destroy(domName); derr != nil {
			log.FromContext(ctx).Error(derr, "destroying the paused domain")
		}
		return err
	}
	log.FromContext(ctx).Info("QEMU holds the volume disks the node agent checked", "disks", len(volumeDisks))
	return ps.Resume(domName)
}
