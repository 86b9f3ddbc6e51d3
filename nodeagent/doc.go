// Package nodeagent runs next to the kubelet on every node. Its Reconciler
// watches the launcher Pods bound to its node and drives their domains in
// the host's libvirt: it verifies, localizes and checks each domain in the
// order domainspec fixes, has it prepared and started, reports the guest's
// state on the VirtualMachineInstance, and shuts guests down when their
// Pods go away. Beside it run a Collector (what no Pod owns any more), a
// SerialLogRotator (the bound on guests' serial logs) and a Heartbeat (the
// node's Lease, by which the controller tells a node that stopped
// answering).
//
// The host-side work is in sub-packages, each behind a small interface of
// the Reconciler: hypervisor (libvirt), storage (images and disk files),
// network (the guest on its Pod's network), cgroups (QEMU in its Pod's
// cgroup, and the CPUs the kubelet gave a launcher container, to which the
// vCPUs of a VMI with dedicated CPUs are pinned), allowlist (what a domain may reach), failure (why a domain did
// not run). It imports nothing of podvirt's but crds, domainspec and its
// own sub-packages: what it trusts comes from the Pod it sees.
package nodeagent
