package vmirules

import "strings"

// isCommonImageReference reports whether s is an image reference of the
// common shape
//
//	[host[:port]/]path[:tag][@sha256:<64 lowercase hex digits>]
//
// spelled conservatively enough that name.ParseReference is sure to accept
// it. It lets validateImage skip ParseReference, which allocates about 28
// times per reference (28 of the 56 allocations of Validate for the
// realistic VMI in BenchmarkValidate; the validating admission as a whole
// must stay within 200). The check is sufficient, never necessary: false
// only means "ask ParseReference", which then decides, and words its
// error, exactly as before. FuzzImageFastPath holds it to that against the
// go-containerregistry version in go.mod; run it again when upgrading.
//
// Each rule below is the one ParseReference applies (with go-containerregistry
// v0.22.1's default, weak options), or a stricter one:
//   - a reference with an '@' is repository@digest, split at the only '@';
//     the digest must pass go-digest's Validate (sha256: exactly 64 of
//     [a-f0-9]); the part before it must parse as a tagged or untagged
//     repository, and so must its normalized name, which may gain
//     "index.docker.io/" and "library/";
//   - the tag is what follows the last ':' if that holds no '/': 1 to 128
//     of [A-Za-z0-9_.-];
//   - the registry is the first '/'-separated component if it is
//     "localhost" or holds a '.' or ':'; it must be a URI authority that
//     net/url parses back to itself: here, lowercase DNS labels and an
//     optional port of at most five digits;
//   - the repository is 1 to 255 of [a-z0-9_./-]; here at most 247, so
//     that "library/" (8 bytes) can still be prepended in normalization.
func isCommonImageReference(s string) bool {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return false // ParseReference's own, explicit rejection
	}
	ref := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		if !isSHA256Digest(s[at+1:]) {
			return false
		}
		ref = s[:at]
	}
	if c := strings.LastIndexByte(ref, ':'); c >= 0 && !strings.Contains(ref[c+1:], "/") {
		if !isTag(ref[c+1:]) {
			return false
		}
		ref = ref[:c]
	}
	if host, repo, ok := strings.Cut(ref, "/"); ok && (host == "localhost" || strings.ContainsAny(host, ".:")) {
		if !isRegistryHost(host) {
			return false
		}
		ref = repo
	}
	return isRepository(ref)
}

func isSHA256Digest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	return ok && len(hex) == 64 && allBytes(hex, func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' })
}

func isTag(t string) bool {
	return 1 <= len(t) && len(t) <= 128 && allBytes(t, func(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' || c == '_' || c == '.' || c == '-' })
}

func isRepository(r string) bool {
	return 1 <= len(r) && len(r) <= 247 && allBytes(r, func(c byte) bool { return isLowerAlnum(c) || c == '_' || c == '.' || c == '-' || c == '/' })
}

// isRegistryHost accepts host[:port]: dot-separated labels of lowercase
// letters, digits and inner hyphens, and a port of one to five digits.
func isRegistryHost(h string) bool {
	hostname, port, hasPort := strings.Cut(h, ":")
	if hasPort && (len(port) == 0 || len(port) > 5 || !allBytes(port, func(c byte) bool { return '0' <= c && c <= '9' })) {
		return false
	}
	for label := range strings.SplitSeq(hostname, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' ||
			!allBytes(label, func(c byte) bool { return isLowerAlnum(c) || c == '-' }) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
