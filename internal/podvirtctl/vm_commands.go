package podvirtctl

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// vmAction is what start, stop and restart do to the named VM.
type vmAction func(ctx context.Context, c client.Client, key types.NamespacedName, opts StopOptions) error

// newVMCommand builds start, stop or restart: each names one VM and acts
// on it with the user's kubeconfig, needing only get and patch on the VM
// (and delete on its VMI for restart, --grace-period and --force).
func newVMCommand(use, short, long string, stopFlags bool, act vmAction) *cobra.Command {
	cluster := newClusterFlags()
	var gracePeriod int64
	var force bool
	cmd := &cobra.Command{
		Use: use + " VM", Short: short, Long: long, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := cluster.client()
			if err != nil {
				return err
			}
			opts := StopOptions{Force: force}
			if cmd.Flags().Changed("grace-period") {
				if gracePeriod < 0 {
					return fmt.Errorf("--grace-period must be 0 or more")
				}
				opts.GracePeriod = &gracePeriod
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := act(ctx, c, types.NamespacedName{Namespace: ns, Name: args[0]}, opts); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "VM %s was scheduled to %s\n", args[0], use)
			return err
		},
	}
	cluster.bind(cmd.Flags())
	if stopFlags {
		cmd.Flags().Int64Var(&gracePeriod, "grace-period", 0, "seconds the guest gets to shut down: the VMI is deleted with this grace period")
		cmd.Flags().BoolVar(&force, "force", false, "delete the VMI at once (a grace period of 0)")
	}
	return cmd
}

func newStartCommand() *cobra.Command {
	return newVMCommand("start", "Start a VirtualMachine",
		"Start a VirtualMachine. A Halted VM gets runStrategy Always (running: true if it uses running);\n"+
			"a Manual or RerunOnFailure VM keeps its strategy and the controller starts it on request.",
		false, func(ctx context.Context, c client.Client, key types.NamespacedName, _ StopOptions) error {
			return StartVM(ctx, c, key)
		})
}

func newStopCommand() *cobra.Command {
	return newVMCommand("stop", "Stop a VirtualMachine",
		"Stop a VirtualMachine. An Always or Once VM gets runStrategy Halted (running: false if it uses running);\n"+
			"a Manual or RerunOnFailure VM keeps its strategy and the controller stops it on request.",
		true, StopVM)
}

func newRestartCommand() *cobra.Command {
	return newVMCommand("restart", "Restart a VirtualMachine",
		"Restart a VirtualMachine: its VMI is deleted and the controller creates a new one.",
		true, RestartVM)
}
