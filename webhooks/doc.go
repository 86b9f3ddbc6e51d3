// Package webhooks holds podvirt's admission handlers: the
// VirtualMachineInstance defaulter (/mutate-vmi) and validator
// (/validate-vmi), and the serving certificates that the kube-apiserver
// trusts through the CA bundle written into the webhook configurations.
//
// The defaulting and validation rules are pure functions (Default, Validate)
// so that they can be tested and benchmarked without a server.
package webhooks
