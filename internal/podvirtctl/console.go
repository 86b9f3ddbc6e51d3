package podvirtctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"

	"github.com/podvirt/podvirt/domainspec"
)

// launcherBinary is podvirt-launcher in its image (test/local/images.sh
// packs it there, as the image's entrypoint).
const launcherBinary = "/podvirt-launcher"

// escapeByte ends a console: ^] (Ctrl+]), as podvirt-launcher console,
// telnet and virsh console.
const escapeByte = 0x1d

func newConsoleCommand() *cobra.Command {
	cluster := newClusterFlags()
	cmd := &cobra.Command{
		Use:   "console VMI",
		Short: "Connect to a VMI's serial console (needs create on pods/exec of its launcher Pod)",
		Long: `console connects your terminal to the guest's serial port: it runs
` + "`podvirt-launcher console`" + ` in the VMI's launcher Pod through pods/exec, which relays
the serial console's socket. It needs what kubectl exec into that Pod needs:
get on pods and create on pods/exec, nothing on VMIs.

Press ^] (Ctrl+]) to leave; the end of input (a pipe) leaves too. Leave and
connect again at will: the guest's output is kept in the serial log
(kubectl logs virt-launcher-NAME) either way. The serial port serves one
console at a time: a second one connects but shows nothing, and what is
typed into it waits, until the first leaves.`,
		Example: `  podvirtctl console tiny -n vms
  kubectl podvirt console vm/web --context prod`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, cfg, p, err := cluster.launcherOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return runConsole(cmd.Context(), cs, cfg, p, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cluster.bind(cmd.Flags())
	return cmd
}

// runConsole execs the launcher's console in p. With a terminal on stdin
// it asks for a TTY and puts the local terminal in raw mode (every key a
// byte for the guest, ^C included); otherwise the streams are plain pipes.
func runConsole(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, p *corev1.Pod, in io.Reader, out, errOut io.Writer) error {
	tty := false
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		state, err := term.MakeRaw(int(f.Fd()))
		if err != nil {
			return fmt.Errorf("putting the terminal in raw mode: %w", err)
		}
		defer func() { _ = term.Restore(int(f.Fd()), state) }()
		tty = true
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: domainspec.LauncherContainerName,
			Command:   []string{launcherBinary, "console"},
			Stdin:     true, Stdout: true, Stderr: !tty, TTY: tty,
		}, scheme.ParameterCodec)
	ex, err := newExecutor(cfg, req.URL())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	esc := &escapeReader{r: in, escaped: make(chan struct{})}
	go func() {
		// The launcher ends on the escape byte it is sent; if the stream
		// outlives it (a wedged connection), end it here.
		select {
		case <-esc.escaped:
			time.Sleep(3 * time.Second)
			cancel()
		case <-ctx.Done():
		}
	}()
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: esc, Stdout: out, Stderr: errOut, Tty: tty})
	if esc.seen() && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	var exit exec.CodeExitError
	if errors.As(err, &exit) {
		return &ExitError{Code: exit.Code, Err: fmt.Errorf("the console in %s/%s ended with exit status %d (its message is above)", p.Namespace, p.Name, exit.Code)}
	}
	return streamError(err, "exec", p)
}

// newExecutor prefers the websocket executor and falls back to SPDY when
// the server cannot upgrade to it, as kubectl exec does.
func newExecutor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, fmt.Errorf("preparing the exec stream: %w", err)
	}
	// RFC 6455: the websocket upgrade is a GET.
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, fmt.Errorf("preparing the exec stream: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// escapeReader passes its reader through up to and including the first
// escape byte (so that the launcher ends the session), and reads as ended
// from then on.
type escapeReader struct {
	r       io.Reader
	once    sync.Once
	escaped chan struct{}
	done    bool
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == escapeByte {
			e.done = true
			e.once.Do(func() { close(e.escaped) })
			return i + 1, nil
		}
	}
	return n, err
}

func (e *escapeReader) seen() bool {
	select {
	case <-e.escaped:
		return true
	default:
		return false
	}
}

// ExitError carries the exit code podvirtctl ends with (a remote command's,
// ssh's).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the exit code for err: an ExitError's code, else 1.
func ExitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) && e.Code > 0 {
		return e.Code
	}
	return 1
}
