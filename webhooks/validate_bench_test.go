package webhooks

import "testing"

// BenchmarkValidate measures the built-in semantic checks alone on the
// realistic VMI, defaulted and booting from its first disk as the
// validating webhook sees it (see benchVMI). A valid VMI should cost
// few allocations: the whole validating admission has a budget of 200.
func BenchmarkValidate(b *testing.B) {
	vmi := benchVMI(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Validate(vmi)
	}
}
