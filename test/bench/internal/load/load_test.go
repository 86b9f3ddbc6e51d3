package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestPhaseCountsAndConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int64
	seen := make([]atomic.Int32, 200)
	target := TargetFunc(func(ctx context.Context, seq int) error {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(200 * time.Microsecond)
		inFlight.Add(-1)
		seen[seq-1000].Add(1)
		if seq%10 == 0 {
			return fmt.Errorf("boom %d", seq)
		}
		return nil
	})
	res, err := Phase(context.Background(), target, 1000, 200, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latencies) != 180 || res.Errors != 20 {
		t.Errorf("%d successes, %d errors; want 180, 20", len(res.Latencies), res.Errors)
	}
	if len(res.ErrorSamples) != MaxErrorSamples || !strings.HasPrefix(res.ErrorSamples[0], "boom ") {
		t.Errorf("error samples = %q", res.ErrorSamples)
	}
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("seq %d made %d times", 1000+i, seen[i].Load())
		}
	}
	if p := peak.Load(); p > 8 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..8", p)
	}
	for _, l := range res.Latencies {
		if l < 200*time.Microsecond {
			t.Fatalf("latency %v shorter than the request", l)
		}
	}
	if res.Elapsed <= 0 {
		t.Error("no elapsed time")
	}
}

func TestPhaseStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	target := TargetFunc(func(ctx context.Context, seq int) error {
		if done.Add(1) == 10 {
			cancel()
		}
		<-time.After(time.Millisecond)
		return ctx.Err()
	})
	res, err := Phase(ctx, target, 0, 1_000_000, 4)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if res.Errors != 0 {
		t.Errorf("cancelled requests counted as %d errors", res.Errors)
	}
	if done.Load() > 100 {
		t.Errorf("%d requests after cancel", done.Load())
	}
}

func TestPhaseRejectsBadArgs(t *testing.T) {
	if _, err := Phase(context.Background(), TargetFunc(func(context.Context, int) error { return nil }), 0, 1, 0); err == nil {
		t.Error("c=0 accepted")
	}
}

func TestVMIBodyFromExample(t *testing.T) {
	b, err := NewVMIBody("../../../../examples/vmi-tiny.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Kind     string
		Metadata struct {
			Name      string
			Namespace string
			Labels    map[string]string
		}
		Spec map[string]any
	}
	if err := json.Unmarshal(b.For("bench-7"), &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Kind != "VirtualMachineInstance" || obj.Metadata.Name != "bench-7" || obj.Metadata.Namespace != "" {
		t.Errorf("body = %+v", obj)
	}
	if obj.Metadata.Labels["app"] != "bench" || obj.Metadata.Labels["owner"] != "bench" {
		t.Errorf("labels = %v", obj.Metadata.Labels)
	}
	if obj.Spec["domain"] == nil {
		t.Error("spec.domain lost")
	}
	if string(b.For("a")) == string(b.For("b")) {
		t.Error("names do not differ")
	}
}

func TestVMIBodyRejects(t *testing.T) {
	if _, err := NewVMIBodyFromYAML([]byte("kind: Pod\n")); err == nil {
		t.Error("a Pod accepted")
	}
	if _, err := NewVMIBodyFromYAML([]byte("kind: VirtualMachineInstance\nspec: {x: BENCH-NAME-PLACEHOLDER}\n")); err == nil {
		t.Error("a manifest holding the placeholder accepted")
	}
	if _, err := NewVMIBody("/nonexistent"); err == nil {
		t.Error("missing file accepted")
	}
}

func TestDryRunCreatorRequest(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + " " + r.Header.Get("Content-Type"))
		if !strings.Contains(r.URL.Path, "/namespaces/other/") && r.URL.Query().Get("dryRun") == "All" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"denied","reason":"Forbidden","code":403}`))
	}))
	defer srv.Close()
	y, _ := os.ReadFile("../../../../examples/vmi-tiny.yaml")
	body, err := NewVMIBodyFromYAML(y)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDryRunCreator(&rest.Config{Host: srv.URL, QPS: 5, Burst: 1}, "bench", "x", body)
	if err != nil {
		t.Fatal(err)
	}
	// QPS 5 / Burst 1 would take 2 s for 10 requests if it were kept.
	t0 := time.Now()
	for i := 0; i < 10; i++ {
		if err := d.Do(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("10 requests took %v: throttled", el)
	}
	if want := "POST /apis/podvirt.io/v1alpha1/namespaces/bench/virtualmachineinstances?dryRun=All application/json"; got.Load() != want {
		t.Errorf("request = %q, want %q", got.Load(), want)
	}
	d.namespace = "other"
	if err := d.Do(context.Background(), 1); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("a 403: err = %v", err)
	}
}
