package podvirtctl

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

func newRenderCommand() *cobra.Command {
	opts := RenderDefaults()
	var file, pullPolicy, containerDisk, uid string
	printFlags := genericclioptions.NewJSONYamlPrintFlags()
	var output string
	cmd := &cobra.Command{
		Use:   "render [FILE | -f FILE]",
		Short: "Render a VMI or VirtualMachine manifest into its launcher Pod and domain XML, offline",
		Long: `render shows what podvirt would run for a manifest, without a cluster, by
the controller's own code: the defaulting and validation of the admission
webhooks (field errors as the webhook would deny them; VMIPolicies are not
evaluated here: use podvirtctl policy test), then the launcher Pod the
controller creates, whose podvirt.io/domain annotation carries the domain
XML the node agent defines. For a VirtualMachine, its spec.template is
rendered as the VMI the VM controller would create.

FILE may hold several documents; kinds other than VMI and VM are skipped.
"-" reads stdin. The flags mirror podvirt-controller's, with its defaults.
A manifest without a namespace gets --namespace, one without a UID gets
--uid (the API server assigns the real one).

The output is each Pod as YAML, then its domain XML; -o json|yaml prints
only the Pods. The Pod is unsigned, as the controller creates it: it signs
the domain for the node once the Pod is scheduled.`,
		Example: `  podvirtctl render examples/vmi-tiny.yaml
  podvirtctl render -f vm.yaml --domain-type qemu -o yaml
  kubectl get vmi tiny -o yaml | podvirtctl render -`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if file != "" {
					return fmt.Errorf("give the manifest once: as FILE or as -f")
				}
				file = args[0]
			}
			if file == "" {
				return fmt.Errorf("which manifest? give FILE, -f FILE, or - for stdin")
			}
			if uid != "" {
				opts.UID = types.UID(uid)
			}
			opts.Pod.ImagePullPolicy = corev1.PullPolicy(pullPolicy)
			q, err := resource.ParseQuantity(containerDisk)
			if err != nil || q.Sign() <= 0 {
				return fmt.Errorf("--container-disk-bytes %q: want a positive quantity such as 1Gi", containerDisk)
			}
			opts.Pod.ContainerDiskBytes = q
			in, name, closeIn, err := openManifest(file, cmd.InOrStdin())
			if err != nil {
				return err
			}
			defer closeIn()
			rendered, skipped, err := RenderManifests(in, name, opts)
			if err != nil {
				return err
			}
			for _, s := range skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "render: skipped %s: not a podvirt VMI or VM\n", s)
			}
			return printRendered(cmd.OutOrStdout(), cmd.ErrOrStderr(), rendered, printFlags, output)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "filename", "f", "", `the manifest ("-" for stdin)`)
	f.StringVarP(&output, "output", "o", "", "print only the Pods: "+strings.Join(printFlags.AllowedFormats(), " or "))
	f.StringVar(&opts.Domain.Type, "domain-type", opts.Domain.Type, "libvirt domain type: kvm, or qemu for software emulation (podvirt-controller --domain-type)")
	f.StringVar(&opts.Pod.Image, "launcher-image", opts.Pod.Image, "podvirt-launcher image (podvirt-controller --launcher-image)")
	f.StringVar(&pullPolicy, "launcher-image-pull-policy", string(opts.Pod.ImagePullPolicy), "pull policy of the launcher image (podvirt-controller --launcher-image-pull-policy)")
	f.StringVar(&containerDisk, "container-disk-bytes", opts.Pod.ContainerDiskBytes.String(), "ephemeral storage each containerDisk's writable overlay counts (podvirt-controller --container-disk-bytes)")
	f.StringVarP(&opts.Namespace, "namespace", "n", opts.Namespace, "namespace of manifests that name none")
	f.StringVar(&uid, "uid", string(OfflineUID), "UID of manifests that have none")
	return cmd
}

// openManifest opens FILE, or stdin for "-".
func openManifest(file string, stdin io.Reader) (io.Reader, string, func(), error) {
	if file == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, "", nil, fmt.Errorf("opening the manifest: %w", err)
	}
	return f, file, func() { f.Close() }, nil
}

// printRendered writes each Pod as YAML and then its domain XML as it is
// (to read, or to cut out: -o yaml is the form for programs), or with -o
// the Pods alone through cli-runtime's printer; the note that the Pods are
// unsigned goes in a comment, or to stderr with -o.
func printRendered(out, errOut io.Writer, rendered []Rendered, printFlags *genericclioptions.JSONYamlPrintFlags, output string) error {
	if output != "" {
		printer, err := printFlags.ToPrinter(output)
		if err != nil {
			return fmt.Errorf("-o %q: want %s", output, strings.Join(printFlags.AllowedFormats(), " or "))
		}
		fmt.Fprintln(errOut, "render: "+strings.ReplaceAll(unsignedNote, "\n", "\nrender: "))
		for _, r := range rendered {
			if err := printer.PrintObj(r.Pod, out); err != nil {
				return err
			}
		}
		return nil
	}
	yamlPrinter, _ := printFlags.ToPrinter("yaml")
	for i, r := range rendered {
		if i > 0 {
			fmt.Fprintln(out, "---")
		}
		fmt.Fprintf(out, "# Launcher Pod of %s.\n# %s\n", r.Source, strings.ReplaceAll(unsignedNote, "\n", "\n# "))
		if err := yamlPrinter.PrintObj(r.Pod, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "# Domain XML of %s (the Pod's podvirt.io/domain), before the node agent puts its paths in:\n%s\n",
			r.Source, strings.TrimRight(r.DomainXML, "\n"))
	}
	return nil
}
