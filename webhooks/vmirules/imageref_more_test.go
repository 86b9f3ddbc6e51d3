package vmirules

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestImageFastPathAtItsLimits: references at the edge of each rule of the
// fast path (the longest tag, the longest repository, a five-digit port, a
// one-byte tag, a first path component that is no registry host) still
// take it, without allocating.
func TestImageFastPathAtItsLimits(t *testing.T) {
	for _, s := range []string{
		"fedora:" + strings.Repeat("t", 128),
		"fedora:1",
		"f",
		strings.Repeat("a", 247),
		"r.example:65535/vm",
		"r.example:1/vm",
		"vm_images/fedora:40",
		"my-org/fedora",
		"a.b.c/vm",
		"r-1.example/vm",
		"localhost:5000/vm@" + testDigest,
		"r.example:9090/vm",
		"az09-x.example/az09_.-/x:AZaz09_.-",
	} {
		if !isCommonImageReference(s) {
			t.Errorf("%q falls back to name.ParseReference", s)
		}
		if _, err := name.ParseReference(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
		path := func() *field.Path { return field.NewPath("image") }
		if errs := validateImage(s, path); len(errs) != 0 {
			t.Errorf("validateImage(%q): %v", s, errs)
		}
		if n := testing.AllocsPerRun(10, func() { _ = validateImage(s, path) }); n != 0 {
			t.Errorf("validateImage(%q) allocates %v times", s, n)
		}
	}
}

// TestImageFastPathLeavesTheRestToParseReference: just past each limit the
// fast path declines, and validateImage's verdict is ParseReference's.
func TestImageFastPathLeavesTheRestToParseReference(t *testing.T) {
	for _, s := range []string{
		"fedora:" + strings.Repeat("t", 129),
		"fedora:",
		strings.Repeat("a", 248),
		"",
		"r.example:123456/vm",
		"r.example:/vm",
		"r.example:5x/vm",
		"-r.example/vm",
		"r-.example/vm",
		"r..example/vm",
		"R.example/vm",
		"fedora@sha256:" + strings.Repeat("0", 63),
		"fedora@sha256:" + strings.Repeat("0", 65),
		"fedora@sha256:" + strings.Repeat("g", 64),
		"fedora@sha256:" + strings.Repeat("A", 64),
		"fedora@md5:" + strings.Repeat("0", 64),
		"Fedora",
		"fedora:a/b",
		"http://r.example/vm",
		"https://r.example/vm",
	} {
		if isCommonImageReference(s) {
			t.Errorf("the fast path takes %q", s)
		}
		_, perr := name.ParseReference(s)
		errs := validateImage(s, func() *field.Path { return field.NewPath("image") })
		if (perr != nil || s == "") != (len(errs) != 0) {
			t.Errorf("validateImage(%q) = %v, ParseReference says %v", s, errs, perr)
		}
	}
}
