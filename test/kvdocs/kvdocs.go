package kvdocs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Header is what a manifest's header lines expect of it.
type Header struct {
	// Wants are the texts its refusal must contain.
	Wants []string
	// Defaults are the values admission must set under spec, by path.
	Defaults map[string]Default
	// KubeVirtOnly are paths KubeVirt's admission sets and podvirt's
	// leaves as they are, each with what KubeVirt sets there.
	KubeVirtOnly map[string]string
	// NoBoot is why the e2e corpus test does not boot it ("" to boot it).
	NoBoot string
}

// Default is one expected default.
type Default struct {
	// Value is the JSON the stored VMI holds at the path.
	Value string
	// Podvirt marks a default that differs from KubeVirt's.
	Podvirt bool
}

// Parse reads the header lines of a manifest.
func Parse(manifest []byte) (Header, error) {
	h := Header{Defaults: map[string]Default{}, KubeVirtOnly: map[string]string{}}
	for i, line := range strings.Split(string(manifest), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			h.Wants = append(h.Wants, w)
			continue
		}
		if r, ok := strings.CutPrefix(line, "# boot: no, "); ok {
			h.NoBoot = r
			continue
		}
		if r, ok := strings.CutPrefix(line, "# kubevirt only: "); ok {
			path, what, _ := strings.Cut(r, " ")
			h.KubeVirtOnly[path] = what
			continue
		}
		podvirt := false
		rest, ok := strings.CutPrefix(line, "# default: ")
		if !ok {
			if rest, ok = strings.CutPrefix(line, "# podvirt default: "); !ok {
				continue
			}
			podvirt = true
		}
		path, value, ok := strings.Cut(rest, " = ")
		if !ok || !json.Valid([]byte(value)) {
			return h, fmt.Errorf("line %d: want %q, got %q", i+1, "# default: PATH = JSON", line)
		}
		if _, dup := h.Defaults[path]; dup {
			return h, fmt.Errorf("line %d: %s given twice", i+1, path)
		}
		h.Defaults[path] = Default{Value: canonical(value), Podvirt: podvirt}
	}
	return h, nil
}

// Changes are the leaves under spec that differ between two JSON
// documents of a VMI, by path: the value in after, or "<removed>".
func Changes(before, after []byte) (map[string]string, error) {
	b, err := leaves(before)
	if err != nil {
		return nil, fmt.Errorf("before: %w", err)
	}
	a, err := leaves(after)
	if err != nil {
		return nil, fmt.Errorf("after: %w", err)
	}
	changed := map[string]string{}
	for p, v := range a {
		if b[p] != v {
			changed[p] = v
		}
	}
	for p, v := range b {
		if _, ok := a[p]; ok {
			continue
		}
		// An empty object or list that admission filled in is not gone:
		// its new members are the changes.
		if (v == "{}" || v == "[]") && hasMember(a, p) {
			continue
		}
		changed[p] = "<removed>"
	}
	return changed, nil
}

// Check compares what admission changed with the header's defaults and
// returns each mismatch, sorted, naming the path.
func Check(h Header, changed map[string]string) []string {
	var problems []string
	for p, d := range h.Defaults {
		got, ok := changed[p]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: expected the default %s, but admission left it unchanged", p, d.Value))
		case got != d.Value:
			problems = append(problems, fmt.Sprintf("%s: defaulted to %s, expected %s", p, got, d.Value))
		}
	}
	for p, v := range changed {
		_, kubevirtOnly := h.KubeVirtOnly[p]
		if _, ok := h.Defaults[p]; !ok && !kubevirtOnly {
			problems = append(problems, fmt.Sprintf("%s: admission set %s, which no default line of the file expects", p, v))
		}
	}
	for p, what := range h.KubeVirtOnly {
		if v, ok := changed[p]; ok {
			problems = append(problems, fmt.Sprintf("%s: admission set %s, where only KubeVirt sets one %s", p, v, what))
		}
		if _, ok := h.Defaults[p]; ok {
			problems = append(problems, fmt.Sprintf("%s: both a default and a kubevirt-only line", p))
		}
	}
	sort.Strings(problems)
	return problems
}

// Compare checks a manifest's default lines against what admission
// stored: sent and stored are the VMI as JSON before and after admission.
// It returns each mismatch (Check), or an error when the manifest's lines
// or the documents do not parse.
func Compare(manifest, sent, stored []byte) ([]string, error) {
	h, err := Parse(manifest)
	if err != nil {
		return nil, err
	}
	changed, err := Changes(sent, stored)
	if err != nil {
		return nil, err
	}
	return Check(h, changed), nil
}

// Lines renders changes as header lines, sorted (a starting point when a
// file is added: each line must then be checked against KubeVirt's rules).
func Lines(changed map[string]string) []string {
	var lines []string
	for p, v := range changed {
		lines = append(lines, "# default: "+p+" = "+v)
	}
	sort.Strings(lines)
	return lines
}

func hasMember(leaves map[string]string, path string) bool {
	for p := range leaves {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	return false
}

// leaves flattens the spec of a VMI's JSON into path → canonical JSON.
func leaves(doc []byte) (map[string]string, error) {
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return nil, err
	}
	out := map[string]string{}
	if spec, ok := obj["spec"]; ok {
		flatten("spec", spec, out)
	}
	return out, nil
}

func flatten(path string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, c := range x {
			flatten(path+"."+k, c, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, c := range x {
			flatten(path+"["+strconv.Itoa(i)+"]", c, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[path] = string(b)
	}
}

func canonical(value string) string {
	d := json.NewDecoder(strings.NewReader(value))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return value
	}
	b, _ := json.Marshal(v)
	return string(b)
}
