package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// plumber is what PodNetwork asks of the kernel. Each method acts in the
// network namespace at netns (/proc/PID/ns/net), or in the caller's when
// netns is "" (the host's: the node agent runs in it). kernel is the real
// one; unit tests fake it.
type plumber interface {
	// alias returns the alias of the link name; ok is false when there
	// is no such link.
	alias(netns, name string) (alias string, ok bool, err error)
	// addTap makes a persistent tap named name with alias as its alias
	// (single queue, no packet info, as libvirt opens it for QEMU); an
	// existing link of that name is an error matching unix.EEXIST.
	addTap(netns, name, alias string) error
	// moveLink moves the link name into the namespace at toNetns.
	moveLink(netns, name, toNetns string) error
	setUp(netns, name string) error
	delLink(netns, name string) error
	// addAddr gives the link name addr; an address it has already is no
	// error.
	addAddr(netns, name string, addr *net.IPNet) error
	// sysctl writes value to /proc/sys/key (key as a path: net/ipv4/...).
	sysctl(netns, key, value string) error
	// setRules makes podvirt's nftables table (podvirtTable) hold exactly
	// the guest's rules (see guestRules), whatever it held before.
	setRules(netns string, guest net.IP, podIface, tap string) error
}

// kernel is the plumber of the running kernel: netlink for links and
// addresses, nftables for the NAT rules, /proc/sys for sysctls. Nothing
// is exec'd: the node agent's image holds only its own binary.
type kernel struct{}

// handle opens a netlink handle bound to the namespace at path (the
// caller's when ""), so no thread is switched for the calls made on it.
func handle(path string) (*netlink.Handle, error) {
	if path == "" {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("opening a netlink socket: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket in %s: %w", path, err)
	}
	return h, nil
}

// where names a namespace in errors.
func where(path string) string {
	if path == "" {
		return "the host"
	}
	return path
}

// withLink runs fn on the link name in the namespace at path.
func withLink(path, name string, fn func(*netlink.Handle, netlink.Link) error) error {
	h, err := handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding link %s in %s: %w", name, where(path), err)
	}
	return fn(h, l)
}

func (kernel) alias(path, name string) (string, bool, error) {
	h, err := handle(path)
	if err != nil {
		return "", false, err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) || errors.Is(err, unix.ENODEV) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("finding link %s in %s: %w", name, where(path), err)
	}
	return l.Attrs().Alias, true, nil
}

func (k kernel) addTap(path, name, alias string) error {
	if path != "" {
		// /dev/net/tun makes its device in the opener's namespace.
		return fmt.Errorf("adding tap %s: only in the node agent's own namespace", name)
	}
	// TUNSETIFF attaches to an existing tap of that name rather than
	// fail: look first, and IFF_TUN_EXCL refuses one made meanwhile.
	if _, ok, err := k.alias(path, name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("adding tap %s: %w", name, unix.EEXIST)
	}
	// IFF_VNET_HDR is chosen per open, by whoever attaches (libvirt does
	// for QEMU); only the queue mode must match what libvirt asks for.
	// The file is closed at once (Queues 0): a single-queue tap takes
	// one opener, which must be QEMU's.
	return addLink(path, &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: name},
		Mode:      netlink.TUNTAP_MODE_TAP,
		Flags:     netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE | netlink.TUNTAP_VNET_HDR | netlink.TUNTAP_TUN_EXCL,
	}, alias)
}

func (kernel) moveLink(path, name, toNetns string) error {
	ns, err := netns.GetFromPath(toNetns)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", toNetns, err)
	}
	defer ns.Close()
	return withLink(path, name, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.LinkSetNsFd(l, int(ns)); err != nil {
			return fmt.Errorf("moving %s from %s into %s: %w", name, where(path), toNetns, err)
		}
		return nil
	})
}

// addLink makes link and sets its alias. The kernel ignores an alias
// given with the link's creation, hence the second call; a link whose
// alias cannot be set is removed, else it would pass for another
// domain's ever after.
func addLink(path string, link netlink.Link, alias string) error {
	h, err := handle(path)
	if err != nil {
		return err
	}
	defer h.Close()
	name := link.Attrs().Name
	if err := h.LinkAdd(link); err != nil {
		return fmt.Errorf("adding %s %s in %s: %w", link.Type(), name, where(path), err)
	}
	if err := h.LinkSetAlias(link, alias); err != nil {
		_ = h.LinkDel(link)
		return fmt.Errorf("setting the alias of %s in %s: %w", name, where(path), err)
	}
	return nil
}

func (kernel) setUp(path, name string) error {
	return withLink(path, name, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("setting %s up in %s: %w", name, where(path), err)
		}
		return nil
	})
}

func (kernel) delLink(path, name string) error {
	return withLink(path, name, func(h *netlink.Handle, l netlink.Link) error {
		if err := h.LinkDel(l); err != nil {
			return fmt.Errorf("deleting %s in %s: %w", name, where(path), err)
		}
		return nil
	})
}

func (kernel) addAddr(path, name string, addr *net.IPNet) error {
	return withLink(path, name, func(h *netlink.Handle, l netlink.Link) error {
		// Replace, not add: the address may be there from a Connect
		// before a node agent restart.
		if err := h.AddrReplace(l, &netlink.Addr{IPNet: addr}); err != nil {
			return fmt.Errorf("adding %s to %s in %s: %w", addr, name, where(path), err)
		}
		return nil
	})
}

// sysctl writes under /proc/sys, which shows the network namespace of the
// thread that opens the file: in another namespace, the write is made on
// a thread switched into it (InNetns).
func (kernel) sysctl(path, key, value string) error {
	write := func() error {
		f, err := os.OpenFile(filepath.Join("/proc/sys", key), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	var err error
	if path == "" {
		err = write()
	} else {
		err = InNetns(path, write)
	}
	if err != nil {
		return fmt.Errorf("setting sysctl %s=%s in %s: %w", key, value, where(path), err)
	}
	return nil
}
