// Command podvirt-nodeagent runs a node's guests: it watches the launcher
// Pods bound to its node and drives their domains in the host's libvirt.
// It only wires packages together.
package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent"
	"github.com/podvirt/podvirt/nodeagent/cgroups"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/network"
	"github.com/podvirt/podvirt/nodeagent/simhost"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

func main() {
	var (
		nodeName      = flag.String("node-name", os.Getenv("NODE_NAME"), "the node this agent serves (required; $NODE_NAME)")
		libvirtSocket = flag.String("libvirt-socket", "/var/run/libvirt/libvirt-sock", "libvirtd's read-write unix socket")
		libvirtURI    = flag.String("libvirt-uri", "qemu:///system", "libvirt connect URI")
		stateDir      = flag.String("state-dir", "/var/lib/podvirt", "directory for guest images and per-VMI sockets (disks, cloud-init ISOs and serial logs are in each launcher Pod's vmi-state volume, under --kubelet-root-dir)")
		trustedKeys   = flag.String("trusted-keys-file", "/etc/podvirt/trusted-keys/trusted-keys.pem", "PEM file of the public keys whose domain signatures this agent accepts (re-read on each define)")
		cgroupRoot    = flag.String("cgroup-root", "/sys/fs/cgroup", "where cgroup hierarchies are mounted; empty leaves QEMU in libvirt's cgroup")
		kubepods      = flag.String("kubepods-cgroup", "kubepods", "the kubelet's top cgroup (cgroupfs driver)")
		libvirtRunDir = flag.String("libvirt-run-dir", "/var/run/libvirt/qemu", "where libvirt writes QEMU pid files")
		kubeletRoot   = flag.String("kubelet-root-dir", storage.DefaultKubeletRootDir, "the kubelet's --root-dir, at the same path as on the host (libvirtd opens the disks there): launcher Pods' vmi-state volumes hold the VMIs' files, their Secret volumes the cloud-init Secrets")
		metricsAddr   = flag.String("metrics-bind-address", "0", "metrics address, 0 to disable")
		allowedRegs   = flag.String("allowed-registries", "", "comma-separated host:port of registries that may be at loopback, link-local or this node's own addresses (refused otherwise)")
		pullTimeout   = flag.Duration("pull-timeout", 5*time.Minute, "deadline of one image pull")
		maxImage      = flag.Int64("max-image-bytes", 8<<30, "largest image, compressed and extracted, a pull may take")
		maxCache      = flag.Int64("max-image-cache-bytes", 32<<30, "bound of the image cache; least recently used images go first")
		hostDiskDirs  = flag.String("host-disk-dirs", "", "comma-separated directories that hostDisk images may be inside (the same as the allowed-host-disk-dirs VMIPolicy's); empty refuses every hostDisk")
		hostProcRoot  = flag.String("host-root", "/host", "the host's root directory as this agent sees it (a hostPath volume of /, or /proc/1/root where the agent may ptrace the host's init): where it opens persistentVolumeClaims' and hostDisks' disks, following no symbolic link")
		workers       = flag.Int("workers", 4, "launcher Pods reconciled at once")
		leaseNS       = flag.String("lease-namespace", "podvirt-system", "podvirt's namespace, where this node's heartbeat Lease podvirt-nodeagent-<node> is renewed")
		leaseDuration = flag.Duration("lease-duration", 40*time.Second, "how long the heartbeat Lease holds without renewal (whole seconds); past it the controller marks this node's running VMIs Unknown")
		leaseRenew    = flag.Duration("lease-renew-interval", 10*time.Second, "how often the heartbeat Lease is renewed (less than --lease-duration)")
		apiQPS        = flag.Float64("kube-api-qps", 50, "queries per second to the kube-apiserver, sustained (KubeVirt's virt-handler default)")
		apiBurst      = flag.Int("kube-api-burst", 100, "queries to the kube-apiserver in a burst above --kube-api-qps")
		domainType    = flag.String("domain-type", "", "replace the signed domains' type with this one, then the only type accepted (test, for libvirt's test driver on a simulated node); empty keeps the controller's kvm or qemu")
		simulateHost  = flag.Bool("simulate-host", false, "pull no image and make no disk, tap or cgroup (a kwok node whose libvirt is the test driver, for scale tests); never on a node that runs real guests")
	)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	if *nodeName == "" {
		log.Error(nil, "--node-name (or $NODE_NAME) is required")
		os.Exit(2)
	}
	if *leaseDuration < time.Second || *leaseRenew <= 0 || *leaseRenew >= *leaseDuration {
		log.Error(nil, "want --lease-duration of at least 1s and a shorter, positive --lease-renew-interval", "lease-duration", *leaseDuration, "lease-renew-interval", *leaseRenew)
		os.Exit(2)
	}

	scheme := runtime.NewScheme()
	exitOn(clientgoscheme.AddToScheme(scheme), "building the scheme")
	exitOn(v1alpha1.AddToScheme(scheme), "building the scheme")

	launcherPods, err := labels.NewRequirement(domainspec.LabelVMI, selection.Exists, nil)
	exitOn(err, "building the label selector")
	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(*apiQPS), *apiBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: *metricsAddr},
		// Only this node's launcher Pods are watched and cached.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: {
				Field: fields.OneTermEqualSelector("spec.nodeName", *nodeName),
				Label: labels.NewSelector().Add(*launcherPods),
			},
		}},
	})
	exitOn(err, "creating the manager")

	var host nodeagentHost
	if *simulateHost {
		log.Info("simulating the host: no images, disks, taps or cgroups are made", "dir", filepath.Join(*stateDir, "sim"))
		host = nodeagentHost{storage: &simhost.Storage{Root: filepath.Join(*stateDir, "sim")}, network: simhost.Network{}}
	} else {
		host = realHost(hostOptions{
			cgroupRoot: *cgroupRoot, kubepods: *kubepods, libvirtRunDir: *libvirtRunDir,
			kubeletRoot: *kubeletRoot, hostRoot: *hostProcRoot, hostDiskDirs: splitList(*hostDiskDirs),
			images: &storage.ImageCache{
				Dir: filepath.Join(*stateDir, "images"), PullTimeout: *pullTimeout,
				MaxImageBytes: *maxImage, MaxCacheBytes: *maxCache,
				Registries: storage.RegistryPolicy{Allowed: splitList(*allowedRegs)},
			},
		})
	}
	hv := &hypervisor.Libvirt{Socket: *libvirtSocket, URI: *libvirtURI}
	defer hv.Close()
	metrics, err := nodeagent.NewMetrics(ctrlmetrics.Registry)
	exitOn(err, "registering metrics")
	exitOn(ctrlmetrics.Registry.Register(&nodeagent.DomainsCollector{Hypervisor: hv}), "registering the domains metric")
	reconciler := &nodeagent.Reconciler{
		Events:     mgr.GetEventRecorder("podvirt-nodeagent"),
		Metrics:    metrics,
		Client:     mgr.GetClient(),
		APIReader:  mgr.GetAPIReader(),
		Hypervisor: hv,
		Storage:    host.storage,
		Network:    host.network,
		QEMU:       host.qemu,
		CPUs:       host.cpus,
		Options:    nodeagent.Options{NodeName: *nodeName, StateDir: *stateDir, TrustedKeysFile: *trustedKeys, Workers: *workers, DomainType: *domainType},
	}
	exitOn(reconciler.SetupWithManager(mgr), "setting up the node agent")
	exitOn(mgr.Add(&nodeagent.Collector{Reconciler: reconciler}), "setting up garbage collection")
	exitOn(mgr.Add(&nodeagent.SerialLogRotator{Reconciler: reconciler}), "setting up serial log rotation")
	exitOn(mgr.Add(&nodeagent.Heartbeat{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: *leaseNS, NodeName: *nodeName,
		Duration: *leaseDuration, Interval: *leaseRenew, Recovered: reconciler.Resync,
	}), "setting up the node heartbeat")

	log.Info("starting", "node", *nodeName, "libvirt", *libvirtSocket, "uri", *libvirtURI, "domainType", *domainType)
	exitOn(mgr.Start(ctrl.SetupSignalHandler()), "running the manager")
}

// nodeagentHost is what the node agent changes on its host.
type nodeagentHost struct {
	storage nodeagent.Storage
	network nodeagent.Network
	qemu    nodeagent.QEMUPlacer
	cpus    nodeagent.CPUSets
}

type hostOptions struct {
	cgroupRoot, kubepods, libvirtRunDir, kubeletRoot, hostRoot string
	hostDiskDirs                                               []string
	images                                                     *storage.ImageCache
}

// realHost is a node's own host: its image cache and disks, the Pods'
// networks and cgroups.
func realHost(o hostOptions) nodeagentHost {
	// Launcher Pods' processes are found under the kubelet's cgroups even
	// when QEMU is left in libvirt's (--cgroup-root "").
	podCgroups := &cgroups.Cgroups{Root: o.cgroupRoot, Kubepods: o.kubepods}
	h := nodeagentHost{network: &network.PodNetwork{Pods: podCgroups}, cpus: podCgroups}
	if o.cgroupRoot != "" {
		h.qemu = &cgroups.QEMU{Cgroups: podCgroups, LibvirtRunDir: o.libvirtRunDir}
	} else {
		podCgroups.Root = "/sys/fs/cgroup"
	}
	h.storage = &storage.Volumes{
		Images:         o.images,
		KubeletRootDir: o.kubeletRoot,
		Host: &storage.HostVolumes{
			HostRoot: o.hostRoot, HostMountInfo: "/proc/1/mountinfo", Proc: "/proc",
			LauncherPID: func(p *corev1.Pod) (int, error) {
				return podCgroups.ContainerPID(p, domainspec.LauncherContainerName)
			},
			HostDiskDirs: o.hostDiskDirs, KubeletRootDir: o.kubeletRoot,
		},
	}
	return h
}

func exitOn(err error, what string) {
	if err != nil {
		ctrl.Log.WithName("setup").Error(err, what)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
