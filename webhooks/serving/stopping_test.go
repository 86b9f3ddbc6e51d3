package serving

import (
	"context"
	"crypto/tls"
	"io"
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
	f := newFixture(t, Options{Stopping: stopping, HTTP2: true})
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

// TestStoppingHTTP1: the kube-apiserver calls webhooks behind a Service
// over HTTP/1.1 (the server's default protocol, the only one). Once
// stopping, an idle kept-alive connection is not cut (the client's next
// request on it is answered), and that answer says Connection: close.
func TestStoppingHTTP1(t *testing.T) {
	stopping := make(chan struct{})
	f := newFixture(t, Options{Stopping: stopping})
	tr := f.client.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	var dials atomic.Int32
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := f.start(t, ctx)
	defer func() { cancel(); <-done }()
	get := func() *http.Response {
		t.Helper()
		resp, err := f.client.Get("https://" + f.srv.Addr().String() + testPath)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get(); r.Close || r.ProtoMajor != 1 {
		t.Fatalf("before stopping: %s, close=%v; want HTTP/1.1 kept alive", r.Proto, r.Close)
	}
	close(stopping)
	time.Sleep(100 * time.Millisecond)
	if r := get(); !r.Close {
		t.Errorf("after stopping the answer does not say Connection: close")
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials: the idle connection was cut at stopping instead of answering once more", n)
	}
	get()
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials after a Connection: close answer, want a new connection", n)
	}
}

// TestServesHTTP1OnlyByDefault: the server offers HTTP/2 only when asked
// to (Options.HTTP2); by default a client that offers h2 gets HTTP/1.1.
func TestServesHTTP1OnlyByDefault(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		f := newFixture(t, Options{HTTP2: h2})
		ctx, cancel := context.WithCancel(context.Background())
		done := f.start(t, ctx)
		conn, err := tls.Dial("tcp", f.srv.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}}) //nolint:gosec // only the protocol is checked
		if err != nil {
			t.Fatal(err)
		}
		got := conn.ConnectionState().NegotiatedProtocol
		_ = conn.Close()
		want := map[bool]string{false: "http/1.1", true: "h2"}[h2]
		if got != want {
			t.Errorf("HTTP2=%v: negotiated %q, want %q", h2, got, want)
		}
		mustAllow(t, f.admit("x"), "x")
		cancel()
		<-done
	}
}
