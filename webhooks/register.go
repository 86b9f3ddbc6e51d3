package webhooks

import (
	"net/http"

	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podvirt/podvirt/audit"
	"github.com/podvirt/podvirt/policies"
	"github.com/podvirt/podvirt/webhooks/nodeauthz"
)

// Options configure the handlers.
type Options struct {
	// LauncherPodCreators are the user names the Pod guard lets create
	// launcher Pods.
	LauncherPodCreators []string
	// NodeAgents are the user names of node agents (a trailing ":" makes
	// a prefix): the Pod guard lets them add and remove their finalizer.
	NodeAgents []string
	// Compiler type-checks VMIPolicies; Policies holds the compiled ones.
	Compiler *policies.Compiler
	Policies *policies.Cache
	Params   policies.ParamSource
	// Callers, when set, admits only the kube-apiserver.
	Callers *CallerAuth
	// AuditLog, Metrics and Events record every decision.
	AuditLog *audit.Writer
	Metrics  *audit.Metrics
	Events   events.EventRecorder
	// NodeAuthz counts the node agent authorization webhook's decisions.
	NodeAuthz *nodeauthz.Metrics
}

// Register serves the handlers on the manager's webhook server: the
// admission handlers each wrapped so its decisions are audited, served by
// a ReviewHandler behind the caller authentication, and the
// node agent authorization webhook (nodeauthz) beside them.
func Register(mgr manager.Manager, opts Options) {
	srv := mgr.GetWebhookServer()
	audited := func(name string, h admission.Handler) http.Handler {
		return opts.Callers.Wrap(&ReviewHandler{
			Handler: &Audited{Webhook: name, Inner: h, Log: opts.AuditLog, Metrics: opts.Metrics, Events: opts.Events},
			Log:     log.Log.WithName("admission").WithValues("webhook", name),
		})
	}
	srv.Register(MutateVMIPath, audited(audit.WebhookMutateVMI, NewVMIDefaulter()))
	srv.Register(ValidateVMIPath, audited(audit.WebhookValidateVMI, &VMIValidator{
		Policies: opts.Policies, Namespaces: mgr.GetClient(), NamespacesLive: mgr.GetAPIReader(), Params: opts.Params,
	}))
	srv.Register(ValidateVMPath, audited(audit.WebhookValidateVM, &VMValidator{
		Policies: opts.Policies, Namespaces: mgr.GetClient(), NamespacesLive: mgr.GetAPIReader(), Params: opts.Params,
	}))
	srv.Register(PodGuardPath, audited(audit.WebhookPodGuard, &PodGuard{Creators: opts.LauncherPodCreators, NodeAgents: opts.NodeAgents}))
	if opts.Compiler != nil {
		srv.Register(ValidatePolicyPath, audited(audit.WebhookValidatePolicy, NewVMIPolicyValidator(mgr.GetScheme(), opts.Compiler)))
	}
	srv.Register(nodeauthz.Path, nodeAuthz(opts))
}

// nodeAuthz is the node agent authorization webhook as served: behind the
// same caller authentication as the admission handlers (the kube-apiserver
// presents the same client certificate), but not through Audited. It
// answers SubjectAccessReviews, not AdmissionReviews: there is no admission
// to record, and it is called for every read of Pods by a node agent, which
// would flood the hash-chained log. Its decisions are counted, and its
// denials logged and in the kube-apiserver's own audit log.
func nodeAuthz(opts Options) http.Handler {
	return opts.Callers.Wrap(&nodeauthz.Handler{Metrics: opts.NodeAuthz, Log: log.Log.WithName("nodeauthz")})
}
