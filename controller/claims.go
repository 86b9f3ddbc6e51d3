package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/launcher/pod"
)

// claimRetry is how often a VMI waiting for its claims looks again.
const claimRetry = 5 * time.Second

// ReasonClaimNotFound is the Synchronized condition's reason while a
// persistentVolumeClaim a VMI uses does not exist (KubeVirt's).
const ReasonClaimNotFound = "FailedPvcNotFound"

// claims reads the VMI's persistentVolumeClaims: how the launcher Pod
// attaches each (volumeMode) and its size (capacity once bound, else its
// request). missing names the claims that do not exist yet.
func (r *Reconciler) claims(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance) (claims map[string]pod.Claim, missing []string, err error) {
	for _, v := range vmi.Spec.Volumes {
		var name string
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil && v.Ephemeral.PersistentVolumeClaim != nil:
			name = v.Ephemeral.PersistentVolumeClaim.ClaimName
		default:
			continue
		}
		if _, done := claims[name]; done {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{}
		err := r.reader().Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: name}, pvc)
		if apierrors.IsNotFound(err) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading persistentVolumeClaim %s: %w", name, err)
		}
		if claims == nil {
			claims = map[string]pod.Claim{}
		}
		claims[name] = claimOf(pvc)
	}
	return claims, missing, nil
}

func claimOf(pvc *corev1.PersistentVolumeClaim) pod.Claim {
	c := pod.Claim{Block: pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock}
	size, ok := pvc.Status.Capacity[corev1.ResourceStorage]
	if !ok {
		size = pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	c.Bytes = size.Value()
	return c
}

// waitForClaims says, in the Synchronized condition and an event, which
// claims the VMI waits for; written only when that changes.
func (r *Reconciler) waitForClaims(ctx context.Context, vmi *v1alpha1.VirtualMachineInstance, missing []string) error {
	msg := fmt.Sprintf("waiting for persistentVolumeClaim %s in namespace %s: it does not exist", strings.Join(missing, ", "), vmi.Namespace)
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionSynchronized); c != nil && c.Reason == ReasonClaimNotFound && c.Message == msg {
		return nil
	}
	meta.SetStatusCondition(&vmi.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionSynchronized, Status: metav1.ConditionFalse, Reason: ReasonClaimNotFound, Message: msg,
		ObservedGeneration: vmi.Generation,
	})
	r.event(vmi, corev1.EventTypeWarning, ReasonClaimNotFound, "Create", "%s", msg)
	if _, err := r.patchStatus(ctx, vmi); err != nil {
		return fmt.Errorf("saying the VMI waits for its claims: %w", err)
	}
	return nil
}
