package certs

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

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

func newRecordingManager(t *testing.T) *recordingManager {
	t.Helper()
	s := runtime.NewScheme()
	if err := admissionregistrationv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{
		Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	return &recordingManager{Manager: mgr}
}

// TestInjectorRunsOnEveryReplica: the CA-bundle controllers are not
// leader-elected, so a replica that is not the leader still writes (and
// so can become ready on) the CA bundles.
func TestInjectorRunsOnEveryReplica(t *testing.T) {
	mgr := newRecordingManager(t)
	inj := &CABundleInjector{Client: mgr.GetClient(), CA: []byte("ca"), MutatingWebhooks: []string{"m"}, ValidatingWebhooks: []string{"v"}}
	if err := inj.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if len(mgr.added) != 2 {
		t.Fatalf("added %d runnables, want 2 controllers", len(mgr.added))
	}
	for _, r := range mgr.added {
		le, ok := r.(manager.LeaderElectionRunnable)
		if !ok || le.NeedLeaderElection() {
			t.Errorf("%T needs leader election", r)
		}
	}
	if (&Rotator{}).NeedLeaderElection() {
		t.Error("the rotator needs leader election")
	}
}
