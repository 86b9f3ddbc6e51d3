package serving

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Defaults of Options.
const (
	DefaultDrainTimeout = 30 * time.Second
	// HardStopGrace is how long Start still waits for handlers after the
	// drain timeout, once their contexts are cancelled.
	HardStopGrace = 5 * time.Second
)

// Options configure a Server.
type Options struct {
	// Host and Port are where the server listens (all addresses if Host is
	// empty; a free port if Port is 0).
	Host string
	Port int
	// TLSOpts adjust the TLS configuration; one of them must set
	// GetCertificate (certs.Rotator.GetCertificate) or Certificates.
	TLSOpts []func(*tls.Config)
	// DrainTimeout bounds how long Start waits, once its context ends, for
	// in-flight requests (DefaultDrainTimeout if 0). After it, connections
	// are closed and the requests' contexts cancelled.
	DrainTimeout time.Duration
	// Stopping, when it closes, marks the start of the shutdown delay (the
	// signal handler's context, before the manager's ends): from then on
	// every response says "Connection: close" (HTTP/2: GOAWAY), so each
	// kept-alive connection ends right after a request it carried, and
	// the client reconnects through the Service to a ready replica while
	// this one still serves. The kube-apiserver calls webhooks over
	// HTTP/1.1 and does not retry a POST whose kept-alive connection the
	// server closed under it ("write: broken pipe", a failed admission):
	// so idle connections are not closed here, only told to close after
	// their next answer.
	Stopping <-chan struct{}
	// HTTP2 also offers HTTP/2 (ALPN h2). Off, the server speaks HTTP/1.1
	// only: what the kube-apiserver uses for a webhook behind a Service
	// anyway (k8s.io/apiserver/pkg/util/webhook asks for http/1.1 unless
	// the webhook's URL is on localhost, so that concurrent calls spread
	// over the Service's endpoints), cheaper per request than Go's HTTP/2
	// server, and without HTTP/2's exposure to rapid-reset floods
	// (CVE-2023-44487), which is why controller-runtime's scaffolding
	// turns it off too.
	HTTP2 bool
	// Log receives the server's messages (discarded if zero).
	Log logr.Logger
}

// Server is a webhook.Server that drains: when the context given to Start
// ends, it stops accepting connections, tells HTTP/2 clients to go away,
// and waits for the requests already received to finish, with their
// contexts intact, before Start returns.
//
// controller-runtime's DefaultServer does not do that: it serves requests
// with its Start context as their base, so the manager's stop cancels
// every in-flight request at the moment it starts draining them (an
// audited admission then fails to write its record and is answered 500),
// and its drain is a fixed minute, not the manager's grace period. This
// Server keeps DefaultServer's registration (and so its per-path
// metrics) by serving a DefaultServer's mux, which it never starts.
type Server struct {
	opts  Options
	inner webhook.Server

	mu        sync.Mutex
	addr      net.Addr
	called    bool
	listening chan struct{} // closed once listening, or once listening failed
	stopped   chan struct{} // closed when Start returns
	draining  atomic.Bool
	stopping  atomic.Bool
	inflight  atomic.Int64
}

var _ webhook.Server = (*Server)(nil)

// NewServer returns a Server; it listens once started.
func NewServer(opts Options) *Server {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	return &Server{
		opts: opts,
		// Port -1: the inner server is a mux and a registry, never started.
		inner:     webhook.NewServer(webhook.Options{Port: -1}),
		listening: make(chan struct{}),
		stopped:   make(chan struct{}),
	}
}

// NeedLeaderElection implements webhook.Server: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Register implements webhook.Server. It panics on a duplicate path.
func (s *Server) Register(path string, hook http.Handler) { s.inner.Register(path, hook) }

// WebhookMux implements webhook.Server.
func (s *Server) WebhookMux() *http.ServeMux { return s.inner.WebhookMux() }

// Listening is closed once Start listens, or failed to.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addr is the address the server listens on, nil before it does.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Start implements webhook.Server: it serves until ctx ends, then drains
// (see Server) and returns. A Server starts once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.called {
		s.mu.Unlock()
		return errors.New("the webhook server was already started")
	}
	s.called = true
	s.mu.Unlock()
	defer close(s.stopped)

	ln, err := s.listen()
	if err == nil {
		s.mu.Lock()
		s.addr = ln.Addr()
		s.mu.Unlock()
	}
	close(s.listening)
	if err != nil {
		return err
	}

	// Requests get a base context of their own: the end of ctx starts the
	// drain, it does not cancel what is being drained.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Protocols:         s.protocols(),
		Handler:           s.track(s.inner.WebhookMux()),
		MaxHeaderBytes:    1 << 20,
		IdleTimeout:       90 * time.Second,
		ReadHeaderTimeout: 32 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if s.opts.Stopping != nil {
		go func() {
			select {
			case <-s.opts.Stopping:
				s.opts.Log.Info("stopping: each connection closes after its next answer")
				s.stopping.Store(true)
			case <-base.Done():
			}
		}()
	}
	s.opts.Log.Info("serving webhooks", "address", ln.Addr().String())

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving webhooks: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.opts.Log.Info("draining the webhook server", "inFlight", s.inflight.Load(), "timeout", s.opts.DrainTimeout)
	drainCtx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
	defer cancel()
	// Shutdown closes the listener, sends HTTP/2 GOAWAY, and returns once
	// every connection is idle: every request received has been answered.
	if err := srv.Shutdown(drainCtx); err != nil {
		s.opts.Log.Error(err, "the webhook server did not drain in time; closing its connections", "inFlight", s.inflight.Load())
		_ = srv.Close()
		cancelBase()
		if !s.waitIdle(HardStopGrace) {
			s.opts.Log.Info("webhook handlers still running after their contexts were cancelled", "inFlight", s.inflight.Load())
		}
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving webhooks: %w", err)
	}
	s.opts.Log.Info("the webhook server has stopped")
	return nil
}

// protocols are what the server speaks (HTTP/2 only with Options.HTTP2).
func (s *Server) protocols() *http.Protocols {
	p := &http.Protocols{}
	p.SetHTTP1(true)
	p.SetHTTP2(s.opts.HTTP2)
	return p
}

func (s *Server) listen() (net.Listener, error) {
	cfg := &tls.Config{NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	if s.opts.HTTP2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	for _, op := range s.opts.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil && len(cfg.Certificates) == 0 {
		return nil, errors.New("the webhook server has no certificate: set GetCertificate in TLSOpts")
	}
	addr := net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for webhooks: %w", addr, err)
	}
	return tls.NewListener(ln, cfg), nil
}

// track counts the handlers running, for the hard stop, and once stopping
// asks the client to close the connection after the answer.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		if s.stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for s.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// WaitStopped returns once Start has returned, that is once no webhook
// handler runs any more (or the hard stop gave up on them), or at once if
// Start was never called. Call it before closing what the handlers write
// to, such as the audit log.
func (s *Server) WaitStopped() {
	s.mu.Lock()
	called := s.called
	s.mu.Unlock()
	if called {
		<-s.stopped
	}
}

// StartedChecker implements webhook.Server: a readiness check that passes
// while the server is listening, not draining, and completes a TLS
// handshake.
func (s *Server) StartedChecker() healthz.Checker {
	return func(req *http.Request) error {
		s.mu.Lock()
		called, addr := s.called, s.addr
		s.mu.Unlock()
		switch {
		case !called || addr == nil:
			return errors.New("the webhook server is not listening yet")
		case s.draining.Load():
			return errors.New("the webhook server is draining")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", addr.String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the handshake is checked
		if err != nil {
			return fmt.Errorf("the webhook server is not reachable: %w", err)
		}
		if err := conn.Close(); err != nil {
			return fmt.Errorf("the webhook server is not reachable: closing the connection: %w", err)
		}
		return nil
	}
}
