package scenario

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvirt/podvirt/test/bench/internal/load"
	"github.com/podvirt/podvirt/test/bench/internal/rules"
)

// podvirt's VMI webhook configurations (deploy/base/webhooks.yaml).
const (
	PodvirtMutating   = "podvirt-vmi-defaulter"
	PodvirtValidating = "podvirt-vmi-validator"
	// NoopName names both of the no-op webhook's configurations.
	NoopName = "podvirt-bench-noop"
)

// Resources the benchmark creates or touches.
var (
	VMIPolicies     = schema.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "vmipolicies"}
	VMIs            = schema.GroupVersionResource{Group: "podvirt.io", Version: "v1alpha1", Resource: "virtualmachineinstances"}
	VAPs            = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	VAPBindings     = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
	KyvernoPolicies = schema.GroupVersionResource{Group: "policies.kyverno.io", Version: "v1", Resource: "validatingpolicies"}
)

// Noop says how the kube-apiserver reaches the no-op webhook: through a
// Service (in the cluster) or a URL (a local process, for development).
type Noop struct {
	ServiceNamespace, ServiceName string
	ServicePort                   int32
	URL                           string
	// CABundle verifies its serving certificate (PEM).
	CABundle []byte
}

// Install is one podvirt whose VMI webhooks a scenario puts in the path:
// its two webhook configurations, and the name of its scenarios and CPU
// group. The cluster's podvirt is DefaultInstall; a development run may
// add another build beside it (test/bench/dev.sh BENCH_DEV_BASELINE), to
// measure two builds side by side under the same load.
type Install struct {
	// Name prefixes the scenarios ("<name>-16") and names the CPU group.
	Name                 string
	Mutating, Validating string
	// DefaultsPolicy is the MutatingAdmissionPolicy that sets the VMI
	// defaults inside the kube-apiserver ("" for a build without one).
	DefaultsPolicy string
}

// DefaultInstall is podvirt as deploy/ installs it.
var DefaultInstall = Install{Name: WebhookPodvirt, Mutating: PodvirtMutating, Validating: PodvirtValidating, DefaultsPolicy: PodvirtDefaultsPolicy}

// Options configure an Env.
type Options struct {
	// Namespace the VMIs are created in (dry run); made if missing.
	Namespace string
	Rules     []rules.Rule
	Body      *load.VMIBody
	Noop      Noop
	// Installs are the podvirts measured ([DefaultInstall] if empty).
	Installs []Install
	// Settle is how long a switch that no probe can confirm (the no-op
	// webhook) is given to reach the kube-apiserver.
	Settle time.Duration
	// StateFile keeps what Prepare changed, for Restore.
	StateFile string
	// ProbeTimeout bounds each wait for a switch (default 90 s).
	ProbeTimeout time.Duration
	Log          func(format string, args ...any)
}

// Env is a cluster being benchmarked.
type Env struct {
	Options
	Kube kubernetes.Interface
	Dyn  dynamic.Interface
}

// New connects to the cluster.
func New(cfg *rest.Config, opts Options) (*Env, error) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("making the client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("making the dynamic client: %w", err)
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	if len(opts.Installs) == 0 {
		opts.Installs = []Install{DefaultInstall}
	}
	if opts.ProbeTimeout == 0 {
		opts.ProbeTimeout = 90 * time.Second
	}
	return &Env{Options: opts, Kube: kube, Dyn: dyn}, nil
}

// InPath lists what a VMI create passes through now.
func (e *Env) InPath(ctx context.Context) (Path, error) {
	ar := e.Kube.AdmissionregistrationV1()
	m, err := ar.MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing mutating webhooks: %w", err)
	}
	v, err := ar.ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing validating webhooks: %w", err)
	}
	p, err := ar.ValidatingAdmissionPolicies().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing ValidatingAdmissionPolicies: %w", err)
	}
	b, err := ar.ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing ValidatingAdmissionPolicyBindings: %w", err)
	}
	path := PathOf(m.Items, v.Items, p.Items, b.Items)
	mp, err := ar.MutatingAdmissionPolicies().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing MutatingAdmissionPolicies: %w", err)
	}
	mb, err := ar.MutatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Path{}, fmt.Errorf("listing MutatingAdmissionPolicyBindings: %w", err)
	}
	path.MAPs = mutatingPoliciesInPath(mp.Items, mb.Items)
	return path, nil
}

// poll calls f every interval until it returns true, an error, or the
// timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, what string, f func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := f()
		if err != nil {
			last = err
		} else if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
