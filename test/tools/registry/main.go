// Command registry is a tiny OCI distribution registry for podvirt's local
// test environment (test/local/up-registry.sh). It serves
// go-containerregistry's pkg/registry on a loopback address only: it has no
// authentication and no TLS, so it refuses any address that is not loopback.
//
// Blobs are kept on disk under --dir when it is given (they survive a
// restart), otherwise in memory. Manifests and tags are always in memory:
// after a restart, images must be pushed again (pushing again is cheap, the
// blobs are already there).
//
// Usage:
//
//	registry [--addr 127.0.0.1:15000] [--dir DIR]
//
// Every request is logged as one line on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:15000", "listen address; must be a loopback address")
	dir := flag.String("dir", "", "directory for blobs (default: keep blobs in memory)")
	flag.Parse()

	if err := run(*addr, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(addr, dir string) error {
	if err := checkLoopback(addr); err != nil {
		return err
	}
	logger := log.New(os.Stderr, "registry: ", log.LstdFlags)
	opts := []registry.Option{registry.Logger(logger)}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(dir)))
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           registry.New(opts...),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	where := "memory"
	if dir != "" {
		where = dir
	}
	logger.Printf("listening on http://%s (blobs in %s)", ln.Addr(), where)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Printf("stopped")
	return nil
}

// checkLoopback refuses listen addresses that are reachable from other hosts.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad --addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed", addr)
	}
	return nil
}
