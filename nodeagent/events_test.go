package nodeagent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func TestLauncherPodOf(t *testing.T) {
	obj := launcherPodOf("ns_tiny")
	if obj == nil || obj.GetNamespace() != "ns" || obj.GetName() != "virt-launcher-tiny" {
		t.Errorf("launcherPodOf(ns_tiny) = %v", obj)
	}
	for _, name := range []string{"not-ours", "_x", "ns_"} {
		if obj := launcherPodOf(name); obj != nil {
			t.Errorf("launcherPodOf(%q) = %s/%s, want none: not a podvirt domain", name, obj.GetNamespace(), obj.GetName())
		}
	}
}

// flakyEvents is libvirtd going away and coming back: each DomainEvents
// call takes the next step, an error (libvirtd down) or a stream of
// domain names that ends (libvirtd stopped); past the last step a stream
// that stays open.
type flakyEvents struct {
	mu    sync.Mutex
	steps []any // error or []string
	calls []time.Time
}

func (f *flakyEvents) DomainEvents(ctx context.Context) (<-chan string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	ch := make(chan string, 8)
	if len(f.steps) == 0 {
		go func() { <-ctx.Done(); close(ch) }()
		return ch, nil
	}
	step := f.steps[0]
	f.steps = f.steps[1:]
	if err, ok := step.(error); ok {
		return nil, err
	}
	for _, n := range step.([]string) {
		ch <- n
	}
	close(ch)
	return ch, nil
}

// libvirtd restarted: the pump subscribes again with backoff while it is
// down, forwards events from each stream, and has every launcher Pod
// resynced each time it is back, not at its first subscription.
func TestEventPumpResubscribesWithBackoffAndResyncs(t *testing.T) {
	down := errors.New("dial unix libvirt-sock: connect: connection refused")
	src := &flakyEvents{steps: []any{[]string{"ns_a"}, down, down, down, []string{"ns_b"}}}
	var resyncs int
	var mu sync.Mutex
	pump := &eventPump{source: src, out: make(chan event.TypedGenericEvent[client.Object], 8),
		resync:   func(context.Context) error { mu.Lock(); resyncs++; mu.Unlock(); return nil },
		retryMin: 10 * time.Millisecond, retryMax: 40 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pump.Start(ctx); close(done) }()
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-pump.out:
			got = append(got, ev.Object.GetNamespace()+"/"+ev.Object.GetName())
		case <-time.After(5 * time.Second):
			t.Fatalf("events forwarded: %v, want ns/virt-launcher-a then ns/virt-launcher-b", got)
		}
	}
	if got[0] != "ns/virt-launcher-a" || got[1] != "ns/virt-launcher-b" {
		t.Errorf("events forwarded: %v", got)
	}
	// The stream after ns_b stays open: wait for that subscription.
	for deadline := time.Now().Add(5 * time.Second); ; {
		src.mu.Lock()
		n := len(src.calls)
		src.mu.Unlock()
		mu.Lock()
		r := resyncs
		mu.Unlock()
		if n == 6 && r == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions and %d resyncs, want 6 and 2 (after the stream of ns_a ended and after libvirtd answered again)", n, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	// The waits after the three failures double: 10, 20, then 40 ms.
	for i, least := range []time.Duration{10, 20, 40} {
		if gap := src.calls[i+2].Sub(src.calls[i+1]); gap < least*time.Millisecond {
			t.Errorf("wait after failure %d: %s, want at least %dms (backoff)", i+1, gap, least)
		}
	}
}
