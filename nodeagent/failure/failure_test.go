package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("volume x: %w", ErrUnsupported):           ReasonUnsupported,
		fmt.Errorf("%w: hostdev", ErrRefused):                ReasonRefused,
		fmt.Errorf("%w: unknown key", ErrBadSignature):       ReasonBadSignature,
		errors.New("libvirt: internal error"):                ReasonDefineFailed,
		fmt.Errorf("pulling x: %w", ErrRegistryRefused):      ReasonRegistryRefused,
		fmt.Errorf("pulling x: %w", ErrImageTooLarge):        ReasonImageTooLarge,
		fmt.Errorf("pulling x: %w", ErrImagePullTimeout):     ReasonImagePullTimeout,
		fmt.Errorf("pulling x: %w", ErrImagePull):            ReasonImagePullFailed,
		fmt.Errorf("%w: volume x", ErrDiskQuota):             ReasonDiskQuota,
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", ErrRefused)): ReasonRefused,
	} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
