// Package podvirtctl is the command tree of podvirtctl, podvirt's CLI for
// cluster admins and security teams. Each subcommand lives in its own file
// and is added to the root here.
package podvirtctl

import (
	"github.com/spf13/cobra"
)

// NewRoot returns the podvirtctl root command with every subcommand.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "podvirtctl",
		Short:         "podvirtctl works with podvirt's policies, admission audit log and VirtualMachines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Each subcommand file adds its constructor here, e.g. newAuditCommand.
	subcommands := []func() *cobra.Command{newPolicyCommand, newAuditCommand, newStartCommand, newStopCommand, newRestartCommand}
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}
