package scenario

import (
	"context"
	"fmt"

	"github.com/podvirt/podvirt/test/bench/internal/report"
)

// Webhook processes, the CPU groups a scenario's "webhook" is.
const (
	WebhookPodvirt = "podvirt"
	WebhookNoop    = "noop"
	WebhookKyverno = "kyverno"
)

// Scenario is one way of admitting a VMI create. Setup starts from the
// state Prepare leaves (podvirt out of the path, no rules loaded) and
// Teardown returns to it.
type Scenario struct {
	report.ScenarioInfo
	Expect   Expect
	Setup    func(ctx context.Context) error
	Teardown func(ctx context.Context) error
}

// Catalog returns every scenario, in the report's order.
func (e *Env) Catalog() []Scenario {
	n := len(e.Rules)
	one := e.Rules[:min(1, n)]
	podvirt := func(in Install, k int) Scenario {
		rs := e.Rules[:k]
		label := fmt.Sprintf("%s, %d VMIPolicies", in.Name, k)
		if k == 1 {
			label = in.Name + ", 1 VMIPolicy"
		}
		return Scenario{
			ScenarioInfo: report.ScenarioInfo{Name: fmt.Sprintf("%s-%d", in.Name, k), Label: label, Webhook: in.Name},
			Expect:       Expect{Configurations: []string{"mutating/" + in.Mutating, "validating/" + in.Validating}, MAPs: in.defaultsPolicies(), AtLeastOne: true},
			Setup: func(ctx context.Context) error {
				if err := e.SetPodvirt(ctx, in, true); err != nil {
					return err
				}
				if k == 0 {
					return nil
				}
				return e.LoadVMIPolicies(ctx, rs)
			},
			Teardown: func(ctx context.Context) error {
				if k > 0 {
					if err := e.Unload(ctx, VMIPolicies); err != nil {
						return err
					}
				}
				return e.SetPodvirt(ctx, in, false)
			},
		}
	}
	nothing := func(context.Context) error { return nil }
	var podvirts []Scenario
	for _, in := range e.Installs {
		podvirts = append(podvirts, podvirt(in, 0), podvirt(in, len(one)), podvirt(in, n))
	}
	return append(append([]Scenario{
		{
			ScenarioInfo: report.ScenarioInfo{Name: report.BaselineNone, Label: "no webhooks"},
			Setup:        nothing, Teardown: nothing,
		},
		{
			ScenarioInfo: report.ScenarioInfo{Name: report.BaselineNoop, Label: "no-op webhook (mutating + validating)", Webhook: WebhookNoop},
			Expect:       Expect{Configurations: []string{"mutating/" + NoopName, "validating/" + NoopName}, AtLeastOne: true},
			Setup:        func(ctx context.Context) error { return e.SetNoop(ctx, true) },
			Teardown:     func(ctx context.Context) error { return e.SetNoop(ctx, false) },
		},
	}, podvirts...), []Scenario{
		{
			ScenarioInfo: report.ScenarioInfo{Name: fmt.Sprintf("vap-%d", n), Label: fmt.Sprintf("%d native ValidatingAdmissionPolicies", n)},
			Expect:       Expect{VAPs: n},
			Setup:        func(ctx context.Context) error { return e.LoadVAPs(ctx, e.Rules) },
			Teardown:     func(ctx context.Context) error { return e.Unload(ctx, VAPBindings, VAPs) },
		},
		{
			ScenarioInfo: report.ScenarioInfo{Name: fmt.Sprintf("kyverno-%d", n), Label: fmt.Sprintf("Kyverno v1.19.1, %d ValidatingPolicies", n), Webhook: WebhookKyverno},
			Expect:       Expect{Configurations: []string{"mutating/kyverno-*", "validating/kyverno-*"}, AtLeastOne: true},
			Setup:        func(ctx context.Context) error { return e.LoadKyverno(ctx, e.Rules) },
			Teardown:     func(ctx context.Context) error { return e.Unload(ctx, KyvernoPolicies) },
		},
	}...)
}

// Names lists the catalogue's scenario names.
func Names(ss []Scenario) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}
