//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvirt/podvirt/audit"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// The attack suite (make attack): each test acts as the attacker it names,
// never as cluster admin (the admin only sets the scene), and logs what it
// tried and what stopped it.

// attempt logs an attack step and its answer, and fails unless the answer
// holds want.
func attempt(t *testing.T, what, out string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("ATTACK GOT THROUGH: %s: err=%v\n%s", what, err, out)
		return
	}
	t.Logf("tried %s -> stopped: %s", what, strings.TrimSpace(lastLine(out)))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Attacker: a namespace editor who wants a guest (and its disks) to outlive
// its VMI by releasing the terminating launcher Pod's finalizer.
func TestAttackEditorReleasesTheLauncherFinalizer(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "mallory")
	as := []string{"--as", "mallory", "-n", ns}
	vmi := libvmi.NewTiny(libvmi.WithTerminationGracePeriod(30))
	fp := e.Track(t, ns, vmi.Name)
	if out, err := e.Kubectl(framework.Manifest(t, vmi), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("the editor's VMI: %v\n%s", err, out)
	}
	e.WaitForVMIPhase(t, ns, vmi.Name, 120*time.Second, v1alpha1.Running)
	pod := domainspec.PodName(vmi.Name)
	out, err := e.Kubectl("", append([]string{"patch", "pod", pod, "--type=merge", "-p", `{"metadata":{"finalizers":["podvirt.io/domain","podvirt.io/launcher"]}}`}, as...)...)
	attempt(t, "adding a podvirt finalizer to the running launcher Pod", out, err, "changed finalizer podvirt.io/launcher")
	if out, err := e.Kubectl("", append([]string{"delete", "vmi", vmi.Name, "--wait=false"}, as...)...); err != nil {
		t.Fatalf("deleting the VMI: %v\n%s", err, out)
	}
	e.WaitForPod(t, ns, pod, "the launcher Pod terminating", 60*time.Second, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	out, err = e.Kubectl("", append([]string{"patch", "pod", pod, "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`}, as...)...)
	attempt(t, "removing the node agent's finalizer from the terminating launcher Pod", out, err, "changed finalizer podvirt.io/domain")
	e.ExpectNoLeaks(t, fp)
}

// Attacker: a namespace editor whose old guest was left behind (here the
// scene is set as it was before the guard: the node agent down while the
// finalizer went). A new VMI of the same name must never start the old
// domain, its disks or its cloud-init.
func TestAttackStaleDomainIsNeverStarted(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	e.editor(t, ns, "mallory")
	as := []string{"--as", "mallory", "-n", ns}
	vmi := libvmi.NewTiny(libvmi.WithName("reused"))
	if out, err := e.Kubectl(framework.Manifest(t, vmi), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("the first VMI: %v\n%s", err, out)
	}
	first := e.WaitForVMIPhase(t, ns, vmi.Name, 120*time.Second, v1alpha1.Running)
	dom := domainspec.Name(ns, vmi.Name)
	e.GuestConsole(t, dom)
	oldDir := e.VMIDir(first.UID)
	oldPod := &corev1.Pod{}
	if err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: domainspec.PodName(vmi.Name)}, oldPod); err != nil {
		t.Fatal(err)
	}
	oldFiles, err := e.PodVMIDir(oldPod) // its disks, cloud-init, serial log
	if err != nil {
		t.Fatal(err)
	}

	// The scene: the node agent is down; the VMI goes, and so does the
	// launcher Pod's finalizer (the hole the guard now closes).
	e.StopNodeAgent(t)
	if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", vmi.Name, "--wait=false"); err != nil {
		t.Fatalf("deleting the first VMI: %v\n%s", err, out)
	}
	e.ShutdownDomain(dom) // the old guest powers off, its domain stays defined
	framework.Eventually(t, "the old guest off", 60*time.Second, func() (bool, error) {
		s, err := e.DomainState(dom)
		return s == framework.StateShutoff, err
	})
	if err := e.PatchAs(t, "system:podvirt:nodeagent:"+e.Node, []string{"podvirt:nodeagents"}, podRef(ns, domainspec.PodName(vmi.Name)),
		types.JSONPatchType, `[{"op":"remove","path":"/metadata/finalizers"}]`); err != nil {
		t.Fatalf("setting the scene (the finalizer released): %v", err)
	}
	e.WaitForLauncherPodsGone(t, ns, vmi.Name, 90*time.Second)
	framework.Eventually(t, "the first VMI gone", 60*time.Second, func() (bool, error) {
		err := e.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: vmi.Name}, &v1alpha1.VirtualMachineInstance{})
		return err != nil, nil
	})

	// The attack: the same name again, with the old domain still defined.
	fp := e.Track(t, ns, vmi.Name)
	if out, err := e.Kubectl(framework.Manifest(t, vmi), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("the second VMI: %v\n%s", err, out)
	}
	e.StartNodeAgent(t)
	second := e.WaitForVMIPhase(t, ns, vmi.Name, 120*time.Second, v1alpha1.Running)
	if second.UID == first.UID {
		t.Fatal("the second VMI has the first one's UID")
	}
	xml, err := os.ReadFile(filepath.Join("/var/run/libvirt/qemu", dom+".xml"))
	if err != nil {
		t.Fatalf("the running domain's definition: %v", err)
	}
	if !strings.Contains(string(xml), string(second.UID)) || strings.Contains(string(xml), string(first.UID)) {
		t.Errorf("ATTACK GOT THROUGH: the running domain is not the new VMI's (want uid %s, not %s)", second.UID, first.UID)
	} else {
		t.Logf("tried starting a new VMI over the old VMI's shut-off domain -> stopped: the old domain was removed and the new one defined (uid %s)", second.UID)
	}
	for _, dir := range []string{oldDir, oldFiles} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("ATTACK GOT THROUGH: the old VMI's directory %s (its disks, cloud-init, sockets) is still there: %v", dir, err)
		}
	}
	if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", vmi.Name, "--timeout=90s"); err != nil {
		t.Fatalf("deleting: %v\n%s", err, out)
	}
	e.ExpectNoLeaks(t, fp)
}

// Attacker: holder of one node agent's credentials.
func TestAttackNodeAgentCredentials(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	agent := []string{"--as", "system:podvirt:nodeagent:" + e.Node, "--as-group", "podvirt:nodeagents", "-n", ns}
	// A VMI no node can take: it stays Scheduling, with no node.
	pending := libvmi.NewTiny(libvmi.WithName("pending"), libvmi.WithNodeSelector("podvirt.io/e2e-no-such-node", "x"))
	e.Apply(t, ns, pending)
	e.WaitForVMIPhase(t, ns, "pending", 60*time.Second, v1alpha1.Scheduling)
	out, err := e.Kubectl("", append([]string{"patch", "vmi", "pending", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Failed","reason":"Forged","nodeName":"` + e.Node + `"}}`}, agent...)...)
	attempt(t, "failing a VMI not bound to this node (claiming it in the same write)", out, err, "may only report VMIs that the scheduler bound to its own node")

	// An ordinary Pod on this node, and a launcher Pod.
	if out, err := e.Kubectl(fmt.Sprintf(plainPod, "plain", ""), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("the ordinary Pod: %v\n%s", err, out)
	}
	e.WaitForPod(t, ns, "plain", "the ordinary Pod on the node", 60*time.Second, func(p *corev1.Pod) bool { return p.Spec.NodeName == e.Node })
	// Writes go straight to PATCH, as the agent's own client does (kubectl
	// would read first, which the node agent authorizer refuses).
	agentUser, agentGroups := "system:podvirt:nodeagent:"+e.Node, []string{"podvirt:nodeagents"}
	patchAs := func(name, patch string) (string, error) {
		err := e.PatchAs(t, agentUser, agentGroups, podRef(ns, name), types.MergePatchType, patch)
		if err != nil {
			return err.Error(), err
		}
		return "", nil
	}
	out, err = patchAs("plain", `{"metadata":{"labels":{"stolen":"yes"}}}`)
	attempt(t, "relabelling an ordinary Pod on its own node", out, err, "may only add or remove the podvirt.io/domain finalizer of a launcher Pod")
	out, err = e.Kubectl("", append([]string{"delete", "pod", "plain", "--wait=false"}, agent...)...)
	attempt(t, "deleting a Pod on its own node", out, err, `cannot delete resource "pods"`) // RBAC first; the VAP denies it too

	tiny := libvmi.NewTiny()
	e.Apply(t, ns, tiny)
	e.WaitForVMIPhase(t, ns, tiny.Name, 120*time.Second, v1alpha1.Running)
	out, err = patchAs(domainspec.PodName(tiny.Name), `{"metadata":{"annotations":{"note":"x"}}}`)
	attempt(t, "annotating its own node's launcher Pod", out, err, "may only add or remove the podvirt.io/domain finalizer")
	out, err = patchAs(domainspec.PodName(tiny.Name), `{"metadata":{"finalizers":["podvirt.io/domain","example.com/keep"]}}`)
	attempt(t, "adding a foreign finalizer to its own node's launcher Pod", out, err, "may only add or remove the podvirt.io/domain finalizer")

	// Reads: the node agent authorizer (webhooks/nodeauthz) in the API
	// server's authorization chain. Cluster-wide impersonation flags (no -n).
	agentAll := []string{"--as", "system:podvirt:nodeagent:" + e.Node, "--as-group", "podvirt:nodeagents"}
	out, err = e.Kubectl("", append([]string{"get", "pods", "-A"}, agentAll...)...)
	attempt(t, "listing every Pod in the cluster", out, err, `cannot list resource "pods"`)
	out, err = e.Kubectl("", append([]string{"get", "pods", "-A", "--field-selector", "spec.nodeName=another-node"}, agentAll...)...)
	attempt(t, "listing another node's Pods", out, err, `cannot list resource "pods"`)
	out, err = e.Kubectl("", append([]string{"get", "pods", "-A", "--field-selector", "spec.nodeName!=" + e.Node}, agentAll...)...)
	attempt(t, "listing every Pod not on its node", out, err, `cannot list resource "pods"`)
	out, err = e.Kubectl("", append([]string{"get", "pod", "plain", "-n", ns}, agentAll...)...)
	attempt(t, "getting a Pod by name (no node scope possible)", out, err, `cannot get resource "pods"`)
	out, err = e.Kubectl("", "get", "pods", "-A", "--as", "system:serviceaccount:podvirt-system:podvirt-nodeagent")
	attempt(t, "listing Pods as the node agent's service account with no node bound into the token", out, err, `cannot list resource "pods"`)
	// What it is for still works: its own node's Pods.
	if out, err := e.Kubectl("", append([]string{"get", "pods", "-A", "--field-selector", "spec.nodeName=" + e.Node, "-o", "name"}, agentAll...)...); err != nil || !strings.Contains(out, "pod/"+domainspec.PodName(tiny.Name)) {
		t.Errorf("the node agent cannot list its own node's Pods: %v\n%s", err, out)
	}
}

// Attacker: a namespace editor with a registry of their own, here a server
// on the node's loopback that answers with what only the node should see.
func TestAttackRegistryOnTheNode(t *testing.T) {
	e := newEnv(t)
	ns := e.Namespace(t)
	var hits atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "SECRET-ONLY-THE-NODE-KNOWS", http.StatusUnauthorized)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()
	image := ln.Addr().String() + "/guest:1"
	vmi := libvmi.NewTiny(libvmi.WithName("probe"), libvmi.WithKernelBoot(image, "/boot/vmlinux", "/boot/initrd.img"))
	e.Apply(t, ns, vmi)
	got := e.WaitForVMIPhase(t, ns, "probe", 120*time.Second, v1alpha1.Failed)
	status := fmt.Sprintf("%s %s %+v", got.Status.Reason, got.Status.Phase, got.Status.Conditions)
	switch {
	case got.Status.Reason != "RegistryRefused":
		t.Errorf("ATTACK GOT THROUGH: reason %q, want RegistryRefused (%s)", got.Status.Reason, status)
	case strings.Contains(status, "SECRET"):
		t.Errorf("ATTACK GOT THROUGH: the registry's words reached the VMI's status: %s", status)
	case hits.Load() != 0:
		t.Errorf("ATTACK GOT THROUGH: the node agent connected to the loopback registry %d times", hits.Load())
	default:
		t.Logf("tried an image on the node's loopback (%s) -> stopped: VMI Failed/%s, registry never contacted", image, got.Status.Reason)
	}
}

// Attacker: any Pod that can reach the webhook port, POSTing an
// AdmissionReview of its own to be believed and recorded.
func TestAttackForgedAdmissionReview(t *testing.T) {
	e := newEnv(t)
	uid := "e2e-forged-" + time.Now().Format("150405.000000")
	review := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,
 "kind":{"group":"podvirt.io","version":"v1alpha1","kind":"VirtualMachineInstance"},
 "resource":{"group":"podvirt.io","version":"v1alpha1","resource":"virtualmachineinstances"},
 "namespace":"kube-system","name":"forged","operation":"CREATE","userInfo":{"username":"system:admin"},
 "object":{"apiVersion":"podvirt.io/v1alpha1","kind":"VirtualMachineInstance","metadata":{"name":"forged","namespace":"kube-system"},"spec":{}}}}`, uid)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	// Through the webhook Service, as any Pod reaches it.
	base := "https://" + framework.WebhookClusterIP + ":443"
	for _, path := range []string{"/validate-vmi", "/mutate-vmi", "/validate-launcher-pod", "/authorize-nodeagent-pods"} {
		resp, err := client.Post(base+path, "application/json", bytes.NewReader([]byte(review)))
		if err != nil {
			t.Errorf("POST %s%s did not reach the webhooks, so this attack proves nothing: %v", base, path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("ATTACK GOT THROUGH: POST %s answered %d: %s", path, resp.StatusCode, body)
			continue
		}
		t.Logf("tried POST %s without the API server's certificate -> stopped: %d %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	for rec, err := range audit.Read(context.Background(), e.AuditDir(t), audit.Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.UID == uid {
			t.Errorf("ATTACK GOT THROUGH: the forged review is in the audit chain: %+v", rec)
		}
	}
}

func podRef(ns, name string) *corev1.Pod {
	p := &corev1.Pod{}
	p.Namespace, p.Name = ns, name
	return p
}

// Attacker: a namespace editor under a ResourceQuota who asks for an
// emptyDisk far larger than the quota and than the node (once counted as
// nothing: the disk was a sparse file outside the launcher Pod). The
// launcher Pod declares every disk as ephemeral storage, so the quota
// refuses the Pod; without a quota, the scheduler finds no node for it.
func TestAttackEmptyDiskBeyondTheQuota(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	e.editor(t, ns, "mallory")
	as := []string{"--as", "mallory", "-n", ns}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "disk", Namespace: ns}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
		corev1.ResourceRequestsEphemeralStorage: resource.MustParse("10Gi"), corev1.ResourceLimitsEphemeralStorage: resource.MustParse("10Gi"),
	}}}
	if err := e.Client.Create(ctx, quota); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{}
	if err := e.Client.Get(ctx, types.NamespacedName{Name: e.Node}, node); err != nil {
		t.Fatal(err)
	}
	beyondNode := node.Status.Allocatable[corev1.ResourceEphemeralStorage]
	beyondNode.Add(resource.MustParse("1Gi"))

	// Under the quota: the controller's launcher Pod is refused.
	fp := e.Track(t, ns, "hog")
	vmi := libvmi.NewTiny(libvmi.WithName("hog"), libvmi.WithEmptyDisk("scratch", "541G"))
	if out, err := e.Kubectl(framework.Manifest(t, vmi), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("the editor's VMI: %v\n%s", err, out)
	}
	var events string
	framework.Eventually(t, "the quota to refuse the launcher Pod", 60*time.Second, func() (bool, error) {
		out, err := e.Kubectl("", "get", "events", "-n", ns, "--field-selector", "involvedObject.name=hog", "-o", "jsonpath={.items[*].message}")
		events = out
		return err == nil && strings.Contains(out, "exceeded quota") && strings.Contains(out, "ephemeral-storage"), err
	})
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: domainspec.PodName("hog")}, &corev1.Pod{}); err == nil {
		t.Errorf("ATTACK GOT THROUGH: a launcher Pod exists for a 541G emptyDisk under a 10Gi quota")
	} else {
		t.Logf("tried a 541G emptyDisk under a 10Gi ephemeral-storage quota -> stopped: %s", lastLine(events))
	}
	e.DeleteVMI(t, ns, "hog", 60*time.Second)
	e.ExpectNoLeaks(t, fp)

	// Without a quota: the launcher Pod fits no node.
	if err := e.Client.Delete(ctx, quota); err != nil {
		t.Fatal(err)
	}
	fp = e.Track(t, ns, "hog2")
	vmi = libvmi.NewTiny(libvmi.WithName("hog2"), libvmi.WithEmptyDisk("scratch", beyondNode.String()))
	if out, err := e.Kubectl(framework.Manifest(t, vmi), append([]string{"apply", "-f", "-"}, as...)...); err != nil {
		t.Fatalf("the editor's VMI: %v\n%s", err, out)
	}
	p := e.WaitForPod(t, ns, domainspec.PodName("hog2"), "the scheduler to refuse the launcher Pod", 60*time.Second, func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, "ephemeral-storage") {
				return true
			}
		}
		return false
	})
	if p.Spec.NodeName != "" {
		t.Errorf("ATTACK GOT THROUGH: the launcher Pod of a %s emptyDisk was bound to %s", beyondNode.String(), p.Spec.NodeName)
	} else {
		t.Logf("tried an emptyDisk of %s, beyond node %s -> stopped: unschedulable", beyondNode.String(), e.Node)
	}
	e.DeleteVMI(t, ns, "hog2", 60*time.Second)
	e.ExpectNoLeaks(t, fp)
}
