package domain

import (
	"encoding/base64"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/podvirt/podvirt/crds/v1alpha1"
	"github.com/podvirt/podvirt/domainspec"
)

// cloudInitNoCloud documents travel in the signed metadata, base64-encoded
// whichever way they were given, so binary user data and text that XML
// cannot carry survive.
func TestCloudInitMetadata(t *testing.T) {
	binary := string([]byte{0x1f, 0x8b, 0x00, 0x01, '<', '&'})
	for _, c := range []struct {
		name              string
		src               v1alpha1.CloudInitNoCloudSource
		user, net, secret string
	}{
		{"text", v1alpha1.CloudInitNoCloudSource{UserData: "#cloud-config\n", NetworkData: "version: 2\n"}, "#cloud-config\n", "version: 2\n", ""},
		{"base64", v1alpha1.CloudInitNoCloudSource{UserDataBase64: base64.StdEncoding.EncodeToString([]byte(binary)), NetworkDataBase64: "dmVyc2lvbjogMgo="}, binary, "version: 2\n", ""},
		{"secret", v1alpha1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "ci"}}, "", "", "ci"},
	} {
		vmi := tinyVMI()
		vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1alpha1.Disk{Name: "cloudinit", Disk: &v1alpha1.DiskTarget{Bus: "virtio"}})
		vmi.Spec.Volumes = append(vmi.Spec.Volumes, v1alpha1.Volume{Name: "cloudinit", CloudInitNoCloud: &c.src})
		out, err := RenderXML(vmi, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		dom, err := domainspec.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		md, err := domainspec.ReadMetadata(dom)
		if err != nil {
			t.Fatal(err)
		}
		v := md.Volumes[len(md.Volumes)-1]
		user, _ := base64.StdEncoding.DecodeString(v.UserData)
		net, _ := base64.StdEncoding.DecodeString(v.NetworkData)
		if v.Kind != domainspec.VolumeCloudInitNoCloud || string(user) != c.user || string(net) != c.net || v.UserDataSecret != c.secret {
			t.Errorf("%s: volume metadata %+v (user data %q, network data %q)", c.name, v, user, net)
		}
	}
}
