//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/launcher/domain"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// env is the local environment the tests run against.
type env struct {
	state, kubectl, node string
	c                    client.Client
	libvirt              *hypervisor.Libvirt
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctrllog.SetLogger(logr.Discard())
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	state := os.Getenv("PODVIRT_STATE")
	if state == "" {
		state = filepath.Join(repo, ".podvirt")
	}
	kbin := os.Getenv("K8S_BIN")
	if kbin == "" {
		home, _ := os.UserHomeDir()
		kbin = filepath.Join(home, ".cache/podvirt/k8s-v1.37.2/bin")
	}
	node := os.Getenv("PODVIRT_NODE")
	if node == "" {
		node = "podvirt-node"
	}
	kubeconfig := filepath.Join(state, "kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("the local environment is not up (make run, or make e2e): %v", err)
	}
	// The burst tests measure admission, not client-side throttling.
	cfg.QPS, cfg.Burst = 500, 1000
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	lv := &hypervisor.Libvirt{Socket: filepath.Join(state, "libvirt", "libvirt-sock")}
	t.Cleanup(func() { lv.Close() })
	return &env{state: state, kubectl: filepath.Join(kbin, "kubectl"), node: node, c: c, libvirt: lv}
}

// namespace creates a fresh namespace, deleted when the test ends.
func (e *env) namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + rand.String(6)}}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.c.Delete(context.Background(), ns) })
	return ns.Name
}

// kubectlRun runs kubectl with the admin kubeconfig and stdin, returning
// combined output and error.
func (e *env) kubectlRun(stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.kubectl, append([]string{"--kubeconfig", filepath.Join(e.state, "kubeconfig")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// eventually polls cond every interval until it returns true or timeout
// passes; the last error is reported.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Log(fmt.Sprintf(format, args...))
}

// serialLog is the serial console file of the VMI whose domain is domName:
// the node agent keeps a VMI's files in a directory named by its UID.
func (e *env) serialLog(t *testing.T, domName string) string {
	t.Helper()
	ns, name, ok := domainspec.ParseName(domName)
	if !ok {
		t.Fatalf("%q is not a podvirt domain name", domName)
	}
	vmi := &v1alpha1.VirtualMachineInstance{}
	if err := e.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vmi); err != nil {
		t.Fatalf("reading VMI %s/%s for its UID: %v", ns, name, err)
	}
	return filepath.Join(e.state, "nodeagent", "vmis", string(vmi.UID), domain.SerialLogFile)
}
