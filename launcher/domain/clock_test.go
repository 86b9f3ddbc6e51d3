package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestClock(t *testing.T) {
	for _, c := range []struct {
		name     string
		clock    *v1alpha1.Clock
		want     []string
		unwanted []string
	}{
		{"none", nil, nil, []string{"<clock"}},
		{"utc resets", &v1alpha1.Clock{UTC: &v1alpha1.ClockOffsetUTC{}}, []string{`<clock offset="utc" adjustment="reset"></clock>`}, nil},
		{"utc with an offset", &v1alpha1.Clock{UTC: &v1alpha1.ClockOffsetUTC{OffsetSeconds: ptr.To(-3600)}}, []string{`<clock offset="utc" adjustment="-3600">`}, nil},
		{"timezone", &v1alpha1.Clock{Timezone: ptr.To("Europe/Berlin")}, []string{`<clock offset="timezone" timezone="Europe/Berlin">`}, nil},
		// The user guide's common timers, in KubeVirt's order.
		{"timers", &v1alpha1.Clock{UTC: &v1alpha1.ClockOffsetUTC{}, Timer: &v1alpha1.Timer{
			HPET:   &v1alpha1.HPETTimer{Enabled: ptr.To(false)},
			PIT:    &v1alpha1.PITTimer{TickPolicy: "delay"},
			RTC:    &v1alpha1.RTCTimer{TickPolicy: "catchup", Track: "guest"},
			KVM:    &v1alpha1.KVMTimer{Enabled: ptr.To(true)},
			Hyperv: &v1alpha1.HypervTimer{},
		}}, []string{`<clock offset="utc" adjustment="reset">` +
			`<timer name="rtc" track="guest" tickpolicy="catchup" present="yes"></timer>` +
			`<timer name="pit" tickpolicy="delay" present="yes"></timer>` +
			`<timer name="kvmclock" present="yes"></timer>` +
			`<timer name="hpet" present="no"></timer>` +
			`<timer name="hypervclock" present="yes"></timer></clock>`}, nil},
		// Timers alone: no offset, libvirt's UTC.
		{"timers only", &v1alpha1.Clock{Timer: &v1alpha1.Timer{KVM: &v1alpha1.KVMTimer{Enabled: ptr.To(false)}}},
			[]string{`<clock><timer name="kvmclock" present="no"></timer></clock>`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			vmi := tinyVMI()
			vmi.Spec.Domain.Clock = c.clock
			wantXML(t, renderXML(t, vmi), c.want, c.unwanted...)
		})
	}
}
