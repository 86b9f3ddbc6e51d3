package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetPhase moves the status to phase and, when that changes the phase and
// the VMI has not been in phase before, records when it entered it (now,
// to the second) in PhaseTransitionTimestamps, as KubeVirt's controllers
// do. Setting the phase it already has records nothing, so a write that
// changes nothing stays one that changes nothing.
func (s *VirtualMachineInstanceStatus) SetPhase(phase VirtualMachineInstancePhase, now time.Time) {
	if s.Phase == phase {
		return
	}
	s.Phase = phase
	if phase == "" || s.Entered(phase) {
		return
	}
	s.PhaseTransitionTimestamps = append(s.PhaseTransitionTimestamps, VirtualMachineInstancePhaseTransitionTimestamp{
		Phase: phase, PhaseTransitionTimestamp: metav1.NewTime(now.Truncate(time.Second)),
	})
}

// Entered reports whether PhaseTransitionTimestamps record the VMI
// entering phase. A VMI from before they were recorded may have been in a
// phase none records.
func (s *VirtualMachineInstanceStatus) Entered(phase VirtualMachineInstancePhase) bool {
	for _, t := range s.PhaseTransitionTimestamps {
		if t.Phase == phase {
			return true
		}
	}
	return false
}
