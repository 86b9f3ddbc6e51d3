package nodeauthz

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// Path is where the webhook server serves the Handler; the kubeconfig of
// the kube-apiserver's authorization webhook names it.
const Path = "/authorize-nodeagent-pods"

// maxBody bounds a SubjectAccessReview: a user, its groups and extras and
// one request's attributes are a few kilobytes.
const maxBody = 1 << 20

// Decisions are the label values of the decisions counter: the two
// verdicts, and "invalid" for a body that is no v1 SubjectAccessReview
// (answered 400, which the kube-apiserver's failurePolicy Deny turns into
// a denial).
const (
	DecisionDeny      = "deny"
	DecisionNoOpinion = "no_opinion"
	DecisionInvalid   = "invalid"
)

// Metrics counts the webhook's decisions.
type Metrics struct {
	Decisions *prometheus.CounterVec
}

// NewMetrics registers the counter with reg (nil registers nothing).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "podvirt_nodeagent_authz_decisions_total",
		Help: "SubjectAccessReviews the node agent authorization webhook answered, by decision (deny, no_opinion, invalid).",
	}, []string{"decision"})}
	// Every series exists from the start, so a rate of denials is 0, not
	// absent, until the first one.
	for _, d := range []string{DecisionDeny, DecisionNoOpinion, DecisionInvalid} {
		m.Decisions.WithLabelValues(d)
	}
	if reg != nil {
		if err := reg.Register(m.Decisions); err != nil {
			return nil, fmt.Errorf("registering the node agent authorization metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) count(decision string) {
	if m != nil {
		m.Decisions.WithLabelValues(decision).Inc()
	}
}

// Handler answers the kube-apiserver's SubjectAccessReviews (v1) with
// Decide. It authenticates nobody: wrap it (webhooks.CallerAuth) so only
// the kube-apiserver reaches it. It is not an admission webhook, so it
// writes no admission audit record; the kube-apiserver's own audit log
// holds the denied requests.
type Handler struct {
	// Metrics, when set, counts decisions.
	Metrics *Metrics
	// Log records denials: the node agent never makes a request this
	// webhook denies, so each one is a misconfiguration or an attack.
	Log logr.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a SubjectAccessReview", http.StatusMethodNotAllowed)
		return
	}
	sar, err := decode(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		h.Metrics.count(DecisionInvalid)
		h.Log.Info("refused a request that is no SubjectAccessReview", "remote", r.RemoteAddr, "error", err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := Decide(&sar.Spec)
	if d.Verdict == Deny {
		h.Metrics.count(DecisionDeny)
		ra := sar.Spec.ResourceAttributes
		h.Log.Info("denied a node agent's request", "user", sar.Spec.User, "verb", ra.Verb,
			"namespace", ra.Namespace, "name", ra.Name, "subresource", ra.Subresource, "reason", d.Reason)
	} else {
		h.Metrics.count(DecisionNoOpinion)
	}
	// The answer carries the status only: the kube-apiserver reads
	// nothing else, and echoing the spec would return the user's extras.
	out := authorizationv1.SubjectAccessReview{TypeMeta: sar.TypeMeta, Status: d.Status()}
	body, err := json.Marshal(&out)
	if err != nil {
		// A struct of strings and bools always marshals; answer an error
		// (denied by failurePolicy) rather than nothing if it ever does not.
		http.Error(w, fmt.Sprintf("encoding the SubjectAccessReview: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// decode reads one authorization.k8s.io/v1 SubjectAccessReview.
func decode(body io.Reader) (*authorizationv1.SubjectAccessReview, error) {
	sar := &authorizationv1.SubjectAccessReview{}
	if err := json.NewDecoder(body).Decode(sar); err != nil {
		return nil, fmt.Errorf("decoding the SubjectAccessReview: %w", err)
	}
	if gvk := sar.GroupVersionKind(); gvk != authorizationv1.SchemeGroupVersion.WithKind("SubjectAccessReview") {
		return nil, fmt.Errorf("expected an authorization.k8s.io/v1 SubjectAccessReview (subjectAccessReviewVersion: v1), got %q %q", sar.APIVersion, sar.Kind)
	}
	return sar, nil
}
