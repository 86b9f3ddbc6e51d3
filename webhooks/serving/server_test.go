package serving

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/podvirt/podvirt/audit"
)

// TestServerDrainsInFlightAdmission: an admission received before the
// server is told to stop is answered, allowed, after the stop, with its
// audit record written (Audited's Append, fsync included, runs on a live
// context); meanwhile the server refuses new connections and reports not
// ready, and Start returns only once that request is done.
func TestServerDrainsInFlightAdmission(t *testing.T) {
	f := newFixture(t, Options{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := f.start(t, ctx)
	ready := f.srv.StartedChecker()
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := ready(req); err != nil {
		t.Fatalf("not ready while serving: %v", err)
	}
	mustAllow(t, f.admit("before"), "before")

	inFlight := f.admitAsync("block-1")
	f.waitEntered(t, "block-1")
	stop()

	eventually(t, "the server reports draining", func() bool {
		err := ready(req)
		return err != nil && strings.Contains(err.Error(), "draining")
	})
	eventually(t, "the server refuses new connections", func() bool {
		conn, err := net.DialTimeout("tcp", f.srv.Addr().String(), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Start returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}

	close(f.release)
	mustAllow(t, <-inFlight, "block-1")
	if n := f.sawCancel.Load(); n != 0 {
		t.Errorf("the in-flight request's context was cancelled by the stop (%d)", n)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after the last request")
	}
	f.srv.WaitStopped()

	recs := f.records(t)
	rec, ok := recs["uid-block-1"]
	if !ok {
		t.Fatalf("no audit record of the drained request; have %v", recs)
	}
	if rec.Decision != audit.DecisionAllowed || rec.Name != "block-1" || rec.Webhook != audit.WebhookPodGuard {
		t.Errorf("audit record %+v", rec)
	}
	if _, ok := recs["uid-before"]; !ok {
		t.Error("no audit record of the first request")
	}
}

// TestServerHardStopsAfterTheDrainTimeout: a handler that does not finish
// within DrainTimeout has its context cancelled and Start returns; the
// process is not held up past the grace period.
func TestServerHardStopsAfterTheDrainTimeout(t *testing.T) {
	f := newFixture(t, Options{DrainTimeout: 300 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := f.start(t, ctx)
	inFlight := f.admitAsync("block-stuck")
	f.waitEntered(t, "block-stuck")
	begin := time.Now()
	stop()
	eventually(t, "the handler's context is cancelled", func() bool { return f.sawCancel.Load() == 1 })
	close(f.release)
	if err := <-done; err != nil {
		t.Fatalf("Start: %v", err)
	}
	if took := time.Since(begin); took > HardStopGrace {
		t.Errorf("Start took %s to return", took)
	}
	if r := <-inFlight; r.err == nil {
		t.Errorf("the stuck request was answered after the hard stop: %+v", r.resp)
	}
	f.srv.WaitStopped()
}

// TestServerBeforeStart: not ready before Start, WaitStopped does not
// block when Start was never called, and a second Start fails.
func TestServerBeforeStart(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.srv.StartedChecker()(httptest.NewRequest("GET", "/readyz", nil)); err == nil {
		t.Error("ready before Start")
	}
	f.srv.WaitStopped() // returns at once
	if f.srv.NeedLeaderElection() {
		t.Error("the webhook server needs leader election")
	}
	ctx, stop := context.WithCancel(context.Background())
	done := f.start(t, ctx)
	if err := f.srv.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := NewServer(Options{Host: "127.0.0.1"}).Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("Start without a certificate: %v", err)
	}
}
