package policies

import (
	"context"
	"io/fs"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds"
)

// TestGeneratedCRDsAreValid validates the embedded CRDs as kube-apiserver
// does on creation, including compiling their x-kubernetes-validations
// rules and checking their estimated cost.
func TestGeneratedCRDsAreValid(t *testing.T) {
	files, err := fs.Glob(crds.Bases, "bases/podvirt.io_*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("embedded CRDs: %v %v", files, err)
	}
	for _, f := range files {
		raw, _ := fs.ReadFile(crds.Bases, f)
		var v1crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(raw, &v1crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1crd)
		var crd apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1crd, &crd, nil); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if errs := validation.ValidateCustomResourceDefinition(context.Background(), &crd); len(errs) > 0 {
			t.Errorf("%s: %v", f, errs.ToAggregate())
		}
	}
}
