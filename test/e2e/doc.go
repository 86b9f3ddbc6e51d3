// Package e2e holds podvirt's end-to-end tests. They run against the local
// environment of test/local (a real kube-apiserver calling the webhooks over
// TLS, a real kubelet on containerd, a real libvirtd booting QEMU guests)
// and are built only with the e2e tag: `make e2e`.
package e2e
