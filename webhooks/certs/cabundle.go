package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// CABundleInjector keeps caBundle of every webhook in the named webhook
// configurations equal to the CA: when a configuration is (re)applied, or
// someone edits its caBundle, the next reconcile writes it back, with no
// restart. It only ever patches caBundle.
type CABundleInjector struct {
	Client             client.Client
	CA                 []byte
	MutatingWebhooks   []string
	ValidatingWebhooks []string
}

// SetupWithManager registers one controller per configuration kind. They
// run on every replica, not only the leader: a replica's readiness waits
// for the CA bundles (TrustChecker), and must not depend on another
// replica being elected and alive to write them. Replicas share the CA,
// so they write the same bundle.
func (r *CABundleInjector) SetupWithManager(mgr ctrl.Manager) error {
	for _, kind := range r.kinds() {
		names := kind.names
		err := ctrl.NewControllerManagedBy(mgr).Named("cabundle-"+kind.label).
			WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
			For(kind.newObject(), builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return slices.Contains(names, o.GetName())
			}))).
			Complete(reconcileFunc(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
				return ctrl.Result{}, r.inject(ctx, kind.newObject(), req.Name)
			}))
		if err != nil {
			return err
		}
	}
	return nil
}

// Checker is a readiness check: ready once every webhook of every named
// configuration has exactly the CA as its caBundle. The controller uses
// TrustChecker, which asks for what matters: that the bundle verifies the
// certificate this replica serves.
func (r *CABundleInjector) Checker(req *http.Request) error {
	return r.TrustChecker(nil)(req)
}

// TrustChecker returns a readiness check that passes once the caBundle of
// every webhook in every named configuration verifies the certificate
// serving returns (the replica's current serving certificate): the CA that
// signed it is in the bundle, and it has not expired. A bundle may hold
// other CAs too. A named configuration that does not exist fails the
// check. With serving nil, each bundle must be exactly the injector's CA.
func (r *CABundleInjector) TrustChecker(serving func() *x509.Certificate) healthz.Checker {
	return func(req *http.Request) error {
		var leaf *x509.Certificate
		if serving != nil {
			if leaf = serving(); leaf == nil {
				return errors.New("no serving certificate yet")
			}
		}
		now := time.Now()
		for _, kind := range r.kinds() {
			for _, name := range kind.names {
				obj := kind.newObject()
				if err := r.Client.Get(req.Context(), client.ObjectKey{Name: name}, obj); err != nil {
					return fmt.Errorf("%s %s: %w", kind.label, name, err)
				}
				for i, cc := range clientConfigs(obj) {
					if err := r.trusts(cc.CABundle, leaf, now); err != nil {
						return fmt.Errorf("%s %s, webhook %d: %w", kind.label, name, i, err)
					}
				}
			}
		}
		return nil
	}
}

// trusts reports (as nil) whether bundle verifies leaf at now, or, with
// leaf nil, whether bundle is the injector's CA.
func (r *CABundleInjector) trusts(bundle []byte, leaf *x509.Certificate, now time.Time) error {
	if leaf == nil {
		if !bytes.Equal(bundle, r.CA) {
			return errors.New("the caBundle is not the CA yet")
		}
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return errors.New("the caBundle holds no certificate yet")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the caBundle does not trust the serving certificate yet: %w", err)
	}
	return nil
}

type configKind struct {
	label     string
	names     []string
	newObject func() client.Object
}

func (r *CABundleInjector) kinds() []configKind {
	return []configKind{
		{"mutating", r.MutatingWebhooks, func() client.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} }},
		{"validating", r.ValidatingWebhooks, func() client.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} }},
	}
}

// clientConfigs returns pointers to the client configs of every webhook of
// a configuration.
func clientConfigs(obj client.Object) []*admissionregistrationv1.WebhookClientConfig {
	var out []*admissionregistrationv1.WebhookClientConfig
	switch cfg := obj.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range cfg.Webhooks {
			out = append(out, &cfg.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range cfg.Webhooks {
			out = append(out, &cfg.Webhooks[i].ClientConfig)
		}
	}
	return out
}

func (r *CABundleInjector) inject(ctx context.Context, obj client.Object, name string) error {
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	orig := obj.DeepCopyObject().(client.Object)
	changed := false
	for _, cc := range clientConfigs(obj) {
		if !bytes.Equal(cc.CABundle, r.CA) {
			cc.CABundle, changed = r.CA, true
		}
	}
	if !changed {
		return nil
	}
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing the CA bundle into %s: %w", name, err)
	}
	log.FromContext(ctx).Info("CA bundle written", "configuration", name)
	return nil
}

type reconcileFunc func(context.Context, ctrl.Request) (ctrl.Result, error)

func (f reconcileFunc) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return f(ctx, req)
}
