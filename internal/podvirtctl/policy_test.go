package podvirtctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestPolicyLibrary runs every test of policies/library, so that `go test
// ./...` covers the library.
func TestPolicyLibrary(t *testing.T) {
	out, err := runCLI(t, "policy", "test", "../../policies/library")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, " 0 failed") {
		t.Fatalf("library tests failed:\n%s", out)
	}
	dirs, _ := filepath.Glob("../../policies/library/*/test.yaml")
	if len(dirs) < 10 {
		t.Errorf("the library should hold at least 10 tested policies, has %d", len(dirs))
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const cliPolicy = `apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: max-cores}
spec:
  params: {max: 2}
  validations:
  - expression: object.spec.domain.cpu.cores <= params.max
    messageExpression: "'at most ' + string(params.max) + ' cores'"
`

const cliVMI = `apiVersion: podvirt.io/v1alpha1
kind: VirtualMachineInstance
metadata: {name: vm, namespace: default}
spec:
  domain:
    cpu: {cores: 4}
`

func TestPolicyTestReportsMismatches(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"policy.yaml": cliPolicy,
		"vmi.yaml":    cliVMI,
		"test.yaml": `cases:
- name: expected to pass but fails
  object: vmi.yaml
  result: pass
- name: fails with the right message
  object: vmi.yaml
  result: fail
  messages: ["at most 2 cores"]
- name: inline object, wrong message
  object: {apiVersion: podvirt.io/v1alpha1, kind: VirtualMachineInstance, metadata: {name: x, namespace: default}, spec: {domain: {cpu: {cores: 8}}}}
  result: fail
  messages: ["at most 3 cores"]
`,
	})
	out, err := runCLI(t, "policy", "test", dir)
	if err == nil {
		t.Fatalf("mismatches must fail the command:\n%s", out)
	}
	for _, want := range []string{
		"FAIL " + filepath.Join(dir, "test.yaml") + ": expected to pass but fails [max-cores, object vmi.yaml]",
		"    -result: pass\n    +result: fail\n    +message: \"at most 2 cores\"",
		"ok   " + filepath.Join(dir, "test.yaml") + ": fails with the right message [max-cores: fail]",
		"    -message containing: \"at most 3 cores\"",
		"1 passed, 2 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPolicyTestRejectsBrokenTestFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"policy.yaml": strings.Replace(cliPolicy, "domain.cpu", "domian.cpu", 1),
		"vmi.yaml":    cliVMI,
		"test.yaml":   "cases: [{object: vmi.yaml, result: pass}]\n",
	})
	out, err := runCLI(t, "policy", "test", dir)
	if err == nil || !strings.Contains(out, "undefined field 'domian'") {
		t.Errorf("a policy that does not compile must fail: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "policy", "test", t.TempDir()); err == nil {
		t.Error("a directory without test files must fail")
	}
}

func TestPolicyLint(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"good.yaml": cliPolicy,
		"bad.yaml": `apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: bad}
spec:
  validationActions: [Deny, Warn]
  validations:
  - expression: object.spec.domian.cpu.cores <= 2
`,
	})
	out, err := runCLI(t, "policy", "lint", filepath.Join(dir, "good.yaml"))
	if err != nil || !strings.Contains(out, "VMIPolicy max-cores: ok") || !strings.Contains(out, "spec.validations[0].expression: cost") {
		t.Errorf("good policy: %v\n%s", err, out)
	}
	out, err = runCLI(t, "policy", "lint", filepath.Join(dir, "bad.yaml"))
	if err == nil || !strings.Contains(out, "<input>:1:12: undefined field 'domian'") || !strings.Contains(out, "must not contain both Deny and Warn") {
		t.Errorf("bad policy: %v\n%s", err, out)
	}
}

func TestPolicyExportVAP(t *testing.T) {
	dir := writeFiles(t, map[string]string{"policy.yaml": cliPolicy})
	out, err := runCLI(t, "policy", "export-vap", filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kind: ValidatingAdmissionPolicy\n",
		"kind: ValidatingAdmissionPolicyBinding\n",
		`object.spec.domain.cpu.cores <= ({"max": 2}).max`,
		"policyName: max-cores",
		"- virtualmachineinstances",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
