// Package podvirtctl is the command tree of podvirtctl, podvirt's CLI for
// VM users, cluster admins and security teams. Each subcommand lives in its
// own file and is added to the root here. Commands that talk to the
// cluster take kubectl's connection flags (cluster.go) and need, for each
// verb, the permission the same thing needs on a Pod (docs/cli.md).
package podvirtctl

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// PluginName is the binary name kubectl runs for `kubectl podvirt`.
const PluginName = "kubectl-podvirt"

// NewRoot returns the root command named after the running binary
// (os.Args[0]), so that help reads `kubectl podvirt ...` when kubectl runs
// it as a plugin.
func NewRoot() *cobra.Command { return NewRootNamed(filepath.Base(os.Args[0])) }

// NewRootNamed returns the podvirtctl root command with every subcommand,
// its help written for a binary called binary: `kubectl podvirt` for
// kubectl-podvirt (a kubectl plugin), podvirtctl for anything else.
func NewRootNamed(binary string) *cobra.Command {
	root := &cobra.Command{
		Use:           "podvirtctl",
		Short:         "podvirtctl works with podvirt's VMs (console, port-forward, start/stop), manifests (render), policies and admission audit log",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if strings.TrimSuffix(binary, ".exe") == PluginName {
		root.Use = "podvirt"
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl podvirt"}
	}
	// Each subcommand file adds its constructor here, e.g. newAuditCommand.
	subcommands := []func() *cobra.Command{
		newPolicyCommand, newAuditCommand, newStartCommand, newStopCommand, newRestartCommand,
		newVersionCommand, newRenderCommand, newConsoleCommand, newPortForwardCommand, newSSHCommand,
	}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}
