package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/podvirt/podvirt/test/bench/internal/rules"
)

const benchLabel = rules.Label

// DisabledResource is what podvirt's VMI webhooks match while they are
// out of the path: a resource that does not exist.
const DisabledResource = "benchdisabled"

// DisabledRules are the rules of a webhook taken out of the path.
func DisabledRules() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"podvirt.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{DisabledResource},
		},
	}}
}

func isDisabled(rs []admissionregistrationv1.RuleWithOperations) bool {
	for _, r := range rs {
		for _, res := range r.Resources {
			if res == DisabledResource {
				return true
			}
		}
	}
	return false
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// rulesPatch is a JSON patch setting each webhook's rules, guarded by a
// test of its name (a reordered configuration fails instead of getting
// another webhook's rules).
func rulesPatch(names []string, rulesOf func(name string) ([]admissionregistrationv1.RuleWithOperations, bool)) ([]byte, error) {
	var ops []patchOp
	for i, n := range names {
		rs, ok := rulesOf(n)
		if !ok {
			return nil, fmt.Errorf("no saved rules for webhook %s", n)
		}
		ops = append(ops,
			patchOp{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: n},
			patchOp{Op: "replace", Path: fmt.Sprintf("/webhooks/%d/rules", i), Value: rs})
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding the patch: %w", err)
	}
	return b, nil
}

// setRules patches the two VMI webhook configurations of in.
func (e *Env) setRules(ctx context.Context, in Install, rulesOf func(cfg, webhook string) ([]admissionregistrationv1.RuleWithOperations, bool)) error {
	ar := e.Kube.AdmissionregistrationV1()
	m, err := ar.MutatingWebhookConfigurations().Get(ctx, in.Mutating, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s: %w", in.Mutating, err)
	}
	var names []string
	for _, w := range m.Webhooks {
		names = append(names, w.Name)
	}
	p, err := rulesPatch(names, func(n string) ([]admissionregistrationv1.RuleWithOperations, bool) {
		return rulesOf("mutating/"+m.Name, n)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", m.Name, err)
	}
	if _, err := ar.MutatingWebhookConfigurations().Patch(ctx, m.Name, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: "podvirt-bench"}); err != nil {
		return fmt.Errorf("patching %s: %w", m.Name, err)
	}
	v, err := ar.ValidatingWebhookConfigurations().Get(ctx, in.Validating, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s: %w", in.Validating, err)
	}
	names = nil
	for _, w := range v.Webhooks {
		names = append(names, w.Name)
	}
	p, err = rulesPatch(names, func(n string) ([]admissionregistrationv1.RuleWithOperations, bool) {
		return rulesOf("validating/"+v.Name, n)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", v.Name, err)
	}
	if _, err := ar.ValidatingWebhookConfigurations().Patch(ctx, v.Name, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: "podvirt-bench"}); err != nil {
		return fmt.Errorf("patching %s: %w", v.Name, err)
	}
	return nil
}

// SetPodvirt puts the VMI webhooks of in in the path with their saved
// rules (on) or takes them out, and waits until the apiserver calls (or
// stops calling) a defaulter. Only one install is in the path at a time.
func (e *Env) SetPodvirt(ctx context.Context, in Install, on bool) error {
	var saved *State
	if on {
		s, err := readState(e.StateFile)
		if err != nil {
			return err
		}
		if s == nil {
			return fmt.Errorf("no saved state in %s to put podvirt's webhook rules back from", e.StateFile)
		}
		saved = s
	}
	// The defaults before the webhooks, which refuse a VMI without them;
	// the webhooks out first for the same reason.
	if on {
		if err := e.setDefaultsPolicy(ctx, in, true); err != nil {
			return err
		}
	}
	err := e.setRules(ctx, in, func(cfg, w string) ([]admissionregistrationv1.RuleWithOperations, bool) {
		if !on {
			return DisabledRules(), true
		}
		rs, ok := saved.Rules[cfg][w]
		return rs, ok
	})
	if err != nil {
		return err
	}
	if !on {
		if err := e.setDefaultsPolicy(ctx, in, false); err != nil {
			return err
		}
	}
	return e.waitDefaulted(ctx, on)
}

// PodvirtDefaultsPolicy is deploy/base's MutatingAdmissionPolicy.
const PodvirtDefaultsPolicy = "podvirt-vmi-defaults"

func (in Install) defaultsPolicies() []string {
	if in.DefaultsPolicy == "" {
		return nil
	}
	return []string{in.DefaultsPolicy}
}

// setDefaultsPolicy points in's MutatingAdmissionPolicy at VMI creates
// (on, as deploy/base has it) or at the resource that does not exist.
func (e *Env) setDefaultsPolicy(ctx context.Context, in Install, on bool) error {
	if in.DefaultsPolicy == "" {
		return nil
	}
	rs := DisabledRules()
	if on {
		rs = []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{"podvirt.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"virtualmachineinstances"},
			},
		}}
	}
	p, err := json.Marshal([]patchOp{{Op: "replace", Path: "/spec/matchConstraints/resourceRules", Value: rs}})
	if err != nil {
		return fmt.Errorf("encoding the patch: %w", err)
	}
	_, err = e.Kube.AdmissionregistrationV1().MutatingAdmissionPolicies().Patch(ctx, in.DefaultsPolicy, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: "podvirt-bench"})
	if err != nil {
		return fmt.Errorf("patching MutatingAdmissionPolicy %s: %w", in.DefaultsPolicy, err)
	}
	return nil
}

func (e *Env) restoreRules(ctx context.Context, s *State) error {
	var errs []error
	for _, in := range e.Installs {
		if _, saved := s.Rules["mutating/"+in.Mutating]; !saved {
			continue // not saved: Prepare never changed it
		}
		errs = append(errs, e.setDefaultsPolicy(ctx, in, true), e.setRules(ctx, in, func(cfg, w string) ([]admissionregistrationv1.RuleWithOperations, bool) {
			rs, ok := s.Rules[cfg][w]
			return rs, ok
		}))
	}
	return errors.Join(errs...)
}

func noopRules() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{
			APIGroups: []string{"podvirt.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"virtualmachineinstances"},
		},
	}}
}

func (n Noop) clientConfig(path string) (admissionregistrationv1.WebhookClientConfig, error) {
	cc := admissionregistrationv1.WebhookClientConfig{CABundle: n.CABundle}
	switch {
	case n.URL != "":
		cc.URL = ptr.To(n.URL + path)
	case n.ServiceName != "":
		cc.Service = &admissionregistrationv1.ServiceReference{Namespace: n.ServiceNamespace, Name: n.ServiceName, Port: ptr.To(n.ServicePort), Path: ptr.To(path)}
	default:
		return cc, fmt.Errorf("the no-op webhook has neither a Service nor a URL")
	}
	return cc, nil
}

// NoopConfigurations are the no-op webhook's registrations: like
// podvirt's (CREATE and UPDATE of VMIs, failurePolicy Fail, 5 s,
// sideEffects None; the mutating one reinvoked IfNeeded).
func (n Noop) Configurations() (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	mcc, err := n.clientConfig("/mutate")
	if err != nil {
		return nil, nil, err
	}
	vcc, err := n.clientConfig("/validate")
	if err != nil {
		return nil, nil, err
	}
	meta := metav1.ObjectMeta{Name: NoopName, Labels: map[string]string{benchLabel: "true"}}
	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: meta, Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name: "mutate.noop.bench.podvirt.io", ClientConfig: mcc, Rules: noopRules(),
		AdmissionReviewVersions: []string{"v1"}, SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone),
		FailurePolicy: ptr.To(admissionregistrationv1.Fail), TimeoutSeconds: ptr.To[int32](5),
		ReinvocationPolicy: ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
	}}}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: meta, Webhooks: []admissionregistrationv1.ValidatingWebhook{{
		Name: "validate.noop.bench.podvirt.io", ClientConfig: vcc, Rules: noopRules(),
		AdmissionReviewVersions: []string{"v1"}, SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone),
		FailurePolicy: ptr.To(admissionregistrationv1.Fail), TimeoutSeconds: ptr.To[int32](5),
	}}}
	return m, v, nil
}

// SetNoop registers (on) or removes the no-op webhook, then gives the
// apiserver Settle to see it (nothing it answers tells the no-op apart).
func (e *Env) SetNoop(ctx context.Context, on bool) error {
	ar := e.Kube.AdmissionregistrationV1()
	if on {
		m, v, err := e.Noop.Configurations()
		if err != nil {
			return err
		}
		if _, err := ar.MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("registering the no-op mutating webhook: %w", err)
		}
		if _, err := ar.ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("registering the no-op validating webhook: %w", err)
		}
	} else {
		if err := ar.MutatingWebhookConfigurations().Delete(ctx, NoopName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the no-op mutating webhook: %w", err)
		}
		if err := ar.ValidatingWebhookConfigurations().Delete(ctx, NoopName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing the no-op validating webhook: %w", err)
		}
	}
	return sleep(ctx, e.Settle)
}
