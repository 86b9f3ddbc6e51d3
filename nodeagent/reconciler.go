package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/allowlist"
	"github.com/podvirt/podvirt/nodeagent/failure"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// Options configure a node agent.
type Options struct {
	// NodeName is the node this agent serves.
	NodeName string
	// StateDir holds the image cache and, per VMI, a directory for its
	// sockets (the VNC socket); the VMI's disks, cloud-init ISO and serial
	// log are in its launcher Pod's state volume (Storage.Dir).
	StateDir string
	// PollInterval is how often a running domain's state is checked:
	// 30s when the Hypervisor streams lifecycle events, else 3s.
	PollInterval time.Duration
	// TrustedKeysFile holds the PEM public keys whose domain signatures
	// this agent accepts. It is re-read on each define, so a rotated key
	// (a ConfigMap update) needs no restart.
	TrustedKeysFile string
	// Allowlist is what a domain may reach on this node; its directories
	// are filled in per VMI.
	Allowlist allowlist.Options
	// DomainType, when set, replaces the signed domain's type
	// (domainspec.NodeFacts.Type) and is then the only type the allowlist
	// accepts: for a node whose libvirt runs another hypervisor than the
	// cluster's, such as libvirt's test driver on a simulated node.
	DomainType string
	// Workers is how many launcher Pods are reconciled at once (4 when
	// zero), so one slow start never holds up the node's others.
	Workers int
	// ShutdownRetryInterval is how often the ACPI shutdown request is
	// resent while the guest is still up (guests not listening yet lose
	// the first one).
	ShutdownRetryInterval time.Duration
}

// Reconciler drives the domains of the launcher Pods bound to one node.
type Reconciler struct {
	// Events, when set, reports starts, stops and failures on the VMI.
	Events events.EventRecorder
	// Metrics, when set, records startup latency, preparation time and
	// endings.
	Metrics    *Metrics
	Client     client.Client
	APIReader  client.Reader
	Hypervisor hypervisor.Hypervisor
	// Storage pulls images and prepares disk files.
	Storage Storage
	// Network connects guests to their Pods' networks; nil refuses
	// interfaces.
	Network Network
	// QEMU, when set, moves each guest's QEMU into its launcher Pod's
	// cgroup.
	QEMU QEMUPlacer
	// CPUs reads the CPUs the kubelet gave a launcher container, for
	// dedicated CPUs; nil fails every VMI that asks for them.
	CPUs    CPUSets
	Options Options
	// Now, when set, is the clock of status.phaseTransitionTimestamps.
	Now func() time.Time

	// resync takes the launcher Pods Resync has reconciled now.
	resync chan event.TypedGenericEvent[client.Object]
}

// Storage pulls guest images and makes a VMI's disk files
// (storage.Volumes).
type Storage interface {
	// ResolveImage says where the image's files will be, writing nothing.
	ResolveImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error)
	// PullImage pulls and extracts the image, and says where its files are.
	PullImage(ctx context.Context, image string, policy corev1.PullPolicy) (string, error)
	// Dir is the directory of the VMI's files for launcher Pod p, in the
	// Pod's state volume; it writes nothing.
	Dir(p *corev1.Pod) (string, error)
	// Prepare makes the disk files of the volumes in vmiDir (Dir),
	// refusing (failure.ErrDiskQuota) what would not fit the Pod's
	// declared ephemeral storage or the node's free space.
	Prepare(ctx context.Context, p *corev1.Pod, md *domainspec.Metadata, vmiDir string) (storage.Prepared, error)
}

// Network connects a guest to its launcher Pod's network, by domain name
// (network.PodNetwork; the tap is named by network.TapOf).
type Network interface {
	// Prepare makes the guest's tap for libvirt to start QEMU on.
	Prepare(ctx context.Context, p *corev1.Pod, domName string) error
	// Keep moves a running guest's tap into the Pod's network namespace
	// and connects it there, or restores what a restart of this agent
	// lost (DHCP servers); a guest off the Pod network is left alone.
	Keep(ctx context.Context, p *corev1.Pod, domName string) error
	Disconnect(ctx context.Context, domName string) error
}

// CPUSets reads which CPUs a launcher Pod's container may run on
// (cgroups.Cgroups).
type CPUSets interface {
	// ContainerCPUs are the container's CPUs and the node's.
	ContainerCPUs(p *corev1.Pod, container string) (cpus, node []int, err error)
	// SiblingOrder orders CPUs with the hyperthreads of a core together.
	SiblingOrder(cpus []int) []int
}

// QEMUPlacer moves a domain's QEMU into its launcher Pod's cgroup
// (cgroups.QEMU), and removes what libvirt left of the domain's own
// cgroups once it is gone: a libvirtd restarted while the guest ran no
// longer finds its QEMU there, and leaves them behind.
type QEMUPlacer interface {
	PlaceQEMU(p *corev1.Pod, domName string) (pid int, placed []string, err error)
	// QEMUPID is the pid of the domain's running QEMU.
	QEMUPID(domName string) (int, error)
	// RemoveLibvirtCgroups is called only when no domain of that name is
	// defined.
	RemoveLibvirtCgroups(domName string) (removed []string, err error)
}

// SetupWithManager registers the reconciler for launcher Pods. The
// manager's cache must already be narrowed to this node's Pods.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Options.ShutdownRetryInterval == 0 {
		r.Options.ShutdownRetryInterval = 2 * time.Second
	}
	workers := r.Options.Workers
	if workers <= 0 {
		workers = 4
	}
	r.resync = make(chan event.TypedGenericEvent[client.Object])
	b := ctrl.NewControllerManagedBy(mgr).Named("nodeagent").For(&corev1.Pod{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		WatchesRawSource(source.Channel(r.resync, &handler.EnqueueRequestForObject{}))
	if src, ok := r.Hypervisor.(hypervisor.EventSource); ok {
		// Lifecycle events drive the agent; polling is the safety net.
		pump := &eventPump{source: src, out: make(chan event.TypedGenericEvent[client.Object]), resync: r.Resync}
		if err := mgr.Add(pump); err != nil {
			return err
		}
		b = b.WatchesRawSource(source.Channel(pump.out, &handler.EnqueueRequestForObject{}))
		if r.Options.PollInterval == 0 {
			r.Options.PollInterval = 30 * time.Second
		}
	}
	if r.Options.PollInterval == 0 {
		r.Options.PollInterval = 3 * time.Second
	}
	return b.Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &corev1.Pod{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	vmiName := p.Labels[domainspec.LabelVMI]
	if vmiName == "" || p.Spec.NodeName != r.Options.NodeName {
		return ctrl.Result{}, nil
	}
	domName := domainspec.Name(p.Namespace, vmiName)
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("domain", domName))

	if !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return r.stop(ctx, p, domName)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: vmiName}, vmi); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if string(vmi.UID) != p.Labels[domainspec.LabelVMIUID] || !metav1.IsControlledBy(p, vmi) {
		log.FromContext(ctx).Info("refusing a launcher Pod whose VMI UID does not match its owner", "pod", p.Name)
		return ctrl.Result{}, nil
	}
	switch vmi.Status.Phase {
	case v1alpha1.Succeeded, v1alpha1.Failed:
		return ctrl.Result{}, nil
	}
	if p.Status.Phase != corev1.PodRunning || p.Annotations[domainspec.AnnotationSignature] == "" {
		// The Pod's status change, or the controller signing it for this
		// node, triggers the next reconcile.
		return ctrl.Result{}, nil
	}
	// The controller adds this agent's finalizer in the write that signs
	// the Pod; a Pod signed without it (by an older controller) gets it
	// here, before anything of the guest exists.
	if !controllerutil.ContainsFinalizer(p, domainspec.FinalizerDomain) {
		orig := p.DeepCopy()
		controllerutil.AddFinalizer(p, domainspec.FinalizerDomain)
		if err := r.Client.Patch(ctx, p, client.StrategicMergeFrom(orig), client.FieldOwner(FieldOwner)); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer to Pod %s: %w", p.Name, err)
		}
	}

	state, err := r.Hypervisor.State(domName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if state != hypervisor.StateAbsent {
		// A domain of this name is this VMI's only if its metadata says
		// so: one left by an earlier VMI of the same name is removed,
		// never started or adopted.
		owner, err := r.domainOwner(domName)
		if err != nil {
			return ctrl.Result{}, err
		}
		switch owner {
		case string(vmi.UID):
		case "":
			return ctrl.Result{}, r.fail(ctx, vmi, failure.ReasonDomainNameTaken,
				fmt.Errorf("libvirt on node %s has a domain %s that podvirt did not define", r.Options.NodeName, domName))
		default:
			if err := r.remove(ctx, domName, owner); err != nil {
				return ctrl.Result{}, err
			}
			log.FromContext(ctx).Info("removed the domain of an earlier VMI of the same name", "uid", owner)
			state = hypervisor.StateAbsent
		}
	}
	// Unknown is a Running VMI whose node stopped heart-beating (the
	// controller's word, docs/operations.md): the guest ran, so it is
	// treated as running. Found running, it is adopted and reported
	// Running again, never restarted; found gone, it is DomainLost.
	running := vmi.Status.Phase == v1alpha1.Running || vmi.Status.Phase == v1alpha1.Unknown
	if state == hypervisor.StateRunning && !running {
		if ps, ok := r.Hypervisor.(hypervisor.PausedStarter); ok {
			pause, err := ps.Paused(domName)
			if err != nil {
				return ctrl.Result{}, err
			}
			switch pause {
			case hypervisor.PausedStartingUp:
				// libvirt is still starting it (an earlier agent asked and
				// was killed): wait for that start to end, either way.
				log.FromContext(ctx).Info("the domain is still starting; waiting")
				return ctrl.Result{RequeueAfter: time.Second}, nil
			case hypervisor.PausedHeld:
				// Started paused and never resumed (the agent stopped in
				// between): the guest never ran, so it is started again,
				// checked again.
				log.FromContext(ctx).Info("destroying a domain that was started paused and never resumed")
				if err := r.Hypervisor.Destroy(domName); err != nil {
					return ctrl.Result{}, err
				}
				return ctrl.Result{Requeue: true}, nil
			}
		}
	}
	switch {
	case state == hypervisor.StateAbsent && running:
		// Never start a second life for a guest that vanished (host
		// libvirt restarted, domain undefined by hand): say so.
		return ctrl.Result{}, r.fail(ctx, vmi, failure.ReasonDomainLost, errors.New("the domain disappeared from libvirt while the guest was running"))
	case state != hypervisor.StateRunning && running:
		return ctrl.Result{}, r.finished(ctx, vmi, state)
	case state != hypervisor.StateRunning:
		// Absent, or defined but never run (the agent stopped between
		// define and start): define it now, so what starts is verified
		// and checked now, whatever was defined before.
		start := time.Now()
		volumeDisks, err := r.define(ctx, p, vmi, domName)
		r.Metrics.observePrepare(time.Since(start))
		if err != nil {
			return ctrl.Result{}, r.fail(ctx, vmi, failure.Reason(err), err)
		}
		if err := r.start(ctx, p, domName, volumeDisks); err != nil {
			reason := failure.ReasonStartFailed
			if errors.Is(err, failure.ErrRefused) {
				reason = failure.ReasonRefused
			}
			return ctrl.Result{}, r.fail(ctx, vmi, reason, err)
		}
		log.FromContext(ctx).Info("started domain")
		r.event(vmi, corev1.EventTypeNormal, "Started", "Start", "started domain %s on node %s", domName, r.Options.NodeName)
	}
	if err := r.placeInPod(ctx, p, domName); err != nil {
		return ctrl.Result{}, err
	}
	r.shareConsole(ctx, p)
	if r.Network != nil {
		if err := r.Network.Keep(ctx, p, domName); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.setRunning(ctx, vmi); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.Options.PollInterval}, nil
}

// vmiDir is a VMI's directory under StateDir, keyed by its UID: a VMI of
// the same name created later never finds the files of an earlier one. It
// holds the VMI's sockets (NodeFacts.SocketDir), and held all its files
// before they moved into the launcher Pod's state volume.
func (r *Reconciler) vmiDir(uid string) (string, error) {
	if uid == "" || strings.ContainsAny(uid, "/_") || uid == "." || uid == ".." {
		// A UID has neither; a domain name has '_'. Never a path that
		// another VMI's files could share.
		return "", fmt.Errorf("%q is not a VMI UID", uid)
	}
	return filepath.Join(r.Options.StateDir, "vmis", uid), nil
}

// stop shuts the guest down (ACPI, resent until the grace period ends, then
// destroy), undefines the domain and releases the Pod.
func (r *Reconciler) stop(ctx context.Context, p *corev1.Pod, domName string) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(p, domainspec.FinalizerDomain) {
		return ctrl.Result{}, nil
	}
	state, err := r.Hypervisor.State(domName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if state == hypervisor.StateRunning {
		grace := r.gracePeriod(p)
		since := stopRequestedAt(p)
		if time.Since(since) < grace {
			if err := r.reportTerminating(ctx, p); err != nil {
				return ctrl.Result{}, err
			}
			if err := r.Hypervisor.Shutdown(domName); err != nil {
				return ctrl.Result{}, err
			}
			log.FromContext(ctx).Info("sent ACPI shutdown", "grace", grace.String())
			return ctrl.Result{RequeueAfter: min(r.Options.ShutdownRetryInterval, time.Until(since.Add(grace))+10*time.Millisecond)}, nil
		}
		// Said before the destroy: once destroyed, the domain reads as
		// one that was shut off, and a retry would record a clean end.
		if err := r.reportStopped(ctx, p, state, grace); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.Hypervisor.Destroy(domName); err != nil {
			return ctrl.Result{}, err
		}
		log.FromContext(ctx).Info("grace period over: destroyed domain")
	}
	if state == hypervisor.StateShutoff || state == hypervisor.StateCrashed {
		// Said before the undefine, while libvirt still tells how it ended.
		if err := r.reportStopped(ctx, p, state, 0); err != nil {
			return ctrl.Result{}, err
		}
	}
	if state != hypervisor.StateAbsent {
		if err := r.Hypervisor.Undefine(domName); err != nil {
			return ctrl.Result{}, err
		}
		log.FromContext(ctx).Info("undefined domain")
	}
	r.removeLibvirtCgroups(ctx, domName)
	if r.Network != nil {
		if err := r.Network.Disconnect(ctx, domName); err != nil {
			return ctrl.Result{}, err
		}
	}
	// The domain is gone: its files go now, and with the directory in the
	// Pod's state volume gone the launcher ends, so the kubelet removes
	// the Pod's volumes and cgroup only after QEMU has let go of them.
	if r.Storage != nil {
		if dir, derr := r.Storage.Dir(p); derr == nil {
			if err := os.RemoveAll(dir); err != nil {
				return ctrl.Result{}, fmt.Errorf("removing the VMI's files: %w", err)
			}
		}
	}
	if dir, derr := r.vmiDir(p.Labels[domainspec.LabelVMIUID]); derr == nil {
		if err := os.RemoveAll(dir); err != nil {
			return ctrl.Result{}, fmt.Errorf("removing the VMI directory: %w", err)
		}
	}
	orig := p.DeepCopy()
	controllerutil.RemoveFinalizer(p, domainspec.FinalizerDomain)
	// A strategic merge patch removes this finalizer alone, whatever
	// other finalizers the Pod has.
	if err := r.Client.Patch(ctx, p, client.StrategicMergeFrom(orig), client.FieldOwner(FieldOwner)); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing the finalizer from Pod %s: %w", p.Name, err)
	}
	return ctrl.Result{}, nil
}

// reportStopped records on the VMI how its guest ended when its launcher
// Pod went first (deleted by hand, evicted, or its container ended) while
// the VMI itself stays: as KubeVirt's virt-handler does, a guest that
// powered off within its grace period Succeeded, one that had to be
// destroyed (grace over, the running state given) or that crashed
// Failed. Without it the VMI would read Running until the Pod is gone,
// and then only "the Pod was deleted". A VMI being deleted, already
// ended, not yet Running (its guest never ran) or of another UID is left
// to the controller. grace is the grace period that ran out.
func (r *Reconciler) reportStopped(ctx context.Context, p *corev1.Pod, state hypervisor.DomainState, grace time.Duration) error {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Labels[domainspec.LabelVMI]}, vmi); err != nil {
		return client.IgnoreNotFound(err)
	}
	if string(vmi.UID) != p.Labels[domainspec.LabelVMIUID] || !vmi.DeletionTimestamp.IsZero() ||
		(vmi.Status.Phase != v1alpha1.Running && vmi.Status.Phase != v1alpha1.Unknown) {
		return nil
	}
	why, reason := fmt.Sprintf("its launcher Pod %s was deleted", p.Name), failure.ReasonLauncherPodDeleted
	if p.DeletionTimestamp.IsZero() {
		why, reason = fmt.Sprintf("its launcher Pod %s ended (%s)", p.Name, p.Status.Phase), failure.ReasonLauncherPodEnded
	}
	switch state {
	case hypervisor.StateRunning:
		return r.end(ctx, vmi, v1alpha1.Failed, reason,
			fmt.Sprintf("%s and the guest did not power off within its grace period of %s: destroyed", why, grace), "Stop")
	case hypervisor.StateCrashed:
		return r.end(ctx, vmi, v1alpha1.Failed, failure.ReasonGuestCrashed, crashedMessage, "Stop")
	}
	return r.end(ctx, vmi, v1alpha1.Succeeded, failure.ReasonGuestShutdown, "the guest powered off: "+why, "Stop")
}

// ReasonPodTerminating is the Ready condition's reason while the guest of
// a Running VMI shuts down because its launcher Pod is going (KubeVirt's
// PodTerminatingReason).
const ReasonPodTerminating = "PodTerminating"

// reportTerminating turns the Ready condition of the Pod's Running VMI
// false, PodTerminating, once: the guest is being shut down. The phase
// stays Running until the guest is gone (reportStopped).
func (r *Reconciler) reportTerminating(ctx context.Context, p *corev1.Pod) error {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Labels[domainspec.LabelVMI]}, vmi); err != nil {
		return client.IgnoreNotFound(err)
	}
	if string(vmi.UID) != p.Labels[domainspec.LabelVMIUID] || vmi.Status.Phase != v1alpha1.Running {
		return nil
	}
	orig := vmi.DeepCopy()
	if !meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonPodTerminating,
		Message: fmt.Sprintf("the launcher Pod %s is terminating: the guest is shutting down", p.Name), ObservedGeneration: vmi.Generation,
	}) {
		return nil
	}
	if err := r.patchStatus(ctx, orig, vmi); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("marking the VMI not Ready (PodTerminating): %w", err)
	}
	return nil
}

// gracePeriod is the VMI's termination grace period, as carried in the
// domain metadata.
func (r *Reconciler) gracePeriod(p *corev1.Pod) time.Duration {
	if dom, err := domainspec.Parse(p.Annotations[domainspec.AnnotationDomain]); err == nil {
		if md, err := domainspec.ReadMetadata(dom); err == nil {
			return time.Duration(md.GracePeriodSeconds) * time.Second
		}
	}
	return 30 * time.Second
}

// stopRequestedAt is when the Pod's deletion was requested (its deletion
// timestamp minus its grace period), or, for a Pod that ended on its own,
// when its last container ended (now if none says): a guest that ignores
// ACPI is destroyed a grace period later, not asked again forever.
func stopRequestedAt(p *corev1.Pod) time.Time {
	if p.DeletionTimestamp == nil {
		var ended time.Time
		for _, cs := range p.Status.ContainerStatuses {
			if term := cs.State.Terminated; term != nil && term.FinishedAt.After(ended) {
				ended = term.FinishedAt.Time
			}
		}
		if ended.IsZero() {
			return time.Now()
		}
		return ended
	}
	t := p.DeletionTimestamp.Time
	if g := p.DeletionGracePeriodSeconds; g != nil {
		t = t.Add(-time.Duration(*g) * time.Second)
	}
	return t
}

func (r *Reconciler) setRunning(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) error {
	orig := vmi.DeepCopy()
	was := vmi.Status.Phase
	// Back from Unknown is no start: the guest kept running.
	first := was != v1alpha1.Running && was != v1alpha1.Unknown
	changed := was != v1alpha1.Running || vmi.Status.NodeName != r.Options.NodeName
	vmi.Status.SetPhase(v1alpha1.Running, r.now())
	vmi.Status.NodeName = r.Options.NodeName
	vmi.Status.Reason = ""
	if meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "DomainRunning",
		Message: "the guest is running", ObservedGeneration: vmi.Generation,
	}) {
		changed = true
	}
	if !changed {
		return nil
	}
	if err := r.patchStatus(ctx, orig, vmi); err != nil {
		return fmt.Errorf("marking the VMI Running: %w", err)
	}
	if first {
		r.Metrics.observeStartup(r.Options.NodeName, vmi.CreationTimestamp.Time)
	}
	if was == v1alpha1.Unknown {
		r.event(vmi, corev1.EventTypeNormal, "StillRunning", "Report", "the guest still runs on node %s: its node agent answers again", r.Options.NodeName)
		log.FromContext(ctx).Info("VMI Running again after Unknown: the guest kept running")
		return nil
	}
	log.FromContext(ctx).Info("VMI Running")
	return nil
}

// crashedMessage says what libvirt's "shut off, crashed" means: QEMU went
// away without the guest shutting down. kill -9 of QEMU, the OOM killer
// and a QEMU crash look the same to libvirt; a guest panic with
// on_crash=destroy too.
const crashedMessage = "the guest's QEMU process ended without the guest shutting down (killed, crashed, or a guest panic)"

// finished records that a running guest stopped by itself.
func (r *Reconciler) finished(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, state hypervisor.DomainState) error {
	if state == hypervisor.StateCrashed {
		return r.end(ctx, vmi, v1alpha1.Failed, failure.ReasonGuestCrashed, crashedMessage, "Stop")
	}
	return r.end(ctx, vmi, v1alpha1.Succeeded, failure.ReasonGuestShutdown, "the guest powered off", "Stop")
}

// fail marks the VMI Failed with the error, and returns the error when
// writing the status fails.
func (r *Reconciler) fail(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, reason string, cause error) error {
	log.FromContext(ctx).Error(cause, "domain failed", "reason", reason)
	return r.end(ctx, vmi, v1alpha1.Failed, reason, cause.Error(), "Start")
}

// end moves the VMI to a final phase, with the Ready condition false for
// reason, and reports it as an Event.
func (r *Reconciler) end(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, phase v1alpha1.VirtualMachineInstancePhase, reason, msg, action string) error {
	typ := corev1.EventTypeNormal
	if phase == v1alpha1.Failed {
		typ = corev1.EventTypeWarning
	}
	r.event(vmi, typ, reason, action, "%s", msg)
	orig := vmi.DeepCopy()
	vmi.Status.SetPhase(phase, r.now())
	vmi.Status.NodeName = r.Options.NodeName // the node that ran it; node agents may only report their own
	vmi.Status.Reason = reason
	meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg,
		ObservedGeneration: vmi.Generation,
	})
	if err := r.patchStatus(ctx, orig, vmi); err != nil && !apierrors.IsNotFound(err) {
		if apierrors.IsForbidden(err) {
			// The node restriction: the VMI is not bound to this node (a
			// Pod forged for a VMI scheduled nowhere or elsewhere). Its
			// status is not this agent's to write; the Event says why the
			// Pod was refused, and retrying would change nothing.
			log.FromContext(ctx).Info("not reporting on a VMI not bound to this node", "phase", phase, "reason", reason)
			return nil
		}
		return fmt.Errorf("marking the VMI %s (%s): %w", phase, msg, err)
	}
	r.Metrics.observeEnd(string(phase), reason, phase == v1alpha1.Failed)
	log.FromContext(ctx).Info("VMI ended", "phase", phase, "reason", reason)
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// FieldOwner is the field manager of the node agent's writes (the
// launcher Pod's finalizer, the VMI's status).
const FieldOwner = "podvirt-nodeagent"

// patchStatus writes the VMI's status as a merge patch from orig, under
// orig's resourceVersion: a report of the controller or the heartbeat
// controller written meanwhile is never overwritten (the conflict
// requeues), as the full update it replaced did not either.
func (r *Reconciler) patchStatus(ctx context.Context, orig, vmi *v1alpha1.VirtualMachineInstance) error {
	return r.Client.Status().Patch(ctx, vmi, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
}

func (r *Reconciler) event(vmi *v1alpha1.VirtualMachineInstance, typ, reason, action, format string, args ...any) {
	if r.Events != nil {
		r.Events.Eventf(vmi, nil, typ, reason, action, format, args...)
	}
}
