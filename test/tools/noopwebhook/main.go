// Command noopwebhook is the admission benchmark's floor (test/bench): a
// webhook that decodes each AdmissionReview (the envelope with
// encoding/json; the object stays raw bytes) and allows it, with no
// patch, on every path (register it as both mutating and validating).
// What any webhook costs beyond this one is its own work. It serves TLS
// from the given certificate and key, HTTP/1.1 only by default: what the
// kube-apiserver speaks to a webhook behind a Service (it asks for
// http/1.1 unless the webhook's URL is on localhost, k8s.io/apiserver's
// pkg/util/webhook), and what podvirt-controller serves; --http2 offers
// h2 too, as a URL on localhost would use. It asks for no client
// certificate, and stops on SIGTERM or SIGINT.
// /healthz answers 200 for probes.
//
// Build it static (CGO_ENABLED=0) and pack it with test/tools/ocipack:
// test/bench/bench-system.sh does both.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func main() {
	listen := flag.String("listen", ":9443", "address to serve on")
	certFile := flag.String("tls-cert-file", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-private-key-file", "", "serving key (PEM)")
	h2 := flag.Bool("http2", false, "also offer HTTP/2 (HTTP/1.1 only if false)")
	flag.Parse()
	if err := run(*listen, *certFile, *keyFile, *h2); err != nil {
		log.Fatalf("noopwebhook: %v", err)
	}
}

func run(listen, certFile, keyFile string, h2 bool) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	srv := &http.Server{
		Addr:              listen,
		Handler:           Handler(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         &http.Protocols{},
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(h2)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	log.Printf("noopwebhook: serving on %s", listen)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	fmt.Fprintln(os.Stderr, "noopwebhook: stopped")
	return nil
}

// Handler allows every AdmissionReview posted to it; GET /healthz is 200.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("POST /", allow)
	return mux
}

func allow(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, "decoding the AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.Request == nil {
		http.Error(w, "the AdmissionReview has no request", http.StatusBadRequest)
		return
	}
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true},
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		log.Printf("noopwebhook: writing a response: %v", err)
	}
}
