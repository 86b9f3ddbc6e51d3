package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// BenchLabels are added to the benchmark's VMI: the 16 rules require an
// app and an owner label, so that every engine admits it and each create
// runs every rule (a denial would stop at the first failing one).
var BenchLabels = map[string]string{"app": "bench", "owner": "bench"}

const namePlaceholder = "BENCH-NAME-PLACEHOLDER"

// VMIBody makes the JSON bodies of the creates: the manifest at path (a
// VMI, e.g. examples/vmi-tiny.yaml) with BenchLabels added and the name
// replaced per request.
type VMIBody struct {
	prefix, suffix []byte
}

// NewVMIBody reads the manifest.
func NewVMIBody(path string) (*VMIBody, error) {
	y, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the VMI manifest: %w", err)
	}
	return NewVMIBodyFromYAML(y)
}

// NewVMIBodyFromYAML parses a VMI manifest.
func NewVMIBodyFromYAML(y []byte) (*VMIBody, error) {
	var obj map[string]any
	if err := yaml.Unmarshal(y, &obj); err != nil {
		return nil, fmt.Errorf("parsing the VMI manifest: %w", err)
	}
	if obj["kind"] != "VirtualMachineInstance" {
		return nil, fmt.Errorf("the manifest is a %v, want a VirtualMachineInstance", obj["kind"])
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	for k, v := range BenchLabels {
		labels[k] = v
	}
	meta["labels"] = labels
	meta["name"] = namePlaceholder
	delete(meta, "namespace")
	delete(meta, "generateName")
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding the VMI: %w", err)
	}
	quoted := []byte(`"` + namePlaceholder + `"`)
	i := bytes.Index(j, quoted)
	if i < 0 || bytes.Count(j, quoted) != 1 {
		return nil, fmt.Errorf("the VMI manifest holds the placeholder %s", namePlaceholder)
	}
	return &VMIBody{prefix: j[:i+1], suffix: j[i+len(quoted)-1:]}, nil
}

// For returns the body of the VMI named name (a DNS label).
func (b *VMIBody) For(name string) []byte {
	out := make([]byte, 0, len(b.prefix)+len(name)+len(b.suffix))
	out = append(out, b.prefix...)
	out = append(out, name...)
	return append(out, b.suffix...)
}

// Unthrottled returns a copy of cfg with client-go's rate limiter off
// (a negative QPS means none) and JSON bodies.
func Unthrottled(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS = -1
	c.Burst = -1
	c.RateLimiter = nil
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	return c
}

// DryRunCreator creates VMIs with dryRun=All: every admission step runs
// (mutating webhooks, schema, validating webhooks and policies), nothing is
// stored.
type DryRunCreator struct {
	client    rest.Interface
	namespace string
	prefix    string
	body      *VMIBody
}

// NewDryRunCreator makes a creator posting to namespace; the VMIs are
// named prefix + "-" + seq.
func NewDryRunCreator(cfg *rest.Config, namespace, prefix string, body *VMIBody) (*DryRunCreator, error) {
	c := Unthrottled(cfg)
	c.GroupVersion = &schema.GroupVersion{Group: "podvirt.io", Version: "v1alpha1"}
	c.APIPath = "/apis"
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("making the REST client: %w", err)
	}
	return &DryRunCreator{client: rc, namespace: namespace, prefix: prefix, body: body}, nil
}

// Do creates VMI prefix-seq, dry run.
func (d *DryRunCreator) Do(ctx context.Context, seq int) error {
	name := fmt.Sprintf("%s-%d", d.prefix, seq)
	res := d.client.Post().Namespace(d.namespace).Resource("virtualmachineinstances").
		Param("dryRun", "All").SetHeader("Content-Type", "application/json").
		Body(d.body.For(name)).Do(ctx)
	var code int
	res.StatusCode(&code)
	if err := res.Error(); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if code != 201 {
		return fmt.Errorf("create %s: status %d, want 201", name, code)
	}
	return nil
}
