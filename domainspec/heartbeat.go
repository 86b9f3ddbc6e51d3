package domainspec

import "strings"

// The node heartbeat: each node agent renews a coordination.k8s.io/v1
// Lease named NodeLeaseName(node), held by its node, in podvirt's
// namespace; the controller reads it to tell a node whose agent stopped
// answering (docs/operations.md). The node agent restriction
// (deploy/base/nodeagent-restriction.yaml) admits an agent's writes of
// this one Lease only, and spells the same name.
const NodeLeasePrefix = "podvirt-nodeagent-"

// NodeLeaseName is the heartbeat Lease of node's agent.
func NodeLeaseName(node string) string { return NodeLeasePrefix + node }

// NodeOfLease is the node whose heartbeat Lease is named name; ok is false
// for any other Lease (the controller's leader Lease lives beside them).
func NodeOfLease(name string) (node string, ok bool) {
	node, ok = strings.CutPrefix(name, NodeLeasePrefix)
	return node, ok && node != ""
}
