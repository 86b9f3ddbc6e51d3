// Package certs owns the webhook server's TLS identity: the CA (kept in a
// Secret so every replica's certificate is trusted by one CA bundle), the
// serving certificate issued from it and rotated in-process (Rotator, a
// manager.Runnable on every replica, which the webhook server reads
// through Rotator.GetCertificate), and CABundleInjector, the controller
// that keeps caBundle of podvirt's webhook configurations equal to the CA,
// also on every replica. CABundleInjector.TrustChecker is the readiness
// check that those bundles trust the certificate this replica serves.
//
// It knows nothing of what the webhooks decide. Imports: the standard
// library's crypto, k8s.io/api and apimachinery, and controller-runtime
// (client, builder, controller, healthz, predicate); nothing of podvirt's.
package certs
