package webhooks

import (
	"context"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

// vmJSON is a VM whose template is minimalVMI's spec; spec holds the
// fields before "template" (running, runStrategy) and meta the
// template's metadata.
func vmJSON(spec, meta, domain string) string {
	if domain == "" {
		domain = `"memory":{"guest":"128Mi"},"firmware":{"kernelBoot":{"container":{"image":"r.example/g:1","kernelPath":"/boot/vmlinuz"}}}`
	}
	return `{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachine","metadata":{"name":"tiny","namespace":"default"},
 "spec":{` + spec + `"template":{"metadata":{` + meta + `},"spec":{"domain":{` + domain + `}}}}}`
}

func vmRequest(op admissionv1.Operation, raw, old string) admission.Request {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: op, Namespace: "default", Object: runtime.RawExtension{Raw: []byte(raw)},
		Kind:     metav1.GroupVersionKind{Group: "podvirt.io", Version: "v1alpha1", Kind: "VirtualMachine"},
		UserInfo: authenticationv1.UserInfo{Username: "alice"},
	}}
	if old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
	}
	return req
}

func causes(resp admission.Response) []string {
	var out []string
	if resp.Result != nil && resp.Result.Details != nil {
		for _, c := range resp.Result.Details.Causes {
			out = append(out, c.Field)
		}
	}
	return out
}

func TestVMValidatorRunningAndRunStrategy(t *testing.T) {
	h := &VMValidator{}
	for name, c := range map[string]struct {
		spec    string
		allowed bool
	}{
		"neither":          {``, true},
		"running":          {`"running":true,`, true},
		"runStrategy":      {`"runStrategy":"Always",`, true},
		"both":             {`"running":false,"runStrategy":"Always",`, false},
		"both, consistent": {`"running":true,"runStrategy":"Always",`, false},
	} {
		resp := h.Handle(context.Background(), vmRequest(admissionv1.Create, vmJSON(c.spec, "", ""), ""))
		if resp.Allowed != c.allowed {
			t.Errorf("%s: allowed=%v (%v), want %v", name, resp.Allowed, resp.Result, c.allowed)
			continue
		}
		if !c.allowed {
			if got := causes(resp); len(got) != 1 || got[0] != "spec.running" {
				t.Errorf("%s: causes %v, want [spec.running]", name, got)
			}
			if resp.Result.Reason != metav1.StatusReasonInvalid || !strings.Contains(resp.Result.Message, "mutually exclusive") {
				t.Errorf("%s: result %+v, want Invalid naming the conflict", name, resp.Result)
			}
		}
	}
}

// The template is defaulted and validated as a VMI: errors name the VM's
// fields (spec.template.spec...), never the VMI's.
func TestVMValidatorTemplateErrorsAreReRooted(t *testing.T) {
	h := &VMValidator{}
	noMemory := `"firmware":{"kernelBoot":{"container":{"image":"r.example/g:1","kernelPath":"/boot/vmlinuz"}}}`
	resp := h.Handle(context.Background(), vmRequest(admissionv1.Create, vmJSON(`"running":true,"runStrategy":"Always",`, `"labels":{"bad key!":"x"}`, noMemory), ""))
	if resp.Allowed {
		t.Fatal("a VM whose template has no memory was allowed")
	}
	got := strings.Join(causes(resp), ",")
	for _, want := range []string{"spec.running", "spec.template.spec.domain.memory.guest", "spec.template.metadata.labels"} {
		if !strings.Contains(got, want) {
			t.Errorf("causes %s: want one on %s", got, want)
		}
	}
	if strings.Contains(","+got, ",spec.domain") {
		t.Errorf("causes %s: a VMI path leaked through", got)
	}
}

// Defaulting comes first: a template that is valid only once defaulted
// (no networks, no machine type) passes.
func TestVMValidatorDefaultsBeforeValidating(t *testing.T) {
	h := &VMValidator{}
	if resp := h.Handle(context.Background(), vmRequest(admissionv1.Create, vmJSON(`"runStrategy":"Always",`, "", ""), "")); !resp.Allowed {
		t.Fatalf("minimal VM denied: %v", resp.Result)
	}
}

func TestVMValidatorRejectsOtherKinds(t *testing.T) {
	h := &VMValidator{}
	if resp := h.Handle(context.Background(), vmRequest(admissionv1.Create, minimalVMI, "")); resp.Allowed || resp.Result.Code != 400 {
		t.Fatalf("a VMI sent to the VM validator: allowed=%v %v, want a 400", resp.Allowed, resp.Result)
	}
}

func vmPolicyCache(t *testing.T, expr, msg string) *policies.Cache {
	t.Helper()
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	pol := &v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "p1", Generation: 1},
		Spec: v1alpha1.VMIPolicySpec{Validations: []admissionregistrationv1.Validation{{Expression: expr, Message: msg}}}}
	if _, errs := cache.Upsert(pol); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cache
}

// VMIPolicies judge the VMI the VM would create: its kind, name, the
// template's labels and the defaulted spec, as a CREATE by the VM's
// requester.
func TestVMValidatorEvaluatesPoliciesOnTheVMI(t *testing.T) {
	expr := `object.kind == 'VirtualMachineInstance' && object.metadata.name == 'tiny' && request.operation == 'CREATE' &&
		request.userInfo.username == 'alice' && has(object.spec.domain.machine) &&
		has(object.metadata.labels) && 'team' in object.metadata.labels`
	h := &VMValidator{Policies: vmPolicyCache(t, expr, "a VMI needs a team label")}
	resp := h.Handle(context.Background(), vmRequest(admissionv1.Create, vmJSON(`"runStrategy":"Always",`, `"labels":{"team":"a"}`, ""), ""))
	if !resp.Allowed {
		t.Fatalf("labelled template denied: %v", resp.Result)
	}
	resp = h.Handle(context.Background(), vmRequest(admissionv1.Create, vmJSON(`"runStrategy":"Always",`, "", ""), ""))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "a VMI needs a team label") {
		t.Fatalf("unlabelled template: allowed=%v %v, want the policy's denial", resp.Allowed, resp.Result)
	}
}

// Start and stop change only the run strategy: a policy that would now
// refuse the template does not keep the VM from being stopped. A changed
// template is judged again.
func TestVMValidatorUpdateJudgesOnlyAChangedTemplate(t *testing.T) {
	h := &VMValidator{Policies: vmPolicyCache(t, "false", "nothing passes")}
	old := vmJSON(`"runStrategy":"Always",`, "", "")
	if resp := h.Handle(context.Background(), vmRequest(admissionv1.Update, vmJSON(`"runStrategy":"Halted",`, "", ""), old)); !resp.Allowed {
		t.Errorf("stop denied: %v", resp.Result)
	}
	if resp := h.Handle(context.Background(), vmRequest(admissionv1.Update, vmJSON(`"runStrategy":"Halted",`, `"labels":{"a":"b"}`, ""), old)); resp.Allowed {
		t.Error("a changed template was not judged")
	}
	if resp := h.Handle(context.Background(), vmRequest(admissionv1.Update, vmJSON(`"running":true,"runStrategy":"Halted",`, "", ""), old)); resp.Allowed {
		t.Error("an update setting both running and runStrategy was allowed")
	}
}
