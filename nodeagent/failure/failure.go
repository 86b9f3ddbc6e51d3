// Package failure holds the node agent's sentinel errors, the one place
// that says why a domain was not run, and the VMI status reason each
// sentinel becomes. The node agent's sub-packages wrap them with %w; the
// reconciler maps them with Reason. It imports nothing of podvirt's.
package failure

import "errors"

// Why a domain is not run.
var (
	// ErrUnsupported marks what this node agent cannot run yet; the VMI
	// fails with the message instead of running without it.
	ErrUnsupported = errors.New("not supported by this node agent yet")
	// ErrRefused: the domain reaches beyond what the node allows.
	ErrRefused = errors.New("refused by the node allowlist")
	// ErrBadSignature: the Pod's domain is not signed by a trusted key for
	// this Pod, VMI and node.
	ErrBadSignature = errors.New("domain signature rejected")
	// ErrImagePull: a guest image could not be pulled.
	ErrImagePull = errors.New("image pull failed")
	// ErrImagePullTimeout: a pull did not finish before its deadline.
	ErrImagePullTimeout = errors.New("image pull timed out")
	// ErrRegistryRefused: the image's registry is at an address the node
	// agent does not connect to (loopback, link-local, the node's own)
	// and is not in its allowed list.
	ErrRegistryRefused = errors.New("registry address refused")
	// ErrImageTooLarge: the image is larger than the node takes.
	ErrImageTooLarge = errors.New("image too large")
	// ErrDiskQuota: the VMI's files on the node would not fit what its
	// launcher Pod declares (the ephemeral storage that quota, scheduler
	// and kubelet count), or the node's free space.
	ErrDiskQuota = errors.New("disk quota exceeded")
)

// Reasons of a VMI that failed to start, in status.reason and Events.
const (
	ReasonUnsupported  = "Unsupported"
	ReasonRefused      = "DomainRefused"
	ReasonBadSignature = "SignatureInvalid"
	ReasonDefineFailed = "DomainDefineFailed"
	ReasonStartFailed  = "DomainStartFailed"
	ReasonDomainLost   = "DomainLost"
	// ReasonDomainNameTaken: libvirt has a domain of the VMI's name that
	// podvirt did not define; it is left alone.
	ReasonDomainNameTaken  = "DomainNameTaken"
	ReasonGuestCrashed     = "GuestCrashed"
	ReasonGuestShutdown    = "GuestShutdown"
	ReasonImagePullFailed  = "ImagePullFailed"
	ReasonImagePullTimeout = "ImagePullTimeout"
	ReasonRegistryRefused  = "RegistryRefused"
	ReasonImageTooLarge    = "ImageTooLarge"
	ReasonDiskQuota        = "DiskQuotaExceeded"

	// ReasonLauncherPodDeleted: the launcher Pod was deleted while the
	// VMI stayed, and the guest did not power off within its grace
	// period: it was destroyed. (The controller says the same when the
	// Pod is gone before any agent could say more.)
	ReasonLauncherPodDeleted = "LauncherPodDeleted"
	// ReasonLauncherPodEnded: the launcher Pod's container ended on its
	// own, and the guest did not power off within its grace period: it
	// was destroyed.
	ReasonLauncherPodEnded = "LauncherPodEnded"
)

// Reason is the status reason of an error from preparing or defining a
// domain: the sentinel it wraps, else ReasonDefineFailed.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrUnsupported):
		return ReasonUnsupported
	case errors.Is(err, ErrRefused):
		return ReasonRefused
	case errors.Is(err, ErrBadSignature):
		return ReasonBadSignature
	case errors.Is(err, ErrRegistryRefused):
		return ReasonRegistryRefused
	case errors.Is(err, ErrImageTooLarge):
		return ReasonImageTooLarge
	case errors.Is(err, ErrImagePullTimeout):
		return ReasonImagePullTimeout
	case errors.Is(err, ErrImagePull):
		return ReasonImagePullFailed
	case errors.Is(err, ErrDiskQuota):
		return ReasonDiskQuota
	}
	return ReasonDefineFailed
}
