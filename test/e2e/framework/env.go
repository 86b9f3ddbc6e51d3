// Package framework is what podvirt's end-to-end tests (test/e2e, build
// tag e2e) share: the local environment of test/local (paths, clients,
// the node's name), kubectl, waits built on apimachinery's wait package,
// the guest's serial console, and a leak checker that finds what a VMI
// left on the node after it ended.
//
// It builds without the e2e tag, so `go build ./...` keeps it compiling
// as the packages it uses move; only the tests need the environment.
// Every use of the node agent's Go API is in nodeagent.go.
package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// Env is the local environment the tests run against (test/local/up.sh).
// Its settings come from the variables test/local/lib.sh exports, with
// the same defaults.
type Env struct {
	// Repo is the repository's root.
	Repo string
	// State is $PODVIRT_STATE (<repo>/.podvirt): kubeconfig, pids, logs,
	// the node agent's state dir (State/nodeagent), libvirt's socket.
	State string
	// Node is the node's name ($PODVIRT_NODE, podvirt-node).
	Node string
	// Registry is the loopback registry (127.0.0.1:15000).
	Registry string
	// KubectlBin is the kubectl built with the cluster ($K8S_BIN/kubectl).
	KubectlBin string
	// Kubeconfig is the cluster admin's kubeconfig.
	Kubeconfig string
	// Config is the admin's REST config; Client a client over it that
	// knows podvirt's types.
	Config *rest.Config
	Client client.Client

	hv *hypervisor
}

// New returns the environment, or fails the test when it is not up.
// Connections it opens are closed when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	ctrllog.SetLogger(logr.Discard())
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	state := getenv("PODVIRT_STATE", filepath.Join(repo, ".podvirt"))
	home, _ := os.UserHomeDir()
	kbin := getenv("K8S_BIN", filepath.Join(home, ".cache/podvirt/k8s-v1.37.2/bin"))
	e := &Env{
		Repo:       repo,
		State:      state,
		Node:       getenv("PODVIRT_NODE", "podvirt-node"),
		Registry:   getenv("PODVIRT_REGISTRY", "127.0.0.1:15000"),
		KubectlBin: filepath.Join(kbin, "kubectl"),
		Kubeconfig: filepath.Join(state, "kubeconfig"),
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatalf("the local environment is not up (make run, or make e2e): %v", err)
	}
	// The burst tests measure admission, not client-side throttling.
	cfg.QPS, cfg.Burst = 500, 1000
	scheme := k8sruntime.NewScheme()
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
	e.Config, e.Client = cfg, c
	e.hv = newHypervisor(filepath.Join(state, "libvirt", "libvirt-sock"))
	t.Cleanup(func() { e.hv.close() })
	return e
}

// repoRoot is the directory above the working directory (a test's
// package directory) that holds podvirt's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if raw, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(raw, []byte("module github.com/podvirt/podvirt\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no podvirt go.mod above %s", dir)
		}
	}
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// NodeAgentStateDir is the node agent's --state-dir.
func (e *Env) NodeAgentStateDir() string { return filepath.Join(e.State, "nodeagent") }

// KubeletRootDir is the kubelet's --root-dir.
func (e *Env) KubeletRootDir() string { return filepath.Join(e.State, "kubelet", "root") }

// VMIDir is the node agent's directory for one VMI's sockets, named by the
// VMI's UID: <state>/nodeagent/vmis/<uid>. Its disks, cloud-init ISO and
// serial log are in its launcher Pod's vmi-state volume (PodVMIDir).
func (e *Env) VMIDir(uid types.UID) string {
	return filepath.Join(e.NodeAgentStateDir(), "vmis", string(uid))
}

// Namespace creates a fresh namespace, deleted when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + rand.String(6)}}
	if err := e.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// Kubectl runs kubectl with the admin kubeconfig and stdin, returning
// combined output and error.
func (e *Env) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.KubectlBin, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Apply pipes obj's manifest to `kubectl apply -n ns -f -` with any
// further args (--as alice...), failing the test when kubectl does.
func (e *Env) Apply(t testing.TB, ns string, obj any, args ...string) {
	t.Helper()
	out, err := e.Kubectl(Manifest(t, obj), append([]string{"apply", "-n", ns, "-f", "-"}, args...)...)
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// Manifest is obj as YAML, as a user would write it: without status and
// the zero creationTimestamp that Go's types marshal.
func Manifest(t testing.TB, obj any) string {
	t.Helper()
	s, err := ManifestOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ManifestOf is Manifest with an error instead of a test.
func ManifestOf(obj any) (string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("%T is not an object: %w", obj, err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		if ts, ok := md["creationTimestamp"]; ok && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	out, err := yaml.Marshal(m)
	return string(out), err
}

// Run runs a command, failing the test with its output when it fails.
func Run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// GoRun runs `go run` from the repository's root.
func (e *Env) GoRun(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run"}, args...)...)
	cmd.Dir = e.Repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// GoBuild builds a package of the repository (./cmd/podvirtctl) into the
// test's temporary directory and returns the binary.
func (e *Env) GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = e.Repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// PushDisk pushes an image holding file at /disk/root.qcow2 to the local
// registry as podvirt/<nameTag> and returns its reference.
func (e *Env) PushDisk(t testing.TB, file, nameTag string) string {
	t.Helper()
	return e.PushDiskAt(t, file, "/disk/root.qcow2", nameTag)
}

// PushDiskAt pushes an image holding file at diskPath (KubeVirt's
// containerDisk layout: the disk alone under /disk/) to the local
// registry as podvirt/<nameTag> and returns its reference.
func (e *Env) PushDiskAt(t testing.TB, file, diskPath, nameTag string) string {
	t.Helper()
	image := e.Registry + "/podvirt/" + nameTag
	e.GoRun(t, "./test/tools/ocipack", "--tag", image, "--file", file+":"+diskPath, "--push")
	return image
}
