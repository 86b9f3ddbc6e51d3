//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podvirt/podvirt/audit"
	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// TestAuditLogSurvivesKill9 sends a burst of 500 VMI creations through the
// real kube-apiserver, kills one controller replica's process with SIGKILL
// in the middle (the kubelet restarts it), and checks that every VMI that exists has its audit line
// and that the chain verifies. Then it edits one byte, and separately
// deletes one line, of a copy of the log: verify must name each.
func TestAuditLogSurvivesKill9(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ns := e.Namespace(t)
	const total, workers, killAt = 500, 16, 150

	var next, created, refused atomic.Int64
	var killOnce sync.Once
	killed := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if i == killAt {
					// One replica dies mid-write; the other keeps serving.
					killOnce.Do(func() { framework.KillProcess(t, framework.ProcessPIDs(framework.ControllerName)[0]); close(killed) })
				}
				vmi := burstVMI(ns, int(i))
				// Retry: admissions in flight at the killed replica fail
				// (failurePolicy Fail); TestControllerLeaderLost is the
				// no-retry case of a graceful loss.
				var last error
				err := framework.Poll(ctx, 100*time.Millisecond, time.Minute, func(ctx context.Context) (bool, error) {
					if last = e.Client.Create(ctx, vmi.DeepCopy()); last != nil {
						refused.Add(1)
						return false, nil
					}
					created.Add(1)
					return true, nil
				})
				if err != nil {
					t.Errorf("vmi %d never admitted: %v", i, last)
					return
				}
			}
		}()
	}
	<-killed
	t.Logf("controller replica restarted in %s", e.WaitPodvirtReady(t).Round(time.Millisecond))
	wg.Wait()
	t.Logf("%d VMIs created in %s; %d attempts refused around the kill", created.Load(), time.Since(start).Round(time.Millisecond), refused.Load())

	vmis := &v1alpha1.VirtualMachineInstanceList{}
	if err := e.Client.List(ctx, vmis, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(vmis.Items) != total {
		t.Errorf("%d VMIs exist, want %d", len(vmis.Items), total)
	}
	dir := e.AuditDir(t)
	lines := map[string]bool{}
	for rec, err := range audit.Read(ctx, dir, audit.Filter{Namespace: ns, Webhook: audit.WebhookValidateVMI}) {
		if err != nil {
			t.Fatalf("reading the audit log: %v", err)
		}
		if rec.Operation == "CREATE" && rec.Decision == audit.DecisionAllowed {
			lines[rec.Name] = true
		}
	}
	missing := 0
	for _, v := range vmis.Items {
		if !lines[v.Name] {
			missing++
			if missing <= 5 {
				t.Errorf("VMI %s exists but has no allowed validate-vmi line", v.Name)
			}
		}
	}
	t.Logf("%d of %d existing VMIs have their audit line", len(vmis.Items)-missing, len(vmis.Items))

	ctl := e.podvirtctl(t)
	out, err := exec.Command(ctl, "audit", "verify", "--dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
	}
	t.Logf("verify: %s", strings.TrimSpace(string(out)))

	file, n := e.auditFileWithLines(t, dir, 20)
	t.Run("an edited byte is named", func(t *testing.T) {
		copyDir := copyAudit(t, dir)
		data, _ := os.ReadFile(filepath.Join(copyDir, file))
		ls := bytes.SplitAfter(data, []byte("\n"))
		target := n / 2
		// Flip a digit of the latency: still valid JSON, different bytes.
		ls[target-1] = bytes.Replace(ls[target-1], []byte(`"latencyUs":`), []byte(`"latencyUs":1`), 1)
		os.WriteFile(filepath.Join(copyDir, file), bytes.Join(ls, nil), 0o600)
		out, err := exec.Command(ctl, "audit", "verify", "--dir", copyDir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), fmt.Sprintf("%s:%d:", file, target)) {
			t.Errorf("verify of an edited line %d: err=%v\n%s", target, err, out)
		}
	})
	t.Run("a removed line is named", func(t *testing.T) {
		copyDir := copyAudit(t, dir)
		data, _ := os.ReadFile(filepath.Join(copyDir, file))
		ls := bytes.SplitAfter(data, []byte("\n"))
		target := n / 3
		ls = append(ls[:target-1], ls[target:]...)
		os.WriteFile(filepath.Join(copyDir, file), bytes.Join(ls, nil), 0o600)
		out, err := exec.Command(ctl, "audit", "verify", "--dir", copyDir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), fmt.Sprintf("%s:%d:", file, target)) {
			t.Errorf("verify after removing line %d: err=%v\n%s", target, err, out)
		}
	})
}

func burstVMI(ns string, i int) *v1alpha1.VirtualMachineInstance {
	return libvmi.New(
		libvmi.WithNamespace(ns),
		libvmi.WithName("burst-"+strconv.Itoa(i)),
		// Never scheduled: the burst measures admission, not 500 guests.
		libvmi.WithNodeSelector(noSuchNode, "true"),
		libvmi.WithMemory(libvmi.TinyMemory),
		libvmi.WithAutoattachPodInterface(false),
		libvmi.WithKernelBoot(libvmi.TinyImage, libvmi.TinyKernel, ""),
	)
}

// podvirtctl builds podvirtctl once for the test.
func (e *env) podvirtctl(t *testing.T) string {
	t.Helper()
	return e.GoBuild(t, "./cmd/podvirtctl")
}

// auditFileWithLines returns a file of the log with at least min lines.
func (e *env) auditFileWithLines(t *testing.T, dir string, min int) (string, int) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		data, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err == nil && bytes.Count(data, []byte("\n")) >= min {
			return en.Name(), bytes.Count(data, []byte("\n"))
		}
	}
	t.Fatalf("no audit file with %d lines in %s", min, dir)
	return "", 0
}

func copyAudit(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		data, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, en.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
