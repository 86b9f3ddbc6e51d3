package policies

import (
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// matchConstraints is a policy's compiled matchConstraints.
type matchConstraints struct {
	namespaceSelector labels.Selector
	objectSelector    labels.Selector
	create, update    bool
}

// compileMatchConstraints parses selectors and operations; unset means
// every namespace, every object, CREATE and UPDATE.
func compileMatchConstraints(mc *v1alpha1.VMIMatchConstraints) (matchConstraints, error) {
	m := matchConstraints{
		namespaceSelector: labels.Everything(),
		objectSelector:    labels.Everything(),
		create:            true,
		update:            true,
	}
	if mc == nil {
		return m, nil
	}
	var err error
	if mc.NamespaceSelector != nil {
		if m.namespaceSelector, err = metav1.LabelSelectorAsSelector(mc.NamespaceSelector); err != nil {
			return m, fmt.Errorf("namespaceSelector: %w", err)
		}
	}
	if mc.ObjectSelector != nil {
		if m.objectSelector, err = metav1.LabelSelectorAsSelector(mc.ObjectSelector); err != nil {
			return m, fmt.Errorf("objectSelector: %w", err)
		}
	}
	if len(mc.Operations) > 0 {
		m.create, m.update = false, false
		for _, op := range mc.Operations {
			switch op {
			case admissionregistrationv1.OperationAll:
				m.create, m.update = true, true
			case admissionregistrationv1.Create:
				m.create = true
			case admissionregistrationv1.Update:
				m.update = true
			}
		}
	}
	return m, nil
}

// matches reports whether a request falls under the constraints, as
// ValidatingAdmissionPolicy matching does: the operation is listed, the
// namespace's labels match namespaceSelector, and the new or the old
// object's labels match objectSelector.
func (m *matchConstraints) matches(in *Input) bool {
	switch in.operation {
	case admissionv1.Create:
		if !m.create {
			return false
		}
	case admissionv1.Update:
		if !m.update {
			return false
		}
	default:
		return false
	}
	if !m.namespaceSelector.Empty() {
		if in.namespace == nil {
			// The namespace is unknown: like kube-apiserver without its
			// namespace lister, match only the everything selector.
			return false
		}
		if !m.namespaceSelector.Matches(labels.Set(in.namespace.Labels)) {
			return false
		}
	}
	if !m.objectSelector.Empty() {
		if !m.objectSelector.Matches(in.object.Labels()) && (in.oldObject == nil || !m.objectSelector.Matches(in.oldObject.Labels())) {
			return false
		}
	}
	return true
}
