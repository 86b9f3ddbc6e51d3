package podvirtctl

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// clusterFlags are kubectl's connection flags (cli-runtime's ConfigFlags:
// --kubeconfig and $KUBECONFIG, --context, --cluster, --user, -n
// --namespace, --server, --token, --as, --as-group, --request-timeout,
// ...), on every command that talks to the cluster, so podvirtctl reaches
// the cluster, as the user, exactly as kubectl would with the same flags.
type clusterFlags struct {
	config *genericclioptions.ConfigFlags
}

func newClusterFlags() *clusterFlags {
	return &clusterFlags{config: genericclioptions.NewConfigFlags(true)}
}

func (f *clusterFlags) bind(fs *pflag.FlagSet) { f.config.AddFlags(fs) }

// restConfig is the user's REST config from the flags and kubeconfig.
func (f *clusterFlags) restConfig() (*rest.Config, error) {
	cfg, err := f.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig (set --kubeconfig, $KUBECONFIG or ~/.kube/config, as for kubectl): %w", err)
	}
	return cfg, nil
}

// namespace is -n, else the kubeconfig context's namespace, else default.
func (f *clusterFlags) namespace() (string, error) {
	ns, _, err := f.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the kubeconfig's namespace: %w", err)
	}
	return ns, nil
}

// client builds a controller-runtime client that knows podvirt's types and
// returns it with the namespace to use.
func (f *clusterFlags) client() (client.Client, string, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, "", err
	}
	ns, err := f.namespace()
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, "", fmt.Errorf("building the scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, "", fmt.Errorf("building the scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("creating the client: %w", err)
	}
	return c, ns, nil
}

// clientset is a client-go clientset (streams: exec, port-forward) with the
// REST config it was made from and the namespace to use.
func (f *clusterFlags) clientset() (kubernetes.Interface, *rest.Config, string, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, nil, "", err
	}
	ns, err := f.namespace()
	if err != nil {
		return nil, nil, "", err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, "", fmt.Errorf("creating the client: %w", err)
	}
	return cs, cfg, ns, nil
}
