// Package network connects guests to their launcher Pods' networks
// (PodNetwork): link plumbing, the masquerade rules, and a DHCP server per
// guest inside the Pod's network namespace. It execs nothing (the node
// agent's image holds only its binary): links and addresses go through
// netlink handles bound to a namespace, the masquerade and DNAT rules
// are podvirt's own nftables table (ip podvirt) in the Pod's namespace,
// sysctls are written under /proc/sys. InNetns switches a thread into a
// namespace for what needs one (sysctls, the DHCP server's socket). It
// imports nothing of podvirt's.
package network
