package nodeagent

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

func TestDomainsCollectorCountsPodvirtDomainsByState(t *testing.T) {
	hv := &fakeHypervisor{states: map[string]hypervisor.DomainState{
		"ns_a": hypervisor.StateRunning, "ns_b": hypervisor.StateRunning, "ns_c": hypervisor.StateCrashed,
		"foreign": hypervisor.StateRunning, // not a podvirt name
	}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&DomainsCollector{Hypervisor: hv})
	want := `
# HELP podvirt_nodeagent_domains Domains named as podvirt names them (<namespace>_<name>) defined in this node's libvirt, by state (Running, Shutoff, Crashed), read from libvirt at each scrape.
# TYPE podvirt_nodeagent_domains gauge
podvirt_nodeagent_domains{state="Crashed"} 1
podvirt_nodeagent_domains{state="Running"} 2
podvirt_nodeagent_domains{state="Shutoff"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "podvirt_nodeagent_domains"); err != nil {
		t.Error(err)
	}
}
