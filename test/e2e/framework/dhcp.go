package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// dhcpSocket is a DHCP server's socket (UDP, bound to port 67) of the
// node agent, which serves each guest on the Pod network from inside its
// launcher Pod's network namespace.
type dhcpSocket struct {
	fd    int    // the node agent's descriptor
	inode uint64 // socket:[inode]
	iface string // SO_BINDTODEVICE
	// netnsInode is the inode of the socket's network namespace (valid
	// while the socket lives, which keeps the namespace); netnsCookie its
	// cookie, which no other namespace ever has.
	netnsInode, netnsCookie uint64
	pid                     int // the node agent's

}

// dhcpSockets inspects the sockets of process pid (the node agent) with
// copies of its descriptors (pidfd_getfd), closed again at once, and
// returns its DHCP servers' sockets.
func dhcpSockets(pid int) ([]dhcpSocket, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var socks []dhcpSocket
	for _, en := range entries {
		target, err := os.Readlink(dir + "/" + en.Name())
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		n, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		if s, ok := inspectDHCP(pidfd, n); ok {
			s.pid = pid
			fmt.Sscanf(target, "socket:[%d]", &s.inode)
			socks = append(socks, s)
		}
	}
	return socks, nil
}

// inspectDHCP copies descriptor n of the process behind pidfd and tells
// whether it is a UDP socket bound to port 67, and what of.
func inspectDHCP(pidfd, n int) (dhcpSocket, bool) {
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if err != nil {
		return dhcpSocket{}, false
	}
	defer unix.Close(fd)
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_DGRAM {
		return dhcpSocket{}, false
	}
	sa, err := unix.Getsockname(fd)
	if in4, ok := sa.(*unix.SockaddrInet4); err != nil || !ok || in4.Port != 67 {
		return dhcpSocket{}, false
	}
	s := dhcpSocket{fd: n}
	s.iface, _ = unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE)
	s.netnsCookie, _ = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS); err == nil {
		var st unix.Stat_t
		if unix.Fstat(nsfd, &st) == nil {
			s.netnsInode = st.Ino
		}
		unix.Close(nsfd)
	}
	return s, true
}

// describeNetns says what the socket's network namespace still holds:
// its links and iptables rules, read through another copy of the socket.
func (s dhcpSocket) describeNetns(ctx context.Context) string {
	pidfd, err := unix.PidfdOpen(s.pid, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, s.fd, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	nsfd, err := unix.IoctlRetInt(fd, unix.SIOCGSKNS)
	if err != nil {
		return ""
	}
	ns := os.NewFile(uintptr(nsfd), "netns")
	defer ns.Close()
	in := func(args ...string) string {
		cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/proc/self/fd/3"}, args...)...)
		cmd.ExtraFiles = []*os.File{ns}
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	var rules []string
	for _, line := range strings.Split(in("iptables-save"), "\n") {
		if strings.HasPrefix(line, "-A ") {
			rules = append(rules, line)
		}
	}
	var links []string
	for _, line := range strings.Split(in("ip", "-o", "link"), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			links = append(links, strings.TrimSuffix(f[1], ":"))
		}
	}
	return fmt.Sprintf(" (net:[%d], links %v, iptables %q)", s.netnsInode, links, rules)
}
