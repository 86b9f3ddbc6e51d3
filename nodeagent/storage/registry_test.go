package storage

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

func TestRefusedAddress(t *testing.T) {
	own := []net.IP{net.ParseIP("192.0.2.10")}
	for addr, refused := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "169.254.169.254": true, "fe80::1": true,
		"0.0.0.0": true, "::": true, "224.0.0.1": true, "192.0.2.10": true,
		"192.0.2.11": false, "10.96.0.10": false, "2001:db8::1": false, "203.0.113.5": false,
	} {
		if got := refusedAddress(net.ParseIP(addr), own); got != refused {
			t.Errorf("refusedAddress(%s) = %v, want %v", addr, got, refused)
		}
	}
}

// A registry on the node's loopback (attacker: a namespace editor naming
// it as the image) is never connected to, and nothing it could say comes
// back.
func TestLoopbackRegistryIsRefusedAndItsWordsNeverReturn(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Error(w, "SECRET-FROM-THE-NODE", http.StatusUnauthorized)
	}))
	defer srv.Close()
	image := strings.TrimPrefix(srv.URL, "http://") + "/guest:1"
	c := &ImageCache{Dir: t.TempDir()}
	for name, pull := range map[string]func() error{
		"resolve": func() error { _, err := c.Resolve(context.Background(), image, corev1.PullIfNotPresent); return err },
		"pull":    func() error { _, err := c.Root(context.Background(), image, corev1.PullIfNotPresent); return err },
	} {
		err := pull()
		if !errors.Is(err, failure.ErrRegistryRefused) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want ErrRegistryRefused without the server's words", name, err)
		}
	}
	if hits != 0 {
		t.Errorf("the refused registry was contacted %d times", hits)
	}
	// Allowed, it is reached, and still only its status code comes back.
	c.Registries.Allowed = []string{strings.TrimPrefix(srv.URL, "http://")}
	_, err := c.Root(context.Background(), image, corev1.PullIfNotPresent)
	if !errors.Is(err, failure.ErrImagePull) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "401") {
		t.Errorf("allowed registry answering 401: %v, want ErrImagePull with HTTP 401 and none of its body", err)
	}
}

// A registry that never answers fails the pull at its deadline, and holds
// no lock: a pull of another image goes on meanwhile (attacker: an editor
// with a registry they control).
func TestStuckPullTimesOutAndBlocksNoOther(t *testing.T) {
	stuck := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stuck }))
	defer slow.Close()
	defer close(stuck) // first: the server's Close waits for its handlers
	good := pushDisk(t, []byte("raw disk"))
	slowHost := strings.TrimPrefix(slow.URL, "http://")
	goodHost, _, _ := strings.Cut(good, "/")
	c := &ImageCache{Dir: t.TempDir(), PullTimeout: 2 * time.Second, Registries: RegistryPolicy{Allowed: []string{slowHost, goodHost}}}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { // two VMIs of the same stuck image share one flight
			defer wg.Done()
			_, errs[i] = c.Root(context.Background(), slowHost+"/stuck:1", corev1.PullIfNotPresent)
		}()
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := c.Root(context.Background(), good, corev1.PullIfNotPresent); err != nil {
		t.Fatalf("the other image: %v", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the other image waited %s behind the stuck pull", waited)
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, failure.ErrImagePullTimeout) {
			t.Errorf("stuck pull: %v, want ErrImagePullTimeout", err)
		}
	}
}

func TestImageLargerThanTheCapIsRefused(t *testing.T) {
	ref := pushDisk(t, make([]byte, 64<<10))
	c := testCache(t, ref)
	c.MaxImageBytes = 16 << 10
	if _, err := c.Root(context.Background(), ref, corev1.PullIfNotPresent); !errors.Is(err, failure.ErrImageTooLarge) {
		t.Errorf("a 64 KiB image under a 16 KiB cap: %v, want ErrImageTooLarge", err)
	}
}

func TestPruneKeepsTheCacheBounded(t *testing.T) {
	a, b := pushDisk(t, make([]byte, 40<<10)), pushDisk(t, append(make([]byte, 40<<10), 1))
	hostA, _, _ := strings.Cut(a, "/")
	hostB, _, _ := strings.Cut(b, "/")
	c := &ImageCache{Dir: t.TempDir(), MaxCacheBytes: 60 << 10, Registries: RegistryPolicy{Allowed: []string{hostA, hostB}}}
	rootA, err := c.Root(context.Background(), a, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	rootB, err := c.Root(context.Background(), b, corev1.PullIfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Root(context.Background(), b, corev1.PullIfNotPresent); err != nil {
		t.Fatal(err)
	}
	if dirSize(c.Dir) > 60<<10 {
		t.Errorf("the cache holds %d bytes, bound 60 KiB", dirSize(c.Dir))
	}
	if _, ok := c.cached(a, corev1.PullIfNotPresent); ok || dirSize(rootA) != 0 {
		t.Error("the least recently used image was kept")
	}
	if dirSize(rootB) == 0 {
		t.Error("the image just pulled was pruned")
	}
}
