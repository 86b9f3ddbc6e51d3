package program

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/term"
)

// ConsoleSocket is where the launcher container finds the serial
// console's socket: its state volume's mount (launcher/pod.StateDir), the
// node agent's directory in it (domainspec.StateSubdir), the socket
// (domainspec.SerialSocketFile). QEMU listens there; a read-only mount is
// enough to connect.
const ConsoleSocket = "/var/run/podvirt/vmi-state/vmi/serial.sock"

// EscapeByte ends a console session: ^] (Ctrl+]), as in telnet and virsh
// console, which a guest's shell has no use for.
const EscapeByte = 0x1d

// ConsoleOptions configure Console.
type ConsoleOptions struct {
	// Socket is the serial console's socket; ConsoleSocket when empty.
	Socket string
	// In is relayed to the guest until it ends or holds Escape; Out gets
	// what the guest writes; Err the banner and nothing else, so Out is
	// the guest's alone.
	In       io.Reader
	Out, Err io.Writer
	// Escape ends the session when read from In (and is not sent); 0
	// turns it off. NewConsoleOptions sets EscapeByte.
	Escape byte
}

// Console relays In and Out to the guest's serial port, byte for byte,
// until In holds the escape byte or ends, the guest's side closes (the
// domain stopped), or ctx ends. QEMU serves one client at a time: a second
// console connects but sees nothing until the first leaves, then takes its
// place. Leaving loses nothing: QEMU writes the guest's output to the
// serial log (kubectl logs) whether a console is connected or not.
func Console(ctx context.Context, o ConsoleOptions) error {
	socket := o.Socket
	if socket == "" {
		socket = ConsoleSocket
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("connecting to the guest's serial console at %s: %w (is the VMI running, with autoattachSerialConsole left on? A VMI started before consoles were sockets has none: restart it)", socket, err)
	}
	defer conn.Close()
	if o.Err != nil {
		// \r\n: the user's terminal is raw.
		fmt.Fprintf(o.Err, "Connected to the guest's serial console. Escape character is ^] (Ctrl+]).\r\n"+
			"One console at a time: if another one is open, this one shows nothing until it closes.\r\n")
	}
	in := make(chan error, 1)
	out := make(chan error, 1)
	go func() { in <- copyUntil(conn, o.In, o.Escape) }()
	go func() {
		_, err := io.Copy(o.Out, conn)
		out <- err
	}()
	select {
	case err := <-in:
		return err
	case err := <-out:
		if err == nil {
			return errors.New("the guest's serial console closed (has the VMI stopped?)")
		}
		return fmt.Errorf("reading the guest's serial console: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// copyUntil copies src to dst until src ends or holds escape (not copied;
// 0 for none).
func copyUntil(dst io.Writer, src io.Reader, escape byte) error {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		chunk := buf[:n]
		stop := false
		if i := bytes.IndexByte(chunk, escape); escape != 0 && i >= 0 {
			chunk, stop = chunk[:i], true
		}
		if len(chunk) > 0 {
			if _, werr := dst.Write(chunk); werr != nil {
				return fmt.Errorf("writing to the guest's serial console: %w", werr)
			}
		}
		if stop || errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the console's input: %w", err)
		}
	}
}

// RawTerminal puts f in raw mode when it is a terminal (podvirtctl console
// gives the launcher a TTY when the user has one): no echo, no line
// editing, every key a byte for the guest. The returned function restores
// it; for anything but a terminal both do nothing.
func RawTerminal(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return func() {}, nil
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return func() {}, fmt.Errorf("putting the terminal in raw mode: %w", err)
	}
	return func() { _ = term.Restore(fd, state) }, nil
}
