package nodeagent

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func newHeartbeat(t *testing.T, f interceptor.Funcs, objs ...client.Object) (*Heartbeat, client.Client, *time.Time) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).WithInterceptorFuncs(f).Build()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Heartbeat{Client: c, Reader: c, Namespace: "podvirt-system", NodeName: "node-a",
		Duration: 15 * time.Second, Now: func() time.Time { return now }}, c, &now
}

func readLease(t *testing.T, c client.Client) *coordinationv1.Lease {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "podvirt-system", Name: "podvirt-nodeagent-node-a"}, l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHeartbeatCreatesThenRenews(t *testing.T) {
	h, c, now := newHeartbeat(t, interceptor.Funcs{})
	ctx := context.Background()
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	l := readLease(t, c)
	created := *now
	if *l.Spec.HolderIdentity != "node-a" || *l.Spec.LeaseDurationSeconds != 15 || !l.Spec.RenewTime.Time.Equal(created) || !l.Spec.AcquireTime.Time.Equal(created) {
		t.Fatalf("created Lease spec %+v", l.Spec)
	}
	*now = now.Add(3 * time.Second)
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	l = readLease(t, c)
	if !l.Spec.RenewTime.Time.Equal(*now) || !l.Spec.AcquireTime.Time.Equal(created) {
		t.Errorf("after renewal: renewTime %v (want %v), acquireTime %v (want %v)", l.Spec.RenewTime, *now, l.Spec.AcquireTime, created)
	}
}

// A Lease left by an earlier agent (a restart) is renewed, not recreated,
// and taken back if someone else wrote themselves in as its holder.
func TestHeartbeatRenewsAnExistingLease(t *testing.T) {
	old := metav1.NewMicroTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	existing := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "podvirt-system", Name: "podvirt-nodeagent-node-a"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("someone"), RenewTime: &old, AcquireTime: &old, LeaseDurationSeconds: ptr.To(int32(40))},
	}
	h, c, now := newHeartbeat(t, interceptor.Funcs{}, existing)
	if err := h.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := readLease(t, c)
	if *l.Spec.HolderIdentity != "node-a" || *l.Spec.LeaseDurationSeconds != 15 || !l.Spec.RenewTime.Time.Equal(*now) || !l.Spec.AcquireTime.Time.Equal(old.Time) {
		t.Errorf("renewed Lease spec %+v", l.Spec)
	}
}

// A Lease changed behind the agent's back (its resourceVersion moved on)
// is read again and renewed in the same call.
func TestHeartbeatRetriesAConflictOnce(t *testing.T) {
	h, c, now := newHeartbeat(t, interceptor.Funcs{})
	ctx := context.Background()
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	other := readLease(t, c)
	other.Labels = map[string]string{"touched": "yes"}
	if err := c.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Second)
	if err := h.Renew(ctx); err != nil {
		t.Fatalf("renewal after a foreign update: %v", err)
	}
	if l := readLease(t, c); !l.Spec.RenewTime.Time.Equal(*now) || l.Labels["touched"] != "yes" {
		t.Errorf("Lease after the retried renewal: %+v", l)
	}
}

func TestHeartbeatErrorsNameTheLease(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "podvirt-nodeagent-node-a", nil)
	h, _, _ := newHeartbeat(t, interceptor.Funcs{
		Update: func(context.Context, client.WithWatch, client.Object, ...client.UpdateOption) error { return conflict },
	})
	ctx := context.Background()
	if err := h.Renew(ctx); err != nil {
		t.Fatal(err) // created: no update yet
	}
	err := h.Renew(ctx)
	if !apierrors.IsConflict(err) || err.Error() == conflict.Error() {
		t.Errorf("a conflict that persists: %v; want it wrapped with the Lease's name", err)
	}
}

func TestHeartbeatStartStopsWithItsContext(t *testing.T) {
	h, c, _ := newHeartbeat(t, interceptor.Funcs{})
	h.Interval = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Start(ctx) }()
	deadline := time.After(5 * time.Second)
	for {
		l := &coordinationv1.Lease{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: "podvirt-system", Name: "podvirt-nodeagent-node-a"}, l); err == nil {
			break
		}
		select {
		case <-deadline:
			t.Fatal("no Lease 5 s after Start")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start returned %v", err)
	}
	if h.NeedLeaderElection() {
		t.Error("every node agent beats for its own node: no leader election")
	}
	if readLease(t, c) == nil {
		t.Error("the Lease must survive the agent's stop")
	}
}

// A renewal that follows failed ones (the API server answers again after
// a partition) calls Recovered, once; the first renewal does not.
func TestHeartbeatRecoveredAfterFailures(t *testing.T) {
	fail := 2
	h, _, _ := newHeartbeat(t, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if fail > 0 {
				fail--
				return apierrors.NewServiceUnavailable("cut off")
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	h.Interval = time.Millisecond
	recovered := make(chan struct{}, 4)
	h.Recovered = func(context.Context) error { recovered <- struct{}{}; return nil }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = h.Start(ctx) }()
	select {
	case <-recovered:
	case <-time.After(5 * time.Second):
		t.Fatal("Recovered not called 5 s after the API server answered again")
	}
	time.Sleep(20 * time.Millisecond) // more renewals, all successful
	if n := len(recovered); n != 0 {
		t.Errorf("Recovered called %d more times after renewals that followed successful ones", n)
	}
}
