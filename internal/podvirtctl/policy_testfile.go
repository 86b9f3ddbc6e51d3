package podvirtctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/podvirt/podvirt/policies"
)

// TestFileName is the name of the files `policy test` runs.
const TestFileName = "test.yaml"

// policyTestFile is the format of test.yaml (see policies/library/README.md).
type policyTestFile struct {
	// Policies are files holding VMIPolicies, relative to the test file.
	// Defaults to policy.yaml.
	Policies []string `json:"policies,omitempty"`
	// Params are the parameter objects paramRef can select: files or
	// inline objects.
	Params []manifestRef `json:"params,omitempty"`
	// Namespaces are Namespace objects, files or inline; a case's namespace
	// is looked up here by name.
	Namespaces []manifestRef `json:"namespaces,omitempty"`
	// Cases are the (object, policy) pairs and their expected results.
	Cases []policyTestCase `json:"cases"`
}

// policyTestCase is one expected result.
type policyTestCase struct {
	// Name describes the case.
	Name string `json:"name"`
	// Policy is the name of the policy under test; empty means every
	// policy of the file.
	Policy string `json:"policy,omitempty"`
	// Object is the VMI (a file or inline).
	Object *manifestRef `json:"object,omitempty"`
	// OldObject is the VMI before an UPDATE.
	OldObject *manifestRef `json:"oldObject,omitempty"`
	// Operation is CREATE (default) or UPDATE (default with oldObject).
	Operation admissionv1.Operation `json:"operation,omitempty"`
	// Namespace names the Namespace object of the request; defaults to
	// the object's namespace. When not listed in namespaces,
	// namespaceObject is null.
	Namespace string `json:"namespace,omitempty"`
	// User is the requesting user (request.userInfo).
	User *policies.RequestUser `json:"user,omitempty"`
	// Result is the expected outcome: pass, fail, skip or error.
	Result policies.Outcome `json:"result"`
	// Messages must each appear in a violation message or warning.
	Messages []string `json:"messages,omitempty"`
}

// manifestRef is a file path (relative to the test file) or an inline
// object.
type manifestRef struct {
	Path   string
	Inline json.RawMessage
}

// UnmarshalJSON accepts a string (path) or an object.
func (m *manifestRef) UnmarshalJSON(data []byte) error {
	var path string
	if err := json.Unmarshal(data, &path); err == nil {
		m.Path = path
		return nil
	}
	if len(data) == 0 || data[0] != '{' {
		return fmt.Errorf("expected a file name or an object, got %s", data)
	}
	m.Inline = append(json.RawMessage(nil), data...)
	return nil
}

// MarshalJSON writes the path or the object back.
func (m manifestRef) MarshalJSON() ([]byte, error) {
	if m.Path != "" {
		return json.Marshal(m.Path)
	}
	return m.Inline, nil
}

// load returns the manifests the reference designates.
func (m *manifestRef) load(dir string) ([]manifest, error) {
	if m.Path == "" {
		return []manifest{{file: "(inline)", index: 1, json: m.Inline}}, nil
	}
	return readManifests(filepath.Join(dir, m.Path))
}

func (m *manifestRef) String() string {
	if m == nil {
		return "-"
	}
	if m.Path != "" {
		return m.Path
	}
	return "(inline)"
}

// testSummary counts the cases of a run.
type testSummary struct {
	passed, failed int
}

// findTestFiles returns target if it is a file, else every test.yaml
// under it, sorted.
func findTestFiles(target string) ([]string, error) {
	info, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	if !info.IsDir() {
		return []string{target}, nil
	}
	var files []string
	err = filepath.WalkDir(target, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == TestFileName {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("searching %s: %w", target, err)
	}
	sort.Strings(files)
	return files, nil
}

// runTestFile runs one test file, writing a line per case and a diff for
// each mismatch.
func runTestFile(ctx context.Context, compiler *policies.Compiler, path string, out io.Writer, sum *testSummary) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var tf policyTestFile
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if len(tf.Policies) == 0 {
		tf.Policies = []string{"policy.yaml"}
	}

	compiled := map[string]*policies.CompiledPolicy{}
	var names []string
	for _, file := range tf.Policies {
		loaded, err := readPolicies(filepath.Join(dir, file))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, lp := range loaded {
			p, errs := compiler.Compile(lp.policy)
			if len(errs) > 0 {
				return fmt.Errorf("%s: policy %s does not compile:\n%s", path, lp.policy.Name, indent(errs.ToAggregate().Error()))
			}
			compiled[p.Name] = p
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: no VMIPolicy in %v", path, tf.Policies)
	}

	var paramObjects []*policies.Object
	for i := range tf.Params {
		docs, err := tf.Params[i].load(dir)
		if err != nil {
			return fmt.Errorf("%s: params: %w", path, err)
		}
		for _, d := range docs {
			o, err := policies.DecodeObject(d.json)
			if err != nil {
				return fmt.Errorf("%s: params %s: %w", path, d.file, err)
			}
			paramObjects = append(paramObjects, o)
		}
	}
	params := policies.NewStaticParams(paramObjects...)

	namespaces := map[string]*corev1.Namespace{}
	for i := range tf.Namespaces {
		docs, err := tf.Namespaces[i].load(dir)
		if err != nil {
			return fmt.Errorf("%s: namespaces: %w", path, err)
		}
		for _, d := range docs {
			var ns corev1.Namespace
			if err := yaml.UnmarshalStrict(d.json, &ns); err != nil {
				return fmt.Errorf("%s: namespace in %s: %w", path, d.file, err)
			}
			namespaces[ns.Name] = &ns
		}
	}

	if len(tf.Cases) == 0 {
		return fmt.Errorf("%s: no cases", path)
	}
	for i, tc := range tf.Cases {
		label := tc.Name
		if label == "" {
			label = fmt.Sprintf("case %d", i+1)
		}
		switch tc.Result {
		case policies.Passed, policies.Failed, policies.Skipped, policies.Errored:
		default:
			return fmt.Errorf("%s: %s: result must be pass, fail, skip or error, not %q", path, label, tc.Result)
		}
		in, err := tc.input(dir, namespaces, params)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, label, err)
		}
		targets := names
		if tc.Policy != "" {
			if _, ok := compiled[tc.Policy]; !ok {
				return fmt.Errorf("%s: %s: no policy named %q", path, label, tc.Policy)
			}
			targets = []string{tc.Policy}
		}
		for _, name := range targets {
			res := compiled[name].Evaluate(ctx, in)
			if diff := tc.compare(&res); diff != "" {
				sum.failed++
				fmt.Fprintf(out, "FAIL %s: %s [%s, object %s]\n%s", path, label, name, tc.Object.String(), diff)
			} else {
				sum.passed++
				fmt.Fprintf(out, "ok   %s: %s [%s: %s]\n", path, label, name, res.Outcome)
			}
		}
	}
	return nil
}

// input builds the evaluation input of a case.
func (tc *policyTestCase) input(dir string, namespaces map[string]*corev1.Namespace, params policies.ParamSource) (*policies.Input, error) {
	loadObject := func(ref *manifestRef, what string) (*policies.Object, error) {
		if ref == nil {
			return nil, nil
		}
		docs, err := ref.load(dir)
		if err != nil {
			return nil, err
		}
		if len(docs) != 1 {
			return nil, fmt.Errorf("%s %s: expected one document, found %d", what, ref, len(docs))
		}
		o, err := policies.DecodeObject(docs[0].json)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, ref, err)
		}
		return o, nil
	}
	object, err := loadObject(tc.Object, "object")
	if err != nil {
		return nil, err
	}
	oldObject, err := loadObject(tc.OldObject, "oldObject")
	if err != nil {
		return nil, err
	}
	if object == nil {
		return nil, fmt.Errorf("object is required")
	}
	op := tc.Operation
	if op == "" {
		op = admissionv1.Create
		if oldObject != nil {
			op = admissionv1.Update
		}
	}
	nsName := tc.Namespace
	if nsName == "" {
		nsName = object.Namespace()
	}
	return policies.NewInputFromObjects(op, object, oldObject, namespaces[nsName], authenticated(tc.User), params), nil
}

// authenticated returns the case's user as kube-apiserver would present
// it: a default user when none is given, always in system:authenticated.
func authenticated(u *policies.RequestUser) *policies.RequestUser {
	out := policies.RequestUser{Username: "podvirtctl-test"}
	if u != nil {
		out = *u
	}
	for _, g := range out.Groups {
		if g == "system:authenticated" {
			return &out
		}
	}
	out.Groups = append(append([]string(nil), out.Groups...), "system:authenticated")
	return &out
}

// compare returns a diff-like report of how the result differs from the
// expectation, or "" when it matches.
func (tc *policyTestCase) compare(res *policies.PolicyResult) string {
	var b strings.Builder
	var messages []string
	for _, v := range res.Violations {
		messages = append(messages, v.Message)
	}
	messages = append(messages, res.Warnings...)
	if res.Outcome != tc.Result {
		fmt.Fprintf(&b, "    --- expected\n    +++ actual\n    -result: %s\n    +result: %s\n", tc.Result, res.Outcome)
	}
	for _, want := range tc.Messages {
		found := false
		for _, m := range messages {
			if strings.Contains(m, want) {
				found = true
				break
			}
		}
		if !found {
			if b.Len() == 0 {
				b.WriteString("    --- expected\n    +++ actual\n")
			}
			fmt.Fprintf(&b, "    -message containing: %q\n", want)
		}
	}
	if b.Len() > 0 {
		for _, m := range messages {
			fmt.Fprintf(&b, "    +message: %q\n", m)
		}
	}
	return b.String()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
