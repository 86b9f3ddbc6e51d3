package certs

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// SetupWithManager registers one controller per configuration kind.
func (r *CABundleInjector) SetupWithManager(mgr ctrl.Manager) error {
	for _, kind := range r.kinds() {
		names := kind.names
		err := ctrl.NewControllerManagedBy(mgr).Named("cabundle-"+kind.label).
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

// Checker is a readiness check: ready once every named configuration
// trusts the CA, so nothing calls a webhook it cannot verify.
func (r *CABundleInjector) Checker(req *http.Request) error {
	for _, kind := range r.kinds() {
		for _, name := range kind.names {
			obj := kind.newObject()
			if err := r.Client.Get(req.Context(), client.ObjectKey{Name: name}, obj); err != nil {
				return fmt.Errorf("%s %s: %w", kind.label, name, err)
			}
			for _, cc := range clientConfigs(obj) {
				if !bytes.Equal(cc.CABundle, r.CA) {
					return fmt.Errorf("%s %s does not trust the CA yet", kind.label, name)
				}
			}
		}
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
