package webhooks

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Options configure the handlers.
type Options struct {
	// LauncherPodCreators are the user names the Pod guard lets create
	// launcher Pods.
	LauncherPodCreators []string
}

// Register serves the handlers on the manager's webhook server.
func Register(mgr manager.Manager, opts Options) {
	dec := admission.NewDecoder(mgr.GetScheme())
	srv := mgr.GetWebhookServer()
	srv.Register(MutateVMIPath, &webhook.Admission{Handler: &VMIDefaulter{Decoder: dec}})
	srv.Register(ValidateVMIPath, &webhook.Admission{Handler: &VMIValidator{Decoder: dec}})
	srv.Register(PodGuardPath, &webhook.Admission{Handler: &PodGuard{Creators: opts.LauncherPodCreators}})
}
