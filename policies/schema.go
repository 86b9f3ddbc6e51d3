package policies

import (
	"encoding/json"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/common"
	celopenapi "k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds"
	"github.com/podvirt/podvirt/crds/v1alpha1"
)

const (
	// vmiCRDFile is the generated VirtualMachineInstance CRD inside crds.Bases.
	vmiCRDFile = "bases/podvirt.io_virtualmachineinstances.yaml"
	// vmiTypeName names the CEL type of `object`; nested object types get
	// this name plus their path.
	vmiTypeName = "io.podvirt.v1alpha1.VirtualMachineInstance"
)

// VMISchemaFromCRDs reads the OpenAPI schema of the VirtualMachineInstance
// version podvirt serves from the embedded, generated CRDs (crds.Bases).
func VMISchemaFromCRDs() (*spec.Schema, error) {
	raw, err := fs.ReadFile(crds.Bases, vmiCRDFile)
	if err != nil {
		return nil, fmt.Errorf("reading the embedded VMI CRD: %w", err)
	}
	return SchemaFromCRD(raw, v1alpha1.GroupVersion.Version)
}

// SchemaFromCRD returns the OpenAPI v3 schema of one version of a
// CustomResourceDefinition manifest (YAML or JSON).
func SchemaFromCRD(manifest []byte, version string) (*spec.Schema, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(manifest, &crd); err != nil {
		return nil, fmt.Errorf("decoding the CRD: %w", err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version {
			continue
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("CRD %s version %s has no schema", crd.Name, version)
		}
		// JSONSchemaProps and spec.Schema are two Go spellings of the same
		// JSON document; x-kubernetes-* fields become extensions.
		doc, err := json.Marshal(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, fmt.Errorf("encoding the schema of CRD %s: %w", crd.Name, err)
		}
		var s spec.Schema
		if err := json.Unmarshal(doc, &s); err != nil {
			return nil, fmt.Errorf("decoding the schema of CRD %s: %w", crd.Name, err)
		}
		return &s, nil
	}
	return nil, fmt.Errorf("CRD %s has no version %s", crd.Name, version)
}

// objectDeclType converts a resource's OpenAPI schema into the CEL type of
// `object` and `oldObject`, as a ValidatingAdmissionPolicy's type checker
// sees a custom resource: the CRD schema with metadata replaced by the full
// ObjectMeta. It then adjusts the schema so that the static types agree with
// the values a ValidatingAdmissionPolicy evaluates against at run time, which
// are decoded JSON (see runtimeView).
func objectDeclType(s *spec.Schema) (*apiservercel.DeclType, error) {
	meta, err := objectMetaSchema()
	if err != nil {
		return nil, err
	}
	root := *s
	root.Properties = make(map[string]spec.Schema, len(s.Properties)+3)
	for name, prop := range s.Properties {
		root.Properties[name] = prop
	}
	root.Properties["metadata"] = *meta
	view := runtimeView(&root)
	declType := common.SchemaDeclType(&celopenapi.Schema{Schema: view}, true)
	if declType == nil {
		return nil, fmt.Errorf("the VMI schema has no CEL representation")
	}
	return declType.MaybeAssignTypeName(vmiTypeName), nil
}

// objectMetaSchema returns metav1.ObjectMeta's OpenAPI schema with every
// reference resolved, the way the API server publishes it for every
// resource.
func objectMetaSchema() (*spec.Schema, error) {
	defs := apiextensionsopenapi.GetOpenAPIDefinitions(spec.MustCreateRef)
	s, err := resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
		def, ok := defs[ref]
		if !ok {
			return nil, false
		}
		s := def.Schema
		return &s, true
	}, metav1.ObjectMeta{}.OpenAPIModelName())
	if err != nil {
		return nil, fmt.Errorf("resolving the ObjectMeta schema: %w", err)
	}
	return s, nil
}

// runtimeView returns a copy of s whose CEL types match what expressions see
// at run time. Like a ValidatingAdmissionPolicy on a custom resource, podvirt
// evaluates against the JSON object as decoded, not converted by the schema:
//   - strings with a format (date-time, date, duration, byte) stay strings,
//     so timestamp(object.metadata.creationTimestamp) type-checks and works
//     while a comparison with a timestamp, which would fail at run time, is
//     rejected;
//   - "number" fields are dyn, since integral JSON numbers decode as int;
//   - objects that preserve unknown fields and declare no properties are dyn,
//     since their content is open.
func runtimeView(s *spec.Schema) *spec.Schema {
	out := *s
	if out.Type.Contains("string") && out.Format != "" {
		out.Format = ""
	}
	if out.Type.Contains("number") || isOpenObject(&out) {
		out.Type = nil
		out.Format = ""
		out.Extensions = copyExtensions(out.Extensions)
		out.Extensions["x-kubernetes-int-or-string"] = true
		return &out
	}
	if len(s.Properties) > 0 {
		out.Properties = make(map[string]spec.Schema, len(s.Properties))
		for name, prop := range s.Properties {
			out.Properties[name] = *runtimeView(&prop)
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		out.Items = &spec.SchemaOrArray{Schema: runtimeView(s.Items.Schema)}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out.AdditionalProperties = &spec.SchemaOrBool{
			Allows: s.AdditionalProperties.Allows,
			Schema: runtimeView(s.AdditionalProperties.Schema),
		}
	}
	return &out
}

// isOpenObject reports whether s is an object whose fields are not declared.
func isOpenObject(s *spec.Schema) bool {
	preserve, _ := s.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
	return preserve && len(s.Properties) == 0 &&
		(s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil)
}

func copyExtensions(ext spec.Extensions) spec.Extensions {
	out := make(spec.Extensions, len(ext)+1)
	for k, v := range ext {
		out[k] = v
	}
	return out
}
