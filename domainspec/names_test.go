package domainspec

import "testing"

func TestNameRoundTrip(t *testing.T) {
	ns, name, ok := ParseName(Name("default", "tiny"))
	if !ok || ns != "default" || name != "tiny" {
		t.Errorf("ParseName(Name(default, tiny)) = %q, %q, %v", ns, name, ok)
	}
	for _, bad := range []string{"", "tiny", "_tiny", "default_", "a_b_c"} {
		if ns, name, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%q) = %q, %q, ok: Name cannot make it", bad, ns, name)
		}
	}
	if PodName("tiny") != "virt-launcher-tiny" || DiskFile("root") != "disk-root.img" {
		t.Errorf("PodName %q DiskFile %q", PodName("tiny"), DiskFile("root"))
	}
}
