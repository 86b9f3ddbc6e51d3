package domainspec

import (
	"reflect"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

func TestMetadataRoundTrip(t *testing.T) {
	md := &Metadata{
		Namespace: "ns", Name: "tiny", UID: "uid-1", GracePeriodSeconds: 45,
		KernelBoot: &KernelBootMetadata{Image: "r/k:1", PullPolicy: "Always"},
		Volumes: []VolumeMetadata{
			{Name: "root", Kind: VolumeContainerDisk, Image: "r/d:1", Path: "/disk/root.qcow2", PullPolicy: "IfNotPresent"},
			{Name: "ci", Kind: VolumeCloudInitNoCloud, UserData: "I2Nsb3VkLWNvbmZpZwo=", NetworkData: "dmVyc2lvbjogMgo=", UserDataSecret: "s"},
			{Name: "scratch", Kind: VolumeEmptyDisk, CapacityBytes: 1 << 30},
			{Name: "data", Kind: VolumePVC, ClaimName: "claim"},
			{Name: "host", Kind: VolumeHostDisk, Path: "/var/data.img", CapacityBytes: 4096},
		},
	}
	el, err := md.Element()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(el.XML, `xmlns="`+MetadataNamespace+`"`) {
		t.Errorf("metadata element outside podvirt's namespace: %s", el.XML)
	}
	// Through the domain XML, as the node agent reads it.
	text, err := (&libvirtxml.Domain{Type: "kvm", Name: "ns_tiny", Metadata: el}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dom, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetadata(dom)
	if err != nil {
		t.Fatal(err)
	}
	got.XMLName = md.XMLName
	if !reflect.DeepEqual(got, md) {
		t.Errorf("metadata changed in a round trip:\n got %+v\nwant %+v", got, md)
	}
}

func TestReadMetadataRefuses(t *testing.T) {
	for name, dom := range map[string]*libvirtxml.Domain{
		"no metadata":       {Name: "ns_tiny"},
		"not XML":           {Name: "ns_tiny", Metadata: &libvirtxml.DomainMetadata{XML: "<vmi"}},
		"another element":   {Name: "ns_tiny", Metadata: &libvirtxml.DomainMetadata{XML: `<other xmlns="` + MetadataNamespace + `" name="x"/>`}},
		"another namespace": {Name: "ns_tiny", Metadata: &libvirtxml.DomainMetadata{XML: `<vmi xmlns="https://example.com/v1" name="x"/>`}},
	} {
		if md, err := ReadMetadata(dom); err == nil || !strings.Contains(err.Error(), "ns_tiny") {
			t.Errorf("%s: %+v, %v; want an error naming the domain", name, md, err)
		}
	}
}

func TestParseRefusesNonDomains(t *testing.T) {
	for _, text := range []string{"", "<domain", "not xml", `<domain type="kvm"><name>a</name>`} {
		if dom, err := Parse(text); err == nil {
			t.Errorf("Parse(%q) = %+v, nil", text, dom)
		}
	}
	dom, err := Parse(`<domain type="kvm"><name>ns_a</name></domain>`)
	if err != nil || dom.Name != "ns_a" || dom.Type != "kvm" {
		t.Errorf("Parse = %+v, %v", dom, err)
	}
}
