package main

import "testing"

func TestParseService(t *testing.T) {
	ns, name, port, err := parseService("podvirt-bench/noop-webhook:443")
	if err != nil || ns != "podvirt-bench" || name != "noop-webhook" || port != 443 {
		t.Errorf("parseService = %q %q %d %v", ns, name, port, err)
	}
	for _, s := range []string{"", "x", "ns/name", "/n:1", "ns/:1", "ns/n:0", "ns/n:x", "ns/n:70000"} {
		if _, _, _, err := parseService(s); err == nil {
			t.Errorf("parseService(%q) did not fail", s)
		}
	}
}

func TestParseSkips(t *testing.T) {
	m, err := parseSkips([]string{"kyverno-16=it did not start: see kyverno.log"})
	if err != nil || m["kyverno-16"] != "it did not start: see kyverno.log" {
		t.Errorf("parseSkips = %v %v", m, err)
	}
	for _, f := range []string{"x", "=y", "x="} {
		if _, err := parseSkips([]string{f}); err == nil {
			t.Errorf("parseSkips(%q) did not fail", f)
		}
	}
}
