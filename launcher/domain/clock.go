package domain

import (
	"strconv"

	"libvirt.org/go/libvirtxml"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

// renderClock renders spec.domain.clock as KubeVirt's converter does
// (compute/clock.go): utc with its offset as an adjustment (else "reset":
// the host's time on each boot), or a time zone; then each timer given, in
// KubeVirt's order (rtc, pit, kvmclock, hpet, hypervclock), present unless
// disabled. No clock: libvirt's default, UTC.
func renderClock(vmi *v1alpha1.VirtualMachineInstance, dom *libvirtxml.Domain) error {
	c := vmi.Spec.Domain.Clock
	if c == nil {
		return nil
	}
	clock := &libvirtxml.DomainClock{}
	switch {
	case c.UTC != nil:
		clock.Offset = "utc"
		clock.Adjustment = "reset"
		if s := c.UTC.OffsetSeconds; s != nil {
			clock.Adjustment = strconv.Itoa(*s)
		}
	case c.Timezone != nil:
		clock.Offset, clock.TimeZone = "timezone", *c.Timezone
	}
	if t := c.Timer; t != nil {
		if r := t.RTC; r != nil {
			clock.Timer = append(clock.Timer, libvirtxml.DomainTimer{Name: "rtc", Track: r.Track, TickPolicy: r.TickPolicy, Present: yesNo(r.Enabled)})
		}
		if p := t.PIT; p != nil {
			clock.Timer = append(clock.Timer, libvirtxml.DomainTimer{Name: "pit", TickPolicy: p.TickPolicy, Present: yesNo(p.Enabled)})
		}
		if k := t.KVM; k != nil {
			clock.Timer = append(clock.Timer, libvirtxml.DomainTimer{Name: "kvmclock", Present: yesNo(k.Enabled)})
		}
		if h := t.HPET; h != nil {
			clock.Timer = append(clock.Timer, libvirtxml.DomainTimer{Name: "hpet", TickPolicy: h.TickPolicy, Present: yesNo(h.Enabled)})
		}
		if h := t.Hyperv; h != nil {
			clock.Timer = append(clock.Timer, libvirtxml.DomainTimer{Name: "hypervclock", Present: yesNo(h.Enabled)})
		}
	}
	dom.Clock = clock
	return nil
}

// yesNo is a switch that defaults to on, as libvirt's yes or no.
func yesNo(b *bool) string {
	if b == nil || *b {
		return "yes"
	}
	return "no"
}

// onOff is a switch that defaults to on, as libvirt's on or off.
func onOff(b *bool) string {
	if b == nil || *b {
		return "on"
	}
	return "off"
}
