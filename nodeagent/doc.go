// Package nodeagent runs next to the kubelet on every node. It watches the
// launcher Pods bound to its node, pulls the images their domains boot from,
// defines and starts the domains in the host's libvirt, reports the guest's
// state on the VirtualMachineInstance, and shuts guests down when their Pods
// go away.
//
// It talks to libvirtd over its unix socket with go-libvirt (no cgo), and it
// never imports the webhooks: what it trusts comes from the Pod it sees.
package nodeagent
