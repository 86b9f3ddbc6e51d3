package policies

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// StaticParams is a ParamSource over a fixed list of objects, for tests,
// offline evaluation and small deployments. Objects without a namespace are
// treated as cluster-scoped and found from any namespace.
type StaticParams struct {
	objects []*Object
}

var _ ParamSource = (*StaticParams)(nil)

// NewStaticParams returns a source holding objects.
func NewStaticParams(objects ...*Object) *StaticParams {
	return &StaticParams{objects: objects}
}

// Params implements ParamSource.
func (s *StaticParams) Params(_ context.Context, kind admissionregistrationv1.ParamKind, namespace, name string, selector labels.Selector) ([]*Object, error) {
	if name == "" && selector == nil {
		return nil, fmt.Errorf("one of name or selector must be provided")
	}
	var out []*Object
	for _, o := range s.objects {
		if !sameAPIVersion(o.APIVersion(), kind.APIVersion) || o.Kind() != kind.Kind {
			continue
		}
		if ns := o.Namespace(); ns != "" && ns != namespace {
			continue
		}
		if name != "" {
			if o.Name() == name {
				out = append(out, o)
			}
			continue
		}
		if selector.Matches(o.Labels()) {
			out = append(out, o)
		}
	}
	return out, nil
}

// sameAPIVersion compares apiVersions, "v1" matching the core group.
func sameAPIVersion(a, b string) bool {
	return strings.TrimPrefix(a, "core/") == strings.TrimPrefix(b, "core/")
}
