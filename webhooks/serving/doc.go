// Package serving runs podvirt's webhook server so that replicas can come
// and go with no failed admission: Server is a webhook.Server that drains
// in-flight requests (with their contexts intact) when the manager stops
// it, bounded by a drain timeout, and reports not-ready while it drains;
// ShutdownDelay keeps the process serving, and not ready, for a while
// after SIGTERM, so that Service endpoints and the kube-apiserver stop
// sending to it before it stops listening.
//
// It knows nothing of what the handlers decide or where certificates come
// from (TLSOpts set GetCertificate). Imports: the standard library, logr
// and controller-runtime's webhook and healthz packages; nothing of
// podvirt's.
package serving
