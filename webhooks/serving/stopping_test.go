package serving

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestStoppingClosesKeptConnections: once Stopping closes (the shutdown
// delay begins), the server still answers, but a kept-alive HTTP/2
// connection is told to go away after its request, so the client's next
// request dials anew (through the Service, to a ready replica), instead of
// riding a connection the drain will cut.
func TestStoppingClosesKeptConnections(t *testing.T) {
	stopping := make(chan struct{})
	f := newFixture(t, Options{Stopping: stopping})
	var dials atomic.Int32
	tr := f.client.Transport.(*http.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := f.start(t, ctx)
	defer func() { cancel(); <-done }()

	for _, name := range []string{"a", "b", "c"} {
		mustAllow(t, f.admit(name), name)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections for three requests before stopping, want 1 kept alive", n)
	}
	close(stopping)
	deadline := time.Now().Add(5 * time.Second)
	requests := 0
	for dials.Load() < 2 && time.Now().Before(deadline) {
		requests++
		mustAllow(t, f.admit("after-stopping"), "after-stopping")
		time.Sleep(20 * time.Millisecond)
	}
	if dials.Load() < 2 {
		t.Fatalf("after %d requests the client still rides its first connection: it was never told to go away", requests)
	}
	t.Logf("a new connection after %d request(s) once stopping", requests)
}
