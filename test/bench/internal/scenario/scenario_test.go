package scenario

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvirt/podvirt/test/bench/internal/load"
	"github.com/podvirt/podvirt/test/bench/internal/rules"
)

func rule(ops []admissionregistrationv1.OperationType, groups, versions, resources []string) admissionregistrationv1.RuleWithOperations {
	return admissionregistrationv1.RuleWithOperations{Operations: ops,
		Rule: admissionregistrationv1.Rule{APIGroups: groups, APIVersions: versions, Resources: resources}}
}

var (
	create   = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	update   = []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	allOps   = []admissionregistrationv1.OperationType{admissionregistrationv1.OperationAll}
	podvirtG = []string{"podvirt.io"}
	v1a1     = []string{"v1alpha1"}
	vmis     = []string{"virtualmachineinstances"}
)

func TestRuleMatchesVMICreate(t *testing.T) {
	for _, c := range []struct {
		r    admissionregistrationv1.RuleWithOperations
		want bool
	}{
		{rule(create, podvirtG, v1a1, vmis), true},
		{rule(allOps, []string{"*"}, []string{"*"}, []string{"*"}), true},
		{rule(create, podvirtG, v1a1, []string{"*/*"}), true},
		{rule(create, podvirtG, v1a1, []string{"virtualmachineinstances/status"}), false},
		{rule(update, podvirtG, v1a1, vmis), false},
		{rule(create, []string{""}, []string{"v1"}, []string{"pods"}), false},
		{rule(create, podvirtG, v1a1, []string{"vmipolicies"}), false},
		{DisabledRules()[0], false},
	} {
		if got := RuleMatchesVMICreate(c.r); got != c.want {
			t.Errorf("RuleMatchesVMICreate(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}

func TestPathAndExpect(t *testing.T) {
	m := []admissionregistrationv1.MutatingWebhookConfiguration{
		{ObjectMeta: metav1.ObjectMeta{Name: PodvirtMutating}, Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "defaulter.vmi.podvirt.io", Rules: []admissionregistrationv1.RuleWithOperations{rule(create, podvirtG, v1a1, vmis)}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-resource-mutating-webhook-cfg"}},
	}
	v := []admissionregistrationv1.ValidatingWebhookConfiguration{
		{ObjectMeta: metav1.ObjectMeta{Name: PodvirtValidating}, Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validator.vmi.podvirt.io", Rules: []admissionregistrationv1.RuleWithOperations{rule(create, podvirtG, v1a1, vmis)}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "podvirt-launcher-pod-guard"}, Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "g", Rules: []admissionregistrationv1.RuleWithOperations{rule(create, []string{""}, []string{"v1"}, []string{"pods"})}}}},
	}
	pols := []admissionregistrationv1.ValidatingAdmissionPolicy{
		{ObjectMeta: metav1.ObjectMeta{Name: "vmi-rule"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{MatchConstraints: &admissionregistrationv1.MatchResources{
			ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule(create, podvirtG, v1a1, vmis)}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pod-rule"}, Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{MatchConstraints: &admissionregistrationv1.MatchResources{
			ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule(create, []string{""}, []string{"v1"}, []string{"pods"})}}}}},
	}
	binds := []admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		{Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "vmi-rule"}},
		{Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "pod-rule"}},
		{Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "missing"}},
	}
	p := PathOf(m, v, pols, binds)
	want := []string{"mutating/podvirt-vmi-defaulter/defaulter.vmi.podvirt.io", "validating/podvirt-vmi-validator/validator.vmi.podvirt.io"}
	if strings.Join(p.Webhooks, " ") != strings.Join(want, " ") || p.VAPs != 1 {
		t.Fatalf("PathOf = %+v", p)
	}
	podvirt := Expect{Configurations: []string{"mutating/" + PodvirtMutating, "validating/" + PodvirtValidating}, AtLeastOne: true, VAPs: 1}
	if msg := podvirt.Check(p); msg != "" {
		t.Errorf("podvirt expectation: %s", msg)
	}
	none := Expect{}
	msg := none.Check(p)
	if !strings.Contains(msg, "unexpected webhooks in the path: mutating/podvirt-vmi-defaulter/") || !strings.Contains(msg, "ValidatingAdmissionPolicyBindings in the path: 1, want 0") {
		t.Errorf("none expectation: %q", msg)
	}
	kyverno := Expect{Configurations: []string{"validating/kyverno-*"}, AtLeastOne: true, VAPs: 1}
	if msg := kyverno.Check(Path{VAPs: 1}); !strings.Contains(msg, "none of validating/kyverno-* is in the path") {
		t.Errorf("kyverno expectation on an empty path: %q", msg)
	}
	if msg := kyverno.Check(Path{Webhooks: []string{"validating/kyverno-resource-validating-webhook-cfg/vpol"}, VAPs: 1}); msg != "" {
		t.Errorf("kyverno expectation: %q", msg)
	}
	// A prefix of a configuration's name is not that configuration.
	if msg := (Expect{Configurations: []string{"validating/podvirt-vmi"}}).Check(p); !strings.Contains(msg, "unexpected") {
		t.Errorf("prefix matched: %q", msg)
	}
}

// TestMutatingPoliciesInPath: a bound MutatingAdmissionPolicy matching
// VMI creates is in the path; one unbound, or pointed at the disabled
// resource, is not; Check names a difference from the expectation.
func TestMutatingPoliciesInPath(t *testing.T) {
	mp := func(name string, resources []string) admissionregistrationv1.MutatingAdmissionPolicy {
		return admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{RuleWithOperations: rule(create, podvirtG, v1a1, resources)}}}}}
	}
	pols := []admissionregistrationv1.MutatingAdmissionPolicy{
		mp(PodvirtDefaultsPolicy, vmis), mp("unbound", vmis), mp("parked", []string{DisabledResource}),
	}
	binds := []admissionregistrationv1.MutatingAdmissionPolicyBinding{
		{Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: PodvirtDefaultsPolicy}},
		{Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "parked"}},
	}
	got := mutatingPoliciesInPath(pols, binds)
	if !slices.Equal(got, []string{PodvirtDefaultsPolicy}) {
		t.Fatalf("in the path: %v", got)
	}
	if msg := (Expect{MAPs: DefaultInstall.defaultsPolicies()}).Check(Path{MAPs: got}); msg != "" {
		t.Errorf("podvirt's expectation: %q", msg)
	}
	if msg := (Expect{}).Check(Path{MAPs: got}); !strings.Contains(msg, "MutatingAdmissionPolicies in the path: [podvirt-vmi-defaults], want []") {
		t.Errorf("the no-op's expectation: %q", msg)
	}
}

func TestParseProcSpec(t *testing.T) {
	p, err := ParseProcSpec("pid:12, 34")
	if err != nil || p.Kind != "pid" || len(p.PIDs) != 2 || p.PIDs[1] != 34 {
		t.Errorf("pid spec = %+v, %v", p, err)
	}
	p, err = ParseProcSpec("pod:podvirt-system/app.kubernetes.io/name=podvirt-controller")
	if err != nil || p.NS != "podvirt-system" || p.Labels != "app.kubernetes.io/name=podvirt-controller" {
		t.Errorf("pod spec = %+v, %v", p, err)
	}
	p, err = ParseProcSpec("pidfile:/a.pid,/b.pid")
	if err != nil || len(p.Files) != 2 {
		t.Errorf("pidfile spec = %+v, %v", p, err)
	}
	for _, s := range []string{"", "pid:", "pid:x", "pid:-1", "pod:nosel", "pod:/x", "what:1"} {
		if _, err := ParseProcSpec(s); err == nil {
			t.Errorf("ParseProcSpec(%q) did not fail", s)
		}
	}
	m, err := ParseProcFlags([]string{"apiserver=pid:1", "podvirt=pid:2,3"})
	if err != nil || len(m) != 2 || m["podvirt"].PIDs[1] != 3 {
		t.Errorf("ParseProcFlags = %+v, %v", m, err)
	}
	if _, err := ParseProcFlags([]string{"pid:1"}); err == nil {
		t.Error("a flag without a name accepted")
	}
}

func TestRulesPatch(t *testing.T) {
	saved := map[string][]admissionregistrationv1.RuleWithOperations{"a": {rule(create, podvirtG, v1a1, vmis)}}
	b, err := rulesPatch([]string{"a"}, func(n string) ([]admissionregistrationv1.RuleWithOperations, bool) { rs, ok := saved[n]; return rs, ok })
	if err != nil {
		t.Fatal(err)
	}
	var ops []map[string]any
	if err := json.Unmarshal(b, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0]["op"] != "test" || ops[0]["path"] != "/webhooks/0/name" || ops[0]["value"] != "a" ||
		ops[1]["op"] != "replace" || ops[1]["path"] != "/webhooks/0/rules" {
		t.Errorf("patch = %s", b)
	}
	if !strings.Contains(string(b), `"resources":["virtualmachineinstances"]`) {
		t.Errorf("patch lacks the rules: %s", b)
	}
	if _, err := rulesPatch([]string{"a", "b"}, func(n string) ([]admissionregistrationv1.RuleWithOperations, bool) { rs, ok := saved[n]; return rs, ok }); err == nil {
		t.Error("a webhook without saved rules patched")
	}
	if !isDisabled(DisabledRules()) || isDisabled(saved["a"]) {
		t.Error("isDisabled wrong")
	}
}

func TestProbes(t *testing.T) {
	body, err := load.NewVMIBody("../../../../examples/vmi-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProbes(body.For("bench-probe"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.violating["metadata"].(map[string]any)["labels"]; ok {
		t.Error("the violating probe keeps labels")
	}
	if cores := p.violating["spec"].(map[string]any)["domain"].(map[string]any)["cpu"].(map[string]any)["cores"]; cores != int64(ProbeCores) {
		t.Errorf("violating cores = %v", cores)
	}
	if p.valid["metadata"].(map[string]any)["labels"] == nil {
		t.Error("the valid probe lost its labels")
	}
	// The rule sets the scenarios load are prefixes of rules-16.tsv: its
	// first rule must be one the violating probe breaks.
	rs, err := rules.Load("../../testdata/rules-16.tsv")
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Name != "max-cores" || !strings.Contains(rs[0].Expression, "<= 8") || ProbeCores <= 8 {
		t.Errorf("the first rule is %+v: the probe with %d cores may not break it", rs[0], ProbeCores)
	}
	denied := errors.New(`admission webhook "validator.vmi.podvirt.io" denied the request: cores must be <= 8`)
	if !deniedByRule(denied, rs[:1]) || deniedByRule(denied, rs[1:2]) || deniedByRule(nil, rs) {
		t.Error("deniedByRule wrong")
	}
}

func TestNoopConfigurations(t *testing.T) {
	m, v, err := Noop{ServiceNamespace: "podvirt-bench", ServiceName: "noop", ServicePort: 443, CABundle: []byte("ca")}.Configurations()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != NoopName || v.Name != NoopName || m.Labels[benchLabel] != "true" {
		t.Errorf("names/labels: %s %s %v", m.Name, v.Name, m.Labels)
	}
	mw, vw := m.Webhooks[0], v.Webhooks[0]
	if *mw.ClientConfig.Service.Path != "/mutate" || *vw.ClientConfig.Service.Path != "/validate" || string(vw.ClientConfig.CABundle) != "ca" {
		t.Errorf("client configs: %+v %+v", mw.ClientConfig, vw.ClientConfig)
	}
	if !RuleMatchesVMICreate(mw.Rules[0]) || !RuleMatchesVMICreate(vw.Rules[0]) || *mw.FailurePolicy != admissionregistrationv1.Fail {
		t.Error("the no-op webhook does not match VMI creates like podvirt's")
	}
	m, _, err = Noop{URL: "https://127.0.0.1:1"}.Configurations()
	if err != nil || *m.Webhooks[0].ClientConfig.URL != "https://127.0.0.1:1/mutate" {
		t.Errorf("URL config: %v %v", m, err)
	}
	if _, _, err := (Noop{}).Configurations(); err == nil {
		t.Error("a no-op webhook without an address")
	}
}

func TestStateRoundTripAndClean(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	if s, err := readState(path); s != nil || err != nil {
		t.Fatalf("missing state = %v, %v", s, err)
	}
	in := &State{
		Rules:    map[string]map[string][]admissionregistrationv1.RuleWithOperations{"mutating/x": {"w": {rule(create, podvirtG, v1a1, vmis)}}},
		Policies: []map[string]any{{"metadata": map[string]any{"name": "p"}}},
	}
	if err := writeState(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := readState(path)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rules["mutating/x"]["w"][0].Resources[0] != "virtualmachineinstances" || out.Policies[0]["metadata"].(map[string]any)["name"] != "p" {
		t.Errorf("round trip: %+v", out)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(path); err == nil {
		t.Error("a corrupt state read")
	}
	obj := map[string]any{
		"metadata": map[string]any{"name": "p", "uid": "u", "resourceVersion": "7", "managedFields": []any{}, "generation": int64(2), "labels": map[string]any{"a": "b"}},
		"spec":     map[string]any{"x": int64(1)},
		"status":   map[string]any{"y": int64(2)},
	}
	c := cleanForCreate(obj)
	meta := c["metadata"].(map[string]any)
	if len(meta) != 2 || meta["name"] != "p" || c["status"] != nil || c["spec"] == nil {
		t.Errorf("cleanForCreate = %v", c)
	}
	if obj["metadata"].(map[string]any)["uid"] != "u" {
		t.Error("cleanForCreate changed its input")
	}
}

// A second podvirt install gets its own scenarios, CPU group and path.
func TestCatalogWithAnotherInstall(t *testing.T) {
	base := Install{Name: "baseline", Mutating: "podvirt-baseline-vmi-defaulter", Validating: "podvirt-baseline-vmi-validator"}
	e := &Env{Options: Options{Rules: make([]rules.Rule, 16), Installs: []Install{DefaultInstall, base}}}
	got := map[string]Scenario{}
	for _, s := range e.Catalog() {
		got[s.Name] = s
	}
	want := []string{"none", "noop", "podvirt-0", "podvirt-1", "podvirt-16", "baseline-0", "baseline-1", "baseline-16", "vap-16", "kyverno-16"}
	if names := Names(e.Catalog()); !slices.Equal(names, want) {
		t.Fatalf("scenarios %v, want %v", names, want)
	}
	b := got["baseline-16"]
	if b.Webhook != "baseline" || b.Label != "baseline, 16 VMIPolicies" ||
		!slices.Equal(b.Expect.Configurations, []string{"mutating/podvirt-baseline-vmi-defaulter", "validating/podvirt-baseline-vmi-validator"}) {
		t.Errorf("baseline-16: %+v", b)
	}
	if p := got["podvirt-16"]; p.Webhook != WebhookPodvirt || p.Label != "podvirt, 16 VMIPolicies" || p.Expect.Configurations[0] != "mutating/"+PodvirtMutating {
		t.Errorf("podvirt-16: %+v", p)
	}
}
