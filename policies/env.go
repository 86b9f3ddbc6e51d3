package policies

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
	"k8s.io/apimachinery/pkg/util/version"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// The CEL variables of a VMIPolicy, as in a ValidatingAdmissionPolicy.
const (
	varObject    = plugincel.ObjectVarName
	varOldObject = plugincel.OldObjectVarName
	varParams    = plugincel.ParamsVarName
	varRequest   = plugincel.RequestVarName
	varNamespace = plugincel.NamespaceVarName
	varVariables = plugincel.VariableVarName

	// variablesTypeName is the CEL type of `variables`, as in Kubernetes.
	variablesTypeName = "kubernetes.variables"
)

// Compiler compiles VMIPolicies against the VirtualMachineInstance schema
// in the CEL environment of a ValidatingAdmissionPolicy. It is safe for
// concurrent use; build one per process.
type Compiler struct {
	base          *environment.EnvSet
	objectType    *apiservercel.DeclType
	requestType   *apiservercel.DeclType
	namespaceType *apiservercel.DeclType
	// dispatcher holds every function of the base environment, for
	// programs planned without cost tracking (see program.go).
	dispatcher interpreter.Dispatcher
}

// CompilerOptions configure a Compiler.
type CompilerOptions struct {
	// VMISchema is the VirtualMachineInstance OpenAPI schema expressions
	// are type-checked against. Nil reads it from the embedded CRD
	// (crds.Bases), so the engine follows the API types.
	VMISchema *spec.Schema
	// CompatibilityVersion selects the CEL libraries and language features,
	// as kube-apiserver's --emulated-version does. Nil is what
	// kube-apiserver uses by default for ValidatingAdmissionPolicies
	// (environment.DefaultCompatibilityVersion).
	CompatibilityVersion *version.Version
}

// NewCompiler builds a Compiler.
func NewCompiler(opts CompilerOptions) (*Compiler, error) {
	schema := opts.VMISchema
	if schema == nil {
		var err error
		if schema, err = VMISchemaFromCRDs(); err != nil {
			return nil, err
		}
	}
	objectType, err := objectDeclType(schema)
	if err != nil {
		return nil, err
	}
	compat := opts.CompatibilityVersion
	if compat == nil {
		compat = environment.DefaultCompatibilityVersion()
	}
	c := &Compiler{
		base:          environment.MustBaseEnvSet(compat),
		objectType:    objectType,
		requestType:   plugincel.BuildRequestType(),
		namespaceType: plugincel.BuildNamespaceType(),
	}
	stored, err := c.base.Env(environment.StoredExpressions)
	if err != nil {
		return nil, fmt.Errorf("building the base CEL environment: %w", err)
	}
	c.dispatcher = interpreter.NewDispatcher()
	for _, fn := range stored.Functions() {
		overloads, err := fn.Bindings()
		if err != nil {
			return nil, fmt.Errorf("binding CEL function %s: %w", fn.Name(), err)
		}
		if err := c.dispatcher.Add(overloads...); err != nil {
			return nil, fmt.Errorf("binding CEL function %s: %w", fn.Name(), err)
		}
	}
	return c, nil
}

// ObjectType is the CEL type of `object` and `oldObject`.
func (c *Compiler) ObjectType() *apiservercel.DeclType { return c.objectType }

// policyEnvs are the CEL environments of one policy.
type policyEnvs struct {
	// plain declares object, oldObject, request, namespaceObject and, when
	// the policy has parameters, params: matchConditions use it.
	plain *environment.EnvSet
	// composited adds `variables`, whose fields grow as the policy's
	// variables are compiled, in order.
	composited    *environment.EnvSet
	variablesType *apiservercel.DeclType
}

// newPolicyEnvs builds the environments of a policy the way
// kube-apiserver builds a ValidatingAdmissionPolicy's, except that object
// and oldObject are typed from the VMI schema instead of dyn.
func (c *Compiler) newPolicyEnvs(hasParams bool) (*policyEnvs, error) {
	opts := []cel.EnvOption{
		cel.Variable(varObject, c.objectType.CelType()),
		cel.Variable(varOldObject, c.objectType.CelType()),
		cel.Variable(varNamespace, c.namespaceType.CelType()),
		cel.Variable(varRequest, c.requestType.CelType()),
	}
	if hasParams {
		opts = append(opts, cel.Variable(varParams, cel.DynType))
	}
	plain, err := c.base.Extend(
		environment.VersionedOptions{
			IntroducedVersion: version.MajorMinor(1, 0),
			EnvOptions:        opts,
			DeclTypes:         []*apiservercel.DeclType{c.objectType, c.namespaceType, c.requestType},
		},
		environment.StrictCostOpt,
	)
	if err != nil {
		return nil, fmt.Errorf("building the policy's CEL environment: %w", err)
	}
	variablesType := apiservercel.NewObjectType(variablesTypeName, map[string]*apiservercel.DeclField{})
	composited, err := plain.Extend(environment.VersionedOptions{
		IntroducedVersion: version.MajorMinor(1, 0),
		EnvOptions:        []cel.EnvOption{cel.Variable(varVariables, variablesType.CelType())},
		DeclTypes:         []*apiservercel.DeclType{variablesType},
	})
	if err != nil {
		return nil, fmt.Errorf("building the policy's CEL environment: %w", err)
	}
	return &policyEnvs{plain: plain, composited: composited, variablesType: variablesType}, nil
}

// addVariable makes a compiled variable visible to the expressions compiled
// after it, as Kubernetes' variable composition does.
func (e *policyEnvs) addVariable(name string, outputType *cel.Type) {
	e.variablesType.Fields[name] = apiservercel.NewDeclField(name, declTypeOf(outputType), true, nil, nil)
}

// declTypeOf converts a CEL type to a DeclType, as Kubernetes does for the
// types of composited variables.
func declTypeOf(t *cel.Type) *apiservercel.DeclType {
	if t == nil {
		return apiservercel.DynType
	}
	switch t {
	case cel.AnyType:
		return apiservercel.AnyType
	case cel.BoolType:
		return apiservercel.BoolType
	case cel.BytesType:
		return apiservercel.BytesType
	case cel.DoubleType:
		return apiservercel.DoubleType
	case cel.DurationType:
		return apiservercel.DurationType
	case cel.IntType:
		return apiservercel.IntType
	case cel.NullType:
		return apiservercel.NullType
	case cel.StringType:
		return apiservercel.StringType
	case cel.TimestampType:
		return apiservercel.TimestampType
	case cel.UintType:
		return apiservercel.UintType
	}
	if t.HasTrait(traits.ContainerType) && t.HasTrait(traits.IndexerType) {
		params := t.Parameters()
		switch len(params) {
		case 1:
			return apiservercel.NewListType(declTypeOf(params[0]), -1)
		case 2:
			return apiservercel.NewMapType(declTypeOf(params[0]), declTypeOf(params[1]), -1)
		}
	}
	return apiservercel.DynType
}
