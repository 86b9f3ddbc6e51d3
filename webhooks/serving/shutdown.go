package serving

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// ShutdownDelay returns a context that ends delay after parent ends (the
// context the manager runs under, parent being the signal handler's), and
// a readiness check that fails from the moment parent ends.
//
// A Pod being deleted leaves its Service's endpoints asynchronously, and
// the kube-apiserver keeps sending admission requests to it (over
// connections it already holds, or to an address it resolved) for a
// moment. Serving on during delay, while reporting not ready, lets those
// requests succeed; only then does the manager stop and the webhook server
// drain.
func ShutdownDelay(parent context.Context, delay time.Duration, log logr.Logger) (context.Context, healthz.Checker) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var stopping atomic.Bool
	go func() {
		<-parent.Done()
		stopping.Store(true)
		if delay > 0 {
			log.Info("shutting down: not ready, serving on for the shutdown delay", "delay", delay)
			time.Sleep(delay)
		}
		log.Info("shutting down: stopping the manager")
		cancel()
	}()
	return ctx, func(*http.Request) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}
}
