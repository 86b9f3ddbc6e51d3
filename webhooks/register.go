package webhooks

import (
	"net/http"

	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/podvirt/podvirt/audit"
	"github.com/podvirt/podvirt/policies"
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
}

// Register serves the handlers on the manager's webhook server, each
// wrapped so its decisions are audited.
func Register(mgr manager.Manager, opts Options) {
	srv := mgr.GetWebhookServer()
	audited := func(name string, h admission.Handler) http.Handler {
		return opts.Callers.Wrap(&webhook.Admission{Handler: &Audited{Webhook: name, Inner: h, Log: opts.AuditLog, Metrics: opts.Metrics, Events: opts.Events}})
	}
	srv.Register(MutateVMIPath, audited(audit.WebhookMutateVMI, NewVMIDefaulter(mgr.GetScheme())))
	srv.Register(ValidateVMIPath, audited(audit.WebhookValidateVMI, &VMIValidator{
		Policies: opts.Policies, Namespaces: mgr.GetClient(), NamespacesLive: mgr.GetAPIReader(), Params: opts.Params,
	}))
	srv.Register(PodGuardPath, audited(audit.WebhookPodGuard, &PodGuard{Creators: opts.LauncherPodCreators, NodeAgents: opts.NodeAgents}))
	if opts.Compiler != nil {
		srv.Register(ValidatePolicyPath, audited(audit.WebhookValidatePolicy, NewVMIPolicyValidator(mgr.GetScheme(), opts.Compiler)))
	}
}
