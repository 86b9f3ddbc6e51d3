package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/podvirt/podvirt/nodeagent/failure"
)

// ErrImageTooLarge is failure.ErrImageTooLarge, under the name this
// package's callers expect.
var ErrImageTooLarge = failure.ErrImageTooLarge

// RegistryPolicy says where the node agent may connect to pull images. A
// reference chosen by a namespace editor must not make the agent, which
// runs as root on the node, talk to the node itself: loopback, link-local
// (169.254.0.0/16 holds cloud metadata services), unspecified and
// multicast addresses and the node's own addresses are refused, checked
// when each connection is dialled (so DNS answers and redirects to blob
// storage are checked too), unless the registry is in Allowed.
type RegistryPolicy struct {
	// Allowed lists registries, as host:port, that may be at any address
	// (a cluster's registry on the node itself, the local test registry).
	Allowed []string
	// NodeAddrs are this node's own addresses; the host's interface
	// addresses when nil.
	NodeAddrs func() ([]net.IP, error)
}

// Transport is remote.DefaultTransport dialling through the policy.
func (p *RegistryPolicy) Transport() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if slices.Contains(p.Allowed, addr) {
			return dialer.DialContext(ctx, network, addr)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, err
		}
		own, err := p.nodeAddrs()
		if err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if refusedAddress(ip.IP, own) {
				return nil, fmt.Errorf("%w: %s is at %s", failure.ErrRegistryRefused, host, ip.IP)
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		// Dial the address that was checked, not a second lookup's.
		return dialer.DialContext(ctx, network, net.JoinHostPort(ips[0].IP.String(), port))
	}
	return t
}

func (p *RegistryPolicy) nodeAddrs() ([]net.IP, error) {
	if p.NodeAddrs != nil {
		return p.NodeAddrs()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips, nil
}

// refusedAddress says whether a registry at ip would reach the node
// itself or what only the node should reach.
func refusedAddress(ip net.IP, own []net.IP) bool {
	if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() {
		return true
	}
	for _, o := range own {
		if o.Equal(ip) {
			return true
		}
	}
	return false
}

// pullError is what a failed pull says: the image and a class of failure,
// never the registry's own words.
func pullError(image string, err error) error {
	var terr *transport.Error
	switch {
	case errors.Is(err, failure.ErrRegistryRefused):
		return fmt.Errorf("pulling %s: %w (loopback, link-local and the node's own addresses are refused unless the registry is allowed)", image, failure.ErrRegistryRefused)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("pulling %s: %w", image, failure.ErrImagePullTimeout)
	case errors.As(err, &terr):
		return fmt.Errorf("pulling %s: the registry answered HTTP %d: %w", image, terr.StatusCode, failure.ErrImagePull)
	case errors.Is(err, ErrImageTooLarge):
		return fmt.Errorf("pulling %s: %w", image, err)
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return fmt.Errorf("pulling %s: the registry could not be reached: %w", image, failure.ErrImagePull)
	}
	return fmt.Errorf("pulling %s: %w (the node agent's log has the details)", image, failure.ErrImagePull)
}

// touch marks an image as just used, for prune.
func (c *ImageCache) touch(root string) {
	now := time.Now()
	_ = os.Chtimes(filepath.Dir(root), now, now)
}

// prune removes the least recently used images until the cache fits
// MaxCacheBytes; keep is never removed, nor an image that backs the
// disks of a VMI on the node (Use): its overlays would lose their data's
// base. The cache may then stay beyond its bound.
func (c *ImageCache) prune(keep string) {
	max := c.MaxCacheBytes
	if max <= 0 {
		max = 32 << 30
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	type image struct {
		dir  string
		used time.Time
		size int64
	}
	var images []image
	var total int64
	for _, e := range entries {
		if !e.IsDir() || filepath.Ext(e.Name()) == ".tmp" {
			continue
		}
		dir := filepath.Join(c.Dir, e.Name())
		info, err := e.Info()
		if err != nil {
			continue
		}
		size := dirSize(dir)
		total += size
		if dir != filepath.Dir(keep) && !inUse(dir) {
			images = append(images, image{dir, info.ModTime(), size})
		}
	}
	sort.Slice(images, func(i, j int) bool { return images[i].used.Before(images[j].used) })
	for _, img := range images {
		if total <= max {
			break
		}
		if os.RemoveAll(img.dir) == nil {
			total -= img.size
			c.forget(filepath.Join(img.dir, "rootfs"))
		}
	}
}

// forget drops the references that name root.
func (c *ImageCache) forget(root string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, r := range c.refs {
		if r == root {
			delete(c.refs, ref)
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
