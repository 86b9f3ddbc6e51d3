package allowlist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// access is what QEMU does with a file.
type access int

const (
	readOnly access = iota
	readWrite
)

// allowedDir is one of Options' directories, cleaned and resolved.
type allowedDir struct {
	clean, resolved string
}

// dirs cleans and resolves the configured directories, refusing relative
// ones and the root.
func (c *checker) dirs(p *field.Path, in []string) []allowedDir {
	var out []allowedDir
	for i, d := range in {
		if !filepath.IsAbs(d) {
			c.add(field.Invalid(p.Index(i), d, "must be an absolute path"))
			continue
		}
		clean := filepath.Clean(d)
		if clean == string(filepath.Separator) {
			c.add(field.Invalid(p.Index(i), d, "the root directory would allow every host file"))
			continue
		}
		resolved, err := c.resolve(clean)
		if err != nil {
			c.add(field.Invalid(p.Index(i), d, fmt.Sprintf("resolving symbolic links: %v", err)))
			continue
		}
		out = append(out, allowedDir{clean: clean, resolved: filepath.Clean(resolved)})
	}
	return out
}

// file refuses path unless it is an absolute path strictly inside one of
// the directories a gives access to, before and after resolving symbolic
// links. An empty path names no file and is not refused.
func (c *checker) file(p *field.Path, path string, a access) {
	dirs, what := c.rw, "writable"
	if a == readOnly {
		dirs, what = c.ro, "readable"
	}
	c.fileIn(p, path, dirs, what)
}

// fileIn is file for the directories dirs, named what in refusals.
func (c *checker) fileIn(p *field.Path, path string, dirs []allowedDir, what string) {
	if path == "" {
		return
	}
	if !filepath.IsAbs(path) {
		c.add(field.Invalid(p, path, "must be an absolute path"))
		return
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		c.add(field.Invalid(p, path, "must not contain control characters"))
		return
	}
	for _, elem := range strings.Split(path, string(filepath.Separator)) {
		if elem == ".." {
			c.add(field.Invalid(p, path, `must not contain ".."`))
			return
		}
	}
	clean := filepath.Clean(path)
	if path == clean && slices.Contains(c.opts.VolumeDisks, path) {
		return
	}
	if !inside(clean, dirs, func(d allowedDir) string { return d.clean }) {
		c.forbid(p, "%q is outside the %s directories %s", path, what, list(dirs))
		return
	}
	resolved, err := c.resolve(clean)
	if err != nil {
		c.forbid(p, "%q: resolving symbolic links: %v", path, err)
		return
	}
	if !inside(filepath.Clean(resolved), dirs, func(d allowedDir) string { return d.resolved }) {
		c.forbid(p, "%q is a symbolic link to %q, outside the %s directories %s", path, resolved, what, list(dirs))
	}
}

// inside reports whether path is strictly inside one of dirs.
func inside(path string, dirs []allowedDir, dir func(allowedDir) string) bool {
	for _, d := range dirs {
		root := dir(d)
		if strings.HasPrefix(path, root) && len(path) > len(root) && path[len(root)] == filepath.Separator {
			return true
		}
	}
	return false
}

func list(dirs []allowedDir) string {
	if len(dirs) == 0 {
		return "(none)"
	}
	names := make([]string, len(dirs))
	for i, d := range dirs {
		names[i] = d.clean
	}
	return "[" + strings.Join(names, " ") + "]"
}

// EvalSymlinks resolves the symbolic links of an absolute path on this
// host, best effort: a path that does not exist yet (a serial log QEMU
// will create) resolves through its longest existing ancestor. A dangling
// symbolic link is an error, since opening it to create the file would
// create the link's target.
func EvalSymlinks(path string) (string, error) {
	var rest []string
	cur := filepath.Clean(path)
	for {
		resolved, err := filepath.EvalSymlinks(cur)
		if err == nil {
			if len(rest) > 0 {
				// rest[len(rest)-1] was missing for EvalSymlinks; if it
				// exists for Lstat, it is a dangling link.
				if _, lerr := os.Lstat(filepath.Join(resolved, rest[len(rest)-1])); lerr == nil {
					return "", fmt.Errorf("%s is a dangling symbolic link", filepath.Join(cur, rest[len(rest)-1]))
				}
			}
			for i := len(rest) - 1; i >= 0; i-- {
				resolved = filepath.Join(resolved, rest[i])
			}
			return resolved, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolving %s: %w", path, err)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return filepath.Clean(path), nil
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}

// Lexical is a ResolveSymlinks that resolves nothing: paths are checked as
// written. Use it where the files are not on this host (tests, a dry run
// elsewhere).
func Lexical(path string) (string, error) { return path, nil }
