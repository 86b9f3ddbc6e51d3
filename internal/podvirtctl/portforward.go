package podvirtctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

func newPortForwardCommand() *cobra.Command {
	cluster := newClusterFlags()
	var addresses []string
	cmd := &cobra.Command{
		Use:   "port-forward VMI [LOCAL_PORT:]REMOTE_PORT...",
		Short: "Forward local ports to a VMI's ports (needs create on pods/portforward of its launcher Pod)",
		Long: `port-forward listens on local ports and forwards each connection to a port
of the guest, through pods/portforward on the VMI's launcher Pod, as
kubectl port-forward does for a Pod (the node agent relays the launcher
Pod's port to the guest). It needs what kubectl port-forward to that Pod
needs: get on pods and create on pods/portforward, nothing on VMIs.

LOCAL_PORT:REMOTE_PORT forwards LOCAL_PORT; :REMOTE_PORT (or 0:REMOTE_PORT)
picks a free local port and prints it; REMOTE_PORT alone uses the same
number locally. It runs until interrupted (Ctrl+C).`,
		Example: `  podvirtctl port-forward web 8080:80 -n vms
  podvirtctl port-forward vm/web :22 --address 127.0.0.1`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, cfg, p, err := cluster.launcherOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return forward(cmd.Context(), cs, cfg, p, addresses, args[1:], nil, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cluster.bind(cmd.Flags())
	cmd.Flags().StringSliceVar(&addresses, "address", []string{"localhost"}, "local addresses to listen on (comma-separated; localhost means 127.0.0.1 and ::1)")
	return cmd
}

// forward runs a port forward to p until ctx ends. ready, when set, gets
// the forwarder once it listens (its GetPorts tells the local ports).
func forward(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, p *corev1.Pod, addresses, ports []string,
	ready func(*portforward.PortForwarder), out, errOut io.Writer) error {
	for _, port := range ports {
		if strings.Count(port, ":") > 1 || strings.HasSuffix(port, ":") {
			return fmt.Errorf("port %q: want [LOCAL_PORT:]REMOTE_PORT", port)
		}
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace).Name(p.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return fmt.Errorf("preparing the port forward: %w", err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	// As kubectl: SPDY tunnelled over a websocket first, plain SPDY when
	// the server cannot upgrade to it.
	ws, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return fmt.Errorf("preparing the port forward: %w", err)
	}
	dialer = portforward.NewFallbackDialer(ws, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	readyCh := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, addresses, ports, readyCh, out, errOut)
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s: %w", p.Namespace, p.Name, err)
	}
	if ready != nil {
		go func() {
			select {
			case <-readyCh:
				ready(fw)
			case <-ctx.Done():
			}
		}()
	}
	return streamError(fw.ForwardPorts(), "portforward", p)
}
