package podvirtctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// Every verb that talks to the cluster takes kubectl's connection flags.
func TestClusterVerbsTakeKubectlFlags(t *testing.T) {
	root := NewRootNamed("podvirtctl")
	for _, verb := range []string{"start", "stop", "restart", "console", "port-forward", "ssh"} {
		cmd, _, err := root.Find([]string{verb})
		if err != nil || cmd.Name() != verb {
			t.Fatalf("%s: %v", verb, err)
		}
		for _, flag := range []string{"kubeconfig", "context", "namespace", "cluster", "user", "server", "token", "as", "as-group", "request-timeout"} {
			if cmd.Flags().Lookup(flag) == nil {
				t.Errorf("%s has no --%s", verb, flag)
			}
		}
		if f := cmd.Flags().ShorthandLookup("n"); f == nil || f.Name != "namespace" {
			t.Errorf("%s has no -n", verb)
		}
	}
}

// --kubeconfig, $KUBECONFIG, --context and -n resolve as kubectl resolves
// them.
func TestClusterFlagsResolveLikeKubectl(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example:6443"}
- name: b
  cluster: {server: "https://b.example:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: ctx-a
  context: {cluster: a, user: u, namespace: team-a}
- name: ctx-b
  context: {cluster: b, user: u, namespace: team-b}
current-context: ctx-a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	resolve := func(args ...string) (string, string) {
		t.Helper()
		f := newClusterFlags()
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.bind(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		ns, err := f.namespace()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := f.restConfig()
		if err != nil {
			t.Fatal(err)
		}
		return ns, cfg.Host
	}
	if ns, host := resolve("--kubeconfig", kubeconfig); ns != "team-a" || host != "https://a.example:6443" {
		t.Errorf("current context: %s %s", ns, host)
	}
	if ns, host := resolve("--kubeconfig", kubeconfig, "--context", "ctx-b"); ns != "team-b" || host != "https://b.example:6443" {
		t.Errorf("--context: %s %s", ns, host)
	}
	if ns, _ := resolve("--kubeconfig", kubeconfig, "-n", "other"); ns != "other" {
		t.Errorf("-n: %s", ns)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	if ns, host := resolve("--context", "ctx-b"); ns != "team-b" || host != "https://b.example:6443" {
		t.Errorf("$KUBECONFIG: %s %s", ns, host)
	}
}

// As the kubectl plugin kubectl-podvirt, help names `kubectl podvirt`.
func TestPluginName(t *testing.T) {
	for binary, want := range map[string]string{"kubectl-podvirt": "kubectl podvirt console VMI", "podvirtctl": "podvirtctl console VMI"} {
		root := NewRootNamed(binary)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"console", "--help"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s: help does not read %q:\n%s", binary, want, out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	v := versionOf(&debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/podvirt/podvirt", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"}}})
	var line, js bytes.Buffer
	if err := printVersion(&line, v, ""); err != nil || line.String() != "podvirtctl github.com/podvirt/podvirt v0.3.0 abc123-dirty go1.26.0 linux/amd64\n" {
		t.Errorf("line %q %v", line.String(), err)
	}
	if err := printVersion(&js, v, "json"); err != nil {
		t.Fatal(err)
	}
	var back Version
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back != v {
		t.Errorf("json %s: %v", js.String(), err)
	}
	if err := printVersion(io.Discard, v, "wide"); err == nil {
		t.Error("-o wide accepted")
	}
	if _, err := BuildVersion(); err != nil { // a test binary has build info
		t.Error(err)
	}
}

// The escape byte reaches the launcher (which ends the session on it), and
// nothing after it does.
func TestEscapeReader(t *testing.T) {
	e := &escapeReader{r: strings.NewReader("ls\n\x1dreboot\n"), escaped: make(chan struct{})}
	got, err := io.ReadAll(e)
	if err != nil || string(got) != "ls\n\x1d" || !e.seen() {
		t.Fatalf("read %q %v seen %v", got, err, e.seen())
	}
}

// A refused exec or port-forward names the permission to ask for, however
// the API server's 403 is wrapped.
func TestStreamErrorNamesThePermission(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-tiny", Namespace: "ns"}}
	denied := apierrors.NewForbidden(schema.GroupResource{Resource: "pods/exec"}, "virt-launcher-tiny", errors.New(`User "bob" cannot create resource "pods/exec"`))
	for name, err := range map[string]error{
		"status":  denied,
		"upgrade": &httpstream.UpgradeFailureError{Cause: denied},
		"text":    errors.New("unable to upgrade connection: Forbidden"),
	} {
		got := streamError(err, "exec", p).Error()
		if !strings.HasPrefix(got, "Forbidden: you need create on pods/exec for pod virt-launcher-tiny in namespace ns") {
			t.Errorf("%s: %s", name, got)
		}
	}
	if got := streamError(errors.New("connection reset"), "portforward", p).Error(); strings.Contains(got, "Forbidden") {
		t.Errorf("a reset called forbidden: %s", got)
	}
}

func TestVMIName(t *testing.T) {
	for in, want := range map[string]string{"tiny": "tiny", "vmi/tiny": "tiny", "vm/web": "web"} {
		if got, err := vmiName(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "vmi/", "ns/name/x", "pod/x"} {
		if _, err := vmiName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSSHArgs(t *testing.T) {
	got := strings.Join(sshArgs("fedora", "web", "vms", 40022, []string{"-i", "key", "-v", "uptime", "-a"}), " ")
	want := "-p 40022 -o HostKeyAlias=web.vms.vmi.podvirt -i key -v fedora@127.0.0.1 uptime -a"
	if got != want {
		t.Errorf("ssh %s\nwant %s", got, want)
	}
}
