package nodeagent

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the node agent's Prometheus metrics. Register them once per
// registry (controller-runtime's metrics.Registry in the node agent) with
// NewMetrics; a nil *Metrics records nothing.
type Metrics struct {
	startup  *prometheus.HistogramVec
	prepare  prometheus.Histogram
	failures *prometheus.CounterVec
	ended    *prometheus.CounterVec
}

// NewMetrics creates the node agent's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		startup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "podvirt_nodeagent_vmi_startup_seconds",
			Help:    "Time from a VMI's creation until this node reported it Running.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"node"}),
		prepare: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "podvirt_nodeagent_domain_prepare_seconds",
			Help:    "Time to prepare and define a domain: signature, images, volumes, allowlist, define.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podvirt_nodeagent_vmi_failures_total",
			Help: "VMIs this node failed before or while running, by reason (DomainRefused, Unsupported, GuestCrashed...).",
		}, []string{"reason"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podvirt_nodeagent_vmi_ended_total",
			Help: "VMIs that ended on this node, by phase (Succeeded, Failed).",
		}, []string{"phase"}),
	}
	for _, c := range []prometheus.Collector{m.startup, m.prepare, m.failures, m.ended} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, errors.New("the node agent's metrics are already registered with this registry")
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observeStartup(node string, since time.Time) {
	if m != nil {
		m.startup.WithLabelValues(node).Observe(time.Since(since).Seconds())
	}
}

func (m *Metrics) observePrepare(d time.Duration) {
	if m != nil {
		m.prepare.Observe(d.Seconds())
	}
}

func (m *Metrics) observeEnd(phase, reason string, failed bool) {
	if m == nil {
		return
	}
	m.ended.WithLabelValues(phase).Inc()
	if failed {
		m.failures.WithLabelValues(reason).Inc()
	}
}
