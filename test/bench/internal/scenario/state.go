package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// State is what Prepare changed and Restore puts back.
type State struct {
	// Rules of podvirt's VMI webhooks as found: configuration
	// ("mutating/<name>" or "validating/<name>") -> webhook -> rules.
	Rules map[string]map[string][]admissionregistrationv1.RuleWithOperations `json:"rules"`
	// Policies are the cluster's own VMIPolicies, deleted for the run.
	Policies []map[string]any `json:"policies,omitempty"`
}

func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the saved state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("saving the state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving the state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving the state: %w", err)
	}
	return nil
}

func readState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the saved state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding the saved state %s: %w", path, err)
	}
	return &s, nil
}

// cleanForCreate strips what the server set, so that a saved object can
// be created again.
func cleanForCreate(obj map[string]any) map[string]any {
	u := &unstructured.Unstructured{Object: obj}
	u = u.DeepCopy()
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"} {
		unstructured.RemoveNestedField(u.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(u.Object, "status")
	return u.Object
}

// Prepare saves what the run will change and sets the starting point of
// every scenario: the cluster's own VMIPolicies deleted, podvirt's VMI
// webhooks out of the path, the namespace of the creates there. A state file left by an
// earlier run that did not finish is restored first.
func (e *Env) Prepare(ctx context.Context) error {
	if old, err := readState(e.StateFile); err != nil {
		return err
	} else if old != nil {
		e.Log("a saved state from an earlier run is in %s: restoring it first", e.StateFile)
		if err := e.Restore(ctx); err != nil {
			return err
		}
	}
	s := &State{Rules: map[string]map[string][]admissionregistrationv1.RuleWithOperations{}}
	for _, in := range e.Installs {
		if err := e.saveRules(ctx, in, s); err != nil {
			return err
		}
	}
	pols, err := e.Dyn.Resource(VMIPolicies).List(ctx, metav1.ListOptions{LabelSelector: "!" + benchLabel})
	if err != nil {
		return fmt.Errorf("listing VMIPolicies: %w", err)
	}
	for _, p := range pols.Items {
		s.Policies = append(s.Policies, cleanForCreate(p.Object))
	}
	if err := writeState(e.StateFile, s); err != nil {
		return err
	}
	e.Log("saved podvirt's webhook rules and %d VMIPolicies to %s", len(s.Policies), e.StateFile)

	// The namespace of the creates is left in place after the run (it
	// holds nothing: every create is a dry run); bench-system.sh deletes
	// the one it made.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.Namespace, Labels: map[string]string{benchLabel: "true"}}}
	if _, err := e.Kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", e.Namespace, err)
	}
	for _, p := range pols.Items {
		if err := e.Dyn.Resource(VMIPolicies).Delete(ctx, p.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting VMIPolicy %s for the run: %w", p.GetName(), err)
		}
	}
	for _, in := range e.Installs {
		if err := e.setRules(ctx, in, func(string, string) ([]admissionregistrationv1.RuleWithOperations, bool) {
			return DisabledRules(), true
		}); err != nil {
			return err
		}
		if err := e.setDefaultsPolicy(ctx, in, false); err != nil {
			return err
		}
	}
	return e.waitDefaulted(ctx, false)
}

// saveRules adds the rules of in's VMI webhooks to s.
func (e *Env) saveRules(ctx context.Context, in Install, s *State) error {
	ar := e.Kube.AdmissionregistrationV1()
	m, err := ar.MutatingWebhookConfigurations().Get(ctx, in.Mutating, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s's mutating webhook: %w", in.Name, err)
	}
	s.Rules["mutating/"+m.Name] = map[string][]admissionregistrationv1.RuleWithOperations{}
	for _, w := range m.Webhooks {
		if isDisabled(w.Rules) {
			return fmt.Errorf("%s's webhook %s/%s is already disabled by a benchmark and no state was saved: re-install podvirt (test/local/install.sh)", in.Name, m.Name, w.Name)
		}
		s.Rules["mutating/"+m.Name][w.Name] = w.Rules
	}
	v, err := ar.ValidatingWebhookConfigurations().Get(ctx, in.Validating, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s's validating webhook: %w", in.Name, err)
	}
	s.Rules["validating/"+v.Name] = map[string][]admissionregistrationv1.RuleWithOperations{}
	for _, w := range v.Webhooks {
		if isDisabled(w.Rules) {
			return fmt.Errorf("%s's webhook %s/%s is already disabled by a benchmark and no state was saved: re-install podvirt (test/local/install.sh)", in.Name, v.Name, w.Name)
		}
		s.Rules["validating/"+v.Name][w.Name] = w.Rules
	}
	return nil
}

// Restore undoes Prepare and every scenario: podvirt's webhook rules as
// saved, the cluster's VMIPolicies back, the benchmark's objects deleted.
// Without a state file it only deletes the benchmark's objects. Safe to
// run twice.
func (e *Env) Restore(ctx context.Context) error {
	s, err := readState(e.StateFile)
	if err != nil {
		return err
	}
	var errs []error
	errs = append(errs, e.deleteBenchObjects(ctx))
	if s != nil {
		if err := e.restoreRules(ctx, s); err != nil {
			errs = append(errs, err)
		}
		for _, p := range s.Policies {
			u := &unstructured.Unstructured{Object: cleanForCreate(p)}
			_, err := e.Dyn.Resource(VMIPolicies).Create(ctx, u, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				errs = append(errs, fmt.Errorf("restoring VMIPolicy %s: %w", u.GetName(), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("restoring the cluster (state kept in %s): %w", e.StateFile, err)
	}
	if s != nil {
		if err := os.Remove(e.StateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the saved state: %w", err)
		}
		e.Log("restored podvirt's webhook rules and %d VMIPolicies", len(s.Policies))
	}
	return nil
}
