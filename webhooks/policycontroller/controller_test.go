package policycontroller

import (
	"context"
	"net/http/httptest"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/policies"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func testPolicy(name string, generation int64) *v1alpha1.VMIPolicy {
	return &v1alpha1.VMIPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: generation},
		Spec: v1alpha1.VMIPolicySpec{Validations: []admissionregistrationv1.Validation{{
			Expression: "has(object.metadata.labels)", Message: "labels please"}}},
	}
}

func newTestReconciler(t *testing.T, objs ...client.Object) *Reconciler {
	t.Helper()
	compiler, err := policies.NewCompiler(policies.CompilerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	return &Reconciler{Client: c, Cache: policies.NewCache(compiler)}
}

// recordingManager is a real manager (never started, no API server) that
// remembers what is added to it.
type recordingManager struct {
	manager.Manager
	added []manager.Runnable
}

func (m *recordingManager) Add(r manager.Runnable) error {
	m.added = append(m.added, r)
	return m.Manager.Add(r)
}

// TestCacheControllerRunsOnEveryReplica: the controller that fills the
// policy cache the validating webhook reads is not leader-elected (a
// replica that is not the leader would otherwise admit VMIs against no
// policy at all); the one that writes status is.
func TestCacheControllerRunsOnEveryReplica(t *testing.T) {
	m, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{
		Scheme: testScheme(t), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr := &recordingManager{Manager: m}
	if err := newTestReconciler(t).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if len(mgr.added) != 2 {
		t.Fatalf("added %d runnables, want the cache and status controllers", len(mgr.added))
	}
	for i, wantLeader := range []bool{false, true} {
		le, ok := mgr.added[i].(manager.LeaderElectionRunnable)
		if !ok || le.NeedLeaderElection() != wantLeader {
			t.Errorf("controller %d: NeedLeaderElection %v, want %v", i, ok && le.NeedLeaderElection(), wantLeader)
		}
	}
}

// TestReconcileCache fills and empties the cache and writes no status.
func TestReconcileCache(t *testing.T) {
	p := testPolicy("labels", 1)
	r := newTestReconciler(t, p)
	ctx := context.Background()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Name: "labels"}}
	if _, err := r.ReconcileCache(ctx, req); err != nil {
		t.Fatal(err)
	}
	if r.Cache.Set().Policy("labels") == nil {
		t.Fatal("the policy is not in the cache")
	}
	got := &v1alpha1.VMIPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 0 || got.Status.ObservedGeneration != 0 {
		t.Errorf("the cache controller wrote status: %+v", got.Status)
	}
	if err := r.Client.Delete(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReconcileCache(ctx, req); err != nil {
		t.Fatal(err)
	}
	if r.Cache.Set().Policy("labels") != nil {
		t.Error("a deleted policy is still in the cache")
	}
}

// TestSyncedChecker: not ready until every listed policy is compiled at
// its generation; once ready, it stays ready.
func TestSyncedChecker(t *testing.T) {
	a, b := testPolicy("a", 1), testPolicy("b", 2)
	r := newTestReconciler(t, a, b)
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := r.SyncedChecker(req); err == nil {
		t.Fatal("ready with an empty cache")
	}
	r.Cache.Upsert(a)
	stale := testPolicy("b", 1)
	r.Cache.Upsert(stale)
	if err := r.SyncedChecker(req); err == nil {
		t.Fatal("ready with b at an old generation")
	}
	r.Cache.Upsert(b)
	if err := r.SyncedChecker(req); err != nil {
		t.Fatalf("not ready with every policy compiled: %v", err)
	}
	if err := r.Client.Create(context.Background(), testPolicy("c", 1)); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncedChecker(req); err != nil {
		t.Errorf("a policy added later made the replica unready: %v", err)
	}
}
