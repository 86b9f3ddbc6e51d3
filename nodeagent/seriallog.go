package nodeagent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// SerialLogRotator bounds the serial logs of this node's guests: QEMU
// writes them without end (the serial chardev's log never rotates, and no
// virtlogd runs here), so every Interval each launcher Pod's log is
// rotated past domainspec.SerialLogMaxBytes (storage.RotateSerialLog).
// The live log then stays under the bound plus what the guest writes in
// one Interval, its one rotated copy under the bound:
// domainspec.SerialLogAllowanceBytes, counted in the Pod's ephemeral
// storage, allows the guest 8 MiB per second at the default Interval; the
// kubelet evicts a Pod whose files exceed what it declares.
type SerialLogRotator struct {
	Reconciler *Reconciler
	// Interval between checks; 1 second when zero.
	Interval time.Duration
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: each node
// agent rotates on its own node.
func (s *SerialLogRotator) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (s *SerialLogRotator) Start(ctx context.Context) error {
	interval := s.Interval
	if interval == 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		// Logged once per run of failures: this runs every second.
		if err := s.Rotate(ctx); err != nil && !failing {
			log.FromContext(ctx).Error(err, "rotating serial logs failed; retried every "+interval.String())
			failing = true
		} else if err == nil {
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Rotate makes one pass over this node's launcher Pods.
func (s *SerialLogRotator) Rotate(ctx context.Context) error {
	r := s.Reconciler
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.HasLabels{domainspec.LabelVMI}); err != nil {
		return err
	}
	var firstErr error
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != r.Options.NodeName {
			continue
		}
		var dirs []string
		if dir, err := r.Storage.Dir(p); err == nil {
			dirs = append(dirs, dir)
		}
		// Where the log was before the state volume: a guest started then
		// still writes there.
		if dir, err := r.vmiDir(p.Labels[domainspec.LabelVMIUID]); err == nil {
			dirs = append(dirs, dir)
		}
		for _, dir := range dirs {
			rotated, err := storage.RotateSerialLog(dir, domainspec.SerialLogMaxBytes)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if rotated {
				log.FromContext(ctx).V(1).Info("rotated a serial log", "pod", p.Namespace+"/"+p.Name, "dir", dir)
			}
		}
	}
	return firstErr
}
