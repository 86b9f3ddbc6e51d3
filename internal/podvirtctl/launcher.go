package podvirtctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvirt/podvirt/domainspec"
)

// vmiName is the VMI an argument names: NAME, vmi/NAME or vm/NAME (as
// virtctl writes them; a VM's VMI has the VM's name).
func vmiName(arg string) (string, error) {
	name := arg
	for _, prefix := range []string{"vmi/", "vm/", "virtualmachineinstance/", "virtualmachine/"} {
		name = strings.TrimPrefix(name, prefix)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("%q: name a VMI as NAME, vmi/NAME or vm/NAME, with -n for its namespace", arg)
	}
	return name, nil
}

// launcherOf resolves a VMI argument (vmiName) to its running launcher Pod
// in the flags' namespace, with a client of the flags' cluster: what
// console, port-forward and ssh each start from.
func (f *clusterFlags) launcherOf(ctx context.Context, arg string) (kubernetes.Interface, *rest.Config, *corev1.Pod, error) {
	name, err := vmiName(arg)
	if err != nil {
		return nil, nil, nil, err
	}
	cs, cfg, ns, err := f.clientset()
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := launcherPod(ctx, cs, ns, name)
	if err != nil {
		return nil, nil, nil, err
	}
	return cs, cfg, p, nil
}

// launcherPod reads the VMI's launcher Pod by its name, with a GET of the
// Pod, as kubectl exec and kubectl port-forward read theirs: the console
// and port-forward need the permissions those need (get on pods, then
// create on the subresource) and nothing on VMIs. The Pod must carry the
// VMI's label, which only podvirt's controller can set (the Pod guard), and
// be running.
func launcherPod(ctx context.Context, cs kubernetes.Interface, ns, vmi string) (*corev1.Pod, error) {
	name := domainspec.PodName(vmi)
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("VMI %s/%s has no launcher Pod %s: is it running? (kubectl get vmi -n %s %s)", ns, vmi, name, ns, vmi)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("Forbidden: you need get on pods for pod %s in namespace %s to reach VMI %s, as kubectl exec does (kubectl auth can-i get pods -n %s): %w", name, ns, vmi, ns, err)
	case err != nil:
		return nil, fmt.Errorf("reading launcher Pod %s/%s: %w", ns, name, err)
	}
	if p.Labels[domainspec.LabelVMI] != vmi {
		return nil, fmt.Errorf("Pod %s/%s is not the launcher Pod of VMI %s (no %s=%s label)", ns, name, vmi, domainspec.LabelVMI, vmi)
	}
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return nil, fmt.Errorf("launcher Pod %s/%s of VMI %s is %s, not running: wait for the VMI to run (kubectl get vmi -n %s %s -w)", ns, name, vmi, podState(p), ns, vmi)
	}
	return p, nil
}

func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	return string(p.Status.Phase)
}

// streamError explains a refused pods/exec or pods/portforward request:
// the API server's Forbidden, behind the upgrade failure that carries it,
// becomes the permission to ask for.
func streamError(err error, subresource string, p *corev1.Pod) error {
	if err == nil {
		return nil
	}
	if forbidden(err) {
		return fmt.Errorf("Forbidden: you need create on pods/%s for pod %s in namespace %s (kubectl auth can-i create pods/%s -n %s): %w",
			subresource, p.Name, p.Namespace, subresource, p.Namespace, err)
	}
	return fmt.Errorf("pods/%s of %s/%s: %w", subresource, p.Namespace, p.Name, err)
}

// forbidden says whether err is the API server's 403, however wrapped:
// the websocket dialer puts it in an UpgradeFailureError's Cause (not
// unwrapped), SPDY in the upgrade failure's text.
func forbidden(err error) bool {
	for e := err; e != nil; {
		if apierrors.IsForbidden(e) {
			return true
		}
		var up *httpstream.UpgradeFailureError
		if !errors.As(e, &up) || up.Cause == e {
			break
		}
		e = up.Cause
	}
	return strings.Contains(strings.ToLower(err.Error()), "forbidden")
}
