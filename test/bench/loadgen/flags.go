package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/podvirt/podvirt/test/bench/internal/scenario"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parseService parses NAMESPACE/NAME:PORT.
func parseService(s string) (ns, name string, port int32, err error) {
	ns, rest, ok := strings.Cut(s, "/")
	if !ok || ns == "" {
		return "", "", 0, fmt.Errorf("service %q: want NAMESPACE/NAME:PORT", s)
	}
	name, p, ok := strings.Cut(rest, ":")
	if !ok || name == "" {
		return "", "", 0, fmt.Errorf("service %q: want NAMESPACE/NAME:PORT", s)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil || n <= 0 || n > 65535 {
		return "", "", 0, fmt.Errorf("service %q: bad port %q", s, p)
	}
	return ns, name, int32(n), nil
}

// parseInstall parses NAME=MUTATING,VALIDATING.
func parseInstall(s string) (scenario.Install, error) {
	name, cfgs, ok := strings.Cut(s, "=")
	m, v, ok2 := strings.Cut(cfgs, ",")
	if !ok || !ok2 || name == "" || m == "" || v == "" || strings.Contains(v, ",") {
		return scenario.Install{}, fmt.Errorf("--podvirt-install %q: want NAME=MUTATING,VALIDATING", s)
	}
	if name == scenario.WebhookPodvirt || name == scenario.WebhookNoop || name == scenario.WebhookKyverno || name == "apiserver" {
		return scenario.Install{}, fmt.Errorf("--podvirt-install %q: %s is taken", s, name)
	}
	return scenario.Install{Name: name, Mutating: m, Validating: v}, nil
}

// parseSkips parses NAME=REASON flags.
func parseSkips(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		name, reason, ok := strings.Cut(f, "=")
		if !ok || name == "" || reason == "" {
			return nil, fmt.Errorf("--skip %q: want NAME=REASON", f)
		}
		out[name] = reason
	}
	return out, nil
}
