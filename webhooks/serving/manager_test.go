package serving

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// TestManagerShutdownSequence runs the Server as a controller-runtime
// manager's webhook server, the way cmd/podvirt-controller wires it (no
// API server is needed: nothing reads from it), and plays a SIGTERM:
//
//   - during the shutdown delay, the shutdown check fails while the server
//     still serves, and a new admission sent then is answered;
//   - an admission received before the signal, still running when the
//     manager stops its webhooks, is answered with its audit record;
//   - the manager's Start returns; WaitStopped then closing the audit log
//     (the order main uses) loses no record.
func TestManagerShutdownSequence(t *testing.T) {
	f := newFixture(t, Options{DrainTimeout: 10 * time.Second})
	grace := 10 * time.Second
	mgr, err := manager.New(&rest.Config{Host: "https://127.0.0.1:1"}, manager.Options{
		Scheme: runtime.NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: f.srv, GracefulShutdownTimeout: &grace,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The manager runs its webhook server once something asks for it
	// (webhooks.Register does, in main).
	if mgr.GetWebhookServer() != f.srv {
		t.Fatal("the manager has another webhook server")
	}
	signal, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	mgrCtx, shutdownCheck := ShutdownDelay(signal, 500*time.Millisecond, logr.Discard())
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	f.waitListening(t)
	req := httptest.NewRequest("GET", "/readyz", nil)
	ready := f.srv.StartedChecker()
	eventually(t, "the webhook server is ready", func() bool { return ready(req) == nil })
	if err := shutdownCheck(req); err != nil {
		t.Fatalf("shutdown check failed before the signal: %v", err)
	}

	inFlight := f.admitAsync("block-early")
	f.waitEntered(t, "block-early")
	sigterm()
	eventually(t, "the shutdown check fails", func() bool { return shutdownCheck(req) != nil })
	if mgrCtx.Err() != nil {
		t.Fatal("the manager's context ended without the delay")
	}
	if err := ready(req); err != nil {
		t.Fatalf("the webhook server stopped serving during the delay: %v", err)
	}
	mustAllow(t, f.admit("during-delay"), "during-delay")

	eventually(t, "the manager stops the webhook server", func() bool {
		err := ready(req)
		return err != nil && strings.Contains(err.Error(), "draining")
	})
	select {
	case err := <-mgrDone:
		t.Fatalf("the manager returned (%v) with an admission in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(f.release)
	mustAllow(t, <-inFlight, "block-early")
	select {
	case err := <-mgrDone:
		if err != nil {
			t.Fatalf("manager: %v", err)
		}
	case <-time.After(grace):
		t.Fatal("the manager did not return")
	}
	f.srv.WaitStopped()
	recs := f.records(t)
	for _, uid := range []string{"uid-block-early", "uid-during-delay"} {
		if _, ok := recs[uid]; !ok {
			t.Errorf("no audit record %s", uid)
		}
	}
	if n := f.sawCancel.Load(); n != 0 {
		t.Errorf("%d in-flight requests saw their context cancelled", n)
	}
}

// TestShutdownDelayWithoutDelay: a zero delay ends the context as soon as
// the parent ends.
func TestShutdownDelayWithoutDelay(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ctx, check := ShutdownDelay(parent, 0, logr.Discard())
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end")
	}
	if check(nil) == nil {
		t.Error("ready after shutdown")
	}
}
