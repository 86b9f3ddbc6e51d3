package audit

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts admission decisions and observes their latency. Create it
// once per process with NewMetrics; a nil *Metrics records nothing.
type Metrics struct {
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics creates podvirt's admission metrics and registers them on reg
// (controller-runtime's metrics.Registry in the controller):
//
//	podvirt_admission_decisions_total{webhook,decision}  counter
//	podvirt_admission_duration_seconds{webhook}          histogram
//
// If reg already holds collectors of the same names and shapes (a second
// NewMetrics on one registry), NewMetrics uses those.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podvirt_admission_decisions_total",
		Help: "Admission decisions of podvirt's webhooks, by webhook and decision (allowed, denied, warned, mutated).",
	}, []string{"webhook", "decision"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "podvirt_admission_duration_seconds",
		Help: "Time podvirt's webhooks take to answer an admission request, audit log write included, by webhook.",
		// 100µs to 10s: an fsync'd answer within a webhook timeout.
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"webhook"})
	var err error
	if decisions, err = registerOrReuse(reg, decisions); err != nil {
		return nil, err
	}
	if duration, err = registerOrReuse(reg, duration); err != nil {
		return nil, err
	}
	return &Metrics{decisions: decisions, duration: duration}, nil
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("registering the admission metrics: %w", err)
}

// Observe counts one decision of webhook and records how long answering
// took. Measure elapsed up to when the response is ready, Append included.
func (m *Metrics) Observe(webhook string, decision Decision, elapsed time.Duration) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(webhook, string(decision)).Inc()
	m.duration.WithLabelValues(webhook).Observe(elapsed.Seconds())
}
