package scenario

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podvirt/podvirt/test/bench/internal/procstat"
)

// ProcSpec says where a CPU group's processes are:
//
//	pid:123,456            those processes
//	pidfile:/a.pid,/b.pid  the processes named by pid files
//	pod:NAMESPACE/SELECTOR the host processes of every Running Pod that
//	                       the label selector picks (found by Pod UID in
//	                       /proc/PID/cgroup; the sandbox "pause" left out)
type ProcSpec struct {
	Kind   string // "pid", "pidfile" or "pod"
	PIDs   []int
	Files  []string
	NS     string
	Labels string
}

// ParseProcSpec parses a ProcSpec.
func ParseProcSpec(s string) (ProcSpec, error) {
	kind, arg, ok := strings.Cut(s, ":")
	if !ok || arg == "" {
		return ProcSpec{}, fmt.Errorf("process spec %q: want pid:, pidfile: or pod:", s)
	}
	p := ProcSpec{Kind: kind}
	switch kind {
	case "pid":
		for _, f := range strings.Split(arg, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return ProcSpec{}, fmt.Errorf("process spec %q: bad pid %q", s, f)
			}
			p.PIDs = append(p.PIDs, pid)
		}
	case "pidfile":
		p.Files = strings.Split(arg, ",")
	case "pod":
		ns, sel, ok := strings.Cut(arg, "/")
		if !ok || ns == "" || sel == "" {
			return ProcSpec{}, fmt.Errorf("process spec %q: want pod:NAMESPACE/SELECTOR", s)
		}
		p.NS, p.Labels = ns, sel
	default:
		return ProcSpec{}, fmt.Errorf("process spec %q: unknown kind %q", s, kind)
	}
	return p, nil
}

// ParseProcFlags parses NAME=SPEC flags into a map.
func ParseProcFlags(flags []string) (map[string]ProcSpec, error) {
	out := map[string]ProcSpec{}
	for _, f := range flags {
		name, spec, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--cpu %q: want NAME=SPEC", f)
		}
		p, err := ParseProcSpec(spec)
		if err != nil {
			return nil, fmt.Errorf("--cpu %s: %w", name, err)
		}
		out[name] = p
	}
	return out, nil
}

// Resolve returns the processes of p now.
func (p ProcSpec) Resolve(ctx context.Context, kube kubernetes.Interface, proc procstat.Reader) ([]int, error) {
	switch p.Kind {
	case "pid":
		return p.PIDs, nil
	case "pidfile":
		var pids []int
		for _, f := range p.Files {
			pid, err := procstat.ReadPIDFile(f)
			if err != nil {
				return nil, err
			}
			pids = append(pids, pid)
		}
		return pids, nil
	case "pod":
		pods, err := kube.CoreV1().Pods(p.NS).List(ctx, metav1.ListOptions{LabelSelector: p.Labels})
		if err != nil {
			return nil, fmt.Errorf("listing Pods %s/%s: %w", p.NS, p.Labels, err)
		}
		var pids []int
		running := 0
		for _, pod := range pods.Items {
			if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
				continue
			}
			running++
			found, err := proc.PodPIDs(string(pod.UID), "pause")
			if err != nil {
				return nil, err
			}
			if len(found) == 0 {
				return nil, fmt.Errorf("Pod %s/%s (UID %s): no process of it on this host", pod.Namespace, pod.Name, pod.UID)
			}
			pids = append(pids, found...)
		}
		if running == 0 {
			return nil, fmt.Errorf("no Running Pod in %s matches %s", p.NS, p.Labels)
		}
		return pids, nil
	}
	return nil, fmt.Errorf("process spec of unknown kind %q", p.Kind)
}
