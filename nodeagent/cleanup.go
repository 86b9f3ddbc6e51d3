package nodeagent

import (
	"context"
	"fmt"
	"os"

	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/hypervisor"
)

// domainOwner is the VMI UID in the podvirt metadata of the domain defined
// under domName: "" for a domain podvirt did not define (or none).
func (r *Reconciler) domainOwner(domName string) (string, error) {
	xml, err := r.Hypervisor.XML(domName)
	if err != nil || xml == "" {
		return "", err
	}
	dom, err := domainspec.Parse(xml)
	if err != nil {
		return "", nil
	}
	md, err := domainspec.ReadMetadata(dom)
	if err != nil || domainspec.Name(md.Namespace, md.Name) != domName {
		return "", nil
	}
	return md.UID, nil
}

// remove ends a domain that no current launcher Pod owns, at once (its
// grace period, if any, was spent before it was found): destroy,
// undefine, and remove its links and its VMI's directory.
func (r *Reconciler) remove(ctx context.Context, domName, uid string) error {
	state, err := r.Hypervisor.State(domName)
	if err != nil {
		return err
	}
	if state == hypervisor.StateRunning {
		if err := r.Hypervisor.Destroy(domName); err != nil {
			return err
		}
	}
	if state != hypervisor.StateAbsent {
		if err := r.Hypervisor.Undefine(domName); err != nil {
			return err
		}
	}
	r.removeLibvirtCgroups(ctx, domName)
	if r.Network != nil {
		if err := r.Network.Disconnect(ctx, domName); err != nil {
			return err
		}
	}
	if dir, err := r.vmiDir(uid); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing the VMI directory: %w", err)
		}
	}
	return nil
}

// removeLibvirtCgroups removes what libvirt left of the cgroups of the
// domain, which is no longer defined. A cgroup that stays is logged, not
// returned: it holds no guest of podvirt's any more (the domain is gone),
// and holding the launcher Pod for it would keep the Pod's resources for
// nothing.
func (r *Reconciler) removeLibvirtCgroups(ctx context.Context, domName string) {
	if r.QEMU == nil {
		return
	}
	removed, err := r.QEMU.RemoveLibvirtCgroups(domName)
	if len(removed) > 0 {
		log.FromContext(ctx).Info("removed the cgroups libvirt left of the domain", "domain", domName, "cgroups", removed)
	}
	if err != nil {
		log.FromContext(ctx).Error(err, "libvirt's cgroups of the domain stay", "domain", domName)
	}
}
