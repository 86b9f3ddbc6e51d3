package podvirtctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/crds/v1alpha1"
)

// manifest is one YAML document of a file, as JSON.
type manifest struct {
	file  string
	index int
	json  []byte
	kind  string
}

// readManifests splits a YAML (or JSON) file into its documents, skipping
// empty ones.
func readManifests(path string) ([]manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return splitManifests(path, data)
}

func splitManifests(name string, data []byte) ([]manifest, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []manifest
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", name, i+1, err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", name, i+1, err)
		}
		out = append(out, manifest{file: name, index: i + 1, json: js, kind: head.Kind})
	}
}

// loadedPolicy is a VMIPolicy read from a file.
type loadedPolicy struct {
	policy *v1alpha1.VMIPolicy
	file   string
}

// readPolicies reads the VMIPolicies of a file, strictly: an unknown field
// is an error, so typos in the policy itself are caught too.
func readPolicies(path string) ([]loadedPolicy, error) {
	docs, err := readManifests(path)
	if err != nil {
		return nil, err
	}
	var out []loadedPolicy
	for _, d := range docs {
		if d.kind != "VMIPolicy" {
			continue
		}
		var p v1alpha1.VMIPolicy
		if err := yaml.UnmarshalStrict(d.json, &p); err != nil {
			return nil, fmt.Errorf("%s (document %d): %w", d.file, d.index, err)
		}
		out = append(out, loadedPolicy{policy: &p, file: path})
	}
	return out, nil
}
