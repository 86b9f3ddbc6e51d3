// Package network connects guests to their launcher Pods' networks
// (PodNetwork): link plumbing, the masquerade rules, and a DHCP server per
// guest inside the Pod's network namespace. InNetns is its one way into a
// network namespace. It imports nothing of podvirt's.
package network
