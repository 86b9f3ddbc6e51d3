package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// PodGuardPath is where the launcher-Pod guard is served.
const PodGuardPath = "/validate-launcher-pod"

// ReservedPrefix marks the labels and annotations only podvirt may set.
const ReservedPrefix = "podvirt.io/"

// PodGuard denies creating a Pod that carries podvirt.io/ labels or
// annotations, and changing those on an existing Pod, to anyone but the
// controller: such a Pod would be run by a node agent as a VM. Its
// webhook configuration narrows it with a CEL matchCondition to Pods that
// carry such keys, so ordinary Pods never depend on podvirt being up.
type PodGuard struct {
	// Creators are the user names allowed to create and change launcher
	// Pods (the controller's service account).
	Creators []string
}

// podMeta is the part of a Pod the guard reads; decoding only this keeps
// the guard cheap and independent of the Pod's full schema.
type podMeta struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// Handle implements admission.Handler.
func (g *PodGuard) Handle(_ context.Context, req admission.Request) admission.Response {
	if slices.Contains(g.Creators, req.UserInfo.Username) {
		return admission.Allowed("")
	}
	var obj, old podMeta
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the Pod: %w", err))
	}
	switch req.Operation {
	case admissionv1.Create:
		if keys := reservedKeys(obj); len(keys) > 0 {
			return admission.Denied(fmt.Sprintf("only podvirt's controller may create Pods with %s labels or annotations (found %s): create a VirtualMachineInstance instead",
				ReservedPrefix, strings.Join(keys, ", ")))
		}
	case admissionv1.Update:
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old Pod: %w", err))
		}
		if changed := changedReservedKeys(old, obj); len(changed) > 0 {
			return admission.Denied(fmt.Sprintf("only podvirt's controller may add, change or remove %s labels or annotations (changed %s)",
				ReservedPrefix, strings.Join(changed, ", ")))
		}
	}
	return admission.Allowed("")
}

func reservedKeys(p podMeta) []string {
	var keys []string
	for k := range p.Metadata.Labels {
		if strings.HasPrefix(k, ReservedPrefix) {
			keys = append(keys, "label "+k)
		}
	}
	for k := range p.Metadata.Annotations {
		if strings.HasPrefix(k, ReservedPrefix) {
			keys = append(keys, "annotation "+k)
		}
	}
	slices.Sort(keys)
	return keys
}

func changedReservedKeys(old, cur podMeta) []string {
	var changed []string
	diff := func(kind string, a, b map[string]string) {
		for k, v := range a {
			if strings.HasPrefix(k, ReservedPrefix) {
				if w, ok := b[k]; !ok || w != v {
					changed = append(changed, kind+" "+k)
				}
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && strings.HasPrefix(k, ReservedPrefix) {
				changed = append(changed, kind+" "+k)
			}
		}
	}
	diff("label", old.Metadata.Labels, cur.Metadata.Labels)
	diff("annotation", old.Metadata.Annotations, cur.Metadata.Annotations)
	slices.Sort(changed)
	return changed
}
