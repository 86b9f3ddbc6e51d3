package controller

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// HeartbeatMetrics are the node heartbeat controller's Prometheus
// metrics; a nil *HeartbeatMetrics records nothing.
type HeartbeatMetrics struct {
	unresponsiveVMIs *prometheus.CounterVec
	lostVMIs         *prometheus.CounterVec
}

// NewHeartbeatMetrics creates the metrics and registers them with reg.
func NewHeartbeatMetrics(reg prometheus.Registerer) (*HeartbeatMetrics, error) {
	m := &HeartbeatMetrics{
		unresponsiveVMIs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podvirt_controller_vmi_node_unresponsive_total",
			Help: "VMIs marked unresponsive (Running ones Unknown) because their node's heartbeat Lease ran out, by node.",
		}, []string{"node"}),
		lostVMIs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "podvirt_controller_vmi_node_lost_total",
			Help: "VMIs failed with reason NodeLost: unresponsive past the unknown timeout on a fenced node, by node.",
		}, []string{"node"}),
	}
	for _, c := range []prometheus.Collector{m.unresponsiveVMIs, m.lostVMIs} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, errors.New("the node heartbeat metrics are already registered with this registry")
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *HeartbeatMetrics) unresponsive(node string) {
	if m != nil {
		m.unresponsiveVMIs.WithLabelValues(node).Inc()
	}
}

func (m *HeartbeatMetrics) lost(node string) {
	if m != nil {
		m.lostVMIs.WithLabelValues(node).Inc()
	}
}
