// Command ocipack packs files into a single-layer linux/amd64 OCI image
// without a container engine, and either writes it as a tarball that
// `ctr images import` accepts or pushes it to a registry.
//
//	ocipack --tag podvirt.io/pause:dev --entrypoint /pause --file ./pause:/pause --out pause.tar
//	ocipack --tag 127.0.0.1:15000/podvirt/tiny-guest:latest --file vmlinuz:/boot/vmlinuz --push
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var files, links fileList
	tag := flag.String("tag", "", "image reference to give the image (required)")
	entrypoint := flag.String("entrypoint", "", "entrypoint path inside the image, if any")
	user := flag.String("user", "65532:65532", "user the entrypoint runs as")
	out := flag.String("out", "", "write a docker-archive tarball here")
	push := flag.Bool("push", false, "push to the registry named in --tag (plain HTTP on loopback)")
	flag.Var(&files, "file", "SRC:DEST[:MODE] to put in the image (repeatable; MODE octal, default: the source's)")
	flag.Var(&links, "link", "DEST:TARGET symbolic link to put in the image (repeatable), e.g. /bin/sh:busybox")
	flag.Parse()
	if err := run(*tag, *entrypoint, *user, *out, *push, files, links); err != nil {
		fmt.Fprintln(os.Stderr, "ocipack:", err)
		os.Exit(1)
	}
}

func run(tag, entrypoint, user, out string, push bool, files, links []string) error {
	if tag == "" || len(files) == 0 || (out == "" && !push) {
		return fmt.Errorf("need --tag, at least one --file, and --out or --push")
	}
	ref, err := name.ParseReference(tag, name.Insecure)
	if err != nil {
		return fmt.Errorf("--tag %q: %w", tag, err)
	}
	layerTar, err := buildLayer(files, links)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	cfg := &v1.ConfigFile{Architecture: "amd64", OS: "linux", Config: v1.Config{User: user}}
	if entrypoint != "" {
		cfg.Config.Entrypoint = []string{entrypoint}
	}
	cfg.RootFS.Type = "layers"
	// The config first: AppendLayers then records the layer's diff_id in it
	// (setting the config afterwards would drop it, and containerd refuses
	// an image whose rootfs does not match its layers).
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	if out != "" {
		if err := tarball.WriteToFile(out, ref, img); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	if push {
		if err := remote.Write(ref, img); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	d, _ := img.Digest()
	fmt.Printf("%s@%s\n", ref, d)
	return nil
}

// buildLayer writes a reproducible tar (fixed times, sorted entries, parent
// directories included) so the same inputs give the same digest.
func buildLayer(files, links []string) ([]byte, error) {
	type entry struct {
		src, dest, link string
		mode            int64
	}
	var entries []entry
	dirs := map[string]bool{}
	for _, l := range links {
		dest, target, ok := strings.Cut(l, ":")
		if !ok || !path.IsAbs(dest) || target == "" {
			return nil, fmt.Errorf("--link %q: want /absolute/dest:target", l)
		}
		dest = path.Clean(dest)
		entries = append(entries, entry{dest: dest, link: target, mode: 0o777})
		for d := path.Dir(dest); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, f := range files {
		parts := strings.Split(f, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !path.IsAbs(parts[1]) {
			return nil, fmt.Errorf("--file %q: want SRC:/absolute/dest[:mode]", f)
		}
		st, err := os.Stat(parts[0])
		if err != nil {
			return nil, fmt.Errorf("--file %q: %w", f, err)
		}
		mode := int64(st.Mode().Perm())
		if len(parts) == 3 {
			if mode, err = strconv.ParseInt(parts[2], 8, 32); err != nil {
				return nil, fmt.Errorf("--file %q: mode: %w", f, err)
			}
		}
		dest := path.Clean(parts[1])
		entries = append(entries, entry{src: parts[0], dest: dest, mode: mode})
		for d := path.Dir(dest); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].dest < entries[j].dest })
	for _, e := range entries {
		if e.link != "" {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(e.dest, "/"), Linkname: e.link, Mode: e.mode, ModTime: epoch}); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(e.dest, "/"), Mode: e.mode, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
