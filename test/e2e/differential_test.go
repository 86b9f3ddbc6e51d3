//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// diffRuleLabel scopes each rule to the VMIs made for it, so the rules of
// one phase never judge each other's VMIs (or other tests' VMIs).
const diffRuleLabel = "diff.podvirt.io/rule"

type diffRule struct{ name, expression, message string }

// diffRules are written once and enforced both ways (from the shared
// benchmark's rules).
var diffRules = []diffRule{
	{"max-cores", "object.spec.domain.cpu.cores <= 8", "cores must be <= 8"},
	{"max-memory", "quantity(object.spec.domain.memory.guest).compareTo(quantity('16Gi')) <= 0", "memory must be <= 16Gi"},
	{"min-memory", "quantity(object.spec.domain.memory.guest).isGreaterThan(quantity('127Mi'))", "memory must be >= 128Mi"},
	{"image-registry", "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.containerDisk) || v.containerDisk.image.startsWith('registry.example.io/'))", "containerDisk images must come from registry.example.io/"},
	{"image-no-latest", "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.containerDisk) || (v.containerDisk.image.contains(':') && !v.containerDisk.image.endsWith(':latest')))", "containerDisk images must be pinned (no :latest)"},
	{"label-app", "has(object.metadata.labels) && 'app' in object.metadata.labels", "label app is required"},
	{"label-owner", "has(object.metadata.labels) && 'owner' in object.metadata.labels && object.metadata.labels['owner'].matches('^[a-z][a-z0-9-]{1,62}$')", "label owner is required and must be a DNS label"},
	{"max-volumes", "!has(object.spec.volumes) || size(object.spec.volumes) <= 8", "at most 8 volumes"},
	{"max-vcpus", "(has(object.spec.domain.cpu.sockets) ? object.spec.domain.cpu.sockets : 1) * object.spec.domain.cpu.cores * (has(object.spec.domain.cpu.threads) ? object.spec.domain.cpu.threads : 1) <= 16", "sockets*cores*threads must be <= 16"},
	{"grace-period", "!has(object.spec.terminationGracePeriodSeconds) || object.spec.terminationGracePeriodSeconds <= 600", "terminationGracePeriodSeconds must be <= 600"},
	{"mem-per-core", "quantity(object.spec.domain.memory.guest).asInteger() <= object.spec.domain.cpu.cores * 8589934592", "at most 8Gi memory per core"},
}

type diffCase struct {
	rule   string
	name   string
	mutate libvmi.Option
}

// withVolumes adds a disk per image, backed by a containerDisk of that
// image, or by an emptyDisk for "", each with only its name (the webhook
// defaults the rest).
func withVolumes(images ...string) libvmi.Option {
	var opts []libvmi.Option
	for i, img := range images {
		vol := v1alpha1.Volume{EmptyDisk: &v1alpha1.EmptyDiskSource{Capacity: resource.MustParse("1Gi")}}
		if img != "" {
			vol = v1alpha1.Volume{ContainerDisk: &v1alpha1.ContainerDiskSource{Image: img}}
		}
		opts = append(opts, libvmi.WithDisk(fmt.Sprintf("d%d", i), vol, libvmi.DiskKindDefault()))
	}
	return libvmi.Options(opts...)
}

var (
	memory = libvmi.WithMemory
	cpu    = libvmi.WithCPUTopology
	labels = libvmi.WithLabels
	grace  = libvmi.WithTerminationGracePeriod
	// defaulted leaves the base VMI as it is.
	defaulted = libvmi.Options()
)

var diffCases = []diffCase{
	{"max-cores", "cores-2", cpu(1, 2, 1)}, {"max-cores", "cores-8", cpu(1, 8, 1)}, {"max-cores", "cores-9", cpu(1, 9, 1)},
	{"max-memory", "mem-1gi", memory("1Gi")}, {"max-memory", "mem-16gi", memory("16Gi")}, {"max-memory", "mem-17gi", memory("17Gi")},
	{"min-memory", "mem-128mi", memory("128Mi")}, {"min-memory", "mem-127mi", memory("127Mi")}, {"min-memory", "mem-64mi", memory("64Mi")},
	{"image-registry", "ok", withVolumes("registry.example.io/os:1")}, {"image-registry", "quay", withVolumes("quay.io/os:1")},
	{"image-registry", "no-container-disk", withVolumes("")}, {"image-registry", "one-bad-of-two", withVolumes("registry.example.io/os:1", "docker.io/os:1")},
	{"image-no-latest", "latest", withVolumes("registry.example.io/os:latest")}, {"image-no-latest", "pinned", withVolumes("registry.example.io/os:1.0")},
	{"image-no-latest", "untagged", withVolumes("registry.example.io/os")},
	{"label-app", "with-app", labels("app", "db")}, {"label-app", "without", labels()}, {"label-app", "other", labels("application", "db")},
	{"label-owner", "team-a", labels("owner", "team-a")}, {"label-owner", "uppercase", labels("owner", "Team")}, {"label-owner", "none", labels()},
	{"max-volumes", "two", withVolumes("", "")}, {"max-volumes", "nine", withVolumes("", "", "", "", "", "", "", "", "")},
	{"max-volumes", "eight", withVolumes("", "", "", "", "", "", "", "")},
	{"max-vcpus", "sixteen", cpu(2, 8, 1)}, {"max-vcpus", "thirty-two", cpu(2, 8, 2)}, {"max-vcpus", "defaulted", defaulted},
	{"grace-period", "600", grace(600)}, {"grace-period", "601", grace(601)}, {"grace-period", "defaulted", defaulted},
	{"mem-per-core", "8gi-1core", libvmi.Options(memory("8Gi"), cpu(1, 1, 1))},
	{"mem-per-core", "9gi-1core", libvmi.Options(memory("9Gi"), cpu(1, 1, 1))},
	{"mem-per-core", "16gi-2cores", libvmi.Options(memory("16Gi"), cpu(1, 2, 1))},
}

// diffVMI is the case's VMI: a tiny guest without initrd, command line
// or grace period, labeled for its rule, then changed by the case.
func diffVMI(ns string, c diffCase) *v1alpha1.VirtualMachineInstance {
	return libvmi.New(
		libvmi.WithNamespace(ns),
		libvmi.WithName(c.rule+"-"+c.name),
		libvmi.WithLabel(diffRuleLabel, c.rule),
		libvmi.WithMemory(libvmi.TinyMemory),
		libvmi.WithAutoattachPodInterface(false),
		libvmi.WithKernelBoot(libvmi.TinyImage, libvmi.TinyKernel, ""),
		c.mutate,
	)
}

// verdict is the outcome of a server-side dry-run create: "" when allowed,
// else the policy's message (what follows "denied request: ").
func (e *env) verdict(t *testing.T, v *v1alpha1.VirtualMachineInstance) (string, error) {
	err := e.Client.Create(context.Background(), v.DeepCopy(), client.DryRunAll)
	if err == nil {
		return "", nil
	}
	msg := err.Error()
	i := strings.Index(msg, "denied request: ")
	if i < 0 {
		return "", fmt.Errorf("not a policy denial: %w", err)
	}
	return msg[i+len("denied request: "):], nil
}

// TestDifferentialVMIPolicyVsVAP enforces each rule first as a native
// ValidatingAdmissionPolicy on the VMI CRD, then as a VMIPolicy through
// podvirt, on the same kube-apiserver, and compares the verdicts and
// messages pair by pair.
func TestDifferentialVMIPolicyVsVAP(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	vapVerdicts := e.phase(t, "native VAP", func(r diffRule) []client.Object {
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{diffRuleLabel: r.name}}
		return []client.Object{
			&admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "diff-" + r.name},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
					FailurePolicy: ptr.To(admissionregistrationv1.Fail),
					MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
						RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{"CREATE"},
							Rule: admissionregistrationv1.Rule{APIGroups: []string{"podvirt.io"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"virtualmachineinstances"}}},
					}}},
					Validations: []admissionregistrationv1.Validation{{Expression: r.expression, Message: r.message}},
				}},
			&admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "diff-" + r.name},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "diff-" + r.name,
					ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
					MatchResources:    &admissionregistrationv1.MatchResources{ObjectSelector: sel}}},
		}
	}, ns)
	podvirtVerdicts := e.phase(t, "VMIPolicy", func(r diffRule) []client.Object {
		return []client.Object{&v1alpha1.VMIPolicy{ObjectMeta: metav1.ObjectMeta{Name: "diff-" + r.name},
			Spec: v1alpha1.VMIPolicySpec{
				MatchConstraints: &v1alpha1.VMIMatchConstraints{
					ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{diffRuleLabel: r.name}},
					Operations:     []admissionregistrationv1.OperationType{"CREATE"},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: r.expression, Message: r.message}},
			}}}
	}, ns)

	agree, denied := 0, 0
	for i, c := range diffCases {
		if vapVerdicts[i] == podvirtVerdicts[i] {
			agree++
		} else {
			t.Errorf("%s/%s: native VAP %q, VMIPolicy %q", c.rule, c.name, vapVerdicts[i], podvirtVerdicts[i])
		}
		if vapVerdicts[i] != "" {
			denied++
		}
	}
	t.Logf("VMIPolicy agrees with ValidatingAdmissionPolicy on %d of %d (rule, VMI) pairs (%d denied, %d allowed)", agree, len(diffCases), denied, len(diffCases)-denied)
	if len(diffCases) < 30 || denied == 0 || denied == len(diffCases) {
		t.Errorf("the table must hold at least 30 pairs with both verdicts (%d pairs, %d denied)", len(diffCases), denied)
	}
}

// phase installs every rule with install, waits until each rule denies
// something it must deny, records every pair's verdict, and removes the
// rules again.
func (e *env) phase(t *testing.T, what string, install func(diffRule) []client.Object, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var objs []client.Object
	for _, r := range diffRules {
		for _, o := range install(r) {
			if err := e.Client.Create(ctx, o); err != nil {
				t.Fatalf("%s: creating %s: %v", what, o.GetName(), err)
			}
			objs = append(objs, o)
		}
	}
	defer func() {
		for _, o := range objs {
			_ = e.Client.Delete(ctx, o)
		}
		// Give the apiserver's and podvirt's policy caches time to drop
		// them before the next phase.
		time.Sleep(3 * time.Second)
	}()
	// Wait until every rule is in force: its first denying pair is denied.
	ready := map[string]bool{}
	_ = framework.Poll(ctx, 200*time.Millisecond, 30*time.Second, func(context.Context) (bool, error) {
		for _, c := range diffCases {
			if ready[c.rule] {
				continue
			}
			if v, err := e.verdict(t, diffVMI(ns, c)); err == nil && v != "" {
				ready[c.rule] = true
			}
		}
		return len(ready) == len(diffRules), nil
	})
	if len(ready) < len(diffRules) {
		t.Logf("%s: only %d of %d rules denied anything within 30s", what, len(ready), len(diffRules))
	}
	verdicts := make([]string, len(diffCases))
	for i, c := range diffCases {
		v, err := e.verdict(t, diffVMI(ns, c))
		if err != nil {
			t.Errorf("%s: %s/%s: %v", what, c.rule, c.name, err)
		}
		verdicts[i] = v
	}
	return verdicts
}
