package program

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU serves a socket as QEMU's chardev does: one client at a time,
// echoing what it gets, accepting the next when one leaves. got receives
// everything each client sent.
func fakeQEMU(t *testing.T) (socket string, got chan string) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "serial.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan string, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var all bytes.Buffer
			_, _ = io.Copy(io.MultiWriter(&all, c), c)
			c.Close()
			got <- all.String()
		}
	}()
	return socket, got
}

// chanWriter hands each write to a channel, read while Console writes.
type chanWriter struct {
	ch chan []byte
}

func (b *chanWriter) Write(p []byte) (int, error) {
	b.ch <- append([]byte(nil), p...)
	return len(p), nil
}

func TestConsoleRelaysUntilEscapeAndReconnects(t *testing.T) {
	socket, got := fakeQEMU(t)
	for _, session := range []string{"first", "second"} {
		inR, inW := io.Pipe()
		out := &chanWriter{ch: make(chan []byte, 100)}
		var banner bytes.Buffer
		done := make(chan error, 1)
		go func() {
			done <- Console(context.Background(), ConsoleOptions{Socket: socket, In: inR, Out: out, Err: &banner, Escape: EscapeByte})
		}()
		if _, err := inW.Write([]byte("echo " + session + "\n")); err != nil {
			t.Fatal(err)
		}
		var echoed string
		deadline := time.After(5 * time.Second)
		for !strings.Contains(echoed, session) {
			select {
			case b := <-out.ch:
				echoed += string(b)
			case <-deadline:
				t.Fatalf("%s: no echo, got %q", session, echoed)
			}
		}
		// The escape ends the session; what follows it is not sent.
		if _, err := inW.Write([]byte("x\x1dnot sent")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", session, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the escape did not end the session", session)
		}
		if sent := <-got; sent != "echo "+session+"\nx" {
			t.Errorf("%s: the guest got %q", session, sent)
		}
		if !strings.Contains(banner.String(), "^]") {
			t.Errorf("%s: the banner does not say how to leave: %q", session, banner.String())
		}
	}
}

// The end of the input ends the session too.
func TestConsoleEndsWithItsInput(t *testing.T) {
	socket, got := fakeQEMU(t)
	if err := Console(context.Background(), ConsoleOptions{Socket: socket, In: strings.NewReader("ls\n"), Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if sent := <-got; sent != "ls\n" {
		t.Errorf("the guest got %q", sent)
	}
}

func TestConsoleWithoutSocket(t *testing.T) {
	err := Console(context.Background(), ConsoleOptions{Socket: filepath.Join(t.TempDir(), "none.sock"), In: strings.NewReader(""), Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "is the VMI running") {
		t.Fatalf("err %v, want it to say what to check", err)
	}
}

// The guest's side closing (the domain stopped) ends the session with an
// error that says so.
func TestConsoleGuestGone(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "serial.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	inR, _ := io.Pipe()
	err = Console(context.Background(), ConsoleOptions{Socket: socket, In: inR, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("err %v, want the console closed", err)
	}
}
