package webhooks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	apiserverapi "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/apis/apiserver/load"
	"k8s.io/apiserver/pkg/apis/apiserver/validation"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizationcel "k8s.io/apiserver/pkg/authorization/cel"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
	webhookutil "k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/apiserver/plugin/pkg/authorizer/webhook"
	webhookmetrics "k8s.io/apiserver/plugin/pkg/authorizer/webhook/metrics"

	"github.com/podvirt/podvirt/webhooks/nodeauthz"
)

// exampleAuthzConfig is the AuthorizationConfiguration cluster admins are
// shown; the test runs its webhook exactly as the kube-apiserver would.
const exampleAuthzConfig = "../deploy/base/authorization-config.example.yaml"

const webhookService = "podvirt-webhook.podvirt-system.svc"

func (ca *testCA) serving(t *testing.T, dns string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: dns}, DNSNames: []string{dns},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	must(os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// loadExampleAuthzConfig loads and validates the example as the
// kube-apiserver does, with its webhook's kubeconfig at kubeconfig (the
// validation reads it), and returns its podvirt webhook.
func loadExampleAuthzConfig(t *testing.T, kubeconfig string) apiserverapi.AuthorizerConfiguration {
	cfg, err := load.LoadFromFile(exampleAuthzConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Authorizers {
		if a.Webhook != nil && a.Webhook.ConnectionInfo.KubeConfigFile != nil {
			if !filepath.IsAbs(*a.Webhook.ConnectionInfo.KubeConfigFile) {
				t.Errorf("kubeConfigFile %q is not absolute", *a.Webhook.ConnectionInfo.KubeConfigFile)
			}
			a.Webhook.ConnectionInfo.KubeConfigFile = &kubeconfig
		}
	}
	known := sets.New("AlwaysAllow", "AlwaysDeny", "ABAC", "Webhook", "RBAC", "Node")
	if errs := validation.ValidateAuthorizationConfiguration(authorizationcel.NewDefaultCompiler(), nil, cfg, known, sets.New("Webhook")); len(errs) > 0 {
		t.Fatalf("%s: %v", exampleAuthzConfig, errs.ToAggregate())
	}
	var types []string
	for _, a := range cfg.Authorizers {
		types = append(types, string(a.Type))
	}
	// Node first (kubelets are never sent to podvirt), RBAC last (it
	// grants what the webhook did not deny).
	if got := strings.Join(types, ","); got != "Node,Webhook,RBAC" {
		t.Fatalf("authorizers %s, want Node,Webhook,RBAC", got)
	}
	wh := cfg.Authorizers[1].Webhook
	if wh.FailurePolicy != "Deny" || wh.Timeout.Duration != 3*time.Second || wh.SubjectAccessReviewVersion != "v1" ||
		wh.MatchConditionSubjectAccessReviewVersion != "v1" || wh.ConnectionInfo.Type != "KubeConfigFile" || len(wh.MatchConditions) == 0 {
		t.Fatalf("podvirt's webhook: %+v", wh)
	}
	return cfg.Authorizers[1]
}

// authzEnv is the webhook served as podvirt-controller serves it (behind
// CallerAuth), and the kube-apiserver's authorizer for it built from the
// example configuration and a kubeconfig like the one it names.
type authzEnv struct {
	authz   authorizer.Authorizer
	metrics *nodeauthz.Metrics
	reached int
}

func newAuthzEnv(t *testing.T, clientCert bool) *authzEnv {
	dir := t.TempDir()
	apiCA, webhookCA := newTestCA(t), newTestCA(t)
	caFile := filepath.Join(dir, "admission-client-ca.crt")
	if err := os.WriteFile(caFile, apiCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	callers, err := NewCallerAuth(caFile, []string{"kube-apiserver-admission"}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	env := &authzEnv{}
	if env.metrics, err = nodeauthz.NewMetrics(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h := nodeAuthz(Options{Callers: callers, NodeAuthz: env.metrics})
	mux.Handle(nodeauthz.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { env.reached++; h.ServeHTTP(w, r) }))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{webhookCA.serving(t, webhookService)}}
	callers.TLS(srv.TLS)
	srv.StartTLS()
	t.Cleanup(srv.Close)

	webhookCAFile := filepath.Join(dir, "webhook-ca.crt")
	if err := os.WriteFile(webhookCAFile, webhookCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	userBlock := "  user: {}\n"
	if clientCert {
		certFile, keyFile := writePEM(t, dir, "apiserver-admission", apiCA.client(t, "kube-apiserver-admission"))
		userBlock = fmt.Sprintf("  user:\n    client-certificate: %s\n    client-key: %s\n", certFile, keyFile)
	}
	// The kubeconfig the example's connectionInfo names, as the report
	// and docs/security.md describe it: the Service's address (here the
	// test server's), the webhook CA, and the Service's name for TLS.
	kubeconfig := filepath.Join(dir, "podvirt-nodeagent-authz.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: podvirt-webhook
  cluster:
    server: %s%s
    certificate-authority: %s
    tls-server-name: %s
users:
- name: kube-apiserver
%scontexts:
- name: webhook
  context: {cluster: podvirt-webhook, user: kube-apiserver}
current-context: webhook
`, srv.URL, nodeauthz.Path, webhookCAFile, webhookService, userBlock)), 0o600); err != nil {
		t.Fatal(err)
	}

	// As k8s.io/kubernetes/pkg/kubeapiserver/authorizer (reload.go)
	// builds a Webhook authorizer from its configuration.
	a := loadExampleAuthzConfig(t, kubeconfig)
	wh := a.Webhook
	rc, err := webhookutil.LoadKubeconfig(kubeconfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.Timeout = wh.Timeout.Duration
	onError := authorizer.DecisionNoOpinion
	if wh.FailurePolicy == "Deny" {
		onError = authorizer.DecisionDeny
	}
	// Every answer is allowed=false, so only the unauthorized cache is
	// ever used: the example must enable it, or each of a node agent's
	// reads would call the webhook. The authorizer here caches nothing, so
	// that each case reaches the webhook (or is skipped) to be counted.
	if !wh.CacheUnauthorizedRequests || wh.UnauthorizedTTL.Duration <= 0 {
		t.Errorf("the example caches no answer (cacheUnauthorizedRequests %v, unauthorizedTTL %v)", wh.CacheUnauthorizedRequests, wh.UnauthorizedTTL.Duration)
	}
	env.authz, err = webhook.New(rc, wh.SubjectAccessReviewVersion, 0, 0, wait.Backoff{Duration: time.Millisecond, Steps: 1}, onError,
		wh.MatchConditions, a.Name, webhookmetrics.NoopAuthorizerMetrics{}, authorizationcel.NewDefaultCompiler())
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// authorize runs an HTTP request's authorization as the kube-apiserver
// does: its RequestInfo (selectors from the query), its attributes, then
// the webhook authorizer.
func (e *authzEnv) authorize(t *testing.T, u user.Info, method, target string) (authorizer.Decision, string, error) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	info, err := (&apirequest.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}).NewRequestInfo(req)
	if err != nil {
		t.Fatal(err)
	}
	return e.authz.Authorize(context.Background(), attributes(u, info))
}

// attributes is k8s.io/apiserver/pkg/endpoints/filters'
// GetAuthorizerAttributes (v0.37.2), copied: importing that package
// would pull k8s.io/streaming into go.mod for a test.
func attributes(u user.Info, info *apirequest.RequestInfo) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{
		User: u, ResourceRequest: info.IsResourceRequest, Path: info.Path, Verb: info.Verb,
		APIGroup: info.APIGroup, APIVersion: info.APIVersion, Resource: info.Resource, Subresource: info.Subresource,
		Namespace: info.Namespace, Name: info.Name,
	}
	if len(info.FieldSelector) > 0 {
		if sel, err := fields.ParseSelector(info.FieldSelector); err != nil {
			a.FieldSelectorRequirements, a.FieldSelectorParsingErr = nil, err
		} else if r := sel.Requirements(); len(r) > 0 {
			a.FieldSelectorRequirements = r
		}
	}
	if len(info.LabelSelector) > 0 {
		if sel, err := labels.Parse(info.LabelSelector); err != nil {
			a.LabelSelectorRequirements, a.LabelSelectorParsingErr = nil, err
		} else if r, _ := sel.Requirements(); len(r) > 0 {
			a.LabelSelectorRequirements = r
		}
	}
	return a
}

var (
	certAgent = &user.DefaultInfo{Name: "system:podvirt:nodeagent:node-a", Groups: []string{"podvirt:nodeagents", "system:authenticated"}}
	saAgent   = &user.DefaultInfo{Name: nodeauthz.ServiceAccount, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:podvirt-system", "system:authenticated"},
		Extra: map[string][]string{nodeauthz.NodeNameExtra: {"node-a"}, "authentication.kubernetes.io/pod-name": {"podvirt-nodeagent-x"}}}
	saNoNode = &user.DefaultInfo{Name: nodeauthz.ServiceAccount, Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	alice    = &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}
)

// The node agent's informer (cmd/podvirt-nodeagent: spec.nodeName and the
// podvirt.io/vmi label) passes to RBAC; every other read of Pods by a node
// agent is denied; nobody else's request reaches podvirt.
func TestNodeAuthzThroughTheAPIServerAuthorizer(t *testing.T) {
	env := newAuthzEnv(t, true)
	const informer = "fieldSelector=spec.nodeName%3Dnode-a&labelSelector=podvirt.io%2Fvmi"
	for _, tc := range []struct {
		name    string
		who     user.Info
		method  string
		target  string
		want    authorizer.Decision
		reason  string
		reached bool // whether the match conditions send it to the webhook
	}{
		{"informer list", certAgent, "GET", "/api/v1/pods?" + informer + "&limit=500&resourceVersion=0", authorizer.DecisionNoOpinion, "", true},
		{"informer watch", certAgent, "GET", "/api/v1/pods?" + informer + "&watch=true&allowWatchBookmarks=true", authorizer.DecisionNoOpinion, "", true},
		{"informer watch-list", saAgent, "GET", "/api/v1/pods?" + informer + "&watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", authorizer.DecisionNoOpinion, "", true},
		{"namespaced, more terms", saAgent, "GET", "/api/v1/namespaces/tenant/pods?fieldSelector=status.phase%21%3DFailed%2Cspec.nodeName%3D%3Dnode-a", authorizer.DecisionNoOpinion, "", true},
		{"all Pods", certAgent, "GET", "/api/v1/pods", authorizer.DecisionDeny, "may list pods only with the field selector spec.nodeName=node-a", true},
		{"label selector only", certAgent, "GET", "/api/v1/pods?labelSelector=podvirt.io%2Fvmi", authorizer.DecisionDeny, "no field selector", true},
		{"watch all Pods", saAgent, "GET", "/api/v1/pods?watch=1", authorizer.DecisionDeny, "may watch pods", true},
		{"another node", certAgent, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b", authorizer.DecisionDeny, "does not require it", true},
		{"not equal", certAgent, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%21%3Dnode-b", authorizer.DecisionDeny, "does not require it", true},
		{"unparseable selector", certAgent, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a%2Cfoo", authorizer.DecisionDeny, "", true},
		{"one Pod by a name selector", certAgent, "GET", "/api/v1/namespaces/tenant/pods?fieldSelector=metadata.name%3Dlauncher-x", authorizer.DecisionDeny, "", true},
		{"deprecated watch path drops selectors", certAgent, "GET", "/api/v1/watch/namespaces/tenant/pods?fieldSelector=spec.nodeName%3Dnode-a", authorizer.DecisionDeny, "", true},
		{"get", certAgent, "GET", "/api/v1/namespaces/tenant/pods/launcher-x", authorizer.DecisionDeny, "may not get pods", true},
		{"get status", saAgent, "GET", "/api/v1/namespaces/tenant/pods/launcher-x/status", authorizer.DecisionDeny, "may not get pods/status", true},
		{"get log", certAgent, "GET", "/api/v1/namespaces/tenant/pods/launcher-x/log", authorizer.DecisionDeny, "", true},
		{"update is admission's", certAgent, "PUT", "/api/v1/namespaces/tenant/pods/launcher-x", authorizer.DecisionNoOpinion, "", true},
		{"patch is admission's", saAgent, "PATCH", "/api/v1/namespaces/tenant/pods/launcher-x", authorizer.DecisionNoOpinion, "", true},
		{"no node in the token", saNoNode, "GET", "/api/v1/pods?" + informer, authorizer.DecisionDeny, "names no node", true},
		{"group member named otherwise", &user.DefaultInfo{Name: "mallory", Groups: []string{"podvirt:nodeagents"}}, "GET", "/api/v1/pods?" + informer, authorizer.DecisionDeny, "names no node", true},
		// Skipped by the match conditions: never sent to podvirt.
		{"someone else", alice, "GET", "/api/v1/pods", authorizer.DecisionNoOpinion, "", false},
		{"someone without groups", &user.DefaultInfo{Name: "bob"}, "GET", "/api/v1/namespaces/t/pods/x", authorizer.DecisionNoOpinion, "", false},
		{"a name containing the prefix", &user.DefaultInfo{Name: "x-system:podvirt:nodeagent:node-a"}, "GET", "/api/v1/pods", authorizer.DecisionNoOpinion, "", false},
		{"a kubelet", &user.DefaultInfo{Name: "system:node:node-a", Groups: []string{"system:nodes"}}, "GET", "/api/v1/pods", authorizer.DecisionNoOpinion, "", false},
		{"a node agent's secrets", certAgent, "GET", "/api/v1/secrets", authorizer.DecisionNoOpinion, "", false},
		{"a node agent's VMIs", certAgent, "GET", "/apis/podvirt.io/v1alpha1/namespaces/t/virtualmachineinstances/x", authorizer.DecisionNoOpinion, "", false},
		{"a node agent's non-resource request", certAgent, "GET", "/healthz", authorizer.DecisionNoOpinion, "", false},
		{"pods of another group", certAgent, "GET", "/apis/metrics.k8s.io/v1beta1/pods", authorizer.DecisionNoOpinion, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := env.reached
			got, reason, err := env.authorize(t, tc.who, tc.method, tc.target)
			if err != nil {
				t.Fatalf("authorizer error: %v", err)
			}
			if got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Errorf("decision %v %q, want %v containing %q", got, reason, tc.want, tc.reason)
			}
			if reached := env.reached > before; reached != tc.reached {
				t.Errorf("reached the webhook: %v, want %v", reached, tc.reached)
			}
		})
	}
	if n := testutil.ToFloat64(env.metrics.Decisions.WithLabelValues(nodeauthz.DecisionInvalid)); n != 0 {
		t.Errorf("%v invalid reviews from the kube-apiserver", n)
	}
}

// Fail closed for node agents only: when the webhook refuses the caller
// (or is down), a node agent's read of Pods is denied, and everyone else
// is unaffected.
func TestNodeAuthzFailsClosedForNodeAgentsOnly(t *testing.T) {
	env := newAuthzEnv(t, false) // the kube-apiserver presents no client certificate: 401
	if got, _, err := env.authorize(t, certAgent, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"); got != authorizer.DecisionDeny || err == nil {
		t.Errorf("a node agent's scoped list when the webhook refuses the caller: %v (%v), want Deny with an error", got, err)
	}
	if env.reached == 0 {
		t.Error("the request never reached the webhook server")
	}
	if got, _, err := env.authorize(t, alice, "GET", "/api/v1/pods"); got != authorizer.DecisionNoOpinion || err != nil {
		t.Errorf("someone else's list when the webhook refuses the caller: %v (%v), want NoOpinion", got, err)
	}
}
