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

func TestNodeLeaseName(t *testing.T) {
	if got := NodeLeaseName("node-a"); got != "podvirt-nodeagent-node-a" {
		t.Errorf("NodeLeaseName = %q", got)
	}
	if node, ok := NodeOfLease(NodeLeaseName("node-a")); !ok || node != "node-a" {
		t.Errorf("NodeOfLease(its own name) = %q, %v", node, ok)
	}
	for _, name := range []string{"podvirt-controller", "podvirt-nodeagent-", "podvirt-nodeagent", ""} {
		if node, ok := NodeOfLease(name); ok {
			t.Errorf("NodeOfLease(%q) = %q, want no node", name, node)
		}
	}
}
