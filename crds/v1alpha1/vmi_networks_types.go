package v1alpha1

// Network is a network an interface attaches to. Exactly one source is set.
type Network struct {
	// Name is the network's name; the interface of the same name uses it.
	Name string `json:"name"`
	// Pod is the Pod's own network.
	// +optional
	Pod *PodNetwork `json:"pod,omitempty"`
}

// PodNetwork is the Pod's network.
type PodNetwork struct {
	// VMNetworkCIDR is the guest-side subnet of a masquerade interface.
	// Defaults to 10.0.2.0/24.
	// +optional
	VMNetworkCIDR string `json:"vmNetworkCIDR,omitempty"`
}
