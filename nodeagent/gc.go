package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// Collector removes what no launcher Pod owns any more: podvirt's domains
// whose Pod is gone (or belongs to another VMI now) and VMI directories
// without a Pod, level-triggered, whatever event was missed (a finalizer
// removed by hand, an agent down while a Pod was deleted). An orphan first
// gets an ACPI shutdown; it is destroyed and removed once it has been an
// orphan for Grace.
type Collector struct {
	Reconciler *Reconciler
	// Interval between passes; 1 minute when zero.
	Interval time.Duration
	// Grace an orphan gets before it is removed; 30 seconds when zero.
	Grace time.Duration

	// orphanSince is when each orphan (domain name or VMI UID) was first
	// seen; a pass that finds its owner again forgets it.
	orphanSince map[string]time.Time
	now         func() time.Time
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: each node
// agent collects on its own node.
func (c *Collector) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (c *Collector) Start(ctx context.Context) error {
	interval := c.Interval
	if interval == 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := c.Collect(ctx); err != nil {
			log.FromContext(ctx).Error(err, "garbage collection pass failed; next pass in "+interval.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Collect makes one pass.
func (c *Collector) Collect(ctx context.Context) error {
	r := c.Reconciler
	if c.orphanSince == nil {
		c.orphanSince = map[string]time.Time{}
	}
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	grace := c.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.HasLabels{domainspec.LabelVMI}); err != nil {
		return err
	}
	owned := map[string]bool{} // VMI UIDs of this node's launcher Pods
	for _, p := range pods.Items {
		if p.Spec.NodeName == r.Options.NodeName {
			owned[p.Labels[domainspec.LabelVMIUID]] = true
		}
	}
	seen := map[string]bool{}
	names, err := r.Hypervisor.List()
	if err != nil {
		return err
	}
	for _, name := range names {
		uid, err := r.domainOwner(name)
		if err != nil || uid == "" {
			continue // not podvirt's, or unreadable now: left alone
		}
		seen[uid] = true
		if owned[uid] {
			delete(c.orphanSince, name)
			continue
		}
		if c.due(name, now, grace) {
			if err := r.remove(ctx, name, uid); err != nil {
				return err
			}
			delete(c.orphanSince, name)
			log.FromContext(ctx).Info("removed a domain no launcher Pod owns", "domain", name, "uid", uid)
		} else if state, err := r.Hypervisor.State(name); err == nil && state == hypervisor.StateRunning {
			_ = r.Hypervisor.Shutdown(name) // resent each pass; destroyed when due
		}
	}
	dirs, err := os.ReadDir(filepath.Join(r.Options.StateDir, "vmis"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, d := range dirs {
		uid := d.Name()
		if owned[uid] || seen[uid] {
			delete(c.orphanSince, uid)
			continue
		}
		dir, err := r.vmiDir(uid)
		if err != nil {
			continue // not named by a UID: not this agent's, left alone
		}
		if c.due(uid, now, grace) {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
			delete(c.orphanSince, uid)
			log.FromContext(ctx).Info("removed a VMI directory no launcher Pod owns", "uid", uid)
		}
	}
	return nil
}

// due records key as an orphan and says whether its grace is over.
func (c *Collector) due(key string, now time.Time, grace time.Duration) bool {
	since, ok := c.orphanSince[key]
	if !ok {
		c.orphanSince[key] = now
		return false
	}
	return now.Sub(since) >= grace
}
