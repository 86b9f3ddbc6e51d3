package domain

import (
	"testing"

	"k8s.io/utils/ptr"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
)

func TestGraphics(t *testing.T) {
	for _, c := range []struct {
		attach *bool
		want   bool
	}{{nil, false}, {ptr.To(false), false}, {ptr.To(true), true}} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Devices.AutoattachGraphicsDevice = c.attach
		dom, err := Render(vmi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !c.want {
			if len(dom.Devices.Graphics)+len(dom.Devices.Videos) != 0 {
				t.Errorf("autoattach %v: graphics %+v videos %+v", c.attach, dom.Devices.Graphics, dom.Devices.Videos)
			}
			continue
		}
		g := dom.Devices.Graphics
		if len(g) != 1 || g[0].VNC == nil || g[0].VNC.Socket != VNCSocketFile || g[0].VNC.Port != 0 || g[0].VNC.Listen != "" || len(g[0].VNC.Listeners) != 0 {
			t.Errorf("graphics %+v, want one VNC on the unix socket %s and no TCP port", g, VNCSocketFile)
		}
		if v := dom.Devices.Videos; len(v) != 1 || v[0].Model.Type != "vga" || v[0].Model.Heads != 1 {
			t.Errorf("videos %+v, want one vga head", v)
		}
	}
}

func TestRng(t *testing.T) {
	dom, err := Render(tinyVMI(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dom.Devices.RNGs) != 0 {
		t.Errorf("rng %+v without spec.domain.devices.rng", dom.Devices.RNGs)
	}
	vmi := tinyVMI()
	vmi.Spec.Domain.Devices.Rng = &v1alpha1.Rng{}
	if dom, err = Render(vmi, Options{}); err != nil {
		t.Fatal(err)
	}
	r := dom.Devices.RNGs
	if len(r) != 1 || r[0].Model != "virtio" || r[0].Backend == nil || r[0].Backend.Random == nil || r[0].Backend.Random.Device != "/dev/urandom" {
		t.Errorf("rngs %+v, want one virtio RNG from /dev/urandom", r)
	}
}
