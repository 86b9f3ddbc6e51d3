// Package controller holds podvirt's cluster controllers. The launcher
// controller (Reconciler), for each VirtualMachineInstance, renders the
// domain XML and the launcher Pod (launcher/domain, launcher/pod), creates
// the Pod, signs its domain for the node the scheduler chose (domainspec),
// and moves the VMI through Pending, Scheduling and Scheduled; the node
// agent takes it from there (Running, Succeeded, Failed). EnsureSigningKey
// keeps the signing key and the node agents' trusted keys. The VirtualMachine
// controller (VMReconciler) keeps each VM's one VMI running or stopped as
// its run strategy says, with a start backoff, and reports its status. The
// node heartbeat controller (NodeHeartbeatReconciler) marks the VMIs of a
// node whose agent's Lease ran out Unknown, and fails them NodeLost only
// once that node is fenced (docs/operations.md).
//
// It imports crds, domainspec and launcher; never webhooks or nodeagent.
package controller
