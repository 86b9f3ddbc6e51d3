//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/test/e2e/framework"
	"github.com/podvirt/podvirt/test/e2e/libvmi"
)

// load creates unschedulable VMIs (burstVMI) with workers goroutines,
// each pausing between creates, until stopped, without retries, counting
// failures.
type load struct {
	created, failed atomic.Int64
	mu              sync.Mutex
	firstErr        error
	stop            chan struct{}
	wg              sync.WaitGroup
}

func (e *env) startLoad(t *testing.T, ns, prefix string, workers int, pause time.Duration) *load {
	t.Helper()
	l := &load{stop: make(chan struct{})}
	var next atomic.Int64
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				vmi := burstVMI(ns, int(next.Add(1)))
				vmi.Name = prefix + "-" + strings.TrimPrefix(vmi.Name, "burst-")
				if err := e.Client.Create(context.Background(), vmi); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if l.firstErr == nil {
						l.firstErr = err
					}
					l.mu.Unlock()
					continue
				}
				l.created.Add(1)
				select {
				case <-l.stop:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	return l
}

// finish stops the load and fails the test if any create failed.
func (l *load) finish(t *testing.T, what string) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%s: %d creates admitted, %d failed", what, l.created.Load(), l.failed.Load())
	if l.failed.Load() > 0 {
		t.Errorf("%s: %d creates failed; first: %v", what, l.failed.Load(), l.firstErr)
	}
	if l.created.Load() == 0 {
		t.Errorf("%s: no create went through", what)
	}
}

// TestControllerRollingRestart restarts the controller StatefulSet
// (`kubectl rollout restart`) during continuous creates: no admission fails.
func TestControllerRollingRestart(t *testing.T) {
	e := newEnv(t)
	e.WaitPodvirtReady(t)
	ns := e.Namespace(t)
	before := controllerPodUIDs(t, e)
	l := e.startLoad(t, ns, "roll", 8, 200*time.Millisecond)
	time.Sleep(2 * time.Second)
	start := time.Now()
	for _, args := range [][]string{
		{"rollout", "restart", "statefulset/" + framework.ControllerName},
		{"rollout", "status", "statefulset/" + framework.ControllerName, "--timeout=300s"},
	} {
		if out, err := e.Kubectl("", append([]string{"-n", framework.PodvirtNamespace}, args...)...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	e.WaitPodvirtReady(t)
	time.Sleep(2 * time.Second)
	l.finish(t, fmt.Sprintf("rolling restart (%s)", time.Since(start).Round(time.Millisecond)))
	for uid := range controllerPodUIDs(t, e) {
		if before[uid] {
			t.Errorf("controller Pod %s survived the rolling restart", uid)
		}
	}
}

func controllerPodUIDs(t *testing.T, e *env) map[string]bool {
	t.Helper()
	pods := &corev1.PodList{}
	if err := e.Client.List(context.Background(), pods, client.InNamespace(framework.PodvirtNamespace),
		client.MatchingLabels{"app.kubernetes.io/name": framework.ControllerName}); err != nil {
		t.Fatal(err)
	}
	uids := map[string]bool{}
	for _, p := range pods.Items {
		uids[string(p.UID)] = true
	}
	return uids
}

// TestServingCertRotationUnderLoad: the local install's serving
// certificates live one minute (deploy/local). During 100 s of continuous
// creates, every replica's served certificate changes at least once, and
// no admission fails.
func TestServingCertRotationUnderLoad(t *testing.T) {
	e := newEnv(t)
	e.WaitPodvirtReady(t)
	ns := e.Namespace(t)
	first := servedCerts(t, e)
	for pod, c := range first {
		if life := c.NotAfter.Sub(c.NotBefore); life > time.Hour+2*time.Minute {
			t.Fatalf("%s serves a certificate valid %s: the local install should rotate every minute", pod, life)
		}
	}
	l := e.startLoad(t, ns, "rot", 4, 200*time.Millisecond)
	changed := map[string]int{}
	last := first
	deadline := time.Now().Add(100 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Second)
		now := servedCerts(t, e)
		for pod, c := range now {
			if prev, ok := last[pod]; ok && prev.SerialNumber.Cmp(c.SerialNumber) != 0 {
				changed[pod]++
			}
		}
		last = now
	}
	l.finish(t, "serving certificate rotation")
	for pod := range first {
		if changed[pod] == 0 {
			t.Errorf("%s served the same certificate for 100 s", pod)
		}
	}
	t.Logf("rotations seen per replica: %v", changed)
}

// servedCerts dials every controller Pod's webhook port as the
// kube-apiserver's admission client and returns the certificate served.
func servedCerts(t *testing.T, e *env) map[string]*x509.Certificate {
	t.Helper()
	pki := filepath.Join(e.State, "pki")
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver-admission.crt"), filepath.Join(pki, "apiserver-admission.key"))
	if err != nil {
		t.Fatal(err)
	}
	pods := &corev1.PodList{}
	if err := e.Client.List(context.Background(), pods, client.InNamespace(framework.PodvirtNamespace),
		client.MatchingLabels{"app.kubernetes.io/name": framework.ControllerName}); err != nil {
		t.Fatal(err)
	}
	certs := map[string]*x509.Certificate{}
	for _, p := range pods.Items {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", net.JoinHostPort(p.Status.PodIP, "9443"), &tls.Config{
			Certificates: []tls.Certificate{pair},
			// Only reading what is served; the kube-apiserver verifies it.
			InsecureSkipVerify: true, //nolint:gosec // reading the served certificate, not trusting it
		})
		if err != nil {
			t.Errorf("dialing %s: %v", p.Name, err)
			continue
		}
		certs[p.Name] = conn.ConnectionState().PeerCertificates[0]
		conn.Close()
	}
	return certs
}

// TestUpgradeWithGuestsRunning installs a build whose images differ
// (test/local/install.sh with a new PODVIRT_BUILD_ID) while two guests
// run: they keep their QEMU processes and boot once, podvirt's Pods run
// the new images, and a new VMI's launcher Pod uses the new launcher image.
func TestUpgradeWithGuestsRunning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.WaitPodvirtReady(t)
	ns := e.Namespace(t)
	names := []string{"keep-a", "keep-b"}
	qemu := map[string]string{}
	for _, n := range names {
		fp := e.Track(t, ns, n)
		e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName(n)))
		t.Cleanup(func() { e.ExpectNoLeaks(t, fp) })
	}
	for _, n := range names {
		dom := domainspec.Name(ns, n)
		e.GuestConsole(t, dom)
		pid, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		qemu[n] = string(pid)
	}
	imagesBefore := podvirtImages(t, e)

	build := "upgrade-" + strconv.FormatInt(time.Now().Unix(), 36)
	cmd := exec.Command(filepath.Join(e.Repo, "test", "local", "install.sh"))
	cmd.Env = append(os.Environ(), "PODVIRT_BUILD_ID="+build, "PODVIRT_STATE="+e.State)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing build %s: %v\n%s", build, err, out)
	}
	e.WaitPodvirtReady(t)
	t.Logf("build %s installed and ready in %s", build, time.Since(start).Round(time.Millisecond))
	imagesAfter := podvirtImages(t, e)
	for name, img := range imagesAfter {
		if imagesBefore[name] == img {
			t.Errorf("%s still runs %s after the upgrade", name, img)
		}
	}
	for _, n := range names {
		dom := domainspec.Name(ns, n)
		pid, err := os.ReadFile(filepath.Join(framework.LibvirtRunDir, dom+".pid"))
		if err != nil || string(pid) != qemu[n] {
			t.Errorf("%s's QEMU is pid %q (%v), was %q", n, pid, err, qemu[n])
		}
		if serial, err := e.Console(dom); err != nil || strings.Count(serial, framework.ReadyMarker) != 1 {
			t.Errorf("%s booted %d times (%v), want once", n, strings.Count(serial, framework.ReadyMarker), err)
		}
	}
	// New VMIs use the new build.
	fp := e.Track(t, ns, "after-upgrade")
	e.Apply(t, ns, libvmi.NewTiny(libvmi.WithName("after-upgrade")))
	e.WaitForVMIPhase(t, ns, "after-upgrade", 120*time.Second, v1alpha1.Running)
	launcher := &corev1.Pod{}
	if err := e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: domainspec.PodName("after-upgrade")}, launcher); err != nil {
		t.Fatal(err)
	}
	if got, wantLauncher := launcher.Spec.Containers[0].Image, e.Image(t, "launcher"); got != wantLauncher {
		t.Errorf("the new VMI's launcher runs %q, want the upgraded %q", got, wantLauncher)
	}
	for _, n := range append(names, "after-upgrade") {
		if out, err := e.Kubectl("", "delete", "-n", ns, "vmi", n, "--timeout=120s"); err != nil {
			t.Errorf("kubectl delete: %v\n%s", err, out)
		}
	}
	e.ExpectNoLeaks(t, fp)
}

// podvirtImages maps each podvirt Pod's workload to the image its
// container runs (the image ID, a digest).
func podvirtImages(t *testing.T, e *env) map[string]string {
	t.Helper()
	pods := &corev1.PodList{}
	if err := e.Client.List(context.Background(), pods, client.InNamespace(framework.PodvirtNamespace)); err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && len(p.Spec.Containers) > 0 {
			images[p.Labels["app.kubernetes.io/name"]] = p.Spec.Containers[0].Image
		}
	}
	return images
}
