package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

var hbStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// hbEnv is the node heartbeat controller over a fake API server, with a
// settable clock. Node node-a's agent renewed its Lease (40 s) at hbStart;
// VMI ns/tiny runs there.
type hbEnv struct {
	t       *testing.T
	c       client.Client
	r       *NodeHeartbeatReconciler
	rec     *events.FakeRecorder
	reg     *prometheus.Registry
	now     time.Time
	patches int
}

func runningVMI(name, node string) *v1alpha1.VirtualMachineInstance {
	return &v1alpha1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Status: v1alpha1.VirtualMachineInstanceStatus{Phase: v1alpha1.Running, NodeName: node, LauncherPodName: domainspec.PodName(name),
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "DomainRunning",
				LastTransitionTime: metav1.NewTime(hbStart.Add(-time.Hour))}}},
	}
}

func launcherOf(vmi *v1alpha1.VirtualMachineInstance) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: vmi.Namespace, Name: domainspec.PodName(vmi.Name), UID: types.UID("pod-" + vmi.Name),
			Labels:     map[string]string{domainspec.LabelVMI: vmi.Name, domainspec.LabelVMIUID: string(vmi.UID)},
			Finalizers: []string{domainspec.FinalizerDomain}},
		Spec: corev1.PodSpec{NodeName: vmi.Status.NodeName},
	}
}

func nodeLease(node string, renewed time.Time) *coordinationv1.Lease {
	t := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt-system", Name: domainspec.NodeLeaseName(node)},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &t},
	}
}

func newHBEnv(t *testing.T, f interceptor.Funcs, objs ...client.Object) *hbEnv {
	t.Helper()
	e := &hbEnv{t: t, rec: events.NewFakeRecorder(32), reg: prometheus.NewRegistry(), now: hbStart}
	if len(objs) == 0 {
		vmi := runningVMI("tiny", "node-a")
		objs = []client.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, nodeLease("node-a", hbStart), vmi, launcherOf(vmi)}
	}
	patch := f.SubResourcePatch
	f.SubResourcePatch = func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		e.patches++
		if patch != nil {
			return patch(ctx, c, sub, obj, p, opts...)
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}
	e.c = fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.VirtualMachineInstance{}).
		WithIndex(&v1alpha1.VirtualMachineInstance{}, VMINodeNameField, vmiNodeName).
		WithInterceptorFuncs(f).Build()
	m, err := NewHeartbeatMetrics(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	e.r = &NodeHeartbeatReconciler{Client: e.c, APIReader: e.c, Recorder: e.rec, Metrics: m, Namespace: "podvirt-system",
		UnknownTimeout: 5 * time.Minute, Now: func() time.Time { return e.now }}
	return e
}

func (e *hbEnv) reconcile(node string) ctrl.Result {
	e.t.Helper()
	res, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: node}})
	if err != nil {
		e.t.Fatalf("reconcile %s: %v", node, err)
	}
	return res
}

func (e *hbEnv) vmi(name string) *v1alpha1.VirtualMachineInstance {
	e.t.Helper()
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, vmi); err != nil {
		e.t.Fatal(err)
	}
	return vmi
}

func (e *hbEnv) pod(name string) *corev1.Pod {
	e.t.Helper()
	p := &corev1.Pod{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: domainspec.PodName(name)}, p); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *hbEnv) renew(node string) {
	e.t.Helper()
	l := &coordinationv1.Lease{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: "podvirt-system", Name: domainspec.NodeLeaseName(node)}, l); err != nil {
		e.t.Fatal(err)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: e.now}
	if err := e.c.Update(context.Background(), l); err != nil {
		e.t.Fatal(err)
	}
}

// expire lets node-a's Lease run out: observed at hbStart, then 41 s
// without a renewal.
func (e *hbEnv) expire() {
	e.t.Helper()
	e.reconcile("node-a")
	e.now = e.now.Add(41 * time.Second)
	e.reconcile("node-a")
}

func ready(vmi *v1alpha1.VirtualMachineInstance) metav1.Condition {
	if c := meta.FindStatusCondition(vmi.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func TestHeartbeatFreshLeaseLeavesVMIsAlone(t *testing.T) {
	e := newHBEnv(t, interceptor.Funcs{})
	res := e.reconcile("node-a")
	e.now = e.now.Add(39 * time.Second)
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Running || e.patches != 0 {
		t.Errorf("phase %q after %d status patches; a renewed Lease changes nothing", got.Status.Phase, e.patches)
	}
	if res.RequeueAfter != 41*time.Second {
		t.Errorf("requeue after %v, want when the Lease would run out (+1 s)", res.RequeueAfter)
	}
}

// The Lease runs out: Running VMIs go Unknown, Scheduled ones keep their
// phase (their guest never ran) but say why they are not ready, VMIs of
// other nodes and finished ones are left alone.
func TestHeartbeatExpiredLeaseMarksUnknown(t *testing.T) {
	tiny := runningVMI("tiny", "node-a")
	sched := runningVMI("sched", "node-a")
	sched.Status.Phase, sched.Status.Conditions = v1alpha1.Scheduled, nil
	done := runningVMI("done", "node-a")
	done.Status.Phase = v1alpha1.Succeeded
	elsewhere := runningVMI("elsewhere", "node-b")
	e := newHBEnv(t, interceptor.Funcs{}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, nodeLease("node-a", hbStart),
		tiny, launcherOf(tiny), sched, done, elsewhere)
	e.reconcile("node-a")
	e.now = e.now.Add(41 * time.Second)
	res := e.reconcile("node-a")

	got := e.vmi("tiny")
	c := ready(got)
	if got.Status.Phase != v1alpha1.Unknown || got.Status.Reason != ReasonNodeUnresponsive || c.Status != metav1.ConditionFalse || c.Reason != ReasonNodeUnresponsive {
		t.Fatalf("phase %q reason %q Ready %+v; want Unknown, NodeUnresponsive", got.Status.Phase, got.Status.Reason, c)
	}
	for _, want := range []string{"node node-a stopped heart-beating", "podvirt-system/podvirt-nodeagent-node-a", hbStart.Format(time.RFC3339)} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q lacks %q", c.Message, want)
		}
	}
	if !c.LastTransitionTime.Time.Equal(e.now) {
		t.Errorf("Ready transition %v, want now (%v): the unknown timeout counts from it", c.LastTransitionTime, e.now)
	}
	if s := e.vmi("sched"); s.Status.Phase != v1alpha1.Scheduled || ready(s).Reason != ReasonNodeUnresponsive {
		t.Errorf("Scheduled VMI: phase %q Ready %+v; want Scheduled, NodeUnresponsive", s.Status.Phase, ready(s))
	}
	if d := e.vmi("done"); d.Status.Phase != v1alpha1.Succeeded || ready(d).Reason != "DomainRunning" {
		t.Errorf("finished VMI changed: %+v", d.Status)
	}
	if o := e.vmi("elsewhere"); o.Status.Phase != v1alpha1.Running {
		t.Errorf("a VMI of another node changed: %+v", o.Status)
	}
	if res.RequeueAfter != 10*time.Second {
		t.Errorf("requeue after %v, want the 10 s recheck", res.RequeueAfter)
	}
	want := `
# HELP podvirt_controller_vmi_node_unresponsive_total VMIs marked unresponsive (Running ones Unknown) because their node's heartbeat Lease ran out, by node.
# TYPE podvirt_controller_vmi_node_unresponsive_total counter
podvirt_controller_vmi_node_unresponsive_total{node="node-a"} 2
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "podvirt_controller_vmi_node_unresponsive_total"); err != nil {
		t.Error(err)
	}
	if ev := drain(e.rec); len(ev) != 2 || !strings.HasPrefix(ev[0], "Warning NodeUnresponsive node node-a stopped heart-beating") {
		t.Errorf("events %q", ev)
	}
	// Marked once: the next pass writes nothing.
	n := e.patches
	e.reconcile("node-a")
	if e.patches != n {
		t.Errorf("%d more status patches on a second pass", e.patches-n)
	}
}

// The agent renews again: an Unknown VMI is the agent's to report Running
// (it checks the guest), the controller leaves it; a Scheduled one loses
// the condition only the controller set.
func TestHeartbeatRenewalLeavesUnknownToTheAgent(t *testing.T) {
	tiny := runningVMI("tiny", "node-a")
	sched := runningVMI("sched", "node-a")
	sched.Status.Phase, sched.Status.Conditions = v1alpha1.Scheduled, nil
	e := newHBEnv(t, interceptor.Funcs{}, nodeLease("node-a", hbStart), tiny, launcherOf(tiny), sched, launcherOf(sched))
	e.expire()
	e.now = e.now.Add(5 * time.Second)
	e.renew("node-a")
	n := e.patches
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Unknown || ready(got).Reason != ReasonNodeUnresponsive {
		t.Errorf("Unknown VMI after the renewal: %+v; the controller must leave it to the agent", got.Status)
	}
	if s := e.vmi("sched"); s.Status.Phase != v1alpha1.Scheduled || len(s.Status.Conditions) != 0 {
		t.Errorf("Scheduled VMI after the renewal: %+v; want its condition gone", s.Status)
	}
	if e.patches != n+1 {
		t.Errorf("%d status patches on renewal, want 1 (the Scheduled VMI's)", e.patches-n)
	}
}

// Past the unknown timeout on a node nobody fenced, the VMI stays Unknown
// and says what it waits for; its launcher Pod is left alone.
func TestHeartbeatUnknownStaysUnknownWithoutFencing(t *testing.T) {
	e := newHBEnv(t, interceptor.Funcs{})
	e.expire()
	since := ready(e.vmi("tiny")).LastTransitionTime
	e.now = e.now.Add(4 * time.Minute)
	if res := e.reconcile("node-a"); res.RequeueAfter <= 0 || res.RequeueAfter > time.Minute {
		t.Errorf("requeue after %v inside the timeout, want by its end (1m)", res.RequeueAfter)
	}
	e.now = e.now.Add(10 * time.Minute)
	e.reconcile("node-a")
	got := e.vmi("tiny")
	c := ready(got)
	if got.Status.Phase != v1alpha1.Unknown || got.Status.Reason != ReasonAwaitingFencing || c.Reason != ReasonAwaitingFencing {
		t.Fatalf("phase %q reason %q Ready %+v; want Unknown, AwaitingFencing", got.Status.Phase, got.Status.Reason, c)
	}
	for _, want := range []string{"is not fenced", "taint it node.kubernetes.io/out-of-service=nodeshutdown:NoExecute", "force-delete launcher Pod ns/virt-launcher-tiny", "docs/operations.md"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("Ready message %q lacks %q", c.Message, want)
		}
	}
	if !c.LastTransitionTime.Equal(&since) {
		t.Errorf("Ready transition moved from %v to %v", since, c.LastTransitionTime)
	}
	if p := e.pod("tiny"); p == nil || p.DeletionTimestamp != nil || len(p.Finalizers) != 1 {
		t.Errorf("launcher Pod of an unfenced node touched: %+v", p)
	}
	e.now = e.now.Add(time.Hour)
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Unknown {
		t.Errorf("phase %q an hour later, want Unknown: a Lease alone never fails a VMI", got.Status.Phase)
	}
}

// The out-of-service taint fences the node: past the unknown timeout the
// VMI fails NodeLost and its launcher Pod is released (force-deleted, the
// agent's finalizer removed), even while the VMI itself is being deleted.
func TestHeartbeatOutOfServiceTaintFailsNodeLost(t *testing.T) {
	vmi := runningVMI("tiny", "node-a")
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	vmi.DeletionTimestamp = &metav1.Time{Time: hbStart}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}}}}
	e := newHBEnv(t, interceptor.Funcs{}, node, nodeLease("node-a", hbStart), vmi, launcherOf(vmi))
	e.expire()
	e.now = e.now.Add(4 * time.Minute)
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Unknown {
		t.Fatalf("phase %q inside the unknown timeout, want Unknown", got.Status.Phase)
	}
	e.now = e.now.Add(time.Minute)
	e.reconcile("node-a")
	got := e.vmi("tiny")
	c := ready(got)
	if got.Status.Phase != v1alpha1.Failed || got.Status.Reason != ReasonNodeLost || c.Reason != ReasonNodeLost ||
		!strings.Contains(c.Message, "node node-a is tainted node.kubernetes.io/out-of-service") {
		t.Fatalf("phase %q reason %q Ready %+v; want Failed, NodeLost by the taint", got.Status.Phase, got.Status.Reason, c)
	}
	if p := e.pod("tiny"); p != nil {
		t.Errorf("launcher Pod still there: deletion %v, finalizers %v", p.DeletionTimestamp, p.Finalizers)
	}
	want := `
# HELP podvirt_controller_vmi_node_lost_total VMIs failed with reason NodeLost: unresponsive past the unknown timeout on a fenced node, by node.
# TYPE podvirt_controller_vmi_node_lost_total counter
podvirt_controller_vmi_node_lost_total{node="node-a"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "podvirt_controller_vmi_node_lost_total"); err != nil {
		t.Error(err)
	}
}

// A force-deleted launcher Pod (grace period 0) fences; a graceful
// deletion, which waits for a kubelet, does not.
func TestHeartbeatForceDeletedPodFences(t *testing.T) {
	for _, tc := range []struct {
		grace int64
		lost  bool
	}{{0, true}, {30, false}} {
		vmi := runningVMI("tiny", "node-a")
		p := launcherOf(vmi)
		p.DeletionTimestamp = &metav1.Time{Time: hbStart}
		p.DeletionGracePeriodSeconds = ptr.To(tc.grace)
		e := newHBEnv(t, interceptor.Funcs{}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, nodeLease("node-a", hbStart), vmi, p)
		e.expire()
		e.now = e.now.Add(6 * time.Minute)
		e.reconcile("node-a")
		got := e.vmi("tiny")
		if lost := got.Status.Phase == v1alpha1.Failed && got.Status.Reason == ReasonNodeLost; lost != tc.lost {
			t.Errorf("grace %d: phase %q reason %q, want NodeLost %v", tc.grace, got.Status.Phase, got.Status.Reason, tc.lost)
		}
		if tc.lost && !strings.Contains(ready(got).Message, "launcher Pod ns/virt-launcher-tiny was force-deleted (grace period 0)") {
			t.Errorf("Ready message %q does not name the fence", ready(got).Message)
		}
		if gone := e.pod("tiny") == nil; gone != tc.lost {
			t.Errorf("grace %d: launcher Pod gone %v, want %v", tc.grace, gone, tc.lost)
		}
	}
}

// A launcher Pod gone from the API (its finalizer released by hand)
// fences too; so does one that belongs to another VMI of the same name.
func TestHeartbeatGonePodFences(t *testing.T) {
	vmi := runningVMI("tiny", "node-a")
	e := newHBEnv(t, interceptor.Funcs{}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, nodeLease("node-a", hbStart), vmi)
	e.expire()
	e.now = e.now.Add(6 * time.Minute)
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Reason != ReasonNodeLost || !strings.Contains(ready(got).Message, "launcher Pod ns/virt-launcher-tiny is gone") {
		t.Errorf("status %+v, want NodeLost for the gone Pod", got.Status)
	}
}

// A report the node agent writes while the controller judges (the guest
// powered off, Succeeded) is never overwritten: the patch is conditional
// on the VMI's resourceVersion.
func TestHeartbeatNeverOverwritesTheAgentsReport(t *testing.T) {
	var e *hbEnv
	raced := false
	e = newHBEnv(t, interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		if !raced {
			raced = true
			agent := &v1alpha1.VirtualMachineInstance{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), agent); err != nil {
				return err
			}
			agent.Status.Phase, agent.Status.Reason = v1alpha1.Succeeded, "GuestShutdown"
			if err := c.Status().Update(ctx, agent); err != nil {
				return err
			}
		}
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}})
	e.reconcile("node-a")
	e.now = e.now.Add(41 * time.Second)
	_, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "node-a"}})
	if !apierrors.IsConflict(err) {
		t.Errorf("reconcile racing the agent: %v, want a conflict", err)
	}
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Succeeded {
		t.Errorf("phase %q, want the agent's Succeeded", got.Status.Phase)
	}
}

// Expiry is judged on the controller's clock from when it saw the Lease
// change: a Lease renewed long ago by the agent's clock (skew, or a new
// leader that just started) gets a full duration first; a node with no
// Lease (an agent older than the heartbeat) is never judged.
func TestHeartbeatExpiryIsObservedNotTrusted(t *testing.T) {
	vmi := runningVMI("tiny", "node-a")
	e := newHBEnv(t, interceptor.Funcs{}, nodeLease("node-a", hbStart.Add(-time.Hour)), vmi, launcherOf(vmi),
		runningVMI("legacy", "node-old"))
	e.reconcile("node-a")
	e.reconcile("node-old")
	if e.patches != 0 {
		t.Fatalf("%d status patches at the first look at a Lease", e.patches)
	}
	e.now = e.now.Add(41 * time.Second)
	e.reconcile("node-a")
	if res := e.reconcile("node-old"); res.RequeueAfter != 0 {
		t.Errorf("a node without a Lease requeued after %v", res.RequeueAfter)
	}
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Unknown {
		t.Errorf("phase %q a duration after the first look, want Unknown", got.Status.Phase)
	}
	if got := e.vmi("legacy"); got.Status.Phase != v1alpha1.Running {
		t.Errorf("VMI of a node without a Lease: phase %q, want Running", got.Status.Phase)
	}
}

// The cache may lag a renewal: before a node is declared unresponsive its
// Lease is read from the API server.
func TestHeartbeatAsksTheAPIServerBeforeExpiring(t *testing.T) {
	e := newHBEnv(t, interceptor.Funcs{})
	e.reconcile("node-a")
	e.now = e.now.Add(41 * time.Second)
	live := nodeLease("node-a", e.now)
	e.r.APIReader = readerFunc(func(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
		if l, ok := obj.(*coordinationv1.Lease); ok {
			live.DeepCopyInto(l)
			return nil
		}
		return e.c.Get(ctx, key, obj)
	})
	e.reconcile("node-a")
	if got := e.vmi("tiny"); got.Status.Phase != v1alpha1.Running {
		t.Errorf("phase %q though the API server has a renewed Lease", got.Status.Phase)
	}
}

type readerFunc func(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error

func (f readerFunc) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return f(ctx, key, obj, opts...)
}

func (f readerFunc) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

func TestHeartbeatMapsLeasesAndPodsToNodes(t *testing.T) {
	r := &NodeHeartbeatReconciler{Namespace: "podvirt-system"}
	if got := r.leaseToNode(context.Background(), nodeLease("node-a", hbStart)); len(got) != 1 || got[0].Name != "node-a" || got[0].Namespace != "" {
		t.Errorf("leaseToNode(node-a's Lease) = %v", got)
	}
	leader := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt-system", Name: "podvirt-controller"}}
	foreign := nodeLease("node-a", hbStart)
	foreign.Namespace = "elsewhere"
	for _, l := range []*coordinationv1.Lease{leader, foreign} {
		if got := r.leaseToNode(context.Background(), l); len(got) != 0 {
			t.Errorf("leaseToNode(%s/%s) = %v, want nothing", l.Namespace, l.Name, got)
		}
	}
	p := launcherOf(runningVMI("tiny", "node-a"))
	if got := launcherPodToNode(context.Background(), p); len(got) != 1 || got[0].Name != "node-a" {
		t.Errorf("launcherPodToNode = %v", got)
	}
	p.Labels = nil
	if got := launcherPodToNode(context.Background(), p); len(got) != 0 {
		t.Errorf("launcherPodToNode(not a launcher Pod) = %v", got)
	}
}

// The launcher controller leaves an Unknown VMI whose launcher Pod is gone
// to the heartbeat controller, which fails it NodeLost after the unknown
// timeout; a Running one is failed at once, as before.
func TestLauncherControllerLeavesUnknownToTheHeartbeat(t *testing.T) {
	vmi := testVMI()
	vmi.Status.Phase = v1alpha1.Unknown
	vmi.Finalizers = []string{domainspec.FinalizerLauncher}
	r, c, _, _ := newIntercepted(t, interceptor.Funcs{}, vmi)
	reconcileN(t, r, 1)
	if v := get(t, c); v.Status.Phase != v1alpha1.Unknown {
		t.Errorf("phase %q reason %q, want Unknown left alone", v.Status.Phase, v.Status.Reason)
	}
}

// A VM with RerunOnFailure replaces a VMI lost with its node, and counts
// no start failure: the guest ran, its node went.
func TestVMRestartsAVMILostWithItsNode(t *testing.T) {
	e := newVMEnv(t, newVM(v1alpha1.RunStrategyRerunOnFailure))
	e.reconcile()
	uid := e.vmi().UID
	e.setPhase(v1alpha1.Running, "", true)
	e.reconcile()
	e.setPhase(v1alpha1.Unknown, ReasonNodeUnresponsive, false)
	e.reconcile()
	e.wantStatus(v1alpha1.VMStatusUnknown)
	if v := e.vmi(); v == nil || v.UID != uid {
		t.Fatal("an Unknown VMI was replaced: its guest may still run")
	}
	e.setPhase(v1alpha1.Failed, ReasonNodeLost, false)
	e.reconcile()
	e.reconcile()
	if v := e.vmi(); v == nil || v.UID == uid {
		t.Fatal("a VMI lost with its node was not replaced")
	}
	if sf := e.vm().Status.StartFailure; sf != nil {
		t.Errorf("startFailure %+v: a lost node is no start failure", sf)
	}
}
