// Package certs owns the webhook server's TLS identity: the CA (kept in a
// Secret so every replica's certificate is trusted by one CA bundle), the
// serving certificate issued from it and rotated in-process (Rotator, a
// manager.Runnable on every replica), and CABundleInjector, the controller
// that keeps caBundle of podvirt's webhook configurations equal to the CA
// and is the readiness check that they do.
//
// It knows nothing of what the webhooks decide. Imports: the standard
// library's crypto, k8s.io/api and apimachinery, and controller-runtime
// (client, builder, predicate); nothing of podvirt's.
package certs
