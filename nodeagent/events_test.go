package nodeagent

import "testing"

func TestLauncherPodOf(t *testing.T) {
	obj := launcherPodOf("ns_tiny")
	if obj == nil || obj.GetNamespace() != "ns" || obj.GetName() != "virt-launcher-tiny" {
		t.Errorf("launcherPodOf(ns_tiny) = %v", obj)
	}
	for _, name := range []string{"not-ours", "_x", "ns_"} {
		if obj := launcherPodOf(name); obj != nil {
			t.Errorf("launcherPodOf(%q) = %s/%s, want none: not a podvirt domain", name, obj.GetNamespace(), obj.GetName())
		}
	}
}
