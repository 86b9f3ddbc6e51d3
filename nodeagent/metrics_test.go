package nodeagent

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

func TestMetricsRecordStartupAndEndings(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice with one registry succeeded")
	}

	r, c, _ := setup(t, v1alpha1.Scheduled, hypervisor.StateRunning)
	r.Metrics = m
	reconcileAndGet(t, r, c)
	// A VMI already Running whose status still changes (its Ready
	// condition is written) is not a second startup.
	again, cAgain, _ := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	again.Metrics = m
	reconcileAndGet(t, again, cAgain)
	r2, c2, _ := setup(t, v1alpha1.Running, hypervisor.StateCrashed)
	r2.Metrics = m
	reconcileAndGet(t, r2, c2)

	want := `
# HELP podvirt_nodeagent_vmi_ended_total VMIs that ended on this node, by phase (Succeeded, Failed).
# TYPE podvirt_nodeagent_vmi_ended_total counter
podvirt_nodeagent_vmi_ended_total{phase="Failed"} 1
# HELP podvirt_nodeagent_vmi_failures_total VMIs this node failed before or while running, by reason (DomainRefused, Unsupported, GuestCrashed...).
# TYPE podvirt_nodeagent_vmi_failures_total counter
podvirt_nodeagent_vmi_failures_total{reason="GuestCrashed"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podvirt_nodeagent_vmi_ended_total", "podvirt_nodeagent_vmi_failures_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.startup); n != 1 {
		t.Errorf("%d startup series, want 1", n)
	}
	if got := histogramCount(t, reg, "podvirt_nodeagent_vmi_startup_seconds"); got != 1 {
		t.Errorf("startup observed %d times, want once", got)
	}
	// A nil *Metrics records nothing and does not panic.
	var none *Metrics
	none.observeEnd("Failed", "x", true)
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			var n uint64
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}
