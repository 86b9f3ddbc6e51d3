// Package scenario puts a cluster into each of the benchmark's scenarios
// and back: podvirt's VMI webhooks and its MutatingAdmissionPolicy of VMI
// defaults taken out of the request path (their rules pointed at a
// resource that does not exist) or put back; the no-op
// webhook registered as mutating and validating; 0, 1 or 16 rules loaded
// as VMIPolicies, as native ValidatingAdmissionPolicies, or as Kyverno
// ValidatingPolicies. Before any change it saves what it will touch
// (podvirt's webhook rules, the cluster's own VMIPolicies) to a state
// file, and Restore puts it all back and deletes every object the
// benchmark made, after a crash too. Probes (dry-run creates) confirm
// that a switch has reached the kube-apiserver, and InPath lists the
// admission hooks that match a VMI create, so that a cell never runs with
// a stranger in the path.
//
// It also resolves the processes whose CPU a cell measures (ProcSpec).
package scenario
