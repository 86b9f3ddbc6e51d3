// Package policycontroller keeps VMIPolicies working off the request path:
// Reconciler compiles each policy generation once into the shared
// policies.Cache the validating webhook reads (on every replica, leader or
// not; SyncedChecker holds readiness until the cache has them all), and,
// on the leader, writes the policy's status (Ready, compile errors,
// observedGeneration) and audits the VMIs that already exist against it
// (status.audit and the podvirt_policy_violations gauge). APIParams, the policies.ParamSource that reads paramRef objects
// from the API server, lives here too: it is the other piece of VMIPolicy
// machinery that talks to the API server, and the validating webhook sees
// it only through the policies.ParamSource interface that
// cmd/podvirt-controller hands it.
//
// Imports: crds/v1alpha1, policies, controller-runtime, k8s.io/api and
// apimachinery, prometheus; never webhooks (the handlers and this
// controller share only the policies.Cache).
package policycontroller
