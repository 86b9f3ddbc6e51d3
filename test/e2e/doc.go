// Package e2e holds podvirt's end-to-end tests. They run against the local
// environment of test/local (a real kube-apiserver calling the webhooks over
// TLS, a real kubelet on containerd, a real libvirtd booting QEMU guests)
// and are built only with the e2e tag: `make e2e`.
//
// What the tests share lives beside them: test/e2e/framework (the
// environment, kubectl, waits, the guest's console, the leak checker) and
// test/e2e/libvmi (typed VMIs: libvmi.NewTiny(libvmi.WithName("x"), ...)).
// A test that ends a VMI tracks it from its creation and checks at the end
// that nothing of it is left on the node:
//
//	footprint := e.Track(t, ns, "tiny")
//	e.Apply(t, ns, libvmi.NewTiny())
//	...
//	e.DeleteVMI(t, ns, "tiny", 120*time.Second)
//	e.ExpectNoLeaks(t, footprint)
package e2e
