//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestVMIPolicyLifecycle: a typo is a rejected policy; a new policy
// governs the next admission with no restart, reports Ready, and audits
// the VMIs that already exist; a warning policy warns.
func TestVMIPolicyLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)

	typo := `
apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: e2e-typo}
spec:
  validations:
    - expression: "object.spec.domian.memory.guest != ''"
`
	out, err := e.Kubectl(typo, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, `spec.validations[0].expression: Invalid value: "object.spec.domian.memory.guest != ''": compilation failed: ERROR: <input>:1:12: undefined field 'domian'`) {
		t.Fatalf("a policy with a typo: err=%v\n%s", err, out)
	}

	// A VMI that exists before the policy: the background audit must count it.
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("before-policy"), libvmi.WithNodeSelector(noSuchNode, "true")))

	policy := `
apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: e2e-require-team}
spec:
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ` + ns + `}}
  variables:
    - name: team
      expression: "object.metadata.?labels.team.orValue('')"
  validations:
    - expression: "variables.team != ''"
      messageExpression: "'VMI ' + object.metadata.name + ' needs a team label'"
      reason: Forbidden
`
	if out, err := e.Kubectl(policy, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply policy: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.Kubectl("", "delete", "vmipolicy", "e2e-require-team", "e2e-warn-grace") })

	p := &v1alpha1.VMIPolicy{}
	framework.Eventually(t, "the policy Ready with its background audit", 60*time.Second, func() (bool, error) {
		if err := e.Client.Get(ctx, types.NamespacedName{Name: "e2e-require-team"}, p); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(p.Status.Conditions, "Ready") && p.Status.Audit != nil && p.Status.ObservedGeneration == p.Generation, nil
	})
	if p.Status.Audit.Violations != 1 || len(p.Status.Audit.Results) != 1 || p.Status.Audit.Results[0].Name != "before-policy" ||
		p.Status.Audit.Results[0].Message != "VMI before-policy needs a team label" {
		t.Errorf("background audit %+v, want 1 violation: before-policy", p.Status.Audit)
	}

	var denied string
	tiny := framework.Manifest(t, libvmi.NewTiny())
	framework.Eventually(t, "the new policy to govern admission", 30*time.Second, func() (bool, error) {
		denied, err = e.Kubectl(tiny, "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err != nil, nil
	})
	if !strings.Contains(denied, "VMIPolicy 'e2e-require-team' denied request: VMI tiny needs a team label") {
		t.Errorf("denial message:\n%s", denied)
	}
	withTeam := framework.Manifest(t, libvmi.NewTiny(libvmi.WithLabel("team", "storage")))
	if out, err := e.Kubectl(withTeam, "apply", "--dry-run=server", "-n", ns, "-f", "-"); err != nil {
		t.Errorf("a VMI with a team label was refused: %v\n%s", err, out)
	}

	warn := `
apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: e2e-warn-grace}
spec:
  validationActions: [Warn]
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ` + ns + `}}
  validations:
    - expression: "object.spec.terminationGracePeriodSeconds >= 30"
      message: "a grace period under 30s may cut the guest's shutdown short"
`
	if out, err := e.Kubectl(warn, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply warn policy: %v\n%s", err, out)
	}
	framework.Eventually(t, "the warning", 30*time.Second, func() (bool, error) {
		out, err := e.Kubectl(withTeam, "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err == nil && strings.Contains(out, "Warning: Validation failed for VMIPolicy 'e2e-warn-grace': a grace period under 30s may cut the guest's shutdown short"), nil
	})
}

// TestVMIPolicyParamRef runs a policy whose limit lives in a ConfigMap
// (paramRef): the controller reads it with its own RBAC, a missing
// parameter denies (parameterNotFoundAction: Deny), and changing the
// ConfigMap changes the verdict with no policy change.
func TestVMIPolicyParamRef(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	policy := `
apiVersion: podvirt.io/v1alpha1
kind: VMIPolicy
metadata: {name: e2e-param-memory}
spec:
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ` + ns + `}}
  paramKind: {apiVersion: v1, kind: ConfigMap}
  paramRef: {name: e2e-vmi-limits, namespace: ` + ns + `, parameterNotFoundAction: Deny}
  validations:
    - expression: "quantity(object.spec.domain.memory.guest).compareTo(quantity(params.data.maxGuestMemory)) <= 0"
      messageExpression: "'guest memory ' + object.spec.domain.memory.guest + ' exceeds ' + params.data.maxGuestMemory"
`
	if out, err := e.Kubectl(policy, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply policy: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.Kubectl("", "delete", "vmipolicy", "e2e-param-memory") })
	tiny := framework.Manifest(t, libvmi.NewTiny())
	dryRun := func() (string, error) { return e.Kubectl(tiny, "apply", "--dry-run=server", "-n", ns, "-f", "-") }

	var out string
	framework.Eventually(t, "a denial for the missing parameter", 30*time.Second, func() (bool, error) {
		var err error
		out, err = dryRun()
		return err != nil, nil
	})
	// The message a ValidatingAdmissionPolicy gives in the same case.
	if !strings.Contains(out, "VMIPolicy 'e2e-param-memory' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction") {
		t.Errorf("missing parameter:\n%s", out)
	}
	if out, err := e.Kubectl("", "create", "configmap", "e2e-vmi-limits", "-n", ns, "--from-literal=maxGuestMemory=64Mi"); err != nil {
		t.Fatalf("creating the ConfigMap: %v\n%s", err, out)
	}
	framework.Eventually(t, "a denial from the limit", 30*time.Second, func() (bool, error) {
		out, _ = dryRun()
		return strings.Contains(out, "guest memory 128Mi exceeds 64Mi"), nil
	})
	if out, err := e.Kubectl("", "patch", "configmap", "e2e-vmi-limits", "-n", ns, "--type=merge", "-p", `{"data":{"maxGuestMemory":"1Gi"}}`); err != nil {
		t.Fatalf("raising the limit: %v\n%s", err, out)
	}
	framework.Eventually(t, "admission under the raised limit", 30*time.Second, func() (bool, error) {
		_, err := dryRun()
		return err == nil, nil
	})
}
