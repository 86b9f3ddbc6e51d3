package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/podvirt/podvirt/test/bench/internal/rules"
)

// ProbeCores is the probe's vCPU cores: more than the first rule of
// rules-16.tsv (max-cores: at most 8) allows.
const ProbeCores = 9

// Probes are dry-run creates that tell whether a switch reached the
// kube-apiserver: the benchmark's VMI (podvirt's defaulter, when in the
// path, sets spec.domain.resources.requests.memory from the guest memory,
// a default no CRD schema can give) and a violating one (no labels,
// ProbeCores cores), which the loaded rules deny.
type probes struct {
	valid, violating map[string]any
}

func newProbes(body []byte) (*probes, error) {
	var valid, bad map[string]any
	if err := json.Unmarshal(body, &valid); err != nil {
		return nil, fmt.Errorf("decoding the probe VMI: %w", err)
	}
	if err := json.Unmarshal(body, &bad); err != nil {
		return nil, fmt.Errorf("decoding the probe VMI: %w", err)
	}
	unstructured.RemoveNestedField(bad, "metadata", "labels")
	if err := unstructured.SetNestedField(bad, int64(ProbeCores), "spec", "domain", "cpu", "cores"); err != nil {
		return nil, fmt.Errorf("making the violating probe: %w", err)
	}
	return &probes{valid: valid, violating: bad}, nil
}

func (e *Env) probes() (*probes, error) { return newProbes(e.Body.For("bench-probe")) }

func (e *Env) dryRunCreate(ctx context.Context, obj map[string]any) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: obj}
	return e.Dyn.Resource(VMIs).Namespace(e.Namespace).Create(ctx, u.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// consecutive is how many probes in a row must agree: podvirt's two
// replicas (and the apiserver's caches) each get several chances.
const consecutive = 8

// waitDefaulted waits until podvirt's defaulter is (on) or is not in
// the path.
func (e *Env) waitDefaulted(ctx context.Context, on bool) error {
	p, err := e.probes()
	if err != nil {
		return err
	}
	streak := 0
	return poll(ctx, e.ProbeTimeout, probeInterval, fmt.Sprintf("podvirt's defaulter in the path = %v", on), func() (bool, error) {
		got, err := e.dryRunCreate(ctx, p.valid)
		if err != nil {
			streak = 0
			return false, err
		}
		memory, _, _ := unstructured.NestedString(got.Object, "spec", "domain", "resources", "requests", "memory")
		if (memory != "") == on {
			streak++
		} else {
			streak = 0
		}
		return streak >= consecutive, nil
	})
}

// deniedByRule says whether err is a denial quoting one of rs' messages.
func deniedByRule(err error, rs []rules.Rule) bool {
	if err == nil {
		return false
	}
	for _, r := range rs {
		if strings.Contains(err.Error(), r.Message) {
			return true
		}
	}
	return false
}

// waitRules waits until the violating probe is denied by one of active
// (non-empty), or by none of all (active empty).
func (e *Env) waitRules(ctx context.Context, active []rules.Rule) error {
	p, err := e.probes()
	if err != nil {
		return err
	}
	check, want := active, true
	if len(active) == 0 {
		check, want = e.Rules, false
	}
	what := fmt.Sprintf("%d rules enforced", len(active))
	if !want {
		what = "no rule enforced"
	}
	streak := 0
	var last error
	err = poll(ctx, e.ProbeTimeout, probeInterval, what, func() (bool, error) {
		_, err := e.dryRunCreate(ctx, p.violating)
		last = err
		if deniedByRule(err, check) == want {
			streak++
		} else {
			streak = 0
		}
		return streak >= consecutive, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (the probe's last answer: %v)", err, last)
	}
	return err
}

const probeInterval = 100 * time.Millisecond
