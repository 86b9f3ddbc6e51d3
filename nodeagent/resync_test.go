package nodeagent

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// Resync hands every launcher Pod of the node to the reconciler's queue.
func TestResyncQueuesEveryLauncherPod(t *testing.T) {
	r, _, _ := setup(t, v1alpha1.Running, hypervisor.StateRunning)
	if err := r.Resync(context.Background()); err != nil {
		t.Fatalf("Resync before setup: %v, want a no-op", err)
	}
	r.resync = make(chan event.TypedGenericEvent[client.Object], 4)
	if err := r.Resync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.resync) != 1 {
		t.Fatalf("%d Pods queued, want the one launcher Pod", len(r.resync))
	}
	if got := (<-r.resync).Object; got.GetNamespace() != "ns" || got.GetName() != "virt-launcher-tiny" {
		t.Errorf("queued %s/%s", got.GetNamespace(), got.GetName())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.resync = make(chan event.TypedGenericEvent[client.Object])
	if err := r.Resync(ctx); err == nil {
		t.Error("Resync with nobody reading and its context done returned no error")
	}
}
