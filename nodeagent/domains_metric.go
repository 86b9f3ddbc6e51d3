package nodeagent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

var domainsDesc = prometheus.NewDesc("podvirt_nodeagent_domains",
	"Domains named as podvirt names them (<namespace>_<name>) defined in this node's libvirt, by state (Running, Shutoff, Crashed), read from libvirt at each scrape.",
	[]string{"state"}, nil)

// DomainsCollector reports the domains in this node's libvirt at each
// scrape (podvirt_nodeagent_domains): what is really defined, which the
// counters of starts and endings only imply. A scrape while libvirtd is
// down reports nothing rather than zeros.
type DomainsCollector struct {
	Hypervisor hypervisor.Hypervisor
}

// Describe implements prometheus.Collector.
func (c *DomainsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- domainsDesc }

// Collect implements prometheus.Collector.
func (c *DomainsCollector) Collect(ch chan<- prometheus.Metric) {
	names, err := c.Hypervisor.List()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(domainsDesc, err)
		return
	}
	counts := map[hypervisor.DomainState]int{hypervisor.StateRunning: 0, hypervisor.StateShutoff: 0, hypervisor.StateCrashed: 0}
	for _, n := range names {
		if _, _, ok := domainspec.ParseName(n); !ok {
			continue
		}
		state, err := c.Hypervisor.State(n)
		if err != nil || state == hypervisor.StateAbsent {
			continue // undefined since List
		}
		counts[state]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(domainsDesc, prometheus.GaugeValue, float64(n), state.String())
	}
}
