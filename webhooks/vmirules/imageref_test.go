package vmirules

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// commonImageReferences are spellings the fast path must take: if one of
// them falls back to name.ParseReference, validation allocates again.
var commonImageReferences = []string{
	"fedora",
	"fedora:40",
	"library/fedora:latest",
	"quay.io/containerdisks/fedora:40",
	"registry.example.com/vm/fedora@" + testDigest,
	"registry.example.com/vm/fedora:40@" + testDigest,
	"r.example/g:1",
	"localhost/vm",
	"localhost:5000/vm/disk:v1.2_3-rc",
	"10.0.0.1:5000/vm",
	"docker.io/fedora@" + testDigest,
	strings.Repeat("a", 247) + "@" + testDigest, // "library/" + 247 bytes: just 255
}

func TestImageFastPathTakesCommonReferences(t *testing.T) {
	for _, s := range commonImageReferences {
		if !isCommonImageReference(s) {
			t.Errorf("%q falls back to name.ParseReference", s)
		}
		if _, err := name.ParseReference(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
		path := func() *field.Path { return field.NewPath("image") }
		if n := testing.AllocsPerRun(10, func() { _ = validateImage(s, path) }); n != 0 {
			t.Errorf("validateImage(%q) allocates %v times", s, n)
		}
	}
}

// FuzzImageFastPath holds isCommonImageReference to its promise: whatever
// it accepts, name.ParseReference accepts too, so skipping ParseReference
// never lets a reference through that validation used to reject.
func FuzzImageFastPath(f *testing.F) {
	for _, s := range commonImageReferences {
		f.Add(s)
	}
	for _, s := range []string{
		// Near misses, each rejected by one of ParseReference's rules.
		"",
		"Fedora",
		"fedora:",
		"fedora:" + strings.Repeat("1", 129),
		"fedora@sha256:0123",
		"fedora@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"fedora@sha512:" + strings.Repeat("0", 128),
		"a@b@" + testDigest,
		"http://r.example/fedora",
		"https://r.example/fedora",
		"r.example:/fedora",
		"r.example:http/fedora",
		"r.example:5000:1/fedora",
		"[::1]:5000/fedora",
		"R.example/fedora",
		"r_x.example/fedora",
		"-r.example/fedora",
		"r..example/fedora",
		"r.example//fedora",
		"r.example/",
		"/fedora",
		"fedora/",
		"a:b:c",
		"user@r.example/fedora",
		"r.example/fedora?x",
		"r.example/fedora#x",
		"r.example/fedora%41",
		"r.example/fedora 1",
		"r.example/fedöra",
		strings.Repeat("a", 248) + "@" + testDigest, // "library/" + 248 bytes: 256
		strings.Repeat("a", 256),
		"r.example/" + strings.Repeat("a", 255) + ":1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !isCommonImageReference(s) {
			return
		}
		if _, err := name.ParseReference(s); err != nil {
			t.Fatalf("the fast path accepts %q, name.ParseReference does not: %v", s, err)
		}
	})
}
