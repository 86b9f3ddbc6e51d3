package storage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A mount is one line of a mountinfo file (proc(5)): the filesystem
// (device), the directory of it that is mounted (root) and where
// (point).
type mount struct {
	dev, root, point string
}

// parseMountInfo reads a mountinfo file. Lines it cannot read are skipped:
// the kernel writes the file, and a mount it cannot place is one it does
// not use.
func parseMountInfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// ID parentID major:minor root point options [optional...] - fstype source superoptions
		f := strings.Fields(sc.Text())
		if len(f) < 5 || !strings.Contains(f[2], ":") {
			continue
		}
		out = append(out, mount{dev: f[2], root: unescapeMountPath(f[3]), point: unescapeMountPath(f[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space,
// \011, \012, \134).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hostPathOf finds where, on the host, the directory a container has
// mounted at point is: the container's mount (from its mountinfo) names
// a filesystem and a directory in it; a mount of the same filesystem in
// the host's mount table whose root holds that directory places it. The
// kernel writes both tables, so no file in the volume can mislead this.
// The host mount whose root is the longest prefix wins; at equal roots,
// the shortest mount point (the filesystem's own mount, not a bind of it
// elsewhere).
func hostPathOf(container, host []mount, point string) (string, error) {
	var in *mount
	for i := range container {
		if container[i].point == point {
			in = &container[i] // the last mount at a point is the one seen
		}
	}
	if in == nil {
		return "", fmt.Errorf("nothing is mounted at %s in the launcher container", point)
	}
	best, bestRoot := "", -1
	for _, h := range host {
		if h.dev != in.dev {
			continue
		}
		rel, ok := under(in.root, h.root)
		if !ok {
			continue
		}
		p := filepath.Join(h.point, rel)
		if len(h.root) > bestRoot || len(h.root) == bestRoot && len(p) < len(best) {
			best, bestRoot = p, len(h.root)
		}
	}
	if best == "" {
		return "", fmt.Errorf("the launcher container's mount at %s (device %s, directory %s) is not reachable from any mount of the host", point, in.dev, in.root)
	}
	return best, nil
}

// under returns path relative to dir when path is dir or inside it.
func under(path, dir string) (string, bool) {
	path, dir = filepath.Clean(path), filepath.Clean(dir)
	if path == dir {
		return ".", true
	}
	if dir == "/" {
		return strings.TrimPrefix(path, "/"), strings.HasPrefix(path, "/")
	}
	if strings.HasPrefix(path, dir+"/") {
		return path[len(dir)+1:], true
	}
	return "", false
}

// readMountInfo parses the mountinfo file at path.
func readMountInfo(path string) ([]mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountInfo(f)
}
