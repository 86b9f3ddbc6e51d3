package webhooks

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

func TestPodGuardMore(t *testing.T) {
	const controller = "system:serviceaccount:podvirt-system:podvirt-controller"
	const agent = "system:serviceaccount:podvirt-system:podvirt-nodeagent"
	g := &PodGuard{Creators: []string{controller}, NodeAgents: []string{agent, "system:podvirt:nodeagent:"}}
	launcher := `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"}}}`
	finalized := `{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<domain/>"},"finalizers":["podvirt.io/domain"]}}`
	cases := []struct {
		name, user, obj, old string
		op                   admissionv1.Operation
		allowed              bool
		code                 int32
		msg                  string
	}{
		{"controller sends garbage", controller, `{`, "", admissionv1.Create, true, 0, ""},
		{"garbage Pod", "alice", `{`, "", admissionv1.Create, false, http.StatusBadRequest, "decoding the Pod"},
		{"garbage old Pod", "alice", launcher, `{`, admissionv1.Update, false, http.StatusBadRequest, "decoding the old Pod"},
		{"a user deletes a launcher Pod", "alice", launcher, "", admissionv1.Delete, true, 0, ""},
		{"every reserved key listed in order", "alice",
			`{"metadata":{"labels":{"podvirt.io/b":"1","podvirt.io/a":"1","app":"x"},"annotations":{"podvirt.io/c":"1","note":"x"},"finalizers":["podvirt.io/f","example.com/g"]}}`,
			"", admissionv1.Create, false, http.StatusForbidden,
			"(found annotation podvirt.io/c, finalizer podvirt.io/f, label podvirt.io/a, label podvirt.io/b)"},
		{"a user changes only their own keys", "alice",
			`{"metadata":{"labels":{"podvirt.io/vmi":"x","app":"y"},"annotations":{"podvirt.io/domain":"<domain/>","note":"n"}}}`,
			launcher, admissionv1.Update, true, 0, ""},
		{"a user adds a reserved label and annotation", "alice",
			`{"metadata":{"labels":{"podvirt.io/vmi":"x","podvirt.io/new":"1"},"annotations":{"podvirt.io/domain":"<domain/>","podvirt.io/n2":"1"}}}`,
			launcher, admissionv1.Update, false, http.StatusForbidden, "(changed annotation podvirt.io/n2, label podvirt.io/new)"},
		{"the node agent by name adds its finalizer", agent, finalized, launcher, admissionv1.Update, true, 0, ""},
		{"a name that only starts like the node agent's", agent + "-evil", finalized, launcher, admissionv1.Update, false, http.StatusForbidden, "changed finalizer podvirt.io/domain"},
		{"the node agent changes an annotation", agent,
			`{"metadata":{"labels":{"podvirt.io/vmi":"x"},"annotations":{"podvirt.io/domain":"<evil/>"},"finalizers":["podvirt.io/domain"]}}`,
			launcher, admissionv1.Update, false, http.StatusForbidden, "(changed annotation podvirt.io/domain)"},
		{"the node agent creates a launcher Pod", agent, launcher, "", admissionv1.Create, false, http.StatusForbidden, "only podvirt's controller may create"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := g.Handle(context.Background(), podRequest(tc.op, tc.user, tc.obj, tc.old))
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if tc.allowed {
				return
			}
			if resp.Result.Code != tc.code || !strings.Contains(resp.Result.Message, tc.msg) {
				t.Errorf("result %d %q, want %d with %q", resp.Result.Code, resp.Result.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestNewCallerAuthErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewCallerAuth(filepath.Join(dir, "missing.pem"), nil, nil); err == nil {
		t.Error("a missing CA file was accepted")
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCallerAuth(notPEM, nil, nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a file without certificates: %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewCallerAuth("", nil, reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCallerAuth("", nil, reg); err == nil {
		t.Error("registering the refusal counter twice succeeded")
	}
}

// TestCallerAuthWithoutNamesAdmitsAnyCertOfTheCA: with no names, any
// certificate the CA signed is admitted.
func TestCallerAuthWithoutNamesAdmitsAnyCertOfTheCA(t *testing.T) {
	ca := newTestCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := NewCallerAuth(caFile, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })))
	srv.TLS = &tls.Config{}
	auth.TLS(srv.TLS)
	if srv.TLS.ClientAuth != tls.VerifyClientCertIfGiven || srv.TLS.ClientCAs == nil {
		t.Fatalf("TLS config %v %v, want client certificates verified if given", srv.TLS.ClientAuth, srv.TLS.ClientCAs)
	}
	srv.StartTLS()
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{ca.client(t, "anyone")}
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 299 {
		t.Errorf("status %d, want the handler's 299", resp.StatusCode)
	}
}

func TestNilCallerAuthAdmitsAll(t *testing.T) {
	var auth *CallerAuth
	c := &tls.Config{}
	auth.TLS(c)
	if c.ClientAuth != tls.NoClientCert || c.ClientCAs != nil {
		t.Errorf("a nil CallerAuth changed the TLS config")
	}
	rec := httptest.NewRecorder()
	auth.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })).ServeHTTP(rec, httptest.NewRequest("POST", "/x", nil))
	if rec.Code != 299 {
		t.Errorf("status %d", rec.Code)
	}
	noCA, _ := NewCallerAuth("", nil, nil)
	noCA.TLS(c)
	if c.ClientAuth != tls.NoClientCert {
		t.Errorf("a CallerAuth without CAs asked for client certificates")
	}
}

func TestValidatorDecodeErrors(t *testing.T) {
	h := &VMIValidator{}
	wrongKind := strings.Replace(minimalVMI, `"kind":"VirtualMachineInstance"`, `"kind":"Pod"`, 1)
	wrongVersion := strings.Replace(minimalVMI, `"apiVersion":"podvirt.io/v1alpha1"`, `"apiVersion":"podvirt.io/v1"`, 1)
	for name, c := range map[string]struct {
		op       admissionv1.Operation
		obj, old string
		msg      string
	}{
		"empty":            {admissionv1.Create, "", "", "no content"},
		"garbage":          {admissionv1.Create, "{", "", "decoding the VirtualMachineInstance"},
		"another kind":     {admissionv1.Create, wrongKind, "", `kind "Pod"`},
		"another version":  {admissionv1.Create, wrongVersion, "", `apiVersion "podvirt.io/v1"`},
		"garbage old":      {admissionv1.Update, minimalVMI, "{", "decoding the old VirtualMachineInstance"},
		"empty old object": {admissionv1.Update, minimalVMI, "", "decoding the old VirtualMachineInstance"},
	} {
		req := request(t, c.op, c.obj)
		if c.old != "" {
			req.OldObject = runtime.RawExtension{Raw: []byte(c.old)}
		}
		resp := h.Handle(context.Background(), req)
		if resp.Allowed || resp.Result.Code != http.StatusBadRequest || !strings.Contains(resp.Result.Message, c.msg) {
			t.Errorf("%s: %v, want a 400 with %q", name, resp.Result, c.msg)
		}
	}
}

// TestValidatorUpdates: an update must keep the spec; an update of a VMI
// being deleted skips the create-time checks.
func TestValidatorUpdates(t *testing.T) {
	h := &VMIValidator{}
	withMeta := func(obj, meta string) string {
		return strings.Replace(obj, `"metadata":{"name":"tiny","namespace":"default"}`, `"metadata":{"name":"tiny","namespace":"default",`+meta+`}`, 1)
	}
	if resp := h.Handle(context.Background(), request(t, admissionv1.Create, string(defaultedJSON(t, []byte(minimalVMI))))); !resp.Allowed {
		t.Fatalf("minimalVMI, defaulted, denied on create: %v", resp.Result)
	}
	if resp := h.Handle(context.Background(), request(t, admissionv1.Create, minimalVMI)); resp.Allowed {
		t.Fatal("minimalVMI without its defaults allowed on create")
	}
	tiny := strings.Replace(minimalVMI, `"128Mi"`, `"1Ki"`, 1)
	cases := []struct {
		name     string
		obj, old string
		allowed  bool
		msg      string
	}{
		{"labels changed", withMeta(minimalVMI, `"labels":{"a":"b"}`), minimalVMI, true, ""},
		{"spec changed", strings.Replace(minimalVMI, `"128Mi"`, `"256Mi"`, 1), minimalVMI, false, "spec: Forbidden: is immutable after creation"},
		{"being deleted, spec unchanged", withMeta(minimalVMI, `"deletionTimestamp":"2026-12-01T00:00:00Z"`), minimalVMI, true, ""},
		// A spec that today's rules reject (say, they got stricter) does not
		// keep a VMI from being updated while it is deleted...
		{"invalid spec, being deleted", withMeta(tiny, `"labels":{"a":"b"},"deletionTimestamp":"2026-12-01T00:00:00Z"`), tiny, true, ""},
		// ...but does otherwise.
		{"invalid spec, not being deleted", withMeta(tiny, `"labels":{"a":"b"}`), tiny, false, "must be at least 1Mi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, admissionv1.Update, tc.obj)
			req.OldObject = runtime.RawExtension{Raw: []byte(tc.old)}
			resp := h.Handle(context.Background(), req)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v (%v), want %v", resp.Allowed, resp.Result, tc.allowed)
			}
			if tc.msg != "" && !strings.Contains(resp.Result.Message, tc.msg) {
				t.Errorf("message %q lacks %q", resp.Result.Message, tc.msg)
			}
		})
	}
}

// TestOnlyFinalizerRemovalSkipsPolicies: the policies are skipped only for
// an update that removes a finalizer and changes nothing else; an update
// that removes none (even one that changes nothing), or also changes an
// annotation or swaps a finalizer, is judged.
func TestOnlyFinalizerRemovalSkipsPolicies(t *testing.T) {
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := policies.NewCache(compiler)
	pol := &v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team-label", UID: "p1", Generation: 1},
		Spec: v1alpha1.VMIPolicySpec{Validations: []admissionregistrationv1.Validation{{
			Expression: "has(object.metadata.labels) && 'team' in object.metadata.labels", Message: "a VMI needs a team label"}}}}
	if _, errs := cache.Upsert(pol); len(errs) > 0 {
		t.Fatal(errs)
	}
	h := &VMIValidator{Policies: cache}
	withMeta := func(meta string) string {
		return strings.Replace(minimalVMI, `"metadata":{"name":"tiny","namespace":"default"}`, `"metadata":{"name":"tiny","namespace":"default",`+meta+`}`, 1)
	}
	const del = `"deletionTimestamp":"2026-12-01T00:00:00Z"`
	old := withMeta(`"finalizers":["podvirt.io/launcher","example.com/x"],` + del)
	for name, c := range map[string]struct {
		obj     string
		allowed bool
	}{
		"one of two finalizers removed":       {withMeta(`"finalizers":["example.com/x"],` + del), true},
		"nothing changed":                     {old, false},
		"a finalizer swapped":                 {withMeta(`"finalizers":["podvirt.io/launcher","example.com/y"],` + del), false},
		"one removed, another swapped in":     {withMeta(`"finalizers":["example.com/y"],` + del), false},
		"a finalizer removed, annotation set": {withMeta(`"finalizers":["example.com/x"],"annotations":{"a":"b"},` + del), false},
		"a finalizer removed, owner added":    {withMeta(`"finalizers":["example.com/x"],"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"c","uid":"u"}],` + del), false},
		"all finalizers removed":              {withMeta(del), true},
	} {
		req := request(t, admissionv1.Update, c.obj)
		req.OldObject = runtime.RawExtension{Raw: []byte(old)}
		if resp := h.Handle(context.Background(), req); resp.Allowed != c.allowed {
			t.Errorf("%s: allowed=%v (%v), want %v", name, resp.Allowed, resp.Result, c.allowed)
		}
	}
}
