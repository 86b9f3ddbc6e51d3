package nodeagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/podvirt/podvirt/domainspec"
	"github.com/podvirt/podvirt/nodeagent/storage"
)

// linkVMIDir makes socketDir/domainspec.VMIDirLink a symbolic link to
// vmiDir, the VMI's directory in its launcher Pod's state volume: QEMU
// binds the serial console's socket through it, a path short enough for a
// unix socket, while the socket itself lands where the launcher container
// can reach it. socketDir is the agent's own (under --state-dir), so no
// one else can change the link; the allowlist checks the socket's path
// through it, resolved, after it is made.
func linkVMIDir(socketDir, vmiDir string) error {
	link := filepath.Join(socketDir, domainspec.VMIDirLink)
	if target, err := os.Readlink(link); err == nil && target == vmiDir {
		return nil
	}
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(vmiDir, tmp); err != nil {
		return fmt.Errorf("linking %s to the VMI's directory: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("linking %s to the VMI's directory: %w", link, err)
	}
	return nil
}

// shareConsole gives the serial console's socket, once QEMU has made it,
// to the launcher container's user (storage.ShareSocket), so that
// `podvirt-launcher console` run there through pods/exec can connect. It
// runs on every pass, as cheap as an open and a stat when there is
// nothing to do. A failure leaves the guest running and is logged: only
// the console is lost.
func (r *Reconciler) shareConsole(ctx context.Context, p *corev1.Pod) {
	if r.Storage == nil {
		return
	}
	dir, err := r.Storage.Dir(p)
	if err != nil {
		return // a Pod without the state volume has no console socket
	}
	if err := storage.ShareSocket(dir, domainspec.SerialSocketFile, domainspec.LauncherUID, domainspec.LauncherGID); err != nil {
		log.FromContext(ctx).Error(err, "the serial console's socket was not given to the launcher container: `podvirtctl console` cannot connect")
	}
}
