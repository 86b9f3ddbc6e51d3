package webhooks

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
	named := func(names []string) predicate.Predicate {
		return predicate.NewPredicateFuncs(func(o client.Object) bool { return slices.Contains(names, o.GetName()) })
	}
	if err := ctrl.NewControllerManagedBy(mgr).Named("cabundle-mutating").
		For(&admissionregistrationv1.MutatingWebhookConfiguration{}, builder.WithPredicates(named(r.MutatingWebhooks))).
		Complete(reconcileFunc(r.reconcileMutating)); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).Named("cabundle-validating").
		For(&admissionregistrationv1.ValidatingWebhookConfiguration{}, builder.WithPredicates(named(r.ValidatingWebhooks))).
		Complete(reconcileFunc(r.reconcileValidating))
}

type reconcileFunc func(context.Context, ctrl.Request) (ctrl.Result, error)

func (f reconcileFunc) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return f(ctx, req)
}

func (r *CABundleInjector) reconcileMutating(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := r.Client.Get(ctx, req.NamespacedName, cfg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := cfg.DeepCopy()
	changed := false
	for i := range cfg.Webhooks {
		changed = r.set(&cfg.Webhooks[i].ClientConfig) || changed
	}
	return ctrl.Result{}, r.patch(ctx, cfg, orig, changed)
}

func (r *CABundleInjector) reconcileValidating(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.Client.Get(ctx, req.NamespacedName, cfg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	orig := cfg.DeepCopy()
	changed := false
	for i := range cfg.Webhooks {
		changed = r.set(&cfg.Webhooks[i].ClientConfig) || changed
	}
	return ctrl.Result{}, r.patch(ctx, cfg, orig, changed)
}

func (r *CABundleInjector) set(cc *admissionregistrationv1.WebhookClientConfig) bool {
	if bytes.Equal(cc.CABundle, r.CA) {
		return false
	}
	cc.CABundle = r.CA
	return true
}

func (r *CABundleInjector) patch(ctx context.Context, obj, orig client.Object, changed bool) error {
	if !changed {
		return nil
	}
	if err := r.Client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("writing the CA bundle into %s: %w", obj.GetName(), err)
	}
	log.FromContext(ctx).Info("CA bundle written", "configuration", obj.GetName())
	return nil
}

// Checker is a readiness check: ready once every named configuration
// trusts the CA, so nothing calls a webhook it cannot verify.
func (r *CABundleInjector) Checker(req *http.Request) error {
	ctx := req.Context()
	for _, name := range r.MutatingWebhooks {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, cfg); err != nil {
			return fmt.Errorf("MutatingWebhookConfiguration %s: %w", name, err)
		}
		for _, w := range cfg.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, r.CA) {
				return fmt.Errorf("webhook %s does not trust the CA yet", w.Name)
			}
		}
	}
	for _, name := range r.ValidatingWebhooks {
		cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, cfg); err != nil {
			return fmt.Errorf("ValidatingWebhookConfiguration %s: %w", name, err)
		}
		for _, w := range cfg.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, r.CA) {
				return fmt.Errorf("webhook %s does not trust the CA yet", w.Name)
			}
		}
	}
	return nil
}
