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

func TestParseInstall(t *testing.T) {
	in, err := parseInstall("baseline=podvirt-baseline-vmi-defaulter,podvirt-baseline-vmi-validator")
	if err != nil || in.Name != "baseline" || in.Mutating != "podvirt-baseline-vmi-defaulter" || in.Validating != "podvirt-baseline-vmi-validator" {
		t.Errorf("parseInstall = %+v %v", in, err)
	}
	for _, s := range []string{"", "x", "x=m", "x=m,", "=m,v", "x=,v", "x=m,v,w", "podvirt=m,v", "noop=m,v"} {
		if _, err := parseInstall(s); err == nil {
			t.Errorf("parseInstall(%q) did not fail", s)
		}
	}
}
