package scenario

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvirt/podvirt/test/bench/internal/rules"
)

func (e *Env) create(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured) error {
	if _, err := e.Dyn.Resource(gvr).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// LoadVMIPolicies creates one VMIPolicy per rule and waits until each is
// Ready (compiled) and the rules deny the violating probe.
func (e *Env) LoadVMIPolicies(ctx context.Context, rs []rules.Rule) error {
	for _, r := range rs {
		if err := e.create(ctx, VMIPolicies, rules.VMIPolicy(r)); err != nil {
			return err
		}
	}
	for _, r := range rs {
		name := rules.ObjectName(r)
		err := poll(ctx, e.ProbeTimeout, probeInterval, "VMIPolicy "+name+" Ready", func() (bool, error) {
			u, err := e.Dyn.Resource(VMIPolicies).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Ready" {
					if m["status"] == "True" {
						return true, nil
					}
					return false, fmt.Errorf("VMIPolicy %s not ready: %v", name, m["message"])
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	return e.waitRules(ctx, rs)
}

// LoadVAPs creates a ValidatingAdmissionPolicy and its binding per rule
// and waits until the rules deny the violating probe.
func (e *Env) LoadVAPs(ctx context.Context, rs []rules.Rule) error {
	for _, r := range rs {
		p, b := rules.VAP(r)
		if err := e.create(ctx, VAPs, p); err != nil {
			return err
		}
		if err := e.create(ctx, VAPBindings, b); err != nil {
			return err
		}
	}
	return e.waitRules(ctx, rs)
}

// LoadKyverno creates a Kyverno ValidatingPolicy per rule and waits
// until Kyverno has registered its webhook and the rules deny the
// violating probe.
func (e *Env) LoadKyverno(ctx context.Context, rs []rules.Rule) error {
	for _, r := range rs {
		if err := e.create(ctx, KyvernoPolicies, rules.KyvernoPolicy(r)); err != nil {
			return err
		}
	}
	return e.waitRules(ctx, rs)
}

// Unload deletes the benchmark's objects of gvr and waits until no rule
// denies the violating probe.
func (e *Env) Unload(ctx context.Context, gvrs ...schema.GroupVersionResource) error {
	for _, gvr := range gvrs {
		if err := e.deleteBench(ctx, gvr); err != nil {
			return err
		}
	}
	return e.waitRules(ctx, nil)
}

// deleteBench deletes every object of gvr carrying the benchmark's label
// and waits until they are gone. A resource the cluster does not serve
// (no Kyverno CRDs) holds nothing to delete.
func (e *Env) deleteBench(ctx context.Context, gvr schema.GroupVersionResource) error {
	res := e.Dyn.Resource(gvr)
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the benchmark's %s: %w", gvr.Resource, err)
	}
	for _, u := range list.Items {
		if err := res.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s %s: %w", gvr.Resource, u.GetName(), err)
		}
	}
	return poll(ctx, e.ProbeTimeout, probeInterval, "the benchmark's "+gvr.Resource+" gone", func() (bool, error) {
		l, err := res.List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
		if err != nil {
			return false, err
		}
		return len(l.Items) == 0, nil
	})
}

// deleteBenchObjects deletes everything the benchmark may have made.
func (e *Env) deleteBenchObjects(ctx context.Context) error {
	var errs []error
	if err := e.SetNoop(ctx, false); err != nil {
		errs = append(errs, err)
	}
	for _, gvr := range []schema.GroupVersionResource{VMIPolicies, VAPBindings, VAPs, KyvernoPolicies} {
		if err := e.deleteBench(ctx, gvr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
