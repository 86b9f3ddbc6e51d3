//go:build e2e

package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"libvirt.org/go/libvirtxml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// editor makes user a namespace editor (the "edit" ClusterRole, plus the
// VMI permissions a cluster would aggregate into it) in ns.
func (e *env) editor(t *testing.T, ns, user string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "vmi-editor", Namespace: ns}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"podvirt.io"}, Resources: []string{"virtualmachineinstances"}, Verbs: []string{"*"},
	}}}
	if err := e.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	for _, rb := range []*rbacv1.RoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "edit-" + user, Namespace: ns}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "vmi-" + user, Namespace: ns}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "vmi-editor"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}}},
	} {
		if err := e.Client.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
	}
}

const plainPod = `
apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {app: plain}
  annotations: {%s}
spec:
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: podvirt.io/pause:dev
    imagePullPolicy: Never
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`

// TestLauncherPodGuard acts as a namespace editor (impersonation) and tries
// to make the node agent run a VM from a Pod it wrote itself.
func TestLauncherPodGuard(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "alice")
	as := []string{"--as", "alice", "-n", ns}

	out, err := e.Kubectl(fmt.Sprintf(plainPod, "forged", `podvirt.io/domain: "<domain type='kvm'/>"`), append([]string{"apply", "-f", "-"}, as...)...)
	if err == nil || !strings.Contains(out, `admission webhook "launcher-pod-guard.podvirt.io" denied the request: only podvirt's controller may create Pods with podvirt.io/ labels, annotations or finalizers (found annotation podvirt.io/domain)`) {
		t.Errorf("creating a Pod with a podvirt.io/ annotation: err=%v\n%s", err, out)
	}

	out, err = e.Kubectl(fmt.Sprintf(plainPod, "plain", ""), append([]string{"apply", "-f", "-"}, as...)...)
	if err != nil {
		t.Fatalf("an ordinary Pod was refused: %v\n%s", err, out)
	}
	out, err = e.Kubectl("", append([]string{"annotate", "pod", "plain", "podvirt.io/domain=<domain/>"}, as...)...)
	if err == nil || !strings.Contains(out, "only podvirt's controller may add, change or remove podvirt.io/ labels, annotations or finalizers (changed annotation podvirt.io/domain)") {
		t.Errorf("annotating an existing Pod: err=%v\n%s", err, out)
	}
	out, err = e.Kubectl("", append([]string{"label", "pod", "plain", "podvirt.io/vmi=tiny"}, as...)...)
	if err == nil || !strings.Contains(out, "changed label podvirt.io/vmi") {
		t.Errorf("labelling an existing Pod: err=%v\n%s", err, out)
	}

	// Not even a cluster admin may forge one: only the controller's identity.
	out, err = e.Kubectl(fmt.Sprintf(plainPod, "forged-by-admin", `podvirt.io/domain: "<domain/>"`), "apply", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(out, "only podvirt's controller may create Pods") {
		t.Errorf("cluster admin forging a launcher Pod: err=%v\n%s", err, out)
	}

	// The editor may use VMIs, and may not touch the launcher Pod's keys.
	if out, err := e.Kubectl(framework.Manifest(t, libvmi.NewTiny()), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("a namespace editor could not create a VMI: %v\n%s", err, out)
	}
	e.WaitForPod(t, ns, domainspec.PodName("tiny"), "launcher Pod", 60*time.Second, nil)
	out, err = e.Kubectl("", append([]string{"annotate", "--overwrite", "pod", domainspec.PodName("tiny"), "podvirt.io/domain=<domain type='kvm'><devices><hostdev/></devices></domain>"}, as...)...)
	if err == nil || !strings.Contains(out, "changed annotation podvirt.io/domain") {
		t.Errorf("rewriting a launcher Pod's domain: err=%v\n%s", err, out)
	}
}

// TestRestrictedNamespace runs a VMI in a namespace enforcing Pod Security
// "restricted" under a ResourceQuota: the launcher Pod is admitted and the
// quota counts it.
func TestRestrictedNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	nsObj := &corev1.Namespace{}
	if err := e.Client.Get(ctx, types.NamespacedName{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if err := e.Client.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: ns}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		corev1.ResourcePods: resource.MustParse("5"), corev1.ResourceRequestsMemory: resource.MustParse("1Gi"), corev1.ResourceLimitsMemory: resource.MustParse("1Gi"),
	}}}
	if err := e.Client.Create(ctx, quota); err != nil {
		t.Fatal(err)
	}
	footprint := e.Track(t, ns, "tiny")
	e.Apply(t, ns, libvmi.NewTiny())
	// Running in a restricted namespace.
	e.WaitForVMIPhase(t, ns, "tiny", 120*time.Second, v1alpha1.Running)
	framework.Eventually(t, "the quota to count the launcher Pod", 30*time.Second, func() (bool, error) {
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "q"}, quota); err != nil {
			return false, err
		}
		used := quota.Status.Used[corev1.ResourceRequestsMemory]
		return used.Cmp(resource.MustParse("256Mi")) == 0 && quota.Status.Used.Pods().Value() == 1, nil
	})
	e.DeleteVMI(t, ns, "tiny", 60*time.Second)
	e.ExpectNoLeaks(t, footprint)
}

// TestNodeAgentRestriction acts as another node's agent and tries to
// report on, and release, a VMI running on this node.
func TestNodeAgentRestriction(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	footprint := e.Track(t, ns, "tiny")
	e.Apply(t, ns, libvmi.NewTiny())
	vmi := e.WaitForVMIPhase(t, ns, "tiny", 120*time.Second, v1alpha1.Running)
	other := []string{"--as", "system:podvirt:nodeagent:other-node", "--as-group", "podvirt:nodeagents", "-n", ns}
	out, err := e.Kubectl("", append([]string{"patch", "vmi", "tiny", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Failed","reason":"Forged"}}`}, other...)...)
	if err == nil || !strings.Contains(out, "node agent of other-node may only report VMIs that the scheduler bound to its own node") {
		t.Errorf("another node's agent updating the VMI's status: err=%v\n%s", err, out)
	}
	out, err = e.Kubectl("", append([]string{"patch", "vmi", "tiny", "--subresource=status", "--type=merge", "-p", `{"status":{"nodeName":"other-node"}}`}, other...)...)
	if err == nil || !strings.Contains(out, "may only report VMIs that the scheduler bound to its own node") {
		t.Errorf("another node's agent claiming the VMI: err=%v\n%s", err, out)
	}
	// Straight to PATCH, as an agent's client does (kubectl would read the
	// Pod first, which the node agent authorizer refuses).
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = ns, domainspec.PodName("tiny")
	err = e.PatchAs(t, "system:podvirt:nodeagent:other-node", []string{"podvirt:nodeagents"}, pod, types.JSONPatchType, `[{"op":"remove","path":"/metadata/finalizers"}]`)
	if err == nil || !strings.Contains(err.Error(), "node agent of other-node may only change Pods bound to its own node") {
		t.Errorf("another node's agent releasing the launcher Pod: %v", err)
	}
	// This node's agent identity is allowed the same status write.
	own := []string{"--as", "system:podvirt:nodeagent:" + e.Node, "--as-group", "podvirt:nodeagents", "-n", ns}
	if out, err := e.Kubectl("", append([]string{"patch", "vmi", "tiny", "--subresource=status", "--type=merge", "-p", `{"status":{"reason":"Checked"}}`}, own...)...); err != nil {
		t.Errorf("the VMI's own node agent was refused: %v\n%s", err, out)
	}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "tiny"}, vmi); err != nil || vmi.Status.Phase != v1alpha1.Running {
		t.Errorf("VMI phase %q after the attempts (%v), want Running", vmi.Status.Phase, err)
	}
	e.DeleteVMI(t, ns, "tiny", 60*time.Second)
	e.ExpectNoLeaks(t, footprint)
}

const controllerSA = "system:serviceaccount:podvirt-system:podvirt-controller"

// signingKey reads the controller's signing key, as an attacker who
// compromised the controller would.
func (e *env) signingKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	s := &corev1.Secret{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: "podvirt-system", Name: "podvirt-domain-signing-key"}, s); err != nil {
		t.Fatal(err)
	}
	key, err := domainspec.PrivateKeyFromSecretData(s.Data)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// forgedLauncher is a launcher Pod for vmi, bound to this node, carrying
// domainXML and sig, created as the controller (past the Pod guard).
func (e *env) forgedLauncher(t *testing.T, vmi *v1alpha1.VirtualMachineInstance, name, domainXML, sig string) {
	t.Helper()
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: vmi.Namespace,
			Labels:      map[string]string{domainspec.LabelVMI: vmi.Name, domainspec.LabelVMIUID: string(vmi.UID)},
			Annotations: map[string]string{domainspec.AnnotationDomain: domainXML, domainspec.AnnotationSignature: sig},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "podvirt.io/v1alpha1", Kind: "VirtualMachineInstance",
				Name: vmi.Name, UID: vmi.UID, Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			NodeName:                     e.Node,
			AutomountServiceAccountToken: ptr.To(false),
			// The VMI's files live in this volume, as in the controller's
			// own launcher Pods: the node agent refuses a Pod without it.
			Volumes: []corev1.Volume{{Name: domainspec.StateVolume, VolumeSource: corev1.VolumeSource{
				EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Gi"))}}}},
			Containers: []corev1.Container{{Name: "launcher", Image: e.Image(t, "launcher"), ImagePullPolicy: corev1.PullIfNotPresent,
				Args:      []string{"--domain", "forged"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("2Gi")}}}},
		},
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := e.Kubectl(string(raw), "create", "--as", controllerSA, "-f", "-"); err != nil {
		t.Fatalf("creating the forged launcher Pod as the controller: %v\n%s", err, out)
	}
}

// parkedVMI creates a VMI whose own launcher Pod can never be scheduled,
// so a forged Pod is the only one the node agent sees for it.
func (e *env) parkedVMI(t *testing.T, ns, name string) *v1alpha1.VirtualMachineInstance {
	t.Helper()
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(name), libvmi.WithNodeSelector(noSuchNode, "true")))
	return e.WaitForVMIPhase(t, ns, name, 30*time.Second, v1alpha1.Scheduling)
}

// waitRefused checks that this node's agent refused the forged launcher
// Pod of vmi for reason: an Event from the node agent says why, naming each
// of messages, and no domain exists. The VMI itself is parked (the
// scheduler bound it nowhere), so the agent may not write its status (the
// node restriction admits status writes only for VMIs bound to the agent's
// node): it stays Scheduling.
func (e *env) waitRefused(t *testing.T, vmi *v1alpha1.VirtualMachineInstance, reason string, message ...string) {
	t.Helper()
	var note string
	framework.Eventually(t, vmi.Name+"'s "+reason+" Event", 60*time.Second, func() (bool, error) {
		list := &eventsv1.EventList{}
		if err := e.Client.List(context.Background(), list, client.InNamespace(vmi.Namespace)); err != nil {
			return false, err
		}
		for _, ev := range list.Items {
			if ev.Regarding.Name == vmi.Name && ev.Reason == reason && ev.ReportingController == "podvirt-nodeagent" {
				note = ev.Note
				return true, nil
			}
		}
		return false, nil
	})
	for _, m := range message {
		if !strings.Contains(note, m) {
			t.Errorf("%s: the node agent's Event %q lacks %q", vmi.Name, note, m)
		}
	}
	if state, err := e.DomainState(domainspec.Name(vmi.Namespace, vmi.Name)); err != nil || state != framework.StateAbsent {
		t.Errorf("%s: libvirt domain state %v, %v; want Absent", vmi.Name, state, err)
	}
	if got := e.VMI(t, vmi.Namespace, vmi.Name); got.Status.Phase != v1alpha1.Scheduling {
		t.Errorf("%s: phase %q, want Scheduling: a node agent wrote the status of a VMI not bound to its node", vmi.Name, got.Status.Phase)
	}
}

// TestNodeAllowlistSecondWall bypasses admission and the controller: a
// domain signed with the real key (a compromised controller) that passes
// through a host device, reads a host file and runs a QEMU command line.
// The node agent must refuse it whoever signed it.
func TestNodeAllowlistSecondWall(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	vmi := e.parkedVMI(t, ns, "victim")
	dom, err := domain.Render(vmi, domain.Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	dom.Devices.Hostdevs = append(dom.Devices.Hostdevs, libvirtxml.DomainHostdev{
		SubsysPCI: &libvirtxml.DomainHostdevSubsysPCI{Source: &libvirtxml.DomainHostdevSubsysPCISource{
			Address: &libvirtxml.DomainAddressPCI{Domain: ptr.To(uint(0)), Bus: ptr.To(uint(0)), Slot: ptr.To(uint(2)), Function: ptr.To(uint(0))}}},
	})
	dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{Device: "disk",
		Source: &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: "/dev/vda"}},
		Target: &libvirtxml.DomainDiskTarget{Dev: "vdz", Bus: "virtio"}})
	dom.QEMUCommandline = &libvirtxml.DomainQEMUCommandline{Args: []libvirtxml.DomainQEMUCommandlineArg{{Value: "-device"}, {Value: "ivshmem"}}}
	xml, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	const name = "victim-forged"
	sig, err := domainspec.Sign(e.signingKey(t), domainspec.Payload{Namespace: ns, PodName: name, VMIUID: string(vmi.UID), NodeName: e.Node, DomainXML: xml})
	if err != nil {
		t.Fatal(err)
	}
	e.forgedLauncher(t, vmi, name, xml, sig)
	e.waitRefused(t, vmi, "DomainRefused", "devices.hostdev[0]: Forbidden", `devices.disk[0].source.dev: Forbidden: "/dev/vda" is outside the writable directories`, "qemu:commandline: Forbidden")
}

// TestSignatureForAnotherVMIRefused copies a genuine launcher Pod's domain
// and signature onto a Pod for another VMI: the node agent must refuse it.
func TestSignatureForAnotherVMIRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	// The donor runs here, so the controller signs its Pod for this node.
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("donor")))
	donorPod := e.WaitForPod(t, ns, domainspec.PodName("donor"), "the donor's signed launcher Pod", 60*time.Second, func(p *corev1.Pod) bool {
		return p.Annotations[domainspec.AnnotationSignature] != ""
	})
	target := e.parkedVMI(t, ns, "target")
	e.forgedLauncher(t, target, "target-copied", donorPod.Annotations[domainspec.AnnotationDomain], donorPod.Annotations[domainspec.AnnotationSignature])
	e.waitRefused(t, target, "SignatureInvalid", "did not sign this domain")
	donor := &v1alpha1.VirtualMachineInstance{}
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "donor"}, donor); err != nil || donor.Status.Phase == v1alpha1.Failed {
		t.Errorf("the donor VMI changed: %q, %v", donor.Status.Phase, err)
	}
}

// TestCraftedValuesCannotInjectXML submits values crafted to break out of
// XML elements and attributes; the launcher Pod's domain parses back to
// exactly those values, with nothing injected.
func TestCraftedValuesCannotInjectXML(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	const args = `console=ttyS0 </cmdline></os><devices><hostdev mode='subsystem'/></devices><os><cmdline>`
	const serial = `x'/><qemu:commandline xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><qemu:arg value="-S"/></qemu:commandline><x a='`
	vmi := diffVMI(ns, diffCase{rule: "inject", name: "xml", mutate: func(v *v1alpha1.VirtualMachineInstance) {
		v.Labels["evil"] = "a-b"
		v.Annotations = map[string]string{"note": `"/><hostdev/>`}
		v.Spec.NodeSelector = map[string]string{"podvirt.io/no-such-node": "true"}
		v.Spec.Domain.Firmware.KernelBoot.KernelArgs = args
		v.Spec.Domain.Firmware.Serial = serial
	}})
	if err := e.Client.Create(ctx, vmi); err != nil {
		t.Fatalf("creating the VMI: %v", err)
	}
	p := &corev1.Pod{}
	framework.Eventually(t, "launcher Pod", 60*time.Second, func() (bool, error) {
		err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName(vmi.Name)}, p)
		return err == nil, err
	})
	dom, err := domainspec.Parse(p.Annotations[domainspec.AnnotationDomain])
	if err != nil {
		t.Fatal(err)
	}
	md, err := domainspec.ReadMetadata(dom)
	if err != nil {
		t.Fatal(err)
	}
	if dom.OS.Cmdline != args || md.Name != vmi.Name || len(dom.SysInfo) != 1 || dom.SysInfo[0].SMBIOS.System.Entry[0].Value != serial {
		t.Errorf("values changed on the way:\ncmdline %q\nsysinfo %+v", dom.OS.Cmdline, dom.SysInfo)
	}
	if len(dom.Devices.Hostdevs) != 0 || dom.QEMUCommandline != nil {
		t.Errorf("injected: hostdevs %d, qemu:commandline %v", len(dom.Devices.Hostdevs), dom.QEMUCommandline)
	}
}

// TestSignatureForAnotherNodeRefused signs a genuine domain with the real
// key, but for another node, and binds the Pod to this one: this node's
// agent must refuse it.
func TestSignatureForAnotherNodeRefused(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	vmi := e.parkedVMI(t, ns, "moved")
	xml, err := domain.RenderXML(vmi, domain.Options{Type: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	const name = "moved-elsewhere"
	sig, err := domainspec.Sign(e.signingKey(t), domainspec.Payload{Namespace: ns, PodName: name, VMIUID: string(vmi.UID), NodeName: "other-node", DomainXML: xml})
	if err != nil {
		t.Fatal(err)
	}
	e.forgedLauncher(t, vmi, name, xml, sig)
	e.waitRefused(t, vmi, "SignatureInvalid", "did not sign this domain")
}
