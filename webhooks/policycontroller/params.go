package policycontroller

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podvirt/podvirt/policies"
)

// APIParams resolves a policy's paramRef by reading the parameter objects
// from the API server (any kind, as unstructured objects). Parameters are
// read per admission that needs them; the controller needs read access to
// the parameter kinds its policies name.
type APIParams struct {
	Reader client.Reader
	// Mapper tells cluster-scoped parameter kinds from namespaced ones.
	Mapper meta.RESTMapper
}

// Params implements policies.ParamSource.
func (a *APIParams) Params(ctx context.Context, kind admissionregistrationv1.ParamKind, namespace, name string, selector labels.Selector) ([]*policies.Object, error) {
	gv, err := schema.ParseGroupVersion(kind.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("paramKind.apiVersion %q: %w", kind.APIVersion, err)
	}
	gvk := gv.WithKind(kind.Kind)
	if a.Mapper != nil {
		m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("paramKind %s: %w", gvk, err)
		}
		if m.Scope.Name() == meta.RESTScopeNameRoot {
			namespace = "" // cluster-scoped parameters have no namespace
		}
	}
	var items []unstructured.Unstructured
	if name != "" {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := a.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, u); err != nil {
			if client.IgnoreNotFound(err) == nil {
				return nil, nil
			}
			return nil, fmt.Errorf("reading %s %s/%s: %w", kind.Kind, namespace, name, err)
		}
		items = append(items, *u)
	} else {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(kind.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabelsSelector{Selector: selector}}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := a.Reader.List(ctx, list, opts...); err != nil {
			return nil, fmt.Errorf("listing %s in %q: %w", kind.Kind, namespace, err)
		}
		items = list.Items
	}
	out := make([]*policies.Object, 0, len(items))
	for i := range items {
		obj, err := policies.ParamObject(&items[i], kind)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}
