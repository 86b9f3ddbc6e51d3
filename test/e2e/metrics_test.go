//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// nodeAgentMetrics is where test/local/up.sh has the node agent serve
// its metrics.
const nodeAgentMetrics = "http://127.0.0.1:18082/metrics"

// TestNodeAgentMetrics checks the node agent's metrics move with what it
// does: a VMI that starts is one more startup observation, one it cannot
// run is one more failure with its reason.
func TestNodeAgentMetrics(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	startups := func() float64 { return scrape(t, "podvirt_nodeagent_vmi_startup_seconds", nil) }
	refused := func() float64 {
		return scrape(t, "podvirt_nodeagent_vmi_failures_total", map[string]string{"reason": "DomainRefused"})
	}
	startupsBefore, refusedBefore := startups(), refused()

	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("counted")))
	// A hostDisk that admission lets through and the node refuses (it
	// leads, by a symbolic link, out of the agent's --host-disk-dirs).
	hostNS, link, _ := e.hostDiskNamespace(t)
	refusedFootprint := e.Track(t, hostNS, "refused")
	e.Apply(t, hostNS, withHostDisk("refused", link+"/a.img"))
	e.WaitForVMIPhase(t, ns, "counted", 120*time.Second, v1alpha1.Running)
	e.WaitForVMIPhase(t, hostNS, "refused", 120*time.Second, v1alpha1.Failed)
	if got := startups() - startupsBefore; got != 1 {
		t.Errorf("startup observations grew by %v, want 1", got)
	}
	if got := refused() - refusedBefore; got != 1 {
		t.Errorf("Refused failures grew by %v, want 1", got)
	}
	// What the node agent prepared before it gave up goes with the Pod.
	e.ExpectNoLeaks(t, refusedFootprint)
}

// scrape returns the node agent's value of a counter, or the sample count
// of a histogram, summed over the series whose labels include labels.
func scrape(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	return scrapeURL(t, nodeAgentMetrics, name, labels)
}

// scrapeURL sums metric name's samples (a histogram's sample counts)
// whose labels include labels, as served at url.
func scrapeURL(t *testing.T, url, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping the node agent at %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing the node agent's metrics: %v", err)
	}
	var sum float64
	for _, m := range families[name].GetMetric() {
		match := true
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			match = match && found
		}
		if !match {
			continue
		}
		if h := m.GetHistogram(); h != nil {
			sum += float64(h.GetSampleCount())
		} else if g := m.GetGauge(); g != nil {
			sum += g.GetValue()
		} else {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
