package podvirtctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/portforward"
)

func newSSHCommand() *cobra.Command {
	cluster := newClusterFlags()
	var port int
	var sshBin string
	cmd := &cobra.Command{
		Use:   "ssh [USER@]VMI [-- SSH_ARGS...]",
		Short: "ssh into a VMI through a port forward (needs create on pods/portforward of its launcher Pod)",
		Long: `ssh forwards a free local port to the guest's port 22 (--port), as
port-forward does, and runs your local ssh against it: ssh's own options,
keys and agent apply, and what follows -- goes to ssh. The host key is
remembered under the VMI's name (HostKeyAlias NAME.NAMESPACE.vmi.podvirt),
not the ever-changing local port. Permissions: get on pods, create on
pods/portforward.

Without this command: podvirtctl port-forward VMI 2222:22, then
ssh -p 2222 USER@127.0.0.1.`,
		Example: `  podvirtctl ssh fedora@web -n vms
  podvirtctl ssh web -- -i ~/.ssh/vm_ed25519 uptime`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			user, target := "", args[0]
			if i := strings.LastIndex(target, "@"); i >= 0 {
				user, target = target[:i], target[i+1:]
			}
			cs, cfg, p, err := cluster.launcherOf(cmd.Context(), target)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			local := make(chan uint16, 1)
			fwErr := make(chan error, 1)
			go func() {
				fwErr <- forward(ctx, cs, cfg, p, []string{"127.0.0.1"}, []string{":" + strconv.Itoa(port)},
					func(fw *portforward.PortForwarder) {
						if ports, err := fw.GetPorts(); err == nil && len(ports) == 1 {
							local <- ports[0].Local
						}
					}, io.Discard, cmd.ErrOrStderr())
			}()
			var lp uint16
			select {
			case lp = <-local:
			case err := <-fwErr:
				if err == nil {
					err = errors.New("the port forward ended before it listened")
				}
				return err
			}
			return runSSH(ctx, sshBin, sshArgs(user, p.Labels[domainspec.LabelVMI], p.Namespace, lp, args[1:]), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cluster.bind(cmd.Flags())
	cmd.Flags().IntVarP(&port, "port", "p", 22, "the guest's ssh port")
	cmd.Flags().StringVar(&sshBin, "ssh", "ssh", "the local ssh client to run")
	return cmd
}

// sshArgs are the local ssh's arguments for the forwarded port.
func sshArgs(user, vmi, ns string, localPort uint16, extra []string) []string {
	dest := "127.0.0.1"
	if user != "" {
		dest = user + "@" + dest
	}
	args := []string{"-p", strconv.Itoa(int(localPort)), "-o", "HostKeyAlias=" + vmi + "." + ns + ".vmi.podvirt"}
	// ssh takes its options before the destination and a command after.
	var opts, command []string
	for i := 0; i < len(extra); i++ {
		if strings.HasPrefix(extra[i], "-") && len(command) == 0 {
			opts = append(opts, extra[i])
			if len(extra[i]) == 2 && strings.ContainsRune("BbcDEeFIiJLlmOopQRSWw", rune(extra[i][1])) && i+1 < len(extra) {
				i++
				opts = append(opts, extra[i])
			}
			continue
		}
		command = append(command, extra[i])
	}
	args = append(args, opts...)
	args = append(args, dest)
	return append(args, command...)
}

func runSSH(ctx context.Context, bin string, args []string, in io.Reader, out, errOut io.Writer) error {
	c := exec.CommandContext(ctx, bin, args...)
	// os.Stdin itself, not a copy through a pipe: a terminal stays one for
	// ssh (cmd.InOrStdin is os.Stdin unless a test set another).
	c.Stdin, c.Stdout, c.Stderr = in, out, errOut
	err := c.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Code: exit.ExitCode(), Err: fmt.Errorf("ssh exited with status %d", exit.ExitCode())}
	}
	if err != nil {
		return fmt.Errorf("running %s: %w (is an ssh client installed? --ssh names another)", bin, err)
	}
	return nil
}
