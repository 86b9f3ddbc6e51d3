package controller

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

type recordingManager struct {
	manager.Manager
	added []manager.Runnable
}

func (m *recordingManager) Add(r manager.Runnable) error {
	m.added = append(m.added, r)
	return m.Manager.Add(r)
}

// TestLauncherControllerIsLeaderElected: with two replicas only the leader
// creates launcher Pods and moves VMIs along.
func TestLauncherControllerIsLeaderElected(t *testing.T) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	m, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{
		Scheme: s, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr := &recordingManager{Manager: m}
	if err := (&Reconciler{Client: m.GetClient()}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if len(mgr.added) != 1 {
		t.Fatalf("added %d runnables, want the launcher controller", len(mgr.added))
	}
	if le, ok := mgr.added[0].(manager.LeaderElectionRunnable); !ok || !le.NeedLeaderElection() {
		t.Error("the launcher controller runs without leader election")
	}
}

// TestNodeHeartbeatControllerIsLeaderElected: only the leader judges
// Leases (its observations of them are its own).
func TestNodeHeartbeatControllerIsLeaderElected(t *testing.T) {
	m, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{
		Scheme: testScheme(t), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		// The VMI index needs VMIs' mapping; no API server answers here.
		MapperProvider: func(*rest.Config, *http.Client) (meta.RESTMapper, error) {
			m := meta.NewDefaultRESTMapper(nil)
			m.Add(v1alpha1.GroupVersion.WithKind("VirtualMachineInstance"), meta.RESTScopeNamespace)
			return m, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mgr := &recordingManager{Manager: m}
	if err := (&NodeHeartbeatReconciler{Client: m.GetClient(), Namespace: "podvirt-system"}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if len(mgr.added) != 1 {
		t.Fatalf("added %d runnables, want the heartbeat controller", len(mgr.added))
	}
	if le, ok := mgr.added[0].(manager.LeaderElectionRunnable); !ok || !le.NeedLeaderElection() {
		t.Error("the node heartbeat controller runs without leader election")
	}
}
