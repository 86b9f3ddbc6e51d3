package controller

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/launcher/pod"
)

// FieldOwner is the field manager of the launcher controller's writes
// (VMI status and finalizer, launcher Pods), so managedFields tell its
// fields from the node agent's and the heartbeat controller's.
const FieldOwner = "podvirt-controller"

// Reconciler is the launcher controller.
type Reconciler struct {
	Client client.Client
	// APIReader reads past the cache: a Pod the cache does not show yet
	// may have just been created.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Domain    domain.Options
	Pod       pod.Options
	// SigningKey signs every launcher Pod's domain for the node agents.
	SigningKey ed25519.PrivateKey
	// Now, when set, is the clock of status.phaseTransitionTimestamps.
	Now func() time.Time
	// Workers is how many VMIs are reconciled at once (1 when zero).
	Workers int

	// own tells a cached VMI older than this controller's last write,
	// signatures a cached launcher Pod that does not show its signature yet.
	own        ownWrites
	signatures ownSignatures
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager registers the controller: it watches VMIs and the Pods
// they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("launcher").
		For(&v1alpha1.VirtualMachineInstance{}).
		Owns(&corev1.Pod{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			r.own.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.own.stale(req.NamespacedName, vmi.ResourceVersion) {
		// The cache has not seen our last write yet; its watch event
		// brings the VMI back (the requeue only in case it never comes).
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	ctx = withStatusBase(ctx, vmi)
	launcher := &corev1.Pod{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: domainspec.PodName(vmi.Name)}, launcher)
	switch {
	case apierrors.IsNotFound(err):
		launcher = nil
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading the launcher Pod: %w", err)
	case !metav1.IsControlledBy(launcher, vmi):
		// A Pod of that name that is not ours: never adopt or delete it.
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Failed, "LauncherPodConflict",
			fmt.Sprintf("Pod %s exists and is not controlled by this VirtualMachineInstance", launcher.Name))
	}

	if !vmi.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, vmi, launcher)
	}
	if err := r.patchFinalizers(ctx, vmi, func() bool { return controllerutil.AddFinalizer(vmi, domainspec.FinalizerLauncher) }); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
	}

	switch vmi.Status.Phase {
	case "":
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Pending, "", "")
	case v1alpha1.Succeeded, v1alpha1.Failed:
		// The guest is done: free the Pod's resources; the VMI stays as
		// the record of how it ended.
		if launcher != nil && launcher.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, launcher, client.Preconditions{UID: &launcher.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting the launcher Pod of a finished VMI: %w", err)
			}
		}
		return ctrl.Result{}, nil
	}

	if launcher == nil {
		if vmi.Status.Phase != v1alpha1.Pending {
			// The cache may lag the Pod we just created: ask the API server
			// before concluding the Pod was deleted.
			live := &corev1.Pod{}
			err := r.reader().Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: domainspec.PodName(vmi.Name)}, live)
			if err == nil {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			if !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("reading the launcher Pod: %w", err)
			}
			if vmi.Status.Phase == v1alpha1.Unknown {
				// Its node stopped heart-beating: the node heartbeat
				// controller fails it (NodeLost) after the unknown
				// timeout, a gone Pod being one of its fences.
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Failed, "LauncherPodDeleted", "the launcher Pod was deleted")
		}
		return r.createLauncher(ctx, vmi)
	}

	if vmi.Status.Phase == v1alpha1.Pending {
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Scheduling, "", "")
	}
	if launcher.Spec.NodeName != "" && vmi.Status.Phase == v1alpha1.Scheduling {
		// status.nodeName first, from the scheduler's binding: it is what
		// lets that node's agent (and only it) report on the VMI, and the
		// agent acts only once the Pod is signed, on the next pass.
		vmi.Status.NodeName = launcher.Spec.NodeName
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Scheduled, "", "")
	}
	if err := r.signForNode(ctx, vmi, launcher); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) createLauncher(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) (ctrl.Result, error) {
	xml, err := domain.RenderXML(vmi, r.Domain)
	if err != nil {
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Failed, "RenderFailed", err.Error())
	}
	claims, waiting, err := r.claims(ctx, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(waiting) > 0 {
		// As KubeVirt: the VMI waits, Pending, for its claims to exist
		// (a claim made after the VMI is a common order in manifests).
		return ctrl.Result{RequeueAfter: claimRetry}, r.waitForClaims(ctx, vmi, waiting)
	}
	p, err := pod.RenderWithClaims(vmi, xml, claims, r.Pod)
	if err != nil {
		return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Failed, "RenderFailed", err.Error())
	}
	if err := r.Client.Create(ctx, p, client.FieldOwner(FieldOwner)); err != nil && !apierrors.IsAlreadyExists(err) {
		r.event(vmi, corev1.EventTypeWarning, "FailedCreate", "Create", "creating launcher Pod %s: %v", p.Name, err)
		return ctrl.Result{}, fmt.Errorf("creating the launcher Pod: %w", err)
	}
	r.event(vmi, corev1.EventTypeNormal, "SuccessfulCreate", "Create", "created launcher Pod %s", p.Name)
	log.FromContext(ctx).Info("created launcher Pod", "pod", p.Name)
	vmi.Status.LauncherPodName = p.Name
	meta.RemoveStatusCondition(&vmi.Status.Conditions, v1alpha1.ConditionSynchronized)
	return ctrl.Result{}, r.setPhase(ctx, vmi, v1alpha1.Scheduling, "", "")
}

// finalize deletes the launcher Pod and releases the VMI once the Pod is
// gone. The node agent holds the Pod until the guest is shut down.
func (r *Reconciler) finalize(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, launcher *corev1.Pod) (ctrl.Result, error) {
	if launcher != nil {
		if launcher.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, launcher, client.Preconditions{UID: &launcher.UID}); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting the launcher Pod: %w", err)
			}
			r.event(vmi, corev1.EventTypeNormal, "SuccessfulDelete", "Delete", "deleted launcher Pod %s", launcher.Name)
		}
		// The Pod's deletion is watched; the requeue is a safety net.
		return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
	}
	if err := r.patchFinalizers(ctx, vmi, func() bool { return controllerutil.RemoveFinalizer(vmi, domainspec.FinalizerLauncher) }); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing the finalizer: %w", err)
	}
	return ctrl.Result{}, nil
}

// patchFinalizers applies change to the VMI's finalizers and, when it
// changed them, writes them as a merge patch under the VMI's
// resourceVersion (a merge patch replaces the whole list: a finalizer
// someone else added meanwhile is never dropped; the conflict requeues).
// Nothing is written when nothing changed.
func (r *Reconciler) patchFinalizers(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, change func() bool) error {
	orig := vmi.DeepCopy()
	if !change() {
		return nil
	}
	status := vmi.Status
	err := r.Client.Patch(ctx, vmi, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner))
	if err == nil {
		r.own.wrote(client.ObjectKeyFromObject(vmi), orig.ResourceVersion)
	}
	// The main resource's response holds the stored status: keep the
	// status this pass computed on top of it.
	vmi.Status = status
	return err
}

func (r *Reconciler) setPhase(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, phase v1alpha1.VirtualMachineInstancePhase, reason, message string) error {
	vmi.Status.SetPhase(phase, r.now())
	vmi.Status.Reason = reason
	if phase == v1alpha1.Failed {
		meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message,
			ObservedGeneration: vmi.Generation,
		})
		r.event(vmi, corev1.EventTypeWarning, reason, "SetPhase", "%s", message)
	}
	written, err := r.patchStatus(ctx, vmi)
	if err != nil {
		return fmt.Errorf("setting phase %s: %w", phase, err)
	}
	if written {
		log.FromContext(ctx).Info("phase", "phase", phase, "reason", reason)
	}
	return nil
}

// statusBase is the VMI as this pass read it (its status before this
// pass changed it), kept per object so that patchStatus writes only what
// the pass changed.
type statusBase struct {
	*v1alpha1.VirtualMachineInstance
}

type statusBaseKey struct{}

// withStatusBase remembers vmi as read, for patchStatus.
func withStatusBase(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) context.Context {
	return context.WithValue(ctx, statusBaseKey{}, statusBase{vmi.DeepCopy()})
}

// patchStatus writes the VMI's status as one merge patch of what this pass
// changed (from the VMI as Reconcile read it), under that resourceVersion:
// the node agent's or the heartbeat controller's report written meanwhile
// is never overwritten (the conflict requeues). A pass that changed
// nothing writes nothing. It says whether it wrote.
func (r *Reconciler) patchStatus(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) (bool, error) {
	base, ok := ctx.Value(statusBaseKey{}).(statusBase)
	if !ok || base.UID != vmi.UID {
		// Not read by Reconcile (a direct call): the whole status.
		if err := r.Client.Status().Update(ctx, vmi, client.FieldOwner(FieldOwner)); err != nil {
			return false, err
		}
		return true, nil
	}
	if equality.Semantic.DeepEqual(base.Status, vmi.Status) {
		return false, nil
	}
	orig := base.DeepCopy()
	// Under the resourceVersion the VMI has now (a finalizer patch of
	// this pass moved it on).
	orig.ResourceVersion = vmi.ResourceVersion
	if err := r.Client.Status().Patch(ctx, vmi, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
		return false, err
	}
	r.own.wrote(client.ObjectKeyFromObject(vmi), orig.ResourceVersion)
	return true, nil
}

func (r *Reconciler) event(vmi *v1alpha1.VirtualMachineInstance, typ, reason, action, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(vmi, nil, typ, reason, action, format, args...)
	}
}

// signForNode signs the domain the controller renders for this VMI, for
// the node the scheduler bound its launcher Pod to, once it is bound: the
// node agent of any other node refuses the signature. It signs what it
// rendered itself, never what the Pod happens to carry: a Pod whose
// domain differs from that (edited by someone the Pod guard let through)
// is not signed and its VMI fails. ed25519 signatures are deterministic, so
// an up-to-date annotation is left alone.
func (r *Reconciler) signForNode(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, launcher *corev1.Pod) error {
	if launcher.Spec.NodeName == "" || !launcher.DeletionTimestamp.IsZero() {
		r.signatures.forget(launcher.UID)
		return nil
	}
	signed := launcher.Annotations[domainspec.AnnotationSignature]
	rendered, err := domain.RenderXML(vmi, r.Domain)
	if err != nil {
		return fmt.Errorf("rendering the domain to sign: %w", err)
	}
	if launcher.Annotations[domainspec.AnnotationDomain] != rendered {
		if signed != "" {
			// Signed when it matched, by this build or an earlier one
			// whose rendering differed: the node verifies it as it is.
			return nil
		}
		return r.setPhase(ctx, vmi, v1alpha1.Failed, "DomainMismatch",
			fmt.Sprintf("the domain on launcher Pod %s is not the one the controller renders for this VMI; it was not signed", launcher.Name))
	}
	sig, err := domainspec.Sign(r.SigningKey, domainspec.Payload{
		Namespace: launcher.Namespace, PodName: launcher.Name, VMIUID: string(vmi.UID),
		NodeName: launcher.Spec.NodeName, DomainXML: rendered,
	})
	if err != nil {
		return fmt.Errorf("signing the domain: %w", err)
	}
	if r.signatures.pending(launcher.UID, sig, signed) || signed == sig {
		// Signed, or signed by us and not yet in the cache: the Pod's
		// watch event brings it back.
		return nil
	}
	orig := launcher.DeepCopy()
	launcher.Annotations[domainspec.AnnotationSignature] = sig
	if signed == "" {
		// The node agent's finalizer, in the same write as the first
		// signature: the agent starts nothing before the Pod is signed,
		// and finds its finalizer there when it does, with no write of
		// its own (it still adds it to a Pod signed without). Never
		// added again: the agent removes it from a Pod that ended.
		controllerutil.AddFinalizer(launcher, domainspec.FinalizerDomain)
	}
	// A strategic merge patch: the annotation and the finalizer are
	// merged into what the Pod has, whoever wrote it.
	if err := r.Client.Patch(ctx, launcher, client.StrategicMergeFrom(orig), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("signing launcher Pod %s for node %s: %w", launcher.Name, launcher.Spec.NodeName, err)
	}
	r.signatures.wrote(launcher.UID, sig)
	log.FromContext(ctx).Info("signed the domain for its node", "pod", launcher.Name, "node", launcher.Spec.NodeName)
	return nil
}

func (r *Reconciler) reader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}
