// Package webhooks is podvirt's admission surface: the handlers the
// kube-apiserver calls and their registration on the manager's webhook
// server. It owns
//
//   - /mutate-vmi, VMIDefaulter: vmirules.Default as the smallest JSON
//     patch of the request (none when nothing changes);
//   - /validate-vmi, VMIValidator: vmirules.Validate / ValidateUpdate,
//     then every matching VMIPolicy, from a single parse of the object;
//   - /validate-vm, VMValidator: a VirtualMachine sets running or
//     runStrategy, not both, and the VMI its template describes passes
//     vmirules and the VMIPolicies as that VMI would;
//   - /validate-vmipolicy, NewVMIPolicyValidator: a policy must compile
//     and type-check against the VMI schema;
//   - /validate-launcher-pod, PodGuard: only the controller creates or
//     changes Pods with podvirt.io/ labels or annotations;
//   - Audited, the middleware that writes each decision to the audit log
//     before the response leaves, ReviewHandler, which serves an
//     admission.Handler AdmissionReviews, and Register, which wraps every
//     admission handler in both;
//   - /authorize-nodeagent-pods, nodeauthz.Handler: not an admission but
//     the kube-apiserver's authorization webhook for node agents' Pod
//     reads, registered by Register behind CallerAuth and outside Audited.
//
// The rules themselves live in sub-packages named for what they hold:
// vmirules (VMI defaulting and validation, pure), nodeauthz (the node
// agent authorization policy and its handler, pure), certs (serving
// certificates and the CA bundle), policycontroller (the VMIPolicy
// controller and the API-server param source) and serving (the webhook
// server that drains on shutdown). The audit log is the
// top-level package audit.
//
// Imports: audit, crds/v1alpha1, policies, webhooks/vmirules, webhooks/nodeauthz,
// controller-runtime's webhook and admission packages, k8s.io/api,
// apimachinery and sigs.k8s.io/json. Not certs, policycontroller or serving
// (cmd/podvirt-controller wires those next to it), never launcher, nodeagent
// or the controllers.
//
// The handlers stay in this package rather than moving to
// webhooks/admission: they are what "webhooks" names, and a package called
// admission would shadow controller-runtime's admission package, which
// every file here imports.
//
// Registration is by hand (Server.Register with each handler wrapped in
// Audited), not builder.WebhookManagedBy: the builder registers
// controller-runtime's handler on the server itself, leaving no place for
// the audit middleware, and derives paths that are not the ones deploy/
// configures. The VMIPolicy validator uses admission.WithValidator inside
// that wrapper; the VMI defaulter and validator are hand-written (see
// VMIDefaulter and VMIValidator), and reviews are decoded by
// ReviewHandler rather than admission.Webhook: both for the cost of each
// admission (issue #16, test/bench/README.md).
package webhooks
