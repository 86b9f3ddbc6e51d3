package v1alpha1

import (
	"testing"
	"time"
)

func TestSetPhaseRecordsEachPhaseOnce(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var s VirtualMachineInstanceStatus
	steps := []struct {
		phase VirtualMachineInstancePhase
		at    time.Time
		want  int // transitions after the step
	}{
		{Pending, t0.Add(400 * time.Millisecond), 1},
		{Pending, t0.Add(time.Second), 1}, // no change: nothing recorded
		{Scheduling, t0.Add(2 * time.Second), 2},
		{Scheduled, t0.Add(3 * time.Second), 3},
		{Running, t0.Add(4 * time.Second), 4},
		{Running, t0.Add(5 * time.Second), 4},
		{Unknown, t0.Add(6 * time.Second), 5},
		{Running, t0.Add(7 * time.Second), 5}, // entered before: its first time stays
		{Failed, t0.Add(8 * time.Second), 6},
	}
	for i, st := range steps {
		s.SetPhase(st.phase, st.at)
		if s.Phase != st.phase || len(s.PhaseTransitionTimestamps) != st.want {
			t.Fatalf("step %d (%s): phase %q, %d transitions %+v; want %d", i, st.phase, s.Phase, len(s.PhaseTransitionTimestamps), s.PhaseTransitionTimestamps, st.want)
		}
	}
	want := []struct {
		phase VirtualMachineInstancePhase
		at    time.Time
	}{{Pending, t0}, {Scheduling, t0.Add(2 * time.Second)}, {Scheduled, t0.Add(3 * time.Second)},
		{Running, t0.Add(4 * time.Second)}, {Unknown, t0.Add(6 * time.Second)}, {Failed, t0.Add(8 * time.Second)}}
	for i, w := range want {
		got := s.PhaseTransitionTimestamps[i]
		if got.Phase != w.phase || !got.PhaseTransitionTimestamp.Time.Equal(w.at) {
			t.Errorf("transition %d: %s at %v, want %s at %v (to the second)", i, got.Phase, got.PhaseTransitionTimestamp.Time, w.phase, w.at)
		}
	}
	if !s.Entered(Running) || s.Entered(Succeeded) {
		t.Errorf("Entered(Running) %v, Entered(Succeeded) %v; want true, false", s.Entered(Running), s.Entered(Succeeded))
	}
}

// A VMI from before the transitions were recorded gets only the phases it
// enters from now on: none is made up for the phase it was in, nor
// recorded when it is set to that phase again.
func TestSetPhaseOnAnOlderVMI(t *testing.T) {
	s := VirtualMachineInstanceStatus{Phase: Running}
	s.SetPhase(Running, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)) // the agent's report of a guest still running
	if len(s.PhaseTransitionTimestamps) != 0 {
		t.Fatalf("transitions %+v without a phase change, want none", s.PhaseTransitionTimestamps)
	}
	s.SetPhase(Failed, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	if len(s.PhaseTransitionTimestamps) != 1 || s.PhaseTransitionTimestamps[0].Phase != Failed || s.Entered(Running) {
		t.Errorf("transitions %+v, want Failed only", s.PhaseTransitionTimestamps)
	}
}
