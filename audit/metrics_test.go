package audit

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(WebhookValidateVMI, DecisionDenied, 3*time.Millisecond)
	m.Observe(WebhookValidateVMI, DecisionDenied, 5*time.Millisecond)
	m.Observe(WebhookMutateVMI, DecisionMutated, time.Millisecond)

	// A second NewMetrics on the same registry shares the collectors.
	again, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics: %v", err)
	}
	again.Observe(WebhookMutateVMI, DecisionMutated, time.Millisecond)

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var histogramCount uint64
	for _, fam := range families {
		for _, metric := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch fam.GetName() {
			case "podvirt_admission_decisions_total":
				counts[labels["webhook"]+"/"+labels["decision"]] = metric.GetCounter().GetValue()
			case "podvirt_admission_duration_seconds":
				if labels["webhook"] == WebhookValidateVMI {
					histogramCount = metric.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if counts["validate-vmi/denied"] != 2 || counts["mutate-vmi/mutated"] != 2 || histogramCount != 2 {
		t.Fatalf("counters %v, validate-vmi latency samples %d", counts, histogramCount)
	}

	var none *Metrics
	none.Observe(WebhookPodGuard, DecisionAllowed, time.Millisecond) // must not panic
}
