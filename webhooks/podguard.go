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

	"github.com/podvirt/podvirt/domainspec"
)

// PodGuardPath is where the launcher-Pod guard is served.
const PodGuardPath = "/validate-launcher-pod"

// ReservedPrefix marks the labels and annotations only podvirt may set.
const ReservedPrefix = "podvirt.io/"

// PodGuard denies creating a Pod that carries podvirt.io/ labels,
// annotations or finalizers, and changing those on an existing Pod, to
// anyone but the controller: such a Pod would be run by a node agent as a
// VM, and its finalizer is what makes the node agent stop the guest and
// clean up before the Pod goes. The one exception is the node agent's own
// finalizer, which node agents add and remove. Its webhook configuration
// narrows it with a CEL matchCondition to Pods that carry such keys, so
// ordinary Pods never depend on podvirt being up.
type PodGuard struct {
	// Creators are the user names allowed to create and change launcher
	// Pods (the controller's service account).
	Creators []string
	// NodeAgents are the user names of node agents, which may add and
	// remove domainspec.FinalizerDomain and nothing else; an entry ending
	// in ":" matches every name it starts (system:podvirt:nodeagent:).
	NodeAgents []string
}

// podMeta is the part of a Pod the guard reads; decoding only this keeps
// the guard cheap and independent of the Pod's full schema.
type podMeta struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Finalizers  []string          `json:"finalizers"`
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
			return admission.Denied(fmt.Sprintf("only podvirt's controller may create Pods with %s labels, annotations or finalizers (found %s): create a VirtualMachineInstance instead",
				ReservedPrefix, strings.Join(keys, ", ")))
		}
	case admissionv1.Update:
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the old Pod: %w", err))
		}
		changed := changedReservedKeys(old, obj)
		if g.isNodeAgent(req.UserInfo.Username) {
			changed = slices.DeleteFunc(changed, func(k string) bool { return k == "finalizer "+domainspec.FinalizerDomain })
		}
		if len(changed) > 0 {
			return admission.Denied(fmt.Sprintf("only podvirt's controller may add, change or remove %s labels, annotations or finalizers (changed %s)",
				ReservedPrefix, strings.Join(changed, ", ")))
		}
	}
	return admission.Allowed("")
}

func (g *PodGuard) isNodeAgent(user string) bool {
	for _, n := range g.NodeAgents {
		if user == n || strings.HasSuffix(n, ":") && strings.HasPrefix(user, n) {
			return true
		}
	}
	return false
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
	for _, f := range p.Metadata.Finalizers {
		if strings.HasPrefix(f, ReservedPrefix) {
			keys = append(keys, "finalizer "+f)
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
	asSet := func(fs []string) map[string]string {
		m := map[string]string{}
		for _, f := range fs {
			m[f] = ""
		}
		return m
	}
	diff("finalizer", asSet(old.Metadata.Finalizers), asSet(cur.Metadata.Finalizers))
	slices.Sort(changed)
	return changed
}
