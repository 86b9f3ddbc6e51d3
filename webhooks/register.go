package webhooks

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Register serves the VMI handlers on the manager's webhook server.
func Register(mgr manager.Manager) {
	dec := admission.NewDecoder(mgr.GetScheme())
	srv := mgr.GetWebhookServer()
	srv.Register(MutateVMIPath, &webhook.Admission{Handler: &VMIDefaulter{Decoder: dec}})
	srv.Register(ValidateVMIPath, &webhook.Admission{Handler: &VMIValidator{Decoder: dec}})
}
